#include "support/cluster.hpp"

#include "support/ws_client.hpp"

#include <hiredis/hiredis.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace testing {

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("bind failed");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

void flatten(const redisReply* r, std::vector<std::string>& out) {
  switch (r->type) {
    case REDIS_REPLY_ARRAY:
      for (std::size_t i = 0; i < r->elements; ++i)
        flatten(r->element[i], out);
      break;
    case REDIS_REPLY_INTEGER: out.push_back(std::to_string(r->integer)); break;
    case REDIS_REPLY_NIL: out.push_back("(nil)"); break;
    case REDIS_REPLY_ERROR: out.push_back("ERR " + std::string(r->str, r->len)); break;
    default: out.emplace_back(r->str, r->len);
  }
}

} // namespace

namespace {

redisReply* run_argv(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
}

} // namespace

std::vector<std::string> redis_command(std::uint16_t port, const std::vector<std::string>& args,
                                       const std::vector<std::string>& auth) {
  timeval tv{5, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (!c || c->err) {
    if (c)
      redisFree(c);
    throw std::runtime_error("cannot connect to redis on port " + std::to_string(port));
  }
  redisSetTimeout(c, tv);
  if (!auth.empty()) {
    std::vector<std::string> a{"AUTH"};
    a.insert(a.end(), auth.begin(), auth.end());
    if (auto* r = run_argv(c, a))
      freeReplyObject(r);
  }
  auto* r = run_argv(c, args);
  std::vector<std::string> out;
  if (!r) {
    redisFree(c);
    throw std::runtime_error("redis command failed");
  }
  flatten(r, out);
  freeReplyObject(r);
  redisFree(c);
  return out;
}

redis_process::redis_process(std::vector<std::string> extra) : extra_(std::move(extra)) {
  char tmpl[] = "/tmp/signal-redis-XXXXXX";
  if (!mkdtemp(tmpl))
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    launch();
    if (proc_->wait_for_line("Ready to accept connections", std::chrono::seconds(10)))
      return;
  }
  throw std::runtime_error("redis-server did not start");
}

void redis_process::launch() {
  std::vector<std::string> argv{"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", dir_};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  proc_ = std::make_unique<child_process>(argv);
}

redis_process::~redis_process() {
  proc_.reset(); // SIGKILL if still running
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void redis_process::stop() {
  proc_->signal(SIGTERM);
  proc_->wait_exit(std::chrono::seconds(10));
}

void redis_process::kill() {
  proc_->signal(SIGKILL);
  proc_->wait_exit(std::chrono::seconds(10));
}

void redis_process::restart() {
  launch();
  if (!proc_->wait_for_line("Ready to accept connections", std::chrono::seconds(10)))
    throw std::runtime_error("redis-server did not restart");
}

node_process::node_process(const redis_process& redis, std::string node_id, env_map extra)
  : node_process(std::move(node_id), [&] {
      env_map env{{"REDIS_URL", redis.url()}};
      for (auto& [k, v] : extra)
        env[k] = v;
      return env;
    }()) {}

node_process::node_process(std::string node_id, env_map extra) : id_(std::move(node_id)) {
  env_map env{{"WS_PORT", "0"},         {"BIND_ADDRESS", "127.0.0.1"}, {"ENV_FILE", "/nonexistent"},
              {"NODE_ID", id_},         {"IO_THREADS", "2"},
              {"NODE_TTL_MS", "2000"},  {"HEARTBEAT_MS", "250"},     {"LOG_LEVEL", "info"},
              {"DRAIN_DELAY_MS", "0"},   {"ADMIN_PORT", "0"}};
  for (auto& [k, v] : extra)
    env[k] = v;
  proc_ = std::make_unique<child_process>(std::vector<std::string>{SIGNAL_NODE_BIN}, env);
  auto port = wait_for_port(*proc_, std::chrono::seconds(20));
  if (!port)
    throw std::runtime_error("signal-node " + id_ + " did not start:\n" + proc_->output());
  port_ = *port;
  // Ready means both Redis links are up.
  if (!eventually([&] { return http_request(port_, "GET", "/readyz").status == 200; }, std::chrono::seconds(10)))
    throw std::runtime_error("signal-node " + id_ + " never became ready:\n" + proc_->output());
}

sentinel_process::sentinel_process(std::uint16_t primary_port, sentinel_settings s) : settings_(std::move(s)) {
  char tmpl[] = "/tmp/signal-sentinel-XXXXXX";
  if (!mkdtemp(tmpl))
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    std::ofstream conf(dir_ + "/sentinel.conf", std::ios::trunc);
    conf << "port " << port_ << "\nbind 127.0.0.1\ndir " << dir_ << "\n"
         << "sentinel monitor " << settings_.master << " 127.0.0.1 " << primary_port << " 2\n"
         << "sentinel down-after-milliseconds " << settings_.master << " " << settings_.down_after_ms << "\n"
         << "sentinel failover-timeout " << settings_.master << " " << settings_.failover_timeout_ms << "\n"
         << "sentinel parallel-syncs " << settings_.master << " 1\n";
    if (!settings_.auth_pass.empty())
      conf << "sentinel auth-pass " << settings_.master << " " << settings_.auth_pass << "\n";
    if (!settings_.requirepass.empty())
      conf << "requirepass " << settings_.requirepass << "\nsentinel sentinel-pass " << settings_.requirepass << "\n";
    conf.close();
    launch();
    if (proc_->wait_for_line("+monitor master", std::chrono::seconds(10)))
      return;
    proc_->signal(SIGKILL);
    proc_->wait_exit(std::chrono::seconds(5));
  }
  throw std::runtime_error("redis-sentinel did not start");
}

