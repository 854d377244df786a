#include "bench/client.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>

#include <cerrno>
#include <random>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace bench {

namespace websocket = beast::websocket;

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

// The reader's events, delivered to the scenario as Beast's stream did: text
// to on_text, a close frame ends the connection with websocket's `closed`.
class connection::events_sink final : public wire::frame_reader::sink {
public:
  explicit events_sink(connection& c) : c_(c) {}
  bool on_text(std::string_view message) override {
    c_.events_.on_text(c_, message);
    return !c_.down_;
  }
  bool on_ping(std::string_view payload) override {
    c_.queue_frame(wire::opcode::pong, payload);
    return true;
  }
  bool on_pong() override { return true; }
  bool on_close(std::uint16_t code) override {
    // Answer the close (best effort, the socket closes right after).
    std::string frame;
    char body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    wire::append_frame(frame, wire::opcode::close, code == 1005 ? std::string_view{} : std::string_view(body, 2),
                       c_.mask_);
    ::send(c_.sock_.native_handle(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    c_.fail(websocket::error::closed, "read");
    return false;
  }

private:
  connection& c_;
};

connection::connection(worker& w, connection_events& events, std::size_t pair, bool host)
  : worker_(w), events_(events), pair_(pair), host_(host), sock_(w.ioc().get_executor()),
    timer_(w.ioc().get_executor()), reader_(16 * 1024 * 1024), mask_(w.next_mask()) {}

connection::~connection() = default;

void connection::start(const ws_url& url, std::optional<net::ip::address> source, const connection_options& opts) {
  url_ = &url;
  source_ = std::move(source);
  opts_ = opts;
  worker_.enter_gate(this);
}

void connection::do_connect() {
  started_ns_ = now_ns(); // connect latency excludes the wait at the gate
  beast::error_code ec;
  sock_.open(url_->endpoint.protocol(), ec);
  if (ec)
    return fail(ec, "socket");
  if (source_) {
    // Let connect() pick the port per 4-tuple instead of bind() reserving one
    // per address: that is what lifts the ~28k ports-per-address ceiling.
    int one = 1;
    ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock_.bind(tcp::endpoint{*source_, 0}, ec);
    if (ec)
      return fail(ec, "bind");
  }
  sock_.async_connect(url_->endpoint, [this](beast::error_code e) { on_connect(e); });
}

void connection::on_connect(beast::error_code ec) {
  if (down_)
    return;
  if (ec)
    return fail(ec, "connect");
  beast::error_code ignored;
  sock_.set_option(tcp::no_delay(true), ignored);
  timer_.expires_after(opts_.handshake_timeout);
  timer_.async_wait([this](beast::error_code e) {
    if (!e && !down_ && !open_)
      fail(beast::error::timeout, "handshake");
  });
  handshake_ = wire::upgrade_request(url_->host + ":" + std::to_string(url_->port), url_->target);
  net::async_write(sock_, net::buffer(handshake_), [this](beast::error_code e, std::size_t) {
    if (down_)
      return;
    if (e)
      return fail(e, "handshake");
    handshake_.clear();
    wait_readable();
  });
}

void connection::on_opened() {
  if (gated_) {
    gated_ = false;
    worker_.leave_gate();
  }
  open_ = true;
  opened_ns_ = now_ns();
  timer_.cancel();
  arm_keepalive();
  events_.on_open(*this);
  if (!down_ && !queue_.empty() && !writing_)
    do_write();
}

// Keepalive as Beast had it: a ping after `keepalive` of silence, dead
// after twice that.
void connection::arm_keepalive() {
  if (opts_.keepalive.count() <= 0 || down_)
    return;
  timer_.expires_after(opts_.keepalive);
  timer_.async_wait([this](beast::error_code e) {
    if (e || down_)
      return;
    if (heard_) {
      heard_ = false;
      ping_out_ = false;
    } else if (!ping_out_) {
      ping_out_ = true;
      queue_frame(wire::opcode::ping, {});
    } else {
      return fail(beast::error::timeout, "read");
    }
    arm_keepalive();
  });
}

// Reads are this thread's own: wait for readiness, then read into the
// worker's buffer until the socket is empty (one io_context thread, so no
// readiness edge can slip between the empty read and the next wait).
void connection::wait_readable() {
  sock_.async_wait(tcp::socket::wait_read, [this](beast::error_code ec) { on_readable(ec); });
}

void connection::on_readable(beast::error_code ec) {
  if (down_)
    return;
  if (ec)
    return fail(ec, "read");
  char* buffer = worker_.read_buffer_.get();
  for (int round = 0; round < 4; ++round) {
    auto n = ::recv(sock_.native_handle(), buffer, worker::read_buffer_size, MSG_DONTWAIT);
    if (n > 0) {
      if (!received(buffer, static_cast<std::size_t>(n)))
        return;
      if (static_cast<std::size_t>(n) < worker::read_buffer_size)
        return wait_readable(); // drained
      continue;
    }
    if (n == 0)
      return fail(net::error::eof, "read");
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return wait_readable();
    return fail(beast::error_code(errno, boost::system::system_category()), "read");
  }
  // Four full reads: let the other connections of this thread have a turn.
  net::post(worker_.ioc(), [this] { on_readable({}); });
}

bool connection::received(const char* data, std::size_t n) {
  heard_ = true;
  if (!open_) {
    handshake_.append(data, n);
    auto a = wire::parse_upgrade_answer(handshake_);
    if (a.result == wire::upgrade_answer::state::incomplete)
      return true;
    if (a.result != wire::upgrade_answer::state::accepted) {
      fail(a.result == wire::upgrade_answer::state::declined ? websocket::error::upgrade_declined
                                                              : beast::error_code(beast::http::error::bad_version),
           "handshake");
      return false;
    }
    std::string rest = handshake_.substr(a.header_bytes);
    handshake_.clear();
    handshake_.shrink_to_fit();
    on_opened();
    if (down_)
      return false;
    return rest.empty() || received(rest.data(), rest.size());
  }
  events_sink sink{*this};
  auto f = reader_.feed(data, n, sink);
  if (f != wire::fault::none) {
    fail(beast::error_code(EPROTO, boost::system::system_category()), wire::fault_text(f));
    return false;
  }
  return !down_;
}

void connection::queue_frame(wire::opcode op, std::string_view payload) {
  if (down_)
    return;
  std::string buf;
  if (!spare_.empty()) {
    buf = std::move(spare_.back());
    spare_.pop_back();
    buf.clear();
  }
  wire::append_frame(buf, op, payload, mask_);
  queue_.push_back(std::move(buf));
  if (open_ && !writing_)
    do_write();
}

void connection::send(std::string_view text) {
  queue_frame(wire::opcode::text, text);
}

void connection::do_write() {
  writing_ = true;
  net::async_write(sock_, net::buffer(queue_.front()), [this](beast::error_code ec, std::size_t n) { on_write(ec, n); });
}

void connection::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (down_)
    return;
  if (ec)
    return fail(ec, "write");
  if (spare_.size() < 16)
    spare_.push_back(std::move(queue_.front()));
  queue_.pop_front();
  if (!queue_.empty())
    do_write();
  else
    events_.on_drained(*this);
}

void connection::close_socket() {
  beast::error_code ignored;
  timer_.cancel();
  if (sock_.is_open()) {
    sock_.shutdown(tcp::socket::shutdown_both, ignored);
    sock_.close(ignored);
  }
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
  close_socket();
  events_.on_down(*this, ec, where);
}

void connection::kill() {
  if (down_)
    return;
  down_ = true;
  open_ = false;
  close_socket();
}

// -- worker -------------------------------------------------------------------

worker::worker(std::size_t index, std::size_t max_connecting)
  : index_(index), max_connecting_(max_connecting), read_buffer_(new char[read_buffer_size]),
    mask_state_((std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}() ^ (index + 1)) {
  if (mask_state_ == 0)
    mask_state_ = 0x9E3779B97F4A7C15ull;
}

std::uint32_t worker::next_mask() {
  // xorshift64: masking keys need not be secret here, only varied.
  mask_state_ ^= mask_state_ << 13;
  mask_state_ ^= mask_state_ >> 7;
  mask_state_ ^= mask_state_ << 17;
  auto m = static_cast<std::uint32_t>(mask_state_ >> 16);
  return m != 0 ? m : 0x5A5A5A5Au;
}

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
  // Aborted reads and writes complete at once; keepalive timers are
  // cancelled with their sockets; stop after a short grace regardless.
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
