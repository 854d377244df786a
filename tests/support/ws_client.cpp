#include "support/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Runs the context until `done` or the deadline; cancels what is pending on timeout.
template <class Stream>
bool run_until(net::io_context& ioc, Stream& s, bool& done, std::chrono::milliseconds timeout) {
  ioc.restart();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline)
    ioc.run_one_until(deadline);
  if (!done) {
    beast::get_lowest_layer(s).cancel();
    ioc.restart();
    while (!done)
      ioc.run_one();
    return false;
  }
  return true;
}

} // namespace

http_reply http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::map<std::string, std::string>& headers, const std::string& host) {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  stream.connect(tcp::endpoint{net::ip::make_address(host), port});
  stream.expires_after(10s);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  for (auto& [k, v] : headers)
    req.set(k, v);
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.skip(method == "HEAD");
  bool done = false;
  beast::error_code ec;
  http::async_read(stream, buf, parser, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!run_until(ioc, stream, done, 10s) || ec)
    throw std::runtime_error("http read failed: " + ec.message());
  auto res = parser.release();
  http_reply out;
  out.status = static_cast<int>(res.result_int());
  for (auto& f : res) {
    std::string name{f.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string{f.value()};
  }
  out.body = res.body();
  return out;
}

struct ws_client::impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  bool open = false;
  std::string source; // bind to this address before connecting
  // A read that timed out stays pending (cancelling a Beast websocket read
  // ruins the stream); the next read() goes on waiting for it.
  bool reading = false;
  bool read_done = false;
  beast::error_code read_ec;
};

ws_client::ws_client() : impl_(std::make_unique<impl>()) {}
ws_client::~ws_client() = default;
ws_client::ws_client(ws_client&&) noexcept = default;
ws_client& ws_client::operator=(ws_client&&) noexcept = default;

int ws_client::try_connect(std::uint16_t port, const std::map<std::string, std::string>& headers,
                           const std::string& target) {
  auto& m = *impl_;
  auto& sock = beast::get_lowest_layer(m.ws).socket();
  if (!m.source.empty()) {
    sock.open(tcp::v4());
    // The port is picked per 4-tuple at connect (as tools/bench does), so
    // many clients of one source address never exhaust its ports.
    int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock.bind(tcp::endpoint{net::ip::make_address(m.source), 0});
  }
  beast::get_lowest_layer(m.ws).connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  m.ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (auto& [k, v] : headers)
      req.set(k, v);
  }));
  websocket::response_type res;
  beast::error_code ec;
  bool done = false;
  m.ws.async_handshake(res, "127.0.0.1:" + std::to_string(port), target, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!run_until(m.ioc, m.ws, done, 10s))
    throw std::runtime_error("handshake timed out");
  if (ec)
    return static_cast<int>(res.result_int()) ? static_cast<int>(res.result_int()) : -1;
  m.open = true;
  m.ws.read_message_max(64 * 1024 * 1024);
  return 101;
}

ws_client& ws_client::from(std::string source_address) {
  impl_->source = std::move(source_address);
  return *this;
}

void ws_client::connect(std::uint16_t port, const std::map<std::string, std::string>& headers,
                        const std::string&) {
  int status = try_connect(port, headers);
  if (status != 101)
    throw std::runtime_error("upgrade refused with HTTP " + std::to_string(status));
}

void ws_client::send(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text));
}

void ws_client::send_binary(const std::string& bytes) {
  impl_->ws.binary(true);
  impl_->ws.write(net::buffer(bytes));
}

ws_event ws_client::read(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  ws_event ev;
  if (!m.reading) {
    m.reading = true;
    m.read_done = false;
    m.ws.async_read(m.buffer, [&m](beast::error_code e, std::size_t) {
      m.read_ec = e;
      m.read_done = true;
    });
  }
  m.ioc.restart();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!m.read_done && std::chrono::steady_clock::now() < deadline)
    m.ioc.run_one_until(deadline);
  if (!m.read_done) {
    ev.kind = ws_event::timeout;
    return ev;
  }
  m.reading = false;
  auto ec = m.read_ec;
  // A close frame arrived, even if tearing the TCP connection down then
  // failed (the server may close its end first): the close is what happened.
  if (ec == websocket::error::closed || (ec && m.ws.reason().code != websocket::close_code::none)) {
    m.open = false;
    ev.kind = ws_event::closed;
    ev.code = m.ws.reason().code;
    ev.data = std::string(m.ws.reason().reason.c_str());
    return ev;
  }
  if (ec) {
    m.open = false;
    ev.kind = ws_event::error;
    ev.data = ec.message();
    return ev;
  }
  ev.kind = ws_event::text;
  ev.data = beast::buffers_to_string(m.buffer.data());
  m.buffer.consume(m.buffer.size());
  return ev;
}

std::string ws_client::read_text(std::chrono::milliseconds timeout) {
  auto ev = read(timeout);
  switch (ev.kind) {
    case ws_event::text: return ev.data;
    case ws_event::timeout: throw std::runtime_error("no message within timeout");
    case ws_event::closed: throw std::runtime_error("closed with code " + std::to_string(ev.code));
    default: throw std::runtime_error("read failed: " + ev.data);
  }
}

void ws_client::close(std::uint16_t code) {
  auto& m = *impl_;
  if (!m.open)
    return;
  bool done = false;
  m.ws.async_close(websocket::close_reason(code), [&](beast::error_code) { done = true; });
  m.ioc.restart();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!(done && (!m.reading || m.read_done)) && std::chrono::steady_clock::now() < deadline)
    m.ioc.run_one_until(deadline);
  m.reading = false;
  m.open = false;
}

void ws_client::kill() {
  auto& m = *impl_;
  beast::error_code ignored;
  beast::get_lowest_layer(m.ws).socket().close(ignored);
  m.open = false;
  if (m.reading) { // let the pending read finish (aborted) before the stream goes
    m.ioc.restart();
    auto deadline = std::chrono::steady_clock::now() + 1s;
    while (!m.read_done && std::chrono::steady_clock::now() < deadline)
      m.ioc.run_one_until(deadline);
    m.reading = false;
  }
}

bool ws_client::is_open() const {
  return impl_->open;
}

std::size_t ws_client::receive_buffer_bytes(int bytes) {
  auto& s = beast::get_lowest_layer(impl_->ws).socket();
  s.set_option(net::socket_base::receive_buffer_size(bytes));
  net::socket_base::receive_buffer_size opt;
  s.get_option(opt);
  return static_cast<std::size_t>(opt.value());
}

} // namespace testing
