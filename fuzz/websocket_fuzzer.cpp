// libFuzzer target: what a client sends, through the server side of the
// WebSocket over boost::beast::test::stream, checking every byte the server
// sends back.
//
// Input: an HTTP request, and, after the first "\r\n\r\n", the client's bytes
// once the handshake is done (frames, in any state of repair). The server
// mirrors transport/http_session.cpp and transport/websocket_session.cpp:
// the same header and body limits, the same Beast options (message limit,
// no auto-fragmenting, handshake and idle timeouts with keepalive pings), the
// same read loop (keep reading while closing, close 1003 on binary), one
// write in flight with a queue, and every text message through
// protocol::parse with the protocol's answer written back.
//
// Why a mirror and not the session itself: websocket_session is instantiated
// for beast::tcp_stream and its TLS ssl_stream only (a real socket on an
// io_context, owned by server_state with its counters and the CAF connection
// actor behind it). A test::stream instantiation would drag all of that into
// the fuzzer; the
// parts that matter to untrusted bytes (Beast's parser configured exactly as
// the session configures it, and the protocol parse) are the same code here.
//
// Oracle: the server's output is a valid HTTP response and then valid RFC 6455
// server frames: unmasked, no reserved bits, known opcodes, control payloads
// of at most 125 bytes, close codes that may be sent, text that is UTF-8 and
// JSON, and nothing after a close frame. A violation aborts.
#include "actors/protocol.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;

// As in transport/http_session.cpp.
constexpr std::uint32_t header_limit = 8 * 1024;
constexpr std::uint64_t body_limit = 16 * 1024;
// Small, so fuzz inputs reach it (the node's default is 64 KiB).
constexpr std::size_t max_message_bytes = 2048;
constexpr std::size_t max_json_depth = 32;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "websocket_fuzzer: %s\n", what);
  std::abort();
}

#define EXPECT(cond)                                                                                              \
  do {                                                                                                            \
    if (!(cond))                                                                                                  \
      violated(#cond);                                                                                            \
  } while (0)

bool valid_utf8(std::string_view s) {
  beast::websocket::detail::utf8_checker check;
  return check.write(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) && check.finish();
}

// The server side of one connection, as websocket_session runs it.
struct session : std::enable_shared_from_this<session> {
  explicit session(beast::test::stream&& s) : ws(std::move(s)) {}

  void run(http::request<http::string_body> req, std::string later) {
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = std::chrono::seconds(60);
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.read_message_max(max_message_bytes);
    ws.auto_fragment(false);
    ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "signal-node"); }));
    ws.async_accept(req, [self = shared_from_this(), later = std::move(later)](beast::error_code ec) {
      if (ec)
        return;
      // The client's frames arrive once the handshake is done.
      self->ws.next_layer().append(later);
      self->ws.next_layer().close_remote();
      self->do_read();
    });
  }

  void do_read() {
    ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec)
      return;
    EXPECT(n <= max_message_bytes);
    if (!ws.got_text()) {
      close(websocket::close_code::unknown_data);
    } else {
      std::string text = beast::buffers_to_string(buffer.data());
      EXPECT(valid_utf8(text)); // Beast let only UTF-8 through
      auto res = signaling::protocol::parse(text, max_json_depth);
      if (!closing)
        send(res.ok ? signaling::protocol::room_left(res.cmd.room_id) : signaling::protocol::error(res.error, res.detail));
    }
    buffer.consume(buffer.size());
    do_read();
  }

  void send(std::string frame) {
    queue.push_back(std::move(frame));
    if (!writing)
      do_write();
  }

  void do_write() {
    writing = true;
    ws.text(true);
    ws.async_write(net::buffer(queue.front()),
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing = false;
    if (ec)
      return;
    queue.pop_front();
    if (!queue.empty())
      do_write();
    else if (closing && !close_sent)
      do_close();
  }

  void close(websocket::close_code code) {
    if (closing)
      return;
    closing = true;
    reason = websocket::close_reason(code);
    if (!writing)
      do_close();
  }

  void do_close() {
    close_sent = true;
    ws.async_close(reason, [self = shared_from_this()](beast::error_code) {});
  }

  websocket::stream<beast::test::stream> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> queue;
  websocket::close_reason reason;
  bool writing = false, closing = false, close_sent = false;
};

