// One upgraded WebSocket connection, on the raw socket: our own RFC 6455
// framing (ws_codec) instead of a Beast stream, pinned to one I/O thread
// (io_loop) unless it moves to its peer's (move_to). While idle it holds no read buffer, no timer object and
// no send queue: it waits for readability, reads into its thread's buffer,
// writes at once when the socket takes the bytes, and keeps its deadlines in
// its thread's timer wheel. It knows nothing of the protocol: messages go to
// its connection_handler and come back through connection_link
// (actors/link.hpp); a slow reader is cut off at MAX_SEND_QUEUE_BYTES, never
// buffered without bound. It must only be touched on its own thread, except
// through io_loop posts.
#pragma once

#include "actors/link.hpp"
#include "telemetry/stats.hpp"
#include "transport/io_pool.hpp"
#include "transport/socket.hpp"
#include "transport/timer_wheel.hpp"
#include "transport/ws_codec.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct iovec;

namespace signaling::transport {

// What only some connections need: kept out of the session unless used.
struct session_extras {
  access_grant grant;                       // AUTH_MODE=jwt
  std::shared_ptr<void> client_slot;        // MAX_CONNECTIONS_PER_IP > 0
  std::optional<boost::asio::ip::address> client; // named by X-Forwarded-For from a trusted proxy
};

// The TCP peer, as 19 bytes instead of a string.
struct peer_address {
  std::array<std::uint8_t, 16> bytes{};
  std::uint16_t port = 0;
  bool v6 = false;
  static peer_address of(const boost::asio::ip::address& a, std::uint16_t port);
  boost::asio::ip::address address() const;
  std::string to_string() const; // "address:port", as the logs always had it
};

class websocket_session : public connection_link, public session_hook, protected timer_entry {
public:
  // Held by whatever waits on the session (its pending I/O, a posted task)
  // and by the session itself until its socket is closed.
  friend void intrusive_ptr_add_ref(websocket_session* s) { ++s->refs_; }
  friend void intrusive_ptr_release(websocket_session* s) {
    if (--s->refs_ == 0)
      delete s;
  }

  // Answers the upgrade with `response` (the 101) and goes on with `early`:
  // bytes the client sent right behind its upgrade request.
  void start(std::string response, std::string_view early);
  // Shutdown (close_all): the close handshake with `code`.
  void shut(close_code code, std::string_view reason) { close(code, reason); }
  // The loop has stopped for good: tell the handler, close the socket.
  void abandon();
  static websocket_session& of(session_hook& h);

  // connection_link
  void send(std::string_view text) override;
  void send(const frame_ptr& frame) override;
  void close(close_code code, std::string_view reason) override;
  void pause_reading() override;
  void resume_reading() override;
  void set_deadline(clock::time_point when) override;
  std::size_t queued_bytes() const override;
  std::shared_ptr<io_thread> thread() const override { return loop_->thread(); }
  bool move_to(io_thread& target, const std::function<void(const std::shared_ptr<io_thread>& to)>& switch_over) override;
  std::string remote_address() const override { return peer_.to_string(); }
  std::string client_address() const override;
  const access_grant& grant() const override;

protected:
  websocket_session(io_loop& loop, peer_address peer, std::unique_ptr<session_extras> extras);
  ~websocket_session() override;

  // How a connection ends, as far as this side can tell.
  enum class ending : std::uint8_t { peer_closed, protocol_error, too_big, timeout, dropped };

  // The phases of one connection; each names its deadline.
  enum class phase : std::uint8_t {
    upgrading,  // the 101 is not all written yet; no handler yet (HANDSHAKE_TIMEOUT_MS)
    open,       // messages both ways (idle: a ping at IDLE_TIMEOUT_MS/2 of silence, dropped at IDLE_TIMEOUT_MS)
    closing,    // close() was called: what is queued drains, then our close frame (HANDSHAKE_TIMEOUT_MS, then cut off)
    close_sent, // our close frame has gone out; the client's is awaited (HANDSHAKE_TIMEOUT_MS)
    lingering,  // the close handshake is over or failed: write what is left, FIN, read to EOF (HANDSHAKE_TIMEOUT_MS)
    closed,     // the socket is closed; the object goes with its last pending operation
  };

