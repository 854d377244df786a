// Accepts TCP connections and starts an http_session on a fresh strand for
// each: over TLS when the server has a certificate, else plain TCP. Accept errors (EMFILE and friends) are logged and accepting resumes.
#pragma once

#include "transport/server_state.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <memory>

namespace signaling::transport {

class listener final : public std::enable_shared_from_this<listener> {
public:
  listener(boost::asio::io_context& ioc, std::shared_ptr<server_state> state);
  // Binds to the configured address/port; throws std::system_error on failure.
  void bind();
  void run();
  void stop(); // thread-safe
  std::uint16_t port() const { return port_; }

private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  std::shared_ptr<server_state> state_;
  std::uint16_t port_ = 0;
};

} // namespace signaling::transport
