// load_config and friends: defaults, the three sources and their order
// (flags > environment > .env file), list parsing, validation errors that name
// the setting, --help, describe() and usage().
#include "node/config.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace signaling;
namespace fs = std::filesystem;

namespace {

// A .env file that does not exist, so a stray .env in the working directory
// never leaks into a test.
const std::string no_env_file = "ENV_FILE=/nonexistent-signal-test-dir/.env";

// Runs load_config on `flags` (argv without argv[0]) and `env` (KEY=value);
// adds no_env_file unless `env` names an ENV_FILE itself.
config_result load(const std::vector<std::string>& flags, std::vector<std::string> env = {}) {
  bool has_env_file = false;
  for (const auto& e : env)
    has_env_file |= e.rfind("ENV_FILE=", 0) == 0;
  if (!has_env_file)
    env.push_back(no_env_file);
  std::vector<const char*> argv{"signal-node"};
  for (const auto& f : flags)
    argv.push_back(f.c_str());
  argv.push_back(nullptr);
  std::vector<const char*> envp;
  for (const auto& e : env)
    envp.push_back(e.c_str());
  envp.push_back(nullptr);
  return load_config(static_cast<int>(argv.size() - 1), argv.data(), envp.data());
}

// The message of the config_error that loading throws ("" if none is thrown).
std::string error_of(const std::vector<std::string>& flags, const std::vector<std::string>& env = {}) {
  try {
    load(flags, env);
  } catch (const config_error& e) {
    return e.what();
  }
  return {};
}

// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "config_test.XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    auto p = path / name;
    std::ofstream out(p);
    out << text;
    REQUIRE(out.good());
    return p.string();
  }
};

// Switches the working directory for one scope.
struct cwd_guard {
  fs::path old = fs::current_path();
  explicit cwd_guard(const fs::path& p) { fs::current_path(p); }
  ~cwd_guard() { fs::current_path(old); }
};

std::string host_name() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
    return "node";
  return host;
}

// Every setting's environment name and flag.
const std::vector<std::pair<std::string, std::string>> all_settings = {
  {"WS_PORT", "--ws-port"},
  {"BIND_ADDRESS", "--bind-address"},
  {"ADMIN_PORT", "--admin-port"},
  {"ADMIN_BIND", "--admin-bind"},
  {"FRONTEND_URL", "--frontend-url"},
  {"REDIS_URL", "--redis-url"},
  {"REDIS_SENTINELS", "--redis-sentinels"},
  {"REDIS_MASTER_NAME", "--redis-master-name"},
  {"REDIS_USERNAME", "--redis-username"},
  {"REDIS_PASSWORD", "--redis-password"},
  {"REDIS_SENTINEL_PASSWORD", "--redis-sentinel-password"},
  {"NODE_TTL_MS", "--node-ttl-ms"},
  {"HEARTBEAT_MS", "--heartbeat-ms"},
  {"REDIS_TIMEOUT_MS", "--redis-timeout-ms"},
  {"REDIS_BATCH_US", "--redis-batch-us"},
  {"NODE_ID", "--node-id"},
  {"IO_THREADS", "--io-threads"},
  {"PAIR_THREADS", "--pair-threads"},
  {"ACTOR_THREADS", "--actor-threads"},
  {"ACTOR_SCHEDULER", "--actor-scheduler"},
  {"WEB_DIR", "--web-dir"},
  {"STUN_URLS", "--stun-urls"},
  {"TURN_URLS", "--turn-urls"},
  {"TURN_SECRET", "--turn-secret"},
  {"TURN_TTL", "--turn-ttl"},
  {"AUTH_MODE", "--auth-mode"},
  {"AUTH_JWT_SECRET", "--auth-jwt-secret"},
  {"AUTH_JWT_AUDIENCE", "--auth-jwt-audience"},
  {"TLS_CERT_FILE", "--tls-cert-file"},
  {"TLS_KEY_FILE", "--tls-key-file"},
  {"METRICS_ALLOW", "--metrics-allow"},
  {"LOG_LEVEL", "--log-level"},
  {"MAX_MESSAGE_BYTES", "--max-message-bytes"},
  {"MAX_JSON_DEPTH", "--max-json-depth"},
  {"MAX_SEND_QUEUE_BYTES", "--max-send-queue-bytes"},
  {"RATE_LIMIT_PER_SEC", "--rate-limit-per-sec"},
  {"RATE_LIMIT_BURST", "--rate-limit-burst"},
  {"RATE_LIMIT_STRIKES", "--rate-limit-strikes"},
  {"MAX_CONNECTIONS", "--max-connections"},
  {"HANDSHAKE_TIMEOUT_MS", "--handshake-timeout-ms"},
  {"IDLE_TIMEOUT_MS", "--idle-timeout-ms"},
  {"DRAIN_DELAY_MS", "--drain-delay-ms"},
  {"SHUTDOWN_CLOSE_CODE", "--shutdown-close-code"},
  {"SHUTDOWN_TIMEOUT_MS", "--shutdown-timeout-ms"},
  {"ROOM_ID_DIGITS", "--room-id-digits"},
  {"RESUME_GRACE_SECONDS", "--resume-grace-seconds"},
  {"RESUME_MAX_FRAMES", "--resume-max-frames"},
  {"RESUME_MAX_BYTES", "--resume-max-bytes"},
  {"JOIN_TIMEOUT_MS", "--join-timeout-ms"},
  {"JOIN_MISSES_BEFORE_CLOSE", "--join-misses-before-close"},
  {"JOIN_MISS_DELAY_MS", "--join-miss-delay-ms"},
  {"JOIN_MISSES_PER_IP", "--join-misses-per-ip"},
  {"MAX_CONNECTIONS_PER_IP", "--max-connections-per-ip"},
  {"TRUSTED_PROXIES", "--trusted-proxies"},
  {"ENV_FILE", "--env-file"},
};

} // namespace

