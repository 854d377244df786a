// The load generator's sockets: a client WebSocket (its own framing,
// bench/wire.hpp, on a plain Asio socket, no strand) and the worker thread
// that owns a share of them. One io_context per worker thread, every connection of a
// worker on that thread only: no locks and no thread handoff per message.
// Never used by the server.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include "bench/wire.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bench {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using socket_t = net::basic_stream_socket<tcp, net::io_context::executor_type>;

// Monotonic nanoseconds; one clock for every thread of the process, so a
// timestamp written by one worker can be subtracted by another.
inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// ws://host:port/path (no TLS: the bench runs on loopback).
struct ws_url {
  std::string host;
  std::uint16_t port = 0;
  std::string target = "/";
  tcp::endpoint endpoint; // resolved once, before any connection starts
  std::string text() const { return "ws://" + host + ":" + std::to_string(port) + target; }
};
// Throws std::invalid_argument on a malformed URL or a host that does not resolve.
ws_url parse_ws_url(const std::string& text);

class connection;

// What a scenario does with its connections' events; every call comes on the
// connection's worker thread.
class connection_events {
public:
  virtual ~connection_events() = default;
  virtual void on_open(connection& c) = 0;
  virtual void on_text(connection& c, std::string_view text) = 0;
  // Connect, handshake, read or write failed, or the server closed: called
  // once; the connection is dead afterwards.
  virtual void on_down(connection& c, beast::error_code ec, const char* where) = 0;
  // The last queued frame has been written to the socket and nothing else is
  // queued: a sender that writes back to back sends its next frame here, so
  // that frame is stamped when it really goes out (reads go on meanwhile).
  virtual void on_drained(connection&) {}
};

struct connection_options {
  std::chrono::seconds handshake_timeout{30};
  // Keepalive: a ping after `keepalive` of silence, dead after twice that.
  // 0: no pings, no idle timeout.
  std::chrono::seconds keepalive{0};
};

class worker;

class connection {
public:
  connection(worker& w, connection_events& events, std::size_t pair, bool host);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Connects (from `source` when given), completes the WebSocket handshake,
  // then reads until down. Goes through the worker's connect gate.
  void start(const ws_url& url, std::optional<net::ip::address> source, const connection_options& opts);
  // Queues one text frame (copied into a recycled buffer); one write in flight.
  void send(std::string_view text);
  // Drops the TCP connection (no close handshake); no callback follows.
  void kill();

  bool open() const { return open_; }
  // Open, nothing queued and no write in flight.
  bool idle() const { return open_ && !writing_ && queue_.empty(); }
  std::size_t pair() const { return pair_; }
  bool is_host() const { return host_; }
  std::uint64_t started_ns() const { return started_ns_; }
  std::uint64_t opened_ns() const { return opened_ns_; }
  worker& owner() { return worker_; }

private:
  friend class worker;
  void do_connect();
  void on_connect(beast::error_code ec);
  void on_opened();
  void wait_readable();
  void on_readable(beast::error_code ec);
  bool received(const char* data, std::size_t n); // false: the connection went down
  void queue_frame(wire::opcode op, std::string_view payload);
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void arm_keepalive();
  void fail(beast::error_code ec, const char* where);
  void close_socket();

  class events_sink;
  worker& worker_;
  connection_events& events_;
  std::size_t pair_;
  bool host_;
  socket_t sock_;
  net::steady_timer timer_; // the handshake's deadline, then keepalive ticks
  wire::frame_reader reader_;
  std::string handshake_; // the upgrade request, then the answer as it arrives
  std::uint32_t mask_;
  std::deque<std::string> queue_; // whole frames, masked
  std::vector<std::string> spare_; // written buffers kept for reuse
  const ws_url* url_ = nullptr;
  std::optional<net::ip::address> source_;
  connection_options opts_;
  std::uint64_t started_ns_ = 0;
  std::uint64_t opened_ns_ = 0;
  bool writing_ = false;
  bool open_ = false;
  bool down_ = false;
  bool gated_ = false; // holds a connect-gate slot
  bool heard_ = false;    // something arrived since the last keepalive tick
  bool ping_out_ = false; // a keepalive ping is unanswered
};

// One thread, one io_context, a share of the connections. The connect gate
// bounds handshakes in flight (0: unbounded) so that tens of thousands of
// connections do not overflow the server's listen backlog at once.
class worker {
public:
  explicit worker(std::size_t index, std::size_t max_connecting);
  ~worker();

  net::io_context& ioc() { return ioc_; }
  std::size_t index() const { return index_; }
  void start_thread();
  // Runs `fn` on this worker's thread.
  void post(std::function<void()> fn);
  // Kills every connection in `conns` on the worker thread, gives aborted
  // handlers a moment to run, then stops and joins the thread.
  void shutdown(std::function<void()> kill_all);

private:
  friend class connection;
  static constexpr std::size_t read_buffer_size = 64 * 1024;
  void enter_gate(connection* c);
  void leave_gate();
  std::uint32_t next_mask();

  std::size_t index_;
  std::size_t max_connecting_;
  std::unique_ptr<char[]> read_buffer_; // every connection's reads, one at a time
  std::uint64_t mask_state_;            // xorshift: each connection's masking key
  std::size_t connecting_ = 0;
  std::deque<connection*> waiting_;
  net::io_context ioc_{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::thread thread_;
};

} // namespace bench