  // Whose bytes an item of the send queue holds.
  enum class out_kind : std::uint8_t {
    text,     // a text message's payload; the header is written in front of it
    raw,      // bytes ready to go (control frames; what was left of a message)
    response, // the 101 answer
    close,    // our close frame
  };
  struct out_item {
    frame_ptr bytes;
    std::uint32_t counted = 0; // its share of queued_bytes()
    out_kind kind = out_kind::raw;
  };
  // Exists only while something waits to be written.
  struct send_queue {
    std::vector<out_item> items;
    std::size_t head = 0;      // items before it are written
    std::size_t head_done = 0; // bytes of the head item written (its header included)
    std::size_t bytes = 0;     // queued_bytes()
  };

  // -- what each transport implements ------------------------------------------------
  virtual void start_reading() = 0;
  // Writes what is queued: now if the socket takes it, else when it does.
  virtual void start_writing() = 0;
  // Plain TCP: writes at once what the socket takes; returns bytes written,
  // or -1 on an error. TLS cannot, and returns 0.
  virtual long write_now(const iovec* iov, int n) = 0;
  // The close handshake is over and all written: FIN (TLS: close_notify), then
  // read until the client's.
  virtual void end_output() = 0;
  // `hard`: shut both directions first (a reader cut off).
  virtual void close_socket(bool hard) = 0;
  // Bytes have arrived that no read has taken yet.
  virtual bool bytes_waiting() = 0;
  // Gives the socket to `to`'s io_context (move_to). A wait still pending
  // ends on the old thread, where its handler must see stale() and do
  // nothing. False, with nothing changed, if this transport cannot (TLS) or
  // the socket cannot be registered there.
  virtual bool rebind(io_loop& to) {
    (void)to;
    return false;
  }

  // -- for the transports ------------------------------------------------------------
  io_loop& loop() { return *loop_; }
  const server_state& server() const { return *loop_->server; }
  phase state() const { return state_; }
  bool reading() const { return (flags_ & f_reading) != 0; }
  bool writing() const { return (flags_ & f_writing) != 0; }
  void set_reading(bool on) { set_flag(f_reading, on); }
  void set_writing(bool on) { set_flag(f_writing, on); }
  // Whether the socket should be read now.
  bool wants_reading() const;
  // Bytes from the socket.
  void received(char* data, std::size_t n);
  void received_eof();
  void failed(const char* where, const std::string& error);
  // A write (or a wait for the socket to take one) has completed: false if
  // the session is done with, closed meanwhile or ended by `ec`.
  bool write_completed(const boost::system::error_code& ec);
  // Fills `iov` (room for 2 * max_items) from the queue; returns how many.
  static constexpr int max_items = 32;
  int gather(iovec* iov, char (*headers)[ws::max_header_bytes]) const;
  // `n` bytes of what gather() offered were written.
  void advance(std::size_t n);
  // After a write: the phase changes that writing allows.
  void after_write();
  bool queue_empty() const { return !queue_; }
  // A wait's handler: `epoch` is what epoch() was when the wait began. True:
  // the session has moved to another thread since, and the handler is
  // running on the old one; it must touch nothing (its reference is let go
  // on the new thread, see move_to).
  std::uint8_t epoch() const { return epoch_; }
  bool stale(std::uint8_t epoch) const { return epoch != epoch_; }
  // The read slot may still hold a wait from before a move (until it has run
  // on the old thread): allocate elsewhere meanwhile.
  bool slot_lent() const { return (flags_ & f_lent) != 0; }
  // Set while the transport's read handler runs (a move must wait for it to end).
  void set_in_read(bool on) { set_flag(f_in_read, on); }
  // Appends the queue to `out` up to about `limit` bytes (TLS, which
  // encrypts what it is given record by record).
  std::size_t linearize(std::string& out, std::size_t limit) const;
  // Closed by the transport (EOF in lingering, a finished TLS shutdown).
  void terminate();
  // Closes the socket now and finishes on a later turn of the loop: for ends
  // found inside a call from an actor (a send), which must not hear of its
  // link's end in the middle of that call.
  void end_soon(ending why, const char* where, std::string error);

private:
  enum : std::uint16_t {
    f_reading = 1,          // a read (or readiness wait) is pending
    f_writing = 2,          // a write (or writability wait) is pending
    f_paused = 4,           // pause_reading()
    f_ping_sent = 8,        // the idle ping is out, unanswered
    f_cut_off = 16,         // closed at TCP level: a reader too slow
    f_close_queued = 32,    // our close frame is in the queue
    f_close_started = 64,   // our close frame has begun to go out
    f_upgraded = 128,       // the 101 is written (set by advance)
    f_alive = 256,          // the session's own reference is held
    f_finished = 512,       // finish() has run
    f_output_ended = 1024,  // end_output() has run
    f_resume_posted = 2048, // resume_now() is posted on this thread
    f_lent = 4096,          // a wait from before a move is still pending on the old thread
    f_in_read = 8192,       // inside the transport's read handler
  };
  struct reader_sink;
  friend struct reader_sink;