// -- defaults -------------------------------------------------------------------------

TEST_CASE("load_config with no flags, environment or .env file gives the defaults") {
  auto res = load({});
  CHECK_FALSE(res.help);
  const auto& c = res.cfg;
  config d;
  CHECK(c.bind_address == "0.0.0.0");
  CHECK(c.ws_port == 4000);
  CHECK(c.frontend_urls.empty());
  CHECK(c.redis_url.empty());
  CHECK(c.node_id == host_name());
  CHECK(c.io_threads == 0);
  CHECK(c.pair_threads);
  CHECK(c.actor_threads == 1);
  CHECK(c.actor_scheduler == "sharing");
  CHECK(c.log_level == "info");
  CHECK(c.lim.max_message_bytes == d.lim.max_message_bytes);
  CHECK(c.lim.max_json_depth == d.lim.max_json_depth);
  CHECK(c.lim.max_send_queue_bytes == d.lim.max_send_queue_bytes);
  CHECK(c.lim.rate_per_second == d.lim.rate_per_second);
  CHECK(c.lim.rate_burst == d.lim.rate_burst);
  CHECK(c.lim.rate_strikes_before_close == d.lim.rate_strikes_before_close);
  CHECK(c.lim.max_connections == d.lim.max_connections);
  CHECK(c.lim.handshake_timeout == d.lim.handshake_timeout);
  CHECK(c.lim.idle_timeout == d.lim.idle_timeout);
  CHECK(c.lim.shutdown_timeout == d.lim.shutdown_timeout);
  CHECK(c.lim.room_id_digits == 6);
}

TEST_CASE("load_config ignores environment variables that name no setting") {
  auto res = load({}, {"PATH=/usr/bin", "HOME=/root", "ws_port=1", "WS_PORTX=2", "NOEQUALS", "=3"});
  CHECK(res.cfg.ws_port == 4000);
}

// -- sources --------------------------------------------------------------------------

