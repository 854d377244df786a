#include "bench/client.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace bench {

ws_url parse_ws_url(const std::string& text) {
  const std::string scheme = "ws://";
  if (text.compare(0, scheme.size(), scheme) != 0)
    throw std::invalid_argument("URL must start with ws:// (got \"" + text + "\")");
  ws_url u;
  auto rest = text.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (colon == std::string::npos) {
    u.host = authority;
    u.port = 80;
  } else {
    u.host = authority.substr(0, colon);
    auto p = authority.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoul(p) > 65535)
      throw std::invalid_argument("bad port in \"" + text + "\"");
    u.port = static_cast<std::uint16_t>(std::stoul(p));
  }
  if (u.host.empty())
    throw std::invalid_argument("no host in \"" + text + "\"");
  net::io_context ioc;
  tcp::resolver resolver{ioc};
  beast::error_code ec;
  auto results = resolver.resolve(u.host, std::to_string(u.port), ec);
  if (ec || results.empty())
    throw std::invalid_argument("cannot resolve \"" + u.host + "\": " + ec.message());
  // Prefer IPv4: the source-address spreading binds 127.0.0.x.
  u.endpoint = results.begin()->endpoint();
  for (const auto& r : results)
    if (r.endpoint().address().is_v4()) {
      u.endpoint = r.endpoint();
      break;
    }
  return u;
}

// -- connection ---------------------------------------------------------------

connection::connection(worker& w, connection_events& events, std::size_t pair, bool host)
  : worker_(w), events_(events), pair_(pair), host_(host), ws_(w.ioc().get_executor()) {}

connection::~connection() = default;

void connection::start(const ws_url& url, std::optional<net::ip::address> source, const connection_options& opts) {
  url_ = &url;
  source_ = std::move(source);
  opts_ = opts;
  worker_.enter_gate(this);
}

void connection::do_connect() {
  started_ns_ = now_ns(); // connect latency excludes the wait at the gate
  auto& sock = beast::get_lowest_layer(ws_);
  beast::error_code ec;
  sock.open(url_->endpoint.protocol(), ec);
  if (ec)
    return fail(ec, "socket");
  if (source_) {
    // Let connect() pick the port per 4-tuple instead of bind() reserving one
    // per address: that is what lifts the ~28k ports-per-address ceiling.
    int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock.bind(tcp::endpoint{*source_, 0}, ec);
    if (ec)
      return fail(ec, "bind");
  }
  sock.async_connect(url_->endpoint, [this](beast::error_code e) { on_connect(e); });
}

void connection::on_connect(beast::error_code ec) {
  if (ec)
    return fail(ec, "connect");
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).set_option(tcp::no_delay(true), ignored);
  websocket::stream_base::timeout t;
  t.handshake_timeout = opts_.handshake_timeout;
  if (opts_.keepalive.count() > 0) {
    t.idle_timeout = opts_.keepalive * 2; // Beast pings at half the idle timeout
    t.keep_alive_pings = true;
  } else {
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
  }
  ws_.set_option(t);
  ws_.auto_fragment(false);
  ws_.read_message_max(16 * 1024 * 1024);
  ws_.async_handshake(url_->host + ":" + std::to_string(url_->port), url_->target,
                      [this](beast::error_code e) { on_handshake(e); });
}

void connection::on_handshake(beast::error_code ec) {
  if (ec)
    return fail(ec, "handshake");
  if (gated_) {
    gated_ = false;
    worker_.leave_gate();
  }
  open_ = true;
  opened_ns_ = now_ns();
  ws_.text(true);
  do_read();
  events_.on_open(*this);
  if (!queue_.empty() && !writing_)
    do_write();
}

void connection::do_read() {
  ws_.async_read(rbuf_, [this](beast::error_code ec, std::size_t n) { on_read(ec, n); });
}

void connection::on_read(beast::error_code ec, std::size_t bytes) {
  if (ec)
    return fail(ec, "read");
  auto data = rbuf_.data();
  events_.on_text(*this, std::string_view(static_cast<const char*>(data.data()), data.size()));
  rbuf_.consume(bytes);
  if (!down_)
    do_read();
}

void connection::send(std::string_view text) {
  if (down_)
    return;
  std::string buf;
  if (!spare_.empty()) {
    buf = std::move(spare_.back());
    spare_.pop_back();
  }
  buf.assign(text.data(), text.size());
  queue_.push_back(std::move(buf));
  if (open_ && !writing_)
    do_write();
}

void connection::do_write() {
  writing_ = true;
  ws_.async_write(net::buffer(queue_.front()), [this](beast::error_code ec, std::size_t n) { on_write(ec, n); });
}

void connection::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ec)
    return fail(ec, "write");
  if (spare_.size() < 16)
    spare_.push_back(std::move(queue_.front()));
  queue_.pop_front();
  if (down_)
    return;
  if (!queue_.empty())
    do_write();
  else
    events_.on_drained(*this);
}

void connection::fail(beast::error_code ec, const char* where) {
  if (gated_) {
    gated_ = false;
    worker_.leave_gate();
  }
  if (down_)
    return;
  down_ = true;
  open_ = false;
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).close(ignored);
  events_.on_down(*this, ec, where);
}

void connection::kill() {
  if (down_)
    return;
  down_ = true;
  open_ = false;
  beast::error_code ignored;
  auto& sock = beast::get_lowest_layer(ws_);
  if (sock.is_open()) {
    sock.shutdown(tcp::socket::shutdown_both, ignored);
    sock.close(ignored);
  }
}

// -- worker -------------------------------------------------------------------

worker::worker(std::size_t index, std::size_t max_connecting) : index_(index), max_connecting_(max_connecting) {}

worker::~worker() {
  if (thread_.joinable()) {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
}

void worker::start_thread() {
  work_.emplace(ioc_.get_executor());
  thread_ = std::thread([this] { ioc_.run(); });
}

void worker::post(std::function<void()> fn) {
  net::post(ioc_, std::move(fn));
}

void worker::shutdown(std::function<void()> kill_all) {
  if (!thread_.joinable())
    return;
  post(std::move(kill_all));
  work_.reset();
  // Aborted reads and writes complete at once; Beast's keepalive timers may
  // not, so stop after a short grace instead of waiting for them.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (!ioc_.stopped() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ioc_.stop();
  thread_.join();
}

void worker::enter_gate(connection* c) {
  if (max_connecting_ == 0 || connecting_ < max_connecting_) {
    ++connecting_;
    c->gated_ = true;
    c->do_connect();
  } else {
    waiting_.push_back(c);
  }
}

void worker::leave_gate() {
  --connecting_;
  while (!waiting_.empty() && (max_connecting_ == 0 || connecting_ < max_connecting_)) {
    auto* c = waiting_.front();
    waiting_.pop_front();
    if (c->down_)
      continue;
    ++connecting_;
    c->gated_ = true;
    c->do_connect();
  }
}

} // namespace bench
