// One HTTP/1.1 connection (keep-alive): answers the small REST surface
// (/api/ping, /healthz, /readyz, /metrics, CORS preflight) and turns WebSocket
// upgrade requests that pass the Origin, connection-count, token and
// handshake checks into a websocket_session on the same loop, handing it the
// socket and whatever the client sent behind its request. A template on the
// stream: a plain socket, or TLS over one, whose handshake comes first under
// the same deadline as the first request; both are instantiated in the .cpp.
// Its one deadline lives in the loop's timer wheel.
#pragma once

#include "transport/server_state.hpp"
#include "transport/socket.hpp"
#include "transport/timer_wheel.hpp"
#include "transport/websocket_session.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <optional>

namespace signaling::transport {

namespace beast = boost::beast;
namespace http = beast::http;

template <class Stream>
class http_session final : public std::enable_shared_from_this<http_session<Stream>>, private timer_entry {
public:
  // `tls_context`: what `stream` was made with (null for plain TCP), kept alive
  // by this session and then by its WebSocket, however often it is reloaded.
  // `peer`: the client's address as accept() returned it (null: ask the socket).
  http_session(io_loop& loop, Stream&& stream, std::shared_ptr<const void> tls_context,
               std::shared_ptr<server_state> state, const boost::asio::ip::tcp::endpoint* peer = nullptr);
  ~http_session();
  void run();

private:
  void on_timer() override;
  void set_deadline();
  void on_handshake(beast::error_code ec);
  // `rearm`: start a fresh handshake deadline (false right after the TLS
  // handshake: the first request shares its deadline).
  void do_read(bool rearm = true);
  void on_read(beast::error_code ec, std::size_t bytes);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t bytes);
  void upgrade(http::request<http::string_body> req);
  // The upgrade passed every check: 101, and the socket goes to a websocket_session.
  void accept(http::request<http::string_body> req, std::unique_ptr<session_extras> extras);
  void refuse_upgrade(const http::request<http::string_body>& req, http::status status, std::string_view why);
  http::response<http::string_body> route(const http::request<http::string_body>& req);
  void respond(std::shared_ptr<http::response<http::string_body>> res, bool keep_alive);
  // Ends the connection from our side: TCP FIN, or TLS close_notify first.
  void shut_down();
  socket_type& socket();

  io_loop& loop_;
  Stream stream_;
  std::shared_ptr<const void> tls_context_;
  beast::flat_buffer buffer_;
  std::shared_ptr<server_state> state_;
  peer_address remote_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  bool timed_out_ = false;
  bool handed_over_ = false; // the socket went to a websocket_session
  // An upgrade waiting for the cluster's per-address count
  // (http_routes::admit_address): the request, and the session held by
  // itself until the answer or the deadline.
  struct pending_upgrade {
    http::request<http::string_body> req;
    std::unique_ptr<session_extras> extras;
  };
  std::unique_ptr<pending_upgrade> waiting_;
  std::shared_ptr<http_session> held_;
};

} // namespace signaling::transport