TEST_CASE("load_config reads every setting from the environment") {
  auto c = load({}, {"WS_PORT=4100", "BIND_ADDRESS=127.0.0.1", "FRONTEND_URL=https://a.example",
                     "REDIS_URL=redis://db:6379", "NODE_ID=node-7", "IO_THREADS=3", "PAIR_THREADS=0", "ACTOR_THREADS=2",
                     "ACTOR_SCHEDULER=stealing",
                     "LOG_LEVEL=debug", "MAX_MESSAGE_BYTES=1024", "MAX_JSON_DEPTH=10",
                     "MAX_SEND_QUEUE_BYTES=2048", "RATE_LIMIT_PER_SEC=2.5", "RATE_LIMIT_BURST=7",
                     "RATE_LIMIT_STRIKES=4", "MAX_CONNECTIONS=99", "HANDSHAKE_TIMEOUT_MS=1500",
                     "IDLE_TIMEOUT_MS=2500", "SHUTDOWN_TIMEOUT_MS=3500", "ROOM_ID_DIGITS=8"})
             .cfg;
  CHECK(c.ws_port == 4100);
  CHECK(c.bind_address == "127.0.0.1");
  CHECK(c.frontend_urls == std::vector<std::string>{"https://a.example"});
  CHECK(c.redis_url == "redis://db:6379");
  CHECK(c.node_id == "node-7");
  CHECK(c.io_threads == 3);
  CHECK_FALSE(c.pair_threads);
  CHECK(c.actor_threads == 2);
  CHECK(c.actor_scheduler == "stealing");
  CHECK(c.log_level == "debug");
  CHECK(c.lim.max_message_bytes == 1024);
  CHECK(c.lim.max_json_depth == 10);
  CHECK(c.lim.max_send_queue_bytes == 2048);
  CHECK(c.lim.rate_per_second == 2.5);
  CHECK(c.lim.rate_burst == 7);
  CHECK(c.lim.rate_strikes_before_close == 4);
  CHECK(c.lim.max_connections == 99);
  CHECK(c.lim.handshake_timeout == std::chrono::milliseconds(1500));
  CHECK(c.lim.idle_timeout == std::chrono::milliseconds(2500));
  CHECK(c.lim.shutdown_timeout == std::chrono::milliseconds(3500));
  CHECK(c.lim.room_id_digits == 8);
}

TEST_CASE("load_config accepts a flag with its value as the next argument") {
  auto c = load({"--ws-port", "4100", "--node-id", "n1", "--rate-limit-per-sec", "0.5", "--idle-timeout-ms",
                 "1234", "--frontend-url", "https://a.example"})
             .cfg;
  CHECK(c.ws_port == 4100);
  CHECK(c.node_id == "n1");
  CHECK(c.lim.rate_per_second == 0.5);
  CHECK(c.lim.idle_timeout == std::chrono::milliseconds(1234));
  CHECK(c.frontend_urls == std::vector<std::string>{"https://a.example"});
}

TEST_CASE("load_config accepts a flag with its value after an equals sign") {
  auto c = load({"--ws-port=4100", "--node-id=n1", "--max-json-depth=12", "--redis-url=redis://:p=w@h:1/0"}).cfg;
  CHECK(c.ws_port == 4100);
  CHECK(c.node_id == "n1");
  CHECK(c.lim.max_json_depth == 12);
  // Only the first '=' separates flag and value.
  CHECK(c.redis_url == "redis://:p=w@h:1/0");
}

TEST_CASE("load_config accepts both flag forms mixed, and an empty value after an equals sign") {
  auto c = load({"--ws-port=4100", "--log-level", "warn", "--bind-address="}).cfg;
  CHECK(c.ws_port == 4100);
  CHECK(c.log_level == "warn");
  CHECK(c.bind_address.empty());
}

TEST_CASE("a later flag wins over an earlier one for the same setting") {
  CHECK(load({"--ws-port", "4100", "--ws-port=4200"}).cfg.ws_port == 4200);
}

TEST_CASE("flags win over the environment") {
  auto c = load({"--ws-port", "4300", "--node-id=from-flag"}, {"WS_PORT=4200", "NODE_ID=from-env", "LOG_LEVEL=warn"})
             .cfg;
  CHECK(c.ws_port == 4300);
  CHECK(c.node_id == "from-flag");
  CHECK(c.log_level == "warn");
}

TEST_CASE("the environment wins over the .env file, which fills in what the environment lacks") {
  temp_dir dir;
  auto file = dir.write(".env", "WS_PORT=4100\nNODE_ID=from-file\nLOG_LEVEL=error\nIO_THREADS=5\n");
  auto c = load({"--io-threads", "7"}, {"ENV_FILE=" + file, "WS_PORT=4200", "NODE_ID=from-env"}).cfg;
  CHECK(c.ws_port == 4200);         // environment over file
  CHECK(c.node_id == "from-env");   // environment over file
  CHECK(c.log_level == "error");    // file only
  CHECK(c.io_threads == 7);         // flag over file
  CHECK(c.env_file == file);
}

