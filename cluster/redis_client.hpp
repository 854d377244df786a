// One connection to Redis (hiredis 0.14's async API driven by Asio), that
// keeps itself connected: connect and command timeouts, reconnect with
// jittered backoff, the Lua scripts loaded and every subscription re-issued
// after each reconnect. A command either gets Redis's reply or a
// connection-level failure: never silence. Commands from any thread are sent
// in the order they were made, as pipelined batches (one hop to the client's
// strand per batch, one write per batch). Redis only; knows nothing of rooms
// or actors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace signaling::cluster {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;
  int db = 0;
};

// redis://[:password@]host[:port][/db]; false with `error` set if malformed.
bool parse_redis_url(std::string_view url, redis_endpoint& out, std::string& error);

// A reply copied out of hiredis (its own reply objects die with the callback).
struct redis_reply {
  enum kind_t { nil, integer, string, status, error, array } kind = nil;
  long long value = 0; // when kind == integer
  std::string str;
  std::vector<redis_reply> elements;
};

struct redis_result {
  bool ok = false;    // false: not connected, timed out or connection lost
  std::string error;  // why, when !ok
  redis_reply reply;  // when ok (may itself be an error reply)
};

// A Lua script, called by its SHA-1 (cluster/scripts.hpp lists them).
struct lua_script {
  std::string_view name;
  std::string_view body;
  std::string_view sha1;
};

class redis_client {
public:
  struct options {
    redis_endpoint endpoint;
    std::string name = "redis"; // for logs
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{2000};
    // Loaded (SCRIPT LOAD) on every connection before it counts as up.
    std::vector<const lua_script*> scripts;
  };
  using callback = std::function<void(redis_result)>;
  // A published message; both views are valid during the call only.
  using message_handler = std::function<void(std::string_view channel, std::string_view payload)>;
  using state_handler = std::function<void(bool up)>;
  using args = std::vector<std::string>;

  redis_client(boost::asio::io_context& ioc, options opts);
  ~redis_client();

  // Set before start(); they run on the client's strand.
  void on_message(message_handler h);
  void on_state(state_handler h);

  void start();
  void stop(); // thread-safe; pending callbacks get a failure

  // Thread-safe. `cb` runs on the client's strand; fails at once while down.
  void command(args a, callback cb);
  // EVALSHA of `script` (no keys) with ARGV `a`; sent as EVAL while Redis
  // lacks the script (NOSCRIPT: a SCRIPT FLUSH, or another server), which is
  // then loaded again. Thread-safe.
  void eval(const lua_script& script, args a, callback cb);
  // The same, for calls that may share one EVALSHA: a run of them queued
  // back to back with the same script and the same `fixed` (by pointer) is
  // sent as one call whose ARGV is `fixed` followed by each call's `tail`;
  // every call's `cb` gets that one reply.
  void eval_batched(const lua_script& script, std::shared_ptr<const args> fixed, std::string tail, callback cb);
  // Thread-safe. The channel stays subscribed across reconnects.
  void subscribe(std::string channel);
  // Drops the connection now (as after a timeout) and reconnects.
  void reset(std::string why);
  bool up() const;
  // Times the link came back after having been up.
  std::uint64_t reconnects() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::cluster