sentinel_process::~sentinel_process() {
  proc_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void sentinel_process::launch() {
  proc_ = std::make_unique<child_process>(std::vector<std::string>{"/usr/bin/redis-sentinel", dir_ + "/sentinel.conf"});
}

void sentinel_process::kill() {
  proc_->signal(SIGKILL);
  proc_->wait_exit(std::chrono::seconds(10));
}

void sentinel_process::restart(const std::string& config) {
  std::ofstream(dir_ + "/sentinel.conf", std::ios::trunc) << config;
  launch();
  if (!proc_->wait_for_line("Sentinel ID is", std::chrono::seconds(10)))
    throw std::runtime_error("redis-sentinel did not restart:\n" + proc_->output());
}

std::string sentinel_process::config() const {
  std::ifstream in(dir_ + "/sentinel.conf");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> sentinel_process::command(const std::vector<std::string>& args) const {
  std::vector<std::string> auth;
  if (!settings_.requirepass.empty())
    auth.push_back(settings_.requirepass);
  return redis_command(port_, args, auth);
}

std::string sentinel_process::primary() const {
  auto r = command({"SENTINEL", "get-master-addr-by-name", settings_.master});
  if (r.size() != 2)
    return {};
  return r[0] + ":" + r[1];
}

sentinel_group::sentinel_group(sentinel_settings s, std::string data_password) : settings_(std::move(s)) {
  std::vector<std::string> auth_args;
  if (!data_password.empty()) {
    settings_.auth_pass = data_password;
    auth_args = {"--requirepass", data_password, "--masterauth", data_password};
  }
  primary_ = std::make_unique<redis_process>(auth_args);
  auto replica_args = auth_args;
  replica_args.insert(replica_args.end(), {"--replicaof", "127.0.0.1", std::to_string(primary_->port())});
  replica_ = std::make_unique<redis_process>(replica_args);
  if (!data_password.empty()) {
    primary_->set_auth({data_password});
    replica_->set_auth({data_password});
  }
  auto synced = [&] {
    auto info = replica_->command({"INFO", "replication"});
    return !info.empty() && info[0].find("master_link_status:up") != std::string::npos;
  };
  if (!eventually(synced, std::chrono::seconds(20)))
    throw std::runtime_error("the replica did not sync with the primary");
  for (int i = 0; i < 3; ++i)
    sentinels_.push_back(std::make_unique<sentinel_process>(primary_->port(), settings_));
  // A failover needs the sentinels to know each other (hello messages every
  // 2 s through the monitored servers) and the replica.
  auto aware = [&] {
    for (auto& st : sentinels_) {
      auto m = st->command({"SENTINEL", "MASTER", settings_.master});
      std::map<std::string, std::string> f;
      for (std::size_t i = 0; i + 1 < m.size(); i += 2)
        f[m[i]] = m[i + 1];
      if (f["num-other-sentinels"] != "2" || f["num-slaves"] != "1")
        return false;
    }
    return true;
  };
  if (!eventually(aware, std::chrono::seconds(30)))
    throw std::runtime_error("the sentinels did not discover each other and the replica");
}

std::string sentinel_group::sentinels() const {
  std::string out;
  for (auto& st : sentinels_)
    out += (out.empty() ? "" : ",") + st->address();
  return out;
}

namespace {

// Runs a command to completion; returns its output (throws on failure).
std::string run_script(std::vector<std::string> argv, const env_map& env) {
  child_process p{std::move(argv), env};
  auto status = p.wait_exit(std::chrono::seconds(120));
  if (!status || *status != 0)
    throw std::runtime_error("script failed:\n" + p.output());
  return p.output();
}

} // namespace

local_cluster::local_cluster(const env_map& env, int nodes, std::vector<std::string> args) {
  char tmpl[] = "/tmp/signal-lc-XXXXXX";
  if (!mkdtemp(tmpl))
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  env_ = env_map{{"CLUSTER_DIR", dir_},
                 {"LB_PORT", std::to_string(free_port())},
                 {"REDIS_PORT", std::to_string(free_port())},
                 {"SIGNAL_NODE_BIN", SIGNAL_NODE_BIN},
                 {"DRAIN_DELAY_MS", "0"},
                 {"NODE_TTL_MS", "2000"},
                 {"HEARTBEAT_MS", "250"},
                 {"FRONTEND_URL", ""}};
  for (auto& [k, v] : env)
    env_[k] = v;
  try {
    std::vector<std::string> argv{"/bin/bash", SIGNAL_SOURCE_DIR "/deploy/local-cluster.sh", "up", std::to_string(nodes)};
    argv.insert(argv.end(), args.begin(), args.end());
    run_script(argv, env_);
  } catch (...) {
    // The script stops what it started on failure; make sure of it.
    child_process cleanup{{"/bin/bash", SIGNAL_SOURCE_DIR "/deploy/local-cluster.sh", "down"}, env_};
    cleanup.wait_exit(std::chrono::seconds(60));
    throw;
  }
  up_ = true;
  std::ifstream state(dir_ + "/state");
  std::string name;
  int pid = 0, port = 0;
  std::string line;
  while (std::getline(state, line)) {
    std::istringstream fields(line);
    if (!(fields >> name >> pid >> port))
      continue;
    pids_.push_back(pid);
    if (name == "haproxy")
      lb_port_ = static_cast<std::uint16_t>(port);
    else if (name.rfind("node", 0) == 0)
      nodes_[name] = {pid, static_cast<std::uint16_t>(port)};
    else if (name.rfind("redis", 0) == 0 || name.rfind("sentinel", 0) == 0)
      redis_[name] = static_cast<std::uint16_t>(port);
  }
}

std::vector<int> local_cluster::pids() const {
  return pids_;
}

std::string local_cluster::down() {
  if (!up_)
    return {};
  up_ = false;
  return run_script({"/bin/bash", SIGNAL_SOURCE_DIR "/deploy/local-cluster.sh", "down"}, env_);
}

local_cluster::~local_cluster() {
  try {
    down();
  } catch (...) {
  }
}

signaling::config config_from_env(const env_map& env) {
  env_map all{{"WS_PORT", "0"},     {"BIND_ADDRESS", "127.0.0.1"}, {"ENV_FILE", "/nonexistent"},
              {"IO_THREADS", "2"},  {"NODE_ID", "test-node"},         {"ADMIN_PORT", "0"}};
  for (auto& [k, v] : env)
    all[k] = v;
  std::vector<std::string> strings;
  for (auto& [k, v] : all)
    strings.push_back(k + "=" + v);
  std::vector<const char*> envp;
  for (auto& s : strings)
    envp.push_back(s.c_str());
  envp.push_back(nullptr);
  const char* argv[] = {"test"};
  return signaling::load_config(1, argv, envp.data()).cfg;
}

} // namespace testing