// Checks what the server wrote: an HTTP response, then (after a 101) frames.
void check_output(std::string_view out, bool upgraded) {
  if (out.empty())
    return;
  EXPECT(out.substr(0, 9) == "HTTP/1.1 " || out.substr(0, 9) == "HTTP/1.0 ");
  auto head_end = out.find("\r\n\r\n");
  EXPECT(head_end != std::string_view::npos);
  int status = std::atoi(std::string(out.substr(9, 3)).c_str());
  EXPECT(status >= 100 && status <= 599);
  EXPECT(status != 101 || upgraded); // Beast answers 101 only to an upgrade it accepted
  if (status != 101)
    return; // an HTTP error; its body is Beast's message or ours
  auto p = out.substr(head_end + 4);
  bool closed = false;
  while (!p.empty()) {
    EXPECT(!closed); // nothing follows a close frame
    EXPECT(p.size() >= 2);
    auto b0 = static_cast<unsigned char>(p[0]), b1 = static_cast<unsigned char>(p[1]);
    EXPECT((b0 & 0x70) == 0);  // no reserved bits
    EXPECT((b1 & 0x80) == 0);  // servers never mask
    int op = b0 & 0x0f;
    bool fin = (b0 & 0x80) != 0;
    std::uint64_t len = b1 & 0x7f;
    std::size_t pos = 2;
    if (len == 126) {
      EXPECT(p.size() >= 4);
      len = (static_cast<unsigned char>(p[2]) << 8) | static_cast<unsigned char>(p[3]);
      EXPECT(len >= 126); // minimal encoding
      pos = 4;
    } else if (len == 127) {
      EXPECT(p.size() >= 10);
      len = 0;
      for (int i = 0; i < 8; ++i)
        len = (len << 8) | static_cast<unsigned char>(p[2 + i]);
      EXPECT(len >= 65536 && (len >> 63) == 0);
      pos = 10;
    }
    EXPECT(p.size() >= pos + len);
    auto payload = p.substr(pos, static_cast<std::size_t>(len));
    p.remove_prefix(pos + static_cast<std::size_t>(len));
    switch (op) {
      case 0x1: {
        EXPECT(fin); // auto_fragment(false): whole messages
        EXPECT(valid_utf8(payload));
        auto j = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
        EXPECT(!j.is_discarded() && j.is_object() && j.contains("type"));
        break;
      }
      case 0x8: {
        EXPECT(fin && len <= 125);
        EXPECT(len == 0 || len >= 2);
        if (len >= 2) {
          auto code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                 static_cast<unsigned char>(payload[1]));
          EXPECT(websocket::detail::is_valid_close_code(code)); // never 1005, 1006, 1015
          EXPECT(valid_utf8(payload.substr(2)));
        }
        closed = true;
        break;
      }
      case 0x9:
      case 0xA: EXPECT(fin && len <= 125); break;
      default: violated("unexpected opcode from the server");
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto split = input.find("\r\n\r\n");
  std::string request(input.substr(0, split == std::string_view::npos ? input.size() : split + 4));
  std::string later(split == std::string_view::npos ? std::string_view{} : input.substr(split + 4));

  net::io_context ioc;
  beast::test::stream server{ioc}, client{ioc};
  server.connect(client);
  server.append(request);
  if (split == std::string_view::npos)
    server.close_remote();

  bool upgraded = false;
  beast::flat_buffer buffer;
  http::request_parser<http::string_body> parser;
  parser.header_limit(header_limit);
  parser.body_limit(body_limit);
  std::shared_ptr<session> ws;
  std::optional<http::response<http::string_body>> refusal;
  http::async_read(server, buffer, parser, [&](beast::error_code ec, std::size_t) {
    if (ec)
      return;
    auto req = parser.release();
    if (websocket::is_upgrade(req)) {
      upgraded = true;
      ws = std::make_shared<session>(std::move(server));
      ws->run(std::move(req), std::move(later));
    } else {
      refusal.emplace(http::status::not_found, req.version());
      refusal->body() = R"({"error":"not found"})";
      refusal->prepare_payload();
      http::async_write(server, *refusal, [](beast::error_code, std::size_t) {});
    }
  });
  // test::stream completes at once or never: run what can run, then stop
  // (pending keepalive timers would otherwise keep run() alive for a minute).
  while (ioc.poll() > 0) {
  }
  // FUZZ_DEBUG=1 build-fuzz/websocket_fuzzer FILE shows what the server sent.
  static const bool debug = std::getenv("FUZZ_DEBUG") != nullptr;
  if (debug)
    std::fprintf(stderr, "--- server sent %zu bytes:\n%s\n---\n", client.str().size(), std::string(client.str()).c_str());
  check_output(client.str(), upgraded);
  return 0;
}
