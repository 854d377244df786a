// One connection to Redis that keeps itself connected (hiredis 0.14's async
// API, driven by Asio, connects and runs each session's set-up; from then on
// the link reads and writes RESP on the socket itself): connect and command timeouts, reconnect with
// jittered backoff, the Lua scripts loaded and every subscription re-issued
// after each reconnect. Where it connects may be asked anew before every
// attempt (Sentinel), and any doubt that it talks to a writable primary (a
// READONLY or LOADING reply, ROLE naming a replica) drops the connection so
// the next attempt asks again. A command either gets Redis's reply or a
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
  std::string username; // ACL user: AUTH username password; empty: AUTH password
  std::string password;
  int db = 0;
};

// redis://[[user]:password@]host[:port][/db]; false with `error` set if malformed.
bool parse_redis_url(std::string_view url, redis_endpoint& out, std::string& error);
// host:port ([v6]:port), without credentials: for logs and shard names.
std::string address_of(const std::string& host, std::uint16_t port);
// host:port or [v6]:port; false with `error` set if malformed.
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port, std::string& error);

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

// Where a client should connect now: the answer to a `locate` request.
struct located {
  bool ok = false;
  std::string host;
  std::uint16_t port = 0;
  std::string why; // when !ok
};

class redis_client {
public:
  using locate_callback = std::function<void(located)>;
  struct options {
    redis_endpoint endpoint; // credentials and db; host and port unless `locate` is set
    std::string name = "redis"; // for logs
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{2000};
    // Loaded (SCRIPT LOAD) on every connection before it counts as up.
    std::vector<const lua_script*> scripts;
    // Asked before every attempt where to connect (Sentinel: the current
    // primary), with the address last found not to be a primary (or empty),
    // to be avoided if another candidate exists. Must call back, on any thread.
    std::function<void(const std::string& avoid, locate_callback)> locate;
    // The link counts as up only once ROLE says "master".
    bool require_primary = false;
    // The least time between two writes that batched calls (relayed frames)
    // wait for: one made within it of the last write waits for the rest of
    // it, so that others share its write; one made after a quieter moment
    // goes on the next turn of the strand, as every call does with 0. Other
    // commands never wait, and take whatever is waiting with them.
    std::chrono::microseconds batch_delay{0};
  };
  using callback = std::function<void(redis_result)>;
  // A published message; both views are valid during the call only.
  using message_handler = std::function<void(std::string_view channel, std::string_view payload)>;
  using state_handler = std::function<void(bool up)>;
  // Redis answered, but refused our credentials or our permissions (AUTH,
  // NOAUTH, WRONGPASS, NOPERM): retrying will not help until someone fixes
  // the configuration. Runs on the client's strand, before the retry.
  using refused_handler = std::function<void(const std::string& why)>;
  using args = std::vector<std::string>;

  redis_client(boost::asio::io_context& ioc, options opts);
  ~redis_client();

  // Set before start(); they run on the client's strand.
  void on_message(message_handler h);
  void on_state(state_handler h);
  void on_refused(refused_handler h);

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
  // Thread-safe. A channel for this connection only: `done(true)` once Redis
  // confirms it, `done(false)` at once while down or if the connection drops
  // first, `lost()` if the connection drops after the confirmation (and no
  // unsubscribe was asked for). It is never subscribed again after a
  // reconnect, so once it has lost its subscriber it keeps none (a publisher
  // that reads 0 listeners there can rely on that). Its messages go to the
  // message handler.
  void subscribe_once(std::string channel, std::function<void(bool)> done, std::function<void()> lost);
  // Thread-safe. Ends a subscribe_once channel; `done()` once Redis confirms
  // (nothing published there after that reaches us), or at once when the
  // connection that held it is gone.
  void unsubscribe(std::string channel, std::function<void()> done);
  // Hears a command_batched call's answer together with its `tail`, which the
  // client holds until the answer anyway: a caller that may have to send the
  // tail again another way keeps no copy of it, and no callback is made per
  // call. On the client's strand.
  class tail_sink {
  public:
    virtual ~tail_sink() = default;
    virtual void answered(const redis_result& r, std::string tail) = 0;
  };
  // Plain commands that may share one write with batched calls: `fixed`
  // followed by `tail`, one command each, waiting like eval_batched; the
  // answer goes to `sink`, held until then.
  void command_batched(std::shared_ptr<const args> fixed, std::string tail, std::shared_ptr<tail_sink> sink);
  // Drops the connection now (as after a timeout) and reconnects.
  void reset(std::string why);
  // Drops the connection unless it is to `host:port` (empty: any), and
  // reconnects at once, without the backoff: the primary moved.
  void reconnect_now(std::string why, std::string unless_address = {});
  bool up() const;
  // Whether the link reads and writes its socket itself now (set up, and
  // nothing of hiredis's left in flight); for tests.
  bool does_own_io() const;
  // Times the link came back after having been up.
  std::uint64_t reconnects() const;
  // host:port of the server the link is (or was last) up on; empty before.
  std::string address() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::cluster