TEST_CASE("an .env value never overrides the environment, even when the environment value is empty") {
  temp_dir dir;
  auto file = dir.write(".env", "BIND_ADDRESS=10.0.0.1\n");
  auto c = load({}, {"ENV_FILE=" + file, "BIND_ADDRESS="}).cfg;
  CHECK(c.bind_address.empty());
}

TEST_CASE("flags win over the environment and the .env file at once") {
  temp_dir dir;
  auto file = dir.write(".env", "WS_PORT=4100\n");
  auto c = load({"--ws-port=4300"}, {"ENV_FILE=" + file, "WS_PORT=4200"}).cfg;
  CHECK(c.ws_port == 4300);
}

TEST_CASE("the .env file can be named by the --env-file flag") {
  temp_dir dir;
  auto in_env = dir.write("a.env", "NODE_ID=from-a\n");
  auto in_flag = dir.write("b.env", "NODE_ID=from-b\n");
  auto c = load({"--env-file", in_flag}, {"ENV_FILE=" + in_env}).cfg;
  CHECK(c.node_id == "from-b");
  CHECK(c.env_file == in_flag);
}

TEST_CASE("the .env file understands comments, export, quotes and surrounding blanks") {
  temp_dir dir;
  auto file = dir.write(".env", "# a comment\n"
                                "\n"
                                "   # an indented comment\n"
                                "export NODE_ID=exported\n"
                                "  LOG_LEVEL  =   debug  \n"
                                "BIND_ADDRESS=\"127.0.0.2\"\n"
                                "FRONTEND_URL='https://q.example'\n"
                                "WS_PORT=4111\r\n"
                                "a line without an equals sign\n"
                                "UNRELATED_KEY=whatever\n");
  auto c = load({}, {"ENV_FILE=" + file}).cfg;
  CHECK(c.node_id == "exported");
  CHECK(c.log_level == "debug");
  CHECK(c.bind_address == "127.0.0.2");
  CHECK(c.frontend_urls == std::vector<std::string>{"https://q.example"});
  CHECK(c.ws_port == 4111);
}

TEST_CASE("a missing .env file is not an error") {
  temp_dir dir;
  auto c = load({}, {"ENV_FILE=" + (dir.path / "absent.env").string()}).cfg;
  CHECK(c.ws_port == 4000);
}

TEST_CASE("without ENV_FILE the .env file of the working directory is read") {
  temp_dir dir;
  dir.write(".env", "NODE_ID=from-cwd\n");
  cwd_guard cwd{dir.path};
  std::vector<const char*> argv{"signal-node", nullptr};
  std::vector<const char*> envp{"PATH=/usr/bin", nullptr};
  auto c = load_config(1, argv.data(), envp.data()).cfg;
  CHECK(c.node_id == "from-cwd");
  CHECK(c.env_file == ".env");
}

TEST_CASE("a bad value in the .env file is reported with the setting's name") {
  temp_dir dir;
  auto file = dir.write(".env", "MAX_JSON_DEPTH=deep\n");
  auto msg = error_of({}, {"ENV_FILE=" + file});
  CHECK(msg.find("MAX_JSON_DEPTH") != std::string::npos);
}

// -- lists ------------------------------------------------------------------------------

TEST_CASE("FRONTEND_URL is a comma list with blanks trimmed and empty items dropped") {
  auto c = load({}, {"FRONTEND_URL= https://a.example ,https://b.example,\thttps://c.example:8080\t, ,,"}).cfg;
  CHECK(c.frontend_urls == std::vector<std::string>{"https://a.example", "https://b.example", "https://c.example:8080"});
  CHECK(load({"--frontend-url", "*"}).cfg.frontend_urls == std::vector<std::string>{"*"});
  CHECK(load({}, {"FRONTEND_URL="}).cfg.frontend_urls.empty());
}

// -- errors ---------------------------------------------------------------------------

