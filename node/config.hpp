// Configuration of signal-node, parsed in one place. Sources, strongest first:
// command-line flags (--ws-port 4000 or --ws-port=4000), the environment
// (WS_PORT=4000), and an optional .env file (as the seed's dotenv: it never
// overrides the environment). Every setting has one name in each form.
#pragma once

#include "actors/limits.hpp"
#include "cluster/shards.hpp"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace signaling {

struct config {
  std::string bind_address = "0.0.0.0";
  std::uint16_t ws_port = 4000;
  int admin_port = 4100;                  // signal-console's port (inspector actor); 0: any free; -1: off
  std::string admin_bind = "127.0.0.1";   // anything but loopback exposes the operator actions
  std::vector<std::string> frontend_urls; // allowed browser origins
  std::string redis_url;                  // one or more redis:// URLs (one shard each); empty and no sentinels: embedded
  std::string redis_sentinels;            // host:port of each Sentinel; then REDIS_MASTER_NAME names the shards
  std::string redis_master_name = "mymaster"; // one or more Sentinel master groups (one shard each)
  std::string redis_username;             // ACL user for data servers whose URL names none
  std::string redis_password;             // for data servers whose URL carries none
  std::string redis_sentinel_password;    // AUTH to the sentinels
  std::chrono::milliseconds node_ttl{5000};     // cluster: a node silent this long is dead
  std::chrono::milliseconds heartbeat{1000};    // cluster: liveness refresh and reaping period
  std::chrono::milliseconds redis_timeout{2000}; // cluster: connect and command deadline
  std::chrono::microseconds redis_batch{1000};    // cluster: least time between writes of relayed frames
  std::string node_id;                    // default: the host name
  unsigned io_threads = 0;                // 0: one per usable CPU (transport/cpu_budget.hpp)
  bool pair_threads = true;               // a guest's connection moves to its host's I/O thread
  unsigned actor_threads = 1;             // CAF scheduler threads (rooms, directory)
  std::string actor_scheduler = "sharing"; // CAF policy: sharing (workers block) | stealing (workers poll)
  std::string log_level = "info";
  std::string web_dir = "web";            // the demo client; empty: not served
  std::vector<std::string> stun_urls;     // GET /api/ice-servers
  std::vector<std::string> turn_urls;
  std::string turn_secret;                // coturn's static-auth-secret (use-auth-secret)
  std::chrono::seconds turn_ttl{3600};
  std::string auth_mode = "off";          // off | jwt
  std::string auth_jwt_secret;
  std::string auth_jwt_audience;
  std::string tls_cert_file;              // both set: the port speaks TLS only (https://, wss://)
  std::string tls_key_file;
  std::vector<std::string> metrics_allow; // CIDR blocks that may GET /metrics; empty: anyone
  std::string env_file = ".env";
  limits lim;

  // Cluster mode: Redis URLs or sentinels given.
  bool clustered() const { return !redis_url.empty() || !redis_sentinels.empty(); }
};

// The Redis shards (and sentinels) the REDIS_* settings name; load_config
// has checked them already. Empty in embedded mode.
cluster::redis_plan redis_plan_of(const config& cfg);

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct config_result {
  config cfg;
  bool help = false;     // --help was given: print usage() and exit 0
};

// Parses flags, environment (`env`, as in `environ`) and the .env file.
// Throws config_error with a message naming the bad setting.
config_result load_config(int argc, const char* const* argv, const char* const* env);

// The --help text: every setting with its flag, variable, default and meaning.
std::string usage();

// One `key=value` line per setting, for the start-up log.
std::vector<std::string> describe(const config& cfg);

} // namespace signaling
