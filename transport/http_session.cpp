#include "transport/http_session.hpp"

#include "telemetry/log.hpp"
#include "transport/websocket_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <type_traits>

namespace signaling::transport {

namespace {

using tls_stream = beast::ssl_stream<beast::tcp_stream>;
template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

// Small requests only: nothing this server answers has a body worth more.
constexpr std::uint32_t header_limit = 8 * 1024;
constexpr std::uint64_t body_limit = 16 * 1024;

std::string endpoint_string(const boost::asio::ip::tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec)
    return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// The token of an upgrade: `Authorization: Bearer X`, else `?token=X`
// (browsers cannot set headers on a WebSocket).
std::string_view bearer_token(const http::request<http::string_body>& req) {
  auto auth = req[http::field::authorization];
  if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer "))
    return auth.substr(7);
  auto target = req.target();
  auto q = target.find('?');
  while (q != beast::string_view::npos) {
    auto next = target.find('&', q + 1);
    auto param = target.substr(q + 1, next == beast::string_view::npos ? beast::string_view::npos : next - q - 1);
    if (param.substr(0, 6) == "token=")
      return param.substr(6);
    q = next;
  }
  return {};
}

// The client an upgrade speaks for: the TCP peer, or whom a trusted proxy names.
boost::asio::ip::address client_of(const boost::asio::ip::tcp::socket& s, const http::request<http::string_body>& req,
                                   const client_address_policy& policy) {
  beast::error_code ec;
  auto peer = s.remote_endpoint(ec).address();
  std::string forwarded;
  for (auto r = req.equal_range("X-Forwarded-For"); r.first != r.second; ++r.first) {
    if (!forwarded.empty())
      forwarded += ',';
    forwarded += r.first->value();
  }
  return policy.client(peer, forwarded);
}

} // namespace

template <class Stream>
http_session<Stream>::http_session(Stream&& stream, std::shared_ptr<const void> tls_context,
                                   std::shared_ptr<server_state> state)
  : tls_context_(std::move(tls_context)), stream_(std::move(stream)), state_(std::move(state)) {
  remote_ = endpoint_string(beast::get_lowest_layer(stream_).socket());
}

template <class Stream>
void http_session<Stream>::run() {
  // Start on the session's strand: the socket was accepted onto it.
  boost::asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
    if constexpr (is_tls<Stream>) {
      // The TLS handshake and the first request share one handshake deadline,
      // so a client trickling either is cut off as on a plain port.
      beast::get_lowest_layer(self->stream_).expires_after(self->state_->opts.lim.handshake_timeout);
      self->stream_.async_handshake(boost::asio::ssl::stream_base::server,
                                    beast::bind_front_handler(&http_session::on_handshake, self));
    } else {
      self->do_read();
    }
  });
}

template <class Stream>
void http_session<Stream>::on_handshake(beast::error_code ec) {
  if (ec) {
    // A plaintext client on the TLS port ends here ("http request", "wrong
    // version number"), as do scanners and clients offering only TLS 1.0/1.1:
    // one debug line, and the socket closes with the session.
    log::debug("event=tls_handshake_failed remote={} error=\"{}\"", remote_, ec.message());
    return;
  }
  do_read(false);
}

template <class Stream>
void http_session<Stream>::do_read(bool rearm) {
  parser_.emplace();
  parser_->header_limit(header_limit);
  parser_->body_limit(body_limit);
  // One deadline covers the whole request, so a client that trickles its
  // upgrade a byte at a time is closed at the handshake timeout.
  if (rearm)
    beast::get_lowest_layer(stream_).expires_after(state_->opts.lim.handshake_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read, this->shared_from_this()));
}

template <class Stream>
void http_session<Stream>::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout)
    return shut_down();
  if (ec) {
    log::debug("event=http_error remote={} error=\"{}\"", remote_, ec.message());
    return;
  }
  auto req = parser_->release();
  if (beast::websocket::is_upgrade(req))
    return upgrade(std::move(req));
  response_ = std::make_shared<http::response<http::string_body>>(route(req));
  bool keep_alive = response_->keep_alive();
  http::async_write(stream_, *response_,
                    beast::bind_front_handler(&http_session::on_write, this->shared_from_this(), keep_alive));
}

template <class Stream>
void http_session<Stream>::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec)
    return;
  if (!keep_alive)
    return shut_down();
  do_read();
}

template <class Stream>
void http_session<Stream>::shut_down() {
  beast::error_code ignored;
  if constexpr (is_tls<Stream>) {
    if (beast::get_lowest_layer(stream_).socket().is_open()) {
      // close_notify, so the client knows the response was complete; a client
      // that never answers it is dropped at the handshake deadline.
      beast::get_lowest_layer(stream_).expires_after(state_->opts.lim.handshake_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored2;
        beast::get_lowest_layer(self->stream_).socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored2);
      });
      return;
    }
  }
  beast::get_lowest_layer(stream_).socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
}

