// One upgraded WebSocket connection. Runs on its own strand; keeps one read
// and at most one write in flight; queues outbound frames up to the send-queue
// limit and cuts the connection off past it (a slow reader never makes the
// node buffer without bound). Knows nothing of the protocol: frames go to its
// connection_handler and come back through connection_link (actors/link.hpp). A template on the stream below
// the WebSocket: beast::tcp_stream (ws://) or beast::ssl_stream of one
// (wss://), both instantiated in the .cpp, so OpenSSL headers stay there.
#pragma once

#include "transport/server_state.hpp"
#include "actors/link.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <deque>
#include <memory>
#include <vector>

namespace signaling::transport {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;

// What shutdown needs of an open session, whatever its stream.
class session_base {
public:
  virtual ~session_base() = default;
  // Starts the close handshake; any thread may call it.
  virtual void close_from_any_thread(close_code code, std::string reason) = 0;
};

// The strand of one connection, as the io_thread its actor runs on.
class strand_thread final : public io_thread {
public:
  explicit strand_thread(net::strand<net::io_context::executor_type> strand) : strand_(std::move(strand)) {}
  void post(std::function<void()> fn) override { net::post(strand_, std::move(fn)); }
  bool is_current() const override { return strand_.running_in_this_thread(); }

private:
  net::strand<net::io_context::executor_type> strand_;
};

template <class Stream>
class websocket_session final : public connection_link,
                                public session_base,
                                public std::enable_shared_from_this<websocket_session<Stream>> {
public:
  // `tls_context` is the TLS context the stream was made with (null for
  // plain TCP): held as long as the session lives, whatever reloads do.
  websocket_session(Stream&& stream, std::shared_ptr<const void> tls_context, std::shared_ptr<server_state> state,
                    std::string remote, access_grant grant = {});
  ~websocket_session() override;

  // Keeps `slot` (this client's place under MAX_CONNECTIONS_PER_IP) as long as the session lives.
  void hold(std::shared_ptr<void> slot, std::string client) {
    client_slot_ = std::move(slot);
    client_ = std::move(client);
  }
  // Answers the upgrade request and starts the read loop.
  void run(http::request<http::string_body> req);

  // connection_link
  void send(std::string_view text) override;
  void send(const frame_ptr& frame) override;
  void close(close_code code, std::string_view reason) override;
  // While paused no read is pending to keep the session alive: it holds itself.
  void pause_reading() override {
    paused_ = true;
    paused_self_ = this->shared_from_this();
  }
  void resume_reading() override;
  void set_deadline(clock::time_point when) override;
  std::size_t queued_bytes() const override { return queued_bytes_; }
  std::shared_ptr<io_thread> thread() const override { return thread_; }
  const std::string& remote_address() const override { return remote_; }
  const std::string& client_address() const override { return client_.empty() ? remote_ : client_; }
  const access_grant& grant() const override { return grant_; }

  // session_base
  void close_from_any_thread(close_code code, std::string reason) override;

private:
  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void do_close();
  void on_close(beast::error_code ec);
  void cut_off(const char* why);
  close_kind classify(beast::error_code ec) const;
  static close_cause cause_of(close_kind kind, std::uint16_t their_code);
  void finish(beast::error_code ec, const char* where);

  std::shared_ptr<const void> tls_context_;
  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
  std::shared_ptr<server_state> state_;
  std::string remote_;
  access_grant grant_;
  connection_handler* handler_ = nullptr; // owns itself (see connection_handler_factory)
  std::shared_ptr<strand_thread> thread_;
  std::deque<frame_ptr> queue_;
  std::size_t queued_bytes_ = 0;
  std::unique_ptr<net::steady_timer> close_timer_; // only while a close waits on a write
  std::unique_ptr<net::steady_timer> deadline_; // set_deadline(), made on first use
  std::shared_ptr<void> client_slot_;
  std::string client_; // address_key() of the client
  bool accepted_ = false;     // handshake done; handler_ exists
  bool cut_off_ = false;      // closed at TCP level (slow reader)
  bool writing_ = false;
  bool reading_ = false;      // an async_read is in flight
  bool paused_ = false;       // pause_reading(): no read is started
  std::shared_ptr<websocket_session> paused_self_;
  bool closing_ = false;      // close requested: no more sends accepted
  bool close_sent_ = false;   // async_close started
  bool finished_ = false;     // handler told; session is winding down
  websocket::close_reason close_reason_;
};

} // namespace signaling::transport