TEST_CASE("a value that is not a number throws config_error naming the setting") {
  const std::vector<std::pair<std::string, std::string>> bad = {
    {"WS_PORT", "abc"},           {"WS_PORT", ""},           {"WS_PORT", "-1"},
    {"WS_PORT", "40 00"},         {"WS_PORT", "4000x"},      {"WS_PORT", "+4000"},
    {"IO_THREADS", "1.5"},        {"ACTOR_THREADS", "two"},  {"MAX_MESSAGE_BYTES", "1e6"},
    {"MAX_JSON_DEPTH", "deep"},   {"MAX_SEND_QUEUE_BYTES", "0x400"},
    {"RATE_LIMIT_PER_SEC", "fast"}, {"RATE_LIMIT_PER_SEC", ""}, {"RATE_LIMIT_PER_SEC", "5/s"},
    {"RATE_LIMIT_BURST", "many"}, {"RATE_LIMIT_STRIKES", "-3"}, {"MAX_CONNECTIONS", "lots"},
    {"HANDSHAKE_TIMEOUT_MS", "10s"}, {"IDLE_TIMEOUT_MS", "1m"}, {"SHUTDOWN_TIMEOUT_MS", " 5"},
    {"ROOM_ID_DIGITS", "six"},
  };
  for (const auto& [name, value] : bad) {
    INFO(name << "=\"" << value << "\"");
    auto msg = error_of({}, {name + "=" + value});
    CHECK_FALSE(msg.empty());
    CHECK(msg.find(name) != std::string::npos);
  }
}

TEST_CASE("a value outside its range throws config_error naming the setting") {
  const std::vector<std::pair<std::string, std::string>> bad = {
    {"WS_PORT", "65536"},
    {"WS_PORT", "99999999999999999999999"},
    {"IO_THREADS", "257"},
    {"PAIR_THREADS", "2"},
    {"ACTOR_THREADS", "0"},
    {"ACTOR_THREADS", "257"},
    {"ACTOR_SCHEDULER", "random"},
    {"ACTOR_SCHEDULER", ""},
    {"MAX_MESSAGE_BYTES", "255"},
    {"MAX_MESSAGE_BYTES", "16777217"},
    {"MAX_JSON_DEPTH", "1"},
    {"MAX_JSON_DEPTH", "1001"},
    {"MAX_SEND_QUEUE_BYTES", "1023"},
    {"RATE_LIMIT_PER_SEC", "0"},
    {"RATE_LIMIT_PER_SEC", "-2"},
    {"RATE_LIMIT_PER_SEC", "nan"},
    {"RATE_LIMIT_BURST", "0"},
    {"RATE_LIMIT_BURST", "0.5"},
    {"RATE_LIMIT_STRIKES", "0"},
    {"MAX_CONNECTIONS", "0"},
    {"HANDSHAKE_TIMEOUT_MS", "0"},
    {"IDLE_TIMEOUT_MS", "86400001"},
    {"SHUTDOWN_TIMEOUT_MS", "0"},
    {"ROOM_ID_DIGITS", "5"},
    {"ROOM_ID_DIGITS", "19"},
  };
  for (const auto& [name, value] : bad) {
    INFO(name << "=\"" << value << "\"");
    auto msg = error_of({}, {name + "=" + value});
    CHECK_FALSE(msg.empty());
    CHECK(msg.find(name) != std::string::npos);
  }
}

TEST_CASE("the ends of each range are accepted") {
  CHECK(load({}, {"WS_PORT=0"}).cfg.ws_port == 0);
  CHECK(load({}, {"WS_PORT=65535"}).cfg.ws_port == 65535);
  CHECK(load({}, {"MAX_JSON_DEPTH=2"}).cfg.lim.max_json_depth == 2);
  CHECK(load({}, {"MAX_JSON_DEPTH=1000"}).cfg.lim.max_json_depth == 1000);
  CHECK(load({}, {"ROOM_ID_DIGITS=6"}).cfg.lim.room_id_digits == 6);
  CHECK(load({}, {"ROOM_ID_DIGITS=18"}).cfg.lim.room_id_digits == 18);
  CHECK(load({}, {"RATE_LIMIT_BURST=1"}).cfg.lim.rate_burst == 1);
  CHECK(load({}, {"IDLE_TIMEOUT_MS=86400000"}).cfg.lim.idle_timeout == std::chrono::hours(24));
}

TEST_CASE("a bad flag value throws config_error naming the setting") {
  CHECK(error_of({"--ws-port", "abc"}).find("WS_PORT") != std::string::npos);
  CHECK(error_of({"--ws-port=70000"}).find("WS_PORT") != std::string::npos);
  CHECK(error_of({"--max-json-depth=0"}).find("MAX_JSON_DEPTH") != std::string::npos);
}

