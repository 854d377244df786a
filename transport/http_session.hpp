// One plain HTTP/1.1 connection (keep-alive): answers the small REST surface
// (/api/ping, /healthz, /readyz, CORS preflight) and hands WebSocket upgrade
// requests that pass the Origin and connection-count checks to a
// websocket_session.
#pragma once

#include "transport/server_state.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <optional>

namespace signaling::transport {

namespace beast = boost::beast;
namespace http = beast::http;

class http_session final : public std::enable_shared_from_this<http_session> {
public:
  http_session(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<server_state> state);
  void run();

private:
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t bytes);
  void upgrade(http::request<http::string_body> req);
  http::response<http::string_body> route(const http::request<http::string_body>& req);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<server_state> state_;
  std::string remote_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
};

} // namespace signaling::transport
