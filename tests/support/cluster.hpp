// Real processes for cluster tests: a redis-server on a free port and
// signal-node processes pointed at it. Plus the two topologies the protocol
// suite runs on: one in-process node, and two node processes sharing a Redis
// with the host on one and the guest on the other.
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
std::vector<std::string> redis_command(std::uint16_t port, const std::vector<std::string>& args);

class redis_process {
public:
  redis_process();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  void stop();    // SIGTERM and wait
  void restart(); // start again on the same port (empty: no persistence)
  std::vector<std::string> command(const std::vector<std::string>& args) const { return redis_command(port_, args); }

private:
  void launch();
  std::uint16_t port_;
  std::unique_ptr<child_process> proc_;
};

class node_process {
public:
  node_process(const redis_process& redis, std::string node_id, env_map extra = {});
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
  explicit local_cluster(const env_map& env = {}, int nodes = 3);
  ~local_cluster(); // `down`; checks nothing is left running
  std::uint16_t lb_port() const { return lb_port_; }
  // node name -> (pid, port), from the script's state file
  const std::map<std::string, std::pair<int, std::uint16_t>>& nodes() const { return nodes_; }
  std::vector<int> pids() const; // every process the script started
  const std::string& dir() const { return dir_; } // CLUSTER_DIR (logs, tls/cert.pem)
  std::string down();            // runs `down`, returns its output

private:
  std::string dir_;
  env_map env_;
  std::uint16_t lb_port_ = 0;
  std::map<std::string, std::pair<int, std::uint16_t>> nodes_;
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

} // namespace testing
