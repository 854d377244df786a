// The seam between a client's socket (transport/) and its connection actor
// (actors/): what the actor sees of one WebSocket, and what the socket sees of
// its actor. Owned by actors/, implemented by transport/; no library header
// of either side comes through this file.
//
// Threads: every socket is pinned to one I/O thread, and its actor's work
// runs on that thread too. Every call in this file, in either direction,
// happens on that thread, except io_thread::post. A socket changes thread at
// most by connection_link::move_to, which hands both sides over together.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace signaling {

// One text message, immutable once built: a relayed frame that has to wait
// (in a send queue, for another thread, for a parked seat) is one buffer
// shared by every holder.
using frame_ptr = std::shared_ptr<const std::string>;

// Close codes of RFC 6455 that this server sends.
enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,       // node shutting down (SHUTDOWN_CLOSE_CODE=1001)
  protocol_error = 1002,   // framing violation
  unsupported_data = 1003, // binary frame
  invalid_payload = 1007,  // text that is not UTF-8
  policy_violation = 1008, // over a limit, kicked, no room joined in time
  too_big = 1009,          // message over MAX_MESSAGE_BYTES
  service_restart = 1012,  // node draining: reconnect elsewhere
};

// What the upgrade request was allowed to do (AUTH_MODE=jwt), as plain
// data: transport checks nothing of it, the protocol side enforces it.
struct access_grant {
  bool restricted = false; // false: anything the protocol allows
  std::string subject;     // who, for logs
  std::string room;        // only this room may be joined (empty: any)
  bool may_create = true;
};

// How a connection ended, for the seat it held (docs/protocol.md, "Seats").
enum class close_cause {
  // The client meant it (a close frame with 1000, 1001 or no code: a closing
  // tab), or the server closed it for cause (policy, size, framing, a reader
  // too slow): the seat ends at once.
  deliberate,
  // Lost: no close frame (TCP reset or EOF, a timeout), a close frame with
  // another code, or the server's own shutdown close (1012/1001): the seat
  // waits RESUME_GRACE_SECONDS for a resume.
  lost,
};

// One I/O thread: the event loop that runs the sockets pinned to it and the
// work of their actors. Held by shared_ptr: an actor may outlive its socket
// and the loop itself; post() after the loop has stopped drops `fn`.
class io_thread {
public:
  virtual ~io_thread() = default;
  // Runs `fn` on this thread, after what is already queued. Any thread may
  // call it; `fn` runs even if the socket it concerns has closed meanwhile.
  virtual void post(std::function<void()> fn) = 0;
  // True when called from this thread.
  virtual bool is_current() const = 0;
  // Which of the node's I/O threads this is (0, 1, ...), for the console.
  virtual unsigned index() const { return 0; }
};

// The socket side of one open WebSocket.
class connection_link {
public:
  using clock = std::chrono::steady_clock;

  virtual ~connection_link() = default;
  // Queues a text message. `text` is copied only if the socket cannot take
  // it at once. Past MAX_SEND_QUEUE_BYTES the link cuts the connection off.
  virtual void send(std::string_view text) = 0;
  // The same for a shared frame, which waits in the queue without a copy.
  virtual void send(const frame_ptr& frame) = 0;
  // Starts the close handshake with `code` once what is queued is written;
  // later sends are dropped.
  virtual void close(close_code code, std::string_view reason) = 0;
  // Stops reading the socket (the client's bytes wait in the kernel, so TCP
  // pushes back on it) until resume_reading(). Pings and timeouts go on.
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;
  // Calls on_deadline() at `when` (roughly: the link may fire up to a few ms
  // late). One deadline per connection: a later call replaces it,
  // clock::time_point::max() clears it.
  virtual void set_deadline(clock::time_point when) = 0;
  // Bytes accepted by send() and not yet written to the socket.
  virtual std::size_t queued_bytes() const = 0;
  // The thread this connection is pinned to.
  virtual std::shared_ptr<io_thread> thread() const = 0;
  // Moves the connection to `target`, another I/O thread of this node (so a
  // pair of peers can share one thread: a relay between them is then a call,
  // not a post that wakes another thread). Called on the current thread, from
  // a task of its own (never from inside on_text or another link call).
  // False, with nothing changed, when it cannot move now (TLS, closing, bytes
  // waiting to be written, a move still settling, another kind of thread).
  // Otherwise `switch_over` is called (with target's own handle) once the
  // move can no longer fail and before anything of this connection runs on
  // `target`; it hands the caller's own state over (the link's calls come
  // from `target` from then on). After move_to returns true the caller must touch neither the link
  // nor its own state on this thread again.
  virtual bool move_to(io_thread& target, const std::function<void(const std::shared_ptr<io_thread>& to)>& switch_over) {
    (void)target;
    (void)switch_over;
    return false;
  }
  // The TCP peer, as "address:port". Returned by value: the transport keeps
  // the address, not a string per connection (issue 14's memory budget).
  virtual std::string remote_address() const = 0;
  // The client this connection speaks for (X-Forwarded-For from a trusted
  // proxy, else the TCP peer; IPv6 as its /64), for per-client budgets.
  virtual std::string client_address() const = 0;
  virtual const access_grant& grant() const = 0;
};

// The protocol side of one open WebSocket: its connection actor.
class connection_handler {
public:
  virtual ~connection_handler() = default;
  // One complete text message (UTF-8 checked); `text` is valid only during
  // the call.
  virtual void on_text(std::string_view text) = 0;
  // The deadline of set_deadline() has come.
  virtual void on_deadline() = 0;
  // The connection is gone (closed by either side, or failed). Called exactly
  // once, at the latest when the link is destroyed; afterwards neither side
  // touches the other.
  virtual void on_closed(close_cause cause) = 0;
};

// Makes the handler of a freshly upgraded WebSocket, on its thread. The
// handler owns itself (it lives until on_closed at least); the link keeps
// only the pointer.
using connection_handler_factory = std::function<connection_handler*(connection_link& link)>;

} // namespace signaling
