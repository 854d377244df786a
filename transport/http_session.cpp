#include "transport/http_session.hpp"

#include "telemetry/log.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <type_traits>

namespace signaling::transport {

namespace {

template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

// Small requests only: nothing this server answers has a body worth more.
constexpr std::uint32_t header_limit = 8 * 1024;
constexpr std::uint64_t body_limit = 16 * 1024;

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
boost::asio::ip::address client_of(const boost::asio::ip::address& peer, const http::request<http::string_body>& req,
                                   const client_address_policy& policy) {
  std::string forwarded;
  for (auto r = req.equal_range("X-Forwarded-For"); r.first != r.second; ++r.first) {
    if (!forwarded.empty())
      forwarded += ',';
    forwarded += r.first->value();
  }
  return policy.client(peer, forwarded);
}

// The opening handshake's own checks (RFC 6455 4.2.1), with the answers
// Beast's websocket::stream gave to a bad one: 400 naming what is wrong, or
// 426 with the version this server speaks. Requests that are not upgrades at
// all never get here (websocket::is_upgrade).
std::optional<http::response<http::string_body>> handshake_refusal(const http::request<http::string_body>& req) {
  namespace websocket = beast::websocket;
  auto refuse = [&](http::status status, websocket::error e) {
    http::response<http::string_body> res{status, req.version()};
    if (status == http::status::upgrade_required)
      res.set(http::field::sec_websocket_version, "13");
    res.body() = beast::error_code(e).message();
    res.prepare_payload();
    res.set(http::field::server, "signal-node");
    return res;
  };
  if (!req.count(http::field::host))
    return refuse(http::status::bad_request, websocket::error::no_host);
  auto key = req.find(http::field::sec_websocket_key);
  if (key == req.end())
    return refuse(http::status::bad_request, websocket::error::no_sec_key);
  if (key->value().size() > websocket::detail::sec_ws_key_type::static_capacity)
    return refuse(http::status::bad_request, websocket::error::bad_sec_key);
  auto version = req.find(http::field::sec_websocket_version);
  if (version == req.end())
    return refuse(http::status::bad_request, websocket::error::no_sec_version);
  if (version->value() != "13")
    return refuse(http::status::upgrade_required, websocket::error::bad_sec_version);
  return std::nullopt;
}

// The 101, as Beast wrote it (no subprotocol, no extension).
std::string switching_protocols(beast::string_view key) {
  beast::websocket::detail::sec_ws_accept_type accept;
  beast::websocket::detail::make_sec_ws_accept(accept, key);
  std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                    "Sec-WebSocket-Accept: ";
  out.append(accept.data(), accept.size());
  out += "\r\nServer: signal-node\r\n\r\n";
  return out;
}

} // namespace

template <class Stream>
http_session<Stream>::http_session(io_loop& loop, Stream&& stream, std::shared_ptr<const void> tls_context,
                                   std::shared_ptr<server_state> state, const boost::asio::ip::tcp::endpoint* peer)
  : loop_(loop), stream_(std::move(stream)), tls_context_(std::move(tls_context)), state_(std::move(state)) {
  if (peer) {
    remote_ = peer_address::of(peer->address(), peer->port());
    return;
  }
  beast::error_code ec;
  auto ep = socket().remote_endpoint(ec);
  if (!ec)
    remote_ = peer_address::of(ep.address(), ep.port());
}

template <class Stream>
http_session<Stream>::~http_session() {
  if (!handed_over_)
    loop_.load.fetch_sub(1, std::memory_order_relaxed);
}

template <class Stream>
socket_type& http_session<Stream>::socket() {
  if constexpr (is_tls<Stream>)
    return stream_.next_layer();
  else
    return stream_;
}

template <class Stream>
void http_session<Stream>::set_deadline() {
  loop_.wheel().schedule(*this, timer_wheel::clock::now() + state_->opts.lim.handshake_timeout);
}

// One deadline covers the TLS handshake and the whole request, so a client
// that trickles either is cut off at the handshake timeout: the socket is
// closed, and what is pending on it ends.
template <class Stream>
void http_session<Stream>::on_timer() {
  timed_out_ = true;
  beast::error_code ignored;
  socket().close(ignored);
  // Waiting for the cluster's answer on an upgrade: let go of ourselves, in
  // a handler of this loop (not while the wheel is calling us).
  if (held_)
    boost::asio::post(loop_.context(), [hold = std::move(held_)] {});
}

template <class Stream>
void http_session<Stream>::run() {
  // Already on the loop the listener gave the socket to.
  if constexpr (is_tls<Stream>) {
    set_deadline();
    stream_.async_handshake(boost::asio::ssl::stream_base::server,
                            beast::bind_front_handler(&http_session::on_handshake, this->shared_from_this()));
  } else {
    do_read();
  }
}

template <class Stream>
void http_session<Stream>::on_handshake(beast::error_code ec) {
  if (ec) {
    // A plaintext client on the TLS port ends here ("http request", "wrong
    // version number"), as do scanners and clients offering only TLS 1.0/1.1:
    // one debug line, and the socket closes with the session.
    log::debug("event=tls_handshake_failed remote={} error={}", remote_.to_string(), log::q(ec.message()));
    return;
  }
  do_read(false);
}

template <class Stream>
void http_session<Stream>::do_read(bool rearm) {
  parser_.emplace();
  parser_->header_limit(header_limit);
  parser_->body_limit(body_limit);
  if (rearm)
    set_deadline();
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read, this->shared_from_this()));
}