  void set_flag(std::uint16_t f, bool on) { flags_ = on ? (flags_ | f) : (flags_ & ~f); }
  void on_timer() override;
  void on_upgraded();
  void feed(char* data, std::size_t n);
  void resume_now();
  bool keep_parsing() const;
  bool keep_stash() const;
  bool accept_text(std::string_view text);
  bool accept_ping(std::string_view payload);
  void accept_close(std::uint16_t code);
  void fail_protocol(ws::failure why);
  // Queues `item` (sends at once if nothing is waiting and the socket takes it).
  void push(out_item item);
  void push_control(std::string frame, out_kind kind = out_kind::raw);
  // `shared`: the same text as a shared frame, queued without a copy.
  void send_text(std::string_view text, const frame_ptr* shared);
  void note_written(out_kind kind, bool whole);
  static std::size_t item_size(const out_item& it);
  void drop_unsent();
  void cut_off(const char* why);
  // Ends the connection for the handler: counted, logged, told once.
  void finish(ending why, const char* where, std::string_view error = {});
  close_kind classify(ending why) const;
  void linger();
  void check_idle(std::uint64_t now, std::uint64_t due);
  void rearm();
  // The second half of move_to, on the new thread.
  void arrive(io_loop& from);

  io_loop* loop_; // changes only by move_to
  connection_handler* handler_ = nullptr; // owns itself (see connection_handler_factory)
  ws::frame_reader reader_;
  std::unique_ptr<send_queue> queue_;
  std::unique_ptr<session_extras> extras_;
  std::uint64_t transport_due_ = UINT64_MAX; // tick of this phase's deadline
  std::uint64_t actor_due_ = UINT64_MAX;     // tick of set_deadline()
  std::uint32_t rx_tick_ = 0;                // (low bits of) the tick bytes last came in
  std::uint32_t refs_ = 1;
  peer_address peer_;
  std::uint16_t close_code_ = 0; // ours, once close() queued it
  std::uint16_t their_code_ = 0; // the client's close frame (0: none)
  phase state_ = phase::upgrading;
  std::uint8_t epoch_ = 0; // moves so far (mod 256), see stale()
  std::uint16_t flags_ = f_alive;
};

// A WebSocket on plain TCP (ws://): readiness waits, reads into the loop's
// buffer, writes at once. Starts with the session's own reference.
websocket_session* make_plain_session(io_loop& loop, socket_type&& socket, peer_address peer,
                                      std::unique_ptr<session_extras> extras);
// A WebSocket over TLS (wss://): the same logic on an ssl::stream, reading
// into a buffer of its own (TLS keeps bytes of its own; readiness of the
// socket says nothing about them). `tls_context` is held as long as it lives.
websocket_session* make_tls_session(io_loop& loop, tls_stream&& stream, std::shared_ptr<const void> tls_context,
                                    peer_address peer, std::unique_ptr<session_extras> extras);

} // namespace signaling::transport
