// The seam between transport/ (Beast) and actors/ (CAF): what a protocol
// handler sees of one WebSocket, and what the socket sees of its handler.
// Neither side includes the other's library headers through this file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace signaling::transport {

// One text frame, immutable once built: a relayed frame is the same buffer
// on every hop and in every send queue.
using frame_ptr = std::shared_ptr<const std::string>;

// Close codes of RFC 6455 that this server sends.
enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,       // node shutting down
  unsupported_data = 1003, // binary frame
  policy_violation = 1008, // over the message rate
  too_big = 1009,          // frame over max_message_bytes (sent by Beast itself)
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

// The socket side. `send`/`close` must be called on the link's strand (the
// handler's own callbacks run there); `post` may be called from any thread.
class ws_link {
public:
  virtual ~ws_link() = default;
  // Queues a text frame. Past max_send_queue_bytes the link closes itself.
  virtual void send(frame_ptr frame) = 0;
  // Starts the close handshake with `code`; later sends are dropped.
  virtual void close(close_code code, std::string_view reason) = 0;
  // Runs `fn` on the link's strand; dropped if the link is already gone.
  virtual void post(std::function<void()> fn) = 0;
  // Runs `fn` on the link's strand after `delay`, unless the link is gone by
  // then (its timers die with it). For the protocol's own deadlines.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  virtual std::size_t queued_bytes() const = 0;
  virtual const std::string& remote_address() const = 0;
  // The client this connection speaks for (X-Forwarded-For from a trusted
  // proxy, else the TCP peer; IPv6 as its /64), for per-client budgets.
  virtual const std::string& client_address() const = 0;
  virtual const access_grant& grant() const = 0;
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

// The protocol side, one per WebSocket; every call comes on the link's strand.
class ws_handler {
public:
  virtual ~ws_handler() = default;
  virtual void on_text(frame_ptr frame) = 0;
  // The connection is gone (closed by either side, or failed); called once.
  virtual void on_closed(close_cause cause) = 0;
};

using ws_handler_factory = std::function<std::unique_ptr<ws_handler>(std::shared_ptr<ws_link>)>;

} // namespace signaling::transport