template <class Stream>
void http_session<Stream>::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || timed_out_)
    return shut_down();
  if (ec) {
    log::debug("event=http_error remote={} error={}", remote_.to_string(), log::q(ec.message()));
    return;
  }
  auto req = parser_->release();
  if (beast::websocket::is_upgrade(req))
    return upgrade(std::move(req));
  auto res = std::make_shared<http::response<http::string_body>>(route(req));
  bool keep_alive = res->keep_alive();
  respond(std::move(res), keep_alive);
}

template <class Stream>
void http_session<Stream>::respond(std::shared_ptr<http::response<http::string_body>> res, bool keep_alive) {
  response_ = std::move(res);
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
    if (socket().is_open()) {
      // close_notify, so the client knows the response was complete; a client
      // that never answers it is dropped at the handshake deadline.
      set_deadline();
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored2;
        self->socket().shutdown(socket_type::shutdown_both, ignored2);
      });
      return;
    }
  }
  socket().shutdown(socket_type::shutdown_send, ignored);
}

template <class Stream>
void http_session<Stream>::refuse_upgrade(const http::request<http::string_body>& req, http::status status,
                                          std::string_view why) {
  log::debug("event=upgrade_refused remote={} status={} reason={}", remote_.to_string(), static_cast<int>(status),
             log::q(why));
  state_->stats.upgrades_refused.count(static_cast<int>(status));
  auto res = std::make_shared<http::response<http::string_body>>(status, req.version());
  res->set(http::field::content_type, "application/json");
  if (status == http::status::unauthorized)
    res->set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
  res->body() = std::string(R"({"error":")") + std::string(why) + "\"}";
  res->keep_alive(false);
  res->prepare_payload();
  respond(std::move(res), false);
}

template <class Stream>
void http_session<Stream>::upgrade(http::request<http::string_body> req) {
  auto origin = req[http::field::origin];
  auto refuse = [&](http::status status, std::string_view why) { refuse_upgrade(req, status, why); };
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
  auto peer = remote_.address();
  auto client = client_of(peer, req, state_->clients);
  auto extras = std::make_unique<session_extras>();
  if (auto cap = state_->opts.lim.max_connections_per_ip; cap > 0) {
    auto key = address_key(client);
    extras->client_slot = state_->per_client->acquire(key, cap);
    if (!extras->client_slot) {
      log::debug("event=per_ip_limit client={} cap={}", key, cap);
      return refuse(http::status::too_many_requests, "too many connections from this address");
    }
  }
  if (state_->routes.authorize) {
    auto token = bearer_token(req);
    if (token.empty())
      return refuse(http::status::unauthorized, "missing token");
    if (auto why = state_->routes.authorize(token, extras->grant))
      return refuse(http::status::unauthorized, *why); // the reason, never the token
  }
  if (auto bad = handshake_refusal(req)) {
    log::debug("event=handshake_failed remote={} where=accept error={}", remote_.to_string(), log::q(bad->body()));
    return respond(std::make_shared<http::response<http::string_body>>(std::move(*bad)), false);
  }
  if (client != peer)
    extras->client = client;
  auto cap = state_->opts.lim.max_connections_per_ip;
  if (cap == 0 || !state_->routes.admit_address)
    return accept(std::move(req), std::move(extras));
  // Cluster mode: the cap holds for the address over the whole cluster. The
  // answer comes on a Redis strand; the rest happens back on our loop, still
  // under the handshake deadline.
  //
  // Only this loop owns the session meanwhile (held_, let go here by the
  // answer or by the deadline): the Redis side holds a weak reference, so a
  // session is never released on another thread, nor after its loop at exit.
  auto key = address_key(client);
  waiting_ = std::make_unique<pending_upgrade>(pending_upgrade{std::move(req), std::move(extras)});
  held_ = this->shared_from_this();
  std::weak_ptr<http_session> weak = held_;
  auto* ioc = &loop_.context();
  state_->routes.admit_address(key, cap, [weak, ioc, key, cap](bool admit, std::shared_ptr<void> slot) mutable {
    boost::asio::post(*ioc, [weak = std::move(weak), key = std::move(key), cap, admit, slot = std::move(slot)]() mutable {
      auto self = weak.lock();
      if (!self || !self->held_)
        return; // the deadline passed meanwhile; the slot goes with this handler, on the session's loop
      self->held_.reset();
      auto waiting = std::move(self->waiting_);
      if (self->timed_out_ || !self->socket().is_open())
        return;
      if (!admit) {
        log::debug("event=per_ip_limit client={} cap={} scope=cluster", key, cap);
        return self->refuse_upgrade(waiting->req, http::status::too_many_requests,
                                    "too many connections from this address");
      }
      if (slot) // the cluster's count, held with the node's own
        waiting->extras->client_slot = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>>(
          std::move(slot), std::move(waiting->extras->client_slot));
      self->accept(std::move(waiting->req), std::move(waiting->extras));
    });
  });
}

template <class Stream>
void http_session<Stream>::accept(http::request<http::string_body> req, std::unique_ptr<session_extras> extras) {
  // Most connections need none of it: no allocation for them.
  if (!extras->client_slot && !extras->client && !extras->grant.restricted)
    extras.reset();
  auto response = switching_protocols(req[http::field::sec_websocket_key]);
  unschedule();
  handed_over_ = true;
  auto early = buffer_.data();
  std::string_view pipelined(static_cast<const char*>(early.data()), early.size());
  websocket_session* ws;
  if constexpr (is_tls<Stream>)
    ws = make_tls_session(loop_, std::move(stream_), std::move(tls_context_), remote_, std::move(extras));
  else
    ws = make_plain_session(loop_, std::move(stream_), remote_, std::move(extras));
  ws->start(std::move(response), pipelined);
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
             !state_->metrics_allowed(client_of(remote_.address(), req, state_->clients))) {
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

template class http_session<socket_type>;
template class http_session<tls_stream>;

} // namespace signaling::transport