template <class Stream>
void http_session<Stream>::upgrade(http::request<http::string_body> req) {
  auto origin = req[http::field::origin];
  auto refuse = [&](http::status status, std::string_view why) {
    log::info("event=upgrade_refused remote={} status={} reason=\"{}\"", remote_, static_cast<int>(status), why);
    state_->stats.upgrades_refused.count(static_cast<int>(status));
    response_ = std::make_shared<http::response<http::string_body>>(status, req.version());
    response_->set(http::field::content_type, "application/json");
    if (status == http::status::unauthorized)
      response_->set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
    response_->body() = std::string(R"({"error":")") + std::string(why) + "\"}";
    response_->keep_alive(false);
    response_->prepare_payload();
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&http_session::on_write, this->shared_from_this(), false));
  };
  // Cross-site WebSocket hijacking: a browser page from an origin we do not
  // serve must not ride the user's connection to us.
  if (!state_->origin_allowed(origin, req[http::field::host]))
    return refuse(http::status::forbidden, "origin not allowed");
  if (state_->draining.load(std::memory_order_relaxed))
    return refuse(http::status::service_unavailable, "shutting down");
  if (static_cast<std::size_t>(state_->stats.connections.load(std::memory_order_relaxed)) >=
      state_->opts.lim.max_connections)
    return refuse(http::status::service_unavailable, "too many connections");
  // No one client takes every slot (MAX_CONNECTIONS_PER_IP); behind a trusted
  // proxy the client is the one X-Forwarded-For names.
  auto client = address_key(client_of(beast::get_lowest_layer(stream_).socket(), req, state_->clients));
  auto slot = state_->per_client->acquire(client, state_->opts.lim.max_connections_per_ip);
  if (!slot) {
    log::warn("event=per_ip_limit client={} cap={}", client, state_->opts.lim.max_connections_per_ip);
    return refuse(http::status::too_many_requests, "too many connections from this address");
  }
  access_grant grant;
  if (state_->routes.authorize) {
    auto token = bearer_token(req);
    if (token.empty())
      return refuse(http::status::unauthorized, "missing token");
    if (auto why = state_->routes.authorize(token, grant))
      return refuse(http::status::unauthorized, *why); // the reason, never the token
  }
  beast::get_lowest_layer(stream_).expires_never();
  auto ws = std::make_shared<websocket_session<Stream>>(std::move(stream_), std::move(tls_context_), state_, remote_,
                                                        std::move(grant));
  ws->hold(std::move(slot), client);
  ws->run(std::move(req));
}

template <class Stream>
http::response<http::string_body> http_session<Stream>::route(const http::request<http::string_body>& req) {
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "signal-node");
  res.keep_alive(req.keep_alive());
  auto origin = req[http::field::origin];
  bool cors = !origin.empty() && state_->origin_allowed(origin, req[http::field::host]);
  if (cors) {
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_allow_credentials, "true");
  }
  res.set(http::field::vary, "Origin");

  auto target = req.target();
  if (auto q = target.find('?'); q != beast::string_view::npos)
    target = target.substr(0, q);
  bool known = target == "/api/ping" || target == "/healthz" || target == "/readyz" || target == "/metrics" ||
               target == "/api/ice-servers";
  const static_file* file = nullptr;
  if (!known && state_->routes.file && (req.method() == http::verb::get || req.method() == http::verb::head)) {
    file = state_->routes.file(target);
    known = file != nullptr;
  }

  if (req.method() == http::verb::options) {
    if (!origin.empty() && !cors) {
      res.result(http::status::forbidden);
    } else {
      res.result(http::status::no_content);
      res.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, OPTIONS");
      res.set(http::field::access_control_allow_headers, "Content-Type, Authorization");
      res.set(http::field::access_control_max_age, "600");
    }
    res.prepare_payload();
    return res;
  }

  res.set(http::field::content_type, "application/json");
  if (!known) {
    res.result(http::status::not_found);
    res.body() = R"({"error":"not found"})";
  } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET, HEAD, OPTIONS");
    res.body() = R"({"error":"method not allowed"})";
  } else if (target == "/api/ping") {
    res.body() = state_->routes.ping();
  } else if (file) {
    res.set(http::field::content_type, file->content_type);
    res.set(http::field::cache_control, "no-cache");
    res.body() = file->body;
  } else if (target == "/api/ice-servers") {
    res.set(http::field::cache_control, "no-store"); // credentials
    res.body() = state_->routes.ice_servers ? state_->routes.ice_servers() : R"({"iceServers":[]})";
  } else if (target == "/metrics" &&
             !state_->metrics_allowed(client_of(beast::get_lowest_layer(stream_).socket(), req, state_->clients))) {
    // METRICS_ALLOW names the scrapers; the client is resolved as for the
    // per-address cap, so X-Forwarded-For counts only from TRUSTED_PROXIES.
    res.result(http::status::forbidden);
    res.body() = R"({"error":"forbidden"})";
  } else if (target == "/metrics") {
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = state_->routes.metrics();
  } else if (target == "/healthz") {
    res.body() = R"({"status":"ok"})";
  } else if (state_->routes.ready()) {
    res.body() = R"({"status":"ready"})";
  } else {
    res.result(http::status::service_unavailable);
    res.body() = R"({"status":"not ready"})";
  }
  res.prepare_payload();
  if (req.method() == http::verb::head)
    res.body().clear(); // keep Content-Length of the GET answer
  return res;
}

template class http_session<beast::tcp_stream>;
template class http_session<tls_stream>;

} // namespace signaling::transport
