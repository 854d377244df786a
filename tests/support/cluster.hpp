// Real processes for cluster tests: redis-server (alone, as a replica, with
// ACL users) and redis-sentinel on free ports, and signal-node processes
// pointed at them. Plus the two topologies the protocol suite runs on: one
// in-process node, and two node processes sharing a Redis with the host on
// one and the guest on the other.
#pragma once

#include "support/child_process.hpp"
#include "support/test_node.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace testing {

using env_map = std::map<std::string, std::string>;

// A TCP port nothing listens on right now (bound and released).
std::uint16_t free_port();

// One command on a fresh synchronous hiredis connection; the reply flattened
// to strings (integers in decimal, nil as "(nil)", errors as "ERR ...").
// `auth`: AUTH's arguments (password, or user and password), sent first.
std::vector<std::string> redis_command(std::uint16_t port, const std::vector<std::string>& args,
                                       const std::vector<std::string>& auth = {});

class redis_process {
public:
  // `extra`: more redis-server arguments (--requirepass pw, --replicaof ...).
  explicit redis_process(std::vector<std::string> extra = {});
  ~redis_process();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void stop();    // SIGTERM and wait
  void kill();    // SIGKILL and wait: a crash
  void restart(); // start again on the same port with the same arguments (empty: no persistence)
  // The password `command` authenticates with (for --requirepass servers).
  void set_auth(std::vector<std::string> auth) { auth_ = std::move(auth); }
  std::vector<std::string> command(const std::vector<std::string>& args) const {
    return redis_command(port_, args, auth_);
  }
  int pid() const { return proc_->pid(); }

private:
  void launch();
  std::uint16_t port_;
  std::vector<std::string> extra_;
  std::vector<std::string> auth_;
  std::string dir_; // its own working directory: nothing it writes (a replica's sync) is read by another
  std::unique_ptr<child_process> proc_;
};

// A redis-sentinel on a free port watching master group `master` at
// `primary_port`, with its own configuration file (Sentinel rewrites it as
// it learns, so a copy taken earlier is that sentinel's earlier state).
struct sentinel_settings {
  std::string master = "mymaster";
  int down_after_ms = 1000;
  int failover_timeout_ms = 5000;
  std::string auth_pass;     // sentinel auth-pass: the data servers' password
  std::string requirepass;   // the sentinels' own password
};

class sentinel_process {
public:
  sentinel_process(std::uint16_t primary_port, sentinel_settings s);
  ~sentinel_process();
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void kill(); // SIGKILL and wait
  // Starts again from `config` (the text of a configuration file), on the same port.
  void restart(const std::string& config);
  std::string config() const; // the configuration file as it is now
  std::vector<std::string> command(const std::vector<std::string>& args) const;
  // SENTINEL get-master-addr-by-name, as host:port ("" when it has none).
  std::string primary() const;

private:
  void launch();
  std::uint16_t port_;
  sentinel_settings settings_;
  std::string dir_;
  std::unique_ptr<child_process> proc_;
};

// A primary, one replica and three sentinels (quorum 2), all on loopback,
// every sentinel aware of the other two and of the replica before the
// constructor returns.
class sentinel_group {
public:
  explicit sentinel_group(sentinel_settings s = {}, std::string data_password = {});
  redis_process& primary() { return *primary_; }
  redis_process& replica() { return *replica_; }
  sentinel_process& sentinel(std::size_t i) { return *sentinels_.at(i); }
  // REDIS_SENTINELS for the nodes.
  std::string sentinels() const;
  const sentinel_settings& settings() const { return settings_; }

private:
  sentinel_settings settings_;
  std::unique_ptr<redis_process> primary_, replica_;
  std::vector<std::unique_ptr<sentinel_process>> sentinels_;
};

class node_process {
public:
  node_process(const redis_process& redis, std::string node_id, env_map extra = {});
  // A node with exactly `env` over the test defaults (no REDIS_URL of its own).
  node_process(std::string node_id, env_map env);
  std::uint16_t port() const { return port_; }
  const std::string& id() const { return id_; }
  child_process& proc() { return *proc_; }

private:
  std::string id_;
  std::unique_ptr<child_process> proc_;
  std::uint16_t port_ = 0;
};

// The test defaults, as environment, overlaid with `env`.
signaling::config config_from_env(const env_map& env);

struct single_node {
  static constexpr bool cluster = false;
  static constexpr bool balanced = false;
  explicit single_node(const env_map& env = {}) : node(config_from_env(env)) {}
  std::uint16_t host_port() const { return node.port(); }
  std::uint16_t guest_port() const { return node.port(); }
  running_node node;
};

// deploy/local-cluster.sh: redis-server, three nodes and HAProxy, started
// and stopped by the operators' script; clients see one port.
class local_cluster {
public:
  // `args`: more arguments to `up` (--sentinel, --shards K).
  explicit local_cluster(const env_map& env = {}, int nodes = 3, std::vector<std::string> args = {});
  ~local_cluster(); // `down`; checks nothing is left running
  std::uint16_t lb_port() const { return lb_port_; }
  // node name -> (pid, port), from the script's state file
  const std::map<std::string, std::pair<int, std::uint16_t>>& nodes() const { return nodes_; }
  std::vector<int> pids() const; // every process the script started
  // name -> port of every Redis server and sentinel (redis, redis2-replica, sentinel1...)
  const std::map<std::string, std::uint16_t>& redis() const { return redis_; }
  const std::string& dir() const { return dir_; } // CLUSTER_DIR (logs, tls/cert.pem)
  std::string down();            // runs `down`, returns its output

private:
  std::string dir_;
  env_map env_;
  std::uint16_t lb_port_ = 0;
  std::map<std::string, std::pair<int, std::uint16_t>> nodes_;
  std::map<std::string, std::uint16_t> redis_;
  std::vector<int> pids_;
  bool up_ = false;
};

struct load_balanced {
  static constexpr bool cluster = true;
  static constexpr bool balanced = true;
  explicit load_balanced(const env_map& env = {}) : lc(env) {}
  std::uint16_t host_port() const { return lc.lb_port(); }
  std::uint16_t guest_port() const { return lc.lb_port(); }
  local_cluster lc;
};

struct two_nodes {
  static constexpr bool cluster = true;
  static constexpr bool balanced = false;
  explicit two_nodes(const env_map& env = {}) : a(redis, "node-a", env), b(redis, "node-b", env) {}
  std::uint16_t host_port() const { return a.port(); }
  std::uint16_t guest_port() const { return b.port(); }
  redis_process redis;
  node_process a;
  node_process b;
};

// Two nodes that write each frame to each other to Redis at once
// (REDIS_BATCH_US=0), where two_nodes, at the default, let frames made within
// a millisecond of the last write share the next: every protocol rule must
// hold the same both ways.
struct two_nodes_unbatched : two_nodes {
  static env_map without_batch(env_map env) {
    env.emplace("REDIS_BATCH_US", "0");
    return env;
  }
  explicit two_nodes_unbatched(const env_map& env = {}) : two_nodes(without_batch(env)) {}
};

} // namespace testing
