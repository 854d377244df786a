// Accepts TCP connections on the control loop and gives each to the least
// loaded I/O loop, where its http_session runs (over TLS when the server has a
// certificate, else plain TCP) and where it stays (a WebSocket may later
// move once, to its peer's loop: websocket_session::move_to). Accept errors
// (EMFILE and friends) are logged and accepting resumes.
#pragma once

#include "transport/server_state.hpp"
#include "transport/socket.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <memory>

namespace signaling::transport {

class io_loop;

class listener final : public std::enable_shared_from_this<listener> {
public:
  listener(io_pool& pool, std::shared_ptr<server_state> state);
  // Binds to the configured address/port; throws std::system_error on failure.
  void bind();
  void run();
  void stop(); // thread-safe
  std::uint16_t port() const { return port_; }

private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, socket_type socket, io_loop& target);

  io_pool& pool_;
  acceptor_type acceptor_;
  boost::asio::basic_waitable_timer<std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
                                    boost::asio::io_context::executor_type>
    backoff_;
  std::shared_ptr<server_state> state_;
  boost::asio::ip::tcp::endpoint peer_; // filled by accept() itself: no getpeername per connection
  std::uint16_t port_ = 0;
};

} // namespace signaling::transport
