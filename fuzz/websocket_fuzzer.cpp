// libFuzzer target: what a client sends, through the node's own HTTP upgrade
// (transport/http_session.cpp) and WebSocket session (transport/
// websocket_session.cpp, framing by transport/ws_codec.cpp), checking every
// byte the server sends back. Not a mirror: the real session runs on a real
// I/O loop over a socketpair, with the limits set small so fuzz inputs reach
// them (message size, send queue) and the socket buffers small so writes
// queue and resume.
//
// Input: an HTTP request, and whatever follows it in the same stream (frames
// in any state of repair, pipelined behind the upgrade as a client may).
// The client end writes it, then shuts down its sending side, and reads
// what the server writes until the server is done.
//
// The protocol side is a stand-in handler: every text message goes through
// protocol::parse and gets the protocol's answer; a leave-room also closes
// the connection (1008), a create-room pauses and resumes reading, and a
// signal comes back three times, so the server's own close, the paused path
// and the send queue up to its cut-off are fuzzed too.
//
// Oracle: the server's output is one HTTP response and then, after a 101,
// valid RFC 6455 server frames: unmasked, no reserved bits, known opcodes,
// control payloads of at most 125 bytes, close codes that may be sent, text
// that is UTF-8 and JSON, and nothing after a close frame. A 101 is sent only
// to an upgrade the server accepted. A violation aborts.
#include "actors/protocol.hpp"
#include "transport/http_session.hpp"
#include "transport/io_pool.hpp"
#include "transport/server_state.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace signaling;
using namespace signaling::transport;

// Small, so fuzz inputs reach them (the node's defaults are 64 KiB and 1 MiB).
constexpr std::size_t max_message_bytes = 2048;
constexpr std::size_t max_send_queue_bytes = 16 * 1024;
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

// Independent of the codec under test.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static const std::uint32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_of[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

// Codes a server may put in a close frame: never 1004-1006, 1015, nothing
// below 1000 or in 1016-2999 (RFC 6455 7.4). The server echoes a client's
// code from 3000 up, whatever it is.
bool sendable_close_code(std::uint16_t code) {
  if (code < 1000 || (code >= 1004 && code <= 1006) || (code >= 1014 && code <= 2999))
    return false;
  return true;
}

// The stand-in for the connection actor.
struct fuzz_handler final : connection_handler {
  explicit fuzz_handler(connection_link& l) : link(l) {}
  void on_text(std::string_view text) override {
    auto res = protocol::parse(text, max_json_depth);
    if (!res.ok)
      return link.send(protocol::error(res.error, res.detail));
    link.send(protocol::room_left(res.cmd.room_id));
    switch (res.cmd.type) {
      case protocol::msg_type::leave_room: return link.close(close_code::policy_violation, "fuzz");
      case protocol::msg_type::create_room:
        link.pause_reading();
        return link.resume_reading();
      case protocol::msg_type::signal: {
        // Three times, as one shared frame: a client that does not read fills
        // the socket and then the send queue, up to its cut-off.
        auto frame = std::make_shared<const std::string>(text);
        for (int i = 0; i < 3; ++i)
          link.send(frame);
        return;
      }
      default: return;
    }
  }
  void on_deadline() override {}
  void on_closed(close_cause) override { delete this; }
  connection_link& link;
};