TEST_CASE("a bad environment value is not reported when a flag overrides it") {
  CHECK(load({"--ws-port", "4100"}, {"WS_PORT=abc"}).cfg.ws_port == 4100);
}

TEST_CASE("an unknown flag throws config_error naming it") {
  for (std::vector<std::string> flags : {std::vector<std::string>{"--bogus", "1"},
                                         std::vector<std::string>{"--bogus=1"},
                                         std::vector<std::string>{"--WS-PORT", "1"},
                                         std::vector<std::string>{"--ws_port", "1"}}) {
    auto msg = error_of(flags);
    INFO("flags " << flags[0]);
    CHECK_FALSE(msg.empty());
    CHECK(msg.find(flags[0].substr(0, flags[0].find('='))) != std::string::npos);
  }
}

TEST_CASE("a flag without a value throws config_error naming it") {
  auto msg = error_of({"--ws-port"});
  CHECK(msg.find("--ws-port") != std::string::npos);
}

// -- help -------------------------------------------------------------------------------

TEST_CASE("--help and -h set help") {
  CHECK(load({"--help"}).help);
  CHECK(load({"-h"}).help);
  CHECK(load({"--ws-port", "4100", "--help"}).help);
}

TEST_CASE("--help is honoured even when the environment holds bad values") {
  CHECK(load({"--help"}, {"WS_PORT=abc"}).help);
}

TEST_CASE("usage mentions every flag and every environment variable") {
  auto text = usage();
  for (const auto& [env, flag] : all_settings) {
    INFO(flag);
    CHECK(text.find(flag) != std::string::npos);
    CHECK(text.find(env) != std::string::npos);
  }
}

TEST_CASE("usage shows the defaults") {
  auto text = usage();
  CHECK(text.find("\"4000\"") != std::string::npos);
  CHECK(text.find("\"0.0.0.0\"") != std::string::npos);
  CHECK(text.find("\"32\"") != std::string::npos);
}

// -- describe ---------------------------------------------------------------------------

TEST_CASE("describe prints one line per setting with its value") {
  auto c = load({"--ws-port", "4100", "--node-id", "n9"}).cfg;
  auto lines = describe(c);
  CHECK(lines.size() == all_settings.size());
  for (const auto& [env, flag] : all_settings) {
    bool found = false;
    for (const auto& l : lines)
      found |= l.rfind(env + "=", 0) == 0;
    INFO(env);
    CHECK(found);
  }
  auto has = [&](const std::string& line) {
    for (const auto& l : lines)
      if (l == line)
        return true;
    return false;
  };
  CHECK(has("WS_PORT=4100"));
  CHECK(has("NODE_ID=n9"));
}

TEST_CASE("describe masks the password of REDIS_URL") {
  config c;
  c.redis_url = "redis://:s3cret-pw@db.example:6379/2";
  auto lines = describe(c);
  bool found = false;
  for (const auto& l : lines) {
    CHECK(l.find("s3cret-pw") == std::string::npos);
    if (l.rfind("REDIS_URL=", 0) == 0) {
      found = true;
      CHECK(l == "REDIS_URL=redis://***@db.example:6379/2");
    }
  }
  CHECK(found);

  c.redis_url = "redis://user:pa55word@db.example:6379";
  for (const auto& l : describe(c))
    CHECK(l.find("pa55word") == std::string::npos);
}

TEST_CASE("describe masks every password of a REDIS_URL list, REDIS_PASSWORD and REDIS_SENTINEL_PASSWORD") {
  config c;
  c.redis_url = "redis://u1:first-pw@a:6379,redis://b:6379,redis://:third-pw@c:6380/1";
  c.redis_password = "data-secret";
  c.redis_sentinel_password = "sentinel-secret";
  bool found = false;
  for (const auto& l : describe(c)) {
    for (auto secret : {"first-pw", "third-pw", "data-secret", "sentinel-secret"})
      CHECK(l.find(secret) == std::string::npos);
    if (l.rfind("REDIS_URL=", 0) == 0) {
      found = true;
      CHECK(l == "REDIS_URL=redis://***@a:6379,redis://b:6379,redis://***@c:6380/1");
    }
  }
  CHECK(found);
}

