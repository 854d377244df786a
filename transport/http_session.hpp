// One HTTP/1.1 connection (keep-alive): answers the small REST surface
// (/api/ping, /healthz, /readyz, /metrics, CORS preflight) and hands WebSocket
// upgrade requests that pass the Origin and connection-count checks to a
// websocket_session. A template on the stream: beast::tcp_stream, or a
// beast::ssl_stream of one, whose TLS handshake comes first under the same
// deadline as the first request; both are instantiated in the .cpp.
#pragma once

#include "transport/server_state.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <optional>

namespace signaling::transport {

namespace beast = boost::beast;
namespace http = beast::http;

template <class Stream>
class http_session final : public std::enable_shared_from_this<http_session<Stream>> {
public:
  // `tls_context`: what `stream` was made with (null for plain TCP), kept alive
  // by this session and then by its WebSocket, however often it is reloaded.
  http_session(Stream&& stream, std::shared_ptr<const void> tls_context, std::shared_ptr<server_state> state);
  void run();

private:
  void on_handshake(beast::error_code ec);
  // `rearm`: start a fresh handshake deadline (false right after the TLS
  // handshake: the first request shares its deadline).
  void do_read(bool rearm = true);
  void on_read(beast::error_code ec, std::size_t bytes);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t bytes);
  void upgrade(http::request<http::string_body> req);
  http::response<http::string_body> route(const http::request<http::string_body>& req);
  // Ends the connection from our side: TCP FIN, or TLS close_notify first.
  void shut_down();

  std::shared_ptr<const void> tls_context_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<server_state> state_;
  std::string remote_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
};

} // namespace signaling::transport