// Checks what the server wrote: an HTTP response, then (after a 101) frames.
void check_output(std::string_view out, bool accepted) {
  if (out.empty())
    return;
  EXPECT(out.substr(0, 9) == "HTTP/1.1 " || out.substr(0, 9) == "HTTP/1.0 ");
  auto head_end = out.find("\r\n\r\n");
  EXPECT(head_end != std::string_view::npos);
  int status = std::atoi(std::string(out.substr(9, 3)).c_str());
  EXPECT(status >= 100 && status <= 599);
  EXPECT(status != 101 || accepted); // 101 only to an upgrade the server took
  if (status != 101)
    return; // an HTTP answer (and possibly more on a keep-alive connection)
  auto p = out.substr(head_end + 4);
  bool closed = false;
  while (!p.empty()) {
    EXPECT(!closed); // nothing follows a close frame
    EXPECT(p.size() >= 2);
    auto b0 = static_cast<unsigned char>(p[0]), b1 = static_cast<unsigned char>(p[1]);
    EXPECT((b0 & 0x70) == 0); // no reserved bits
    EXPECT((b1 & 0x80) == 0); // servers never mask
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
    // A connection cut off (send queue) may end in the middle of a frame.
    if (p.size() < pos + len)
      return;
    auto payload = p.substr(pos, static_cast<std::size_t>(len));
    p.remove_prefix(pos + static_cast<std::size_t>(len));
    switch (op) {
      case 0x1: {
        EXPECT(fin); // whole messages
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
          EXPECT(sendable_close_code(code));
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
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;

  // One loop for every input (making an io_context is a handful of syscalls);
  // each input leaves it as it found it, which the end of this function checks.
  static io_pool pool{1};
  auto& loop = pool.loop(0);
  node_stats stats;
  server_options opts;
  opts.lim.max_message_bytes = max_message_bytes;
  opts.lim.max_send_queue_bytes = max_send_queue_bytes;
  opts.lim.max_json_depth = max_json_depth;
  http_routes routes{[] { return std::string(R"({"status":"ok"})"); }, [] { return true; },
                     [] { return std::string(); },    [] { return std::string(R"({"iceServers":[]})"); },
                     nullptr,                          nullptr,
                     nullptr};
  bool accepted = false;
  auto state = std::make_shared<server_state>(
    opts, stats, routes,
    [&accepted](connection_link& link) -> connection_handler* {
      accepted = true;
      return new fuzz_handler(link);
    },
    pool);
  loop.server = state.get();

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
    return 0;
  // Small buffers: the server's writes fill them, queue, and resume.
  int small = 4096;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  {
    socket_type s{loop.context()};
    boost::system::error_code ec;
    s.assign(boost::asio::ip::tcp::v4(), sv[0], ec);
    if (ec) {
      ::close(sv[0]);
      ::close(sv[1]);
      return 0;
    }
    loop.load.fetch_add(1);
    std::make_shared<http_session<socket_type>>(loop, std::move(s), nullptr, state)->run();
  }

  // The client: write the input, then EOF; read until the server is done.
  std::string out;
  std::size_t written = 0;
  bool eof_sent = false;
  for (int idle_rounds = 0; idle_rounds < 3;) {
    bool progress = false;
    if (written < size) {
      auto n = ::send(sv[1], data + written, size - written, MSG_NOSIGNAL);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
        progress = true;
      }
    } else if (!eof_sent) {
      ::shutdown(sv[1], SHUT_WR);
      eof_sent = true;
      progress = true;
    }
    if (loop.poll() > 0)
      progress = true;
    char buf[8192];
    for (;;) {
      auto n = ::recv(sv[1], buf, sizeof buf, 0);
      if (n <= 0)
        break;
      out.append(buf, static_cast<std::size_t>(n));
      progress = true;
    }
    idle_rounds = progress ? 0 : idle_rounds + 1;
  }
  ::close(sv[1]);
  // Whatever is still open ends here, as at a node's shutdown.
  loop.for_each_session([](session_hook& h) { websocket_session::of(h).abandon(); });
  while (loop.poll() > 0) {
  }
  // Every session, HTTP or WebSocket, is gone: none leaked a reference.
  EXPECT(loop.load.load() == 0);
  EXPECT(loop.sessions.load() == 0);
  loop.server = nullptr;

  // FUZZ_DEBUG=1 build-fuzz/websocket_fuzzer FILE shows what the server sent.
  static const bool debug = std::getenv("FUZZ_DEBUG") != nullptr;
  if (debug)
    std::fprintf(stderr, "--- server sent %zu bytes:\n%s\n---\n", out.size(), out.c_str());
  check_output(out, accepted);
  return 0;
}