TEST_CASE("Redis settings are checked at start: REDIS_URL and REDIS_SENTINELS together, a bad URL in a list, a "
          "shard named twice, a malformed sentinel address") {
  CHECK(error_of({}, {"REDIS_URL=redis://a:1", "REDIS_SENTINELS=s:26379"}).find("both set") != std::string::npos);
  CHECK(error_of({}, {"REDIS_URL=redis://a:1,http://b:2"}).find("redis://") != std::string::npos);
  CHECK(error_of({}, {"REDIS_URL=redis://a:1,redis://A:1"}).find("named twice") != std::string::npos);
  CHECK(error_of({}, {"REDIS_SENTINELS=s:26379", "REDIS_MASTER_NAME=m1,m1"}).find("named twice") !=
        std::string::npos);
  CHECK(error_of({}, {"REDIS_SENTINELS=s:notaport"}).rfind("REDIS_SENTINELS:", 0) == 0);
  CHECK(error_of({}, {"REDIS_SENTINEL_PASSWORD=x"}).rfind("REDIS_SENTINEL_PASSWORD:", 0) == 0);
  CHECK(error_of({}, {"REDIS_URL=redis://a:1,redis://b:2", "REDIS_PASSWORD=pw"}).empty());
  auto c = load({}, {"REDIS_SENTINELS=s1:26379,[::1]:26380"}).cfg;
  CHECK(c.clustered());
  auto plan = redis_plan_of(c);
  REQUIRE(plan.shards.size() == 1);
  CHECK(plan.shards[0].name == "mymaster");
  REQUIRE(plan.sentinels.size() == 2);
  CHECK(plan.sentinels[1] == std::pair<std::string, std::uint16_t>{"::1", 26380});
  CHECK_FALSE(load({}).cfg.clustered());
}

TEST_CASE("describe leaves a REDIS_URL without a password as it is") {
  config c;
  c.redis_url = "redis://db.example:6379/0";
  bool found = false;
  for (const auto& l : describe(c))
    found |= l == "REDIS_URL=redis://db.example:6379/0";
  CHECK(found);
}

// -- TLS and /metrics -----------------------------------------------------------------------

TEST_CASE("TLS_CERT_FILE and TLS_KEY_FILE are read together, and one without the other names the missing one") {
  auto c = load({"--tls-cert-file", "/etc/signal/cert.pem"}, {"TLS_KEY_FILE=/etc/signal/key.pem"}).cfg;
  CHECK(c.tls_cert_file == "/etc/signal/cert.pem");
  CHECK(c.tls_key_file == "/etc/signal/key.pem");
  CHECK(load({}).cfg.tls_cert_file.empty());
  CHECK(error_of({}, {"TLS_CERT_FILE=/etc/signal/cert.pem"}).find("TLS_KEY_FILE") == 0);
  CHECK(error_of({"--tls-key-file=/etc/signal/key.pem"}).find("TLS_CERT_FILE") == 0);
}

TEST_CASE("METRICS_ALLOW is a CIDR list, and a bad item is refused naming the setting and the item") {
  auto c = load({}, {"METRICS_ALLOW=10.0.0.0/8, 127.0.0.1 ,::1"}).cfg;
  CHECK(c.metrics_allow == std::vector<std::string>{"10.0.0.0/8", "127.0.0.1", "::1"});
  CHECK(load({}).cfg.metrics_allow.empty());
  auto err = error_of({"--metrics-allow", "10.0.0.0/8,prometheus.local"});
  CHECK(err.find("METRICS_ALLOW") == 0);
  CHECK(err.find("prometheus.local") != std::string::npos);
}

TEST_CASE("a LOG_LEVEL that names no level is refused at start like every other bad setting") {
  CHECK(load({}, {"LOG_LEVEL=warn"}).cfg.log_level == "warn");
  auto err = error_of({"--log-level", "verbose"});
  CHECK(err.find("LOG_LEVEL") == 0);
  CHECK(err.find("verbose") != std::string::npos);
}

TEST_CASE("describe writes each value as one logfmt value, quoted and escaped when it must be") {
  auto c = load({}, {"FRONTEND_URL=https://a.example, https://b.example", "WEB_DIR="}).cfg;
  auto lines = describe(c);
  auto has = [&](const std::string& line) {
    for (const auto& l : lines)
      if (l == line)
        return true;
    return false;
  };
  CHECK(has("FRONTEND_URL=https://a.example,https://b.example"));
  CHECK(has("WEB_DIR=\"\""));
}
