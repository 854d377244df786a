// The RFC 6455 codec of the transport (transport/ws_codec.hpp) on its own,
// from memory: what it delivers, how it gathers a message cut anywhere, and
// which close code each violation gets. The conformance suite proves the same
// rules through a socket; these pin them where a failure says exactly which.
#include "transport/ws_codec.hpp"

#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace signaling::transport;
using ws::failure;
using ws::opcode;

namespace {

// A client frame: masked unless told otherwise.
std::string frame(opcode op, std::string payload, bool fin = true, int rsv = 0, bool mask = true) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | (rsv << 4) | static_cast<int>(op));
  auto n = payload.size();
  char m = mask ? static_cast<char>(0x80) : 0;
  if (n < 126) {
    out += static_cast<char>(m | static_cast<char>(n));
  } else if (n < 65536) {
    out += static_cast<char>(m | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i)
      out += static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff);
  }
  if (!mask)
    return out + payload;
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  out.append(key, 4);
  for (std::size_t i = 0; i < n; ++i)
    out += static_cast<char>(payload[i] ^ key[i % 4]);
  return out;
}

std::string close_payload(std::uint16_t code, std::string reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xff);
  return p + reason;
}

// What the reader reported, as one line per event.
struct recorder {
  std::vector<std::string> events;
  bool stop_after_text = false;
  bool on_text(std::string_view t) {
    events.push_back("text:" + std::string(t));
    return !stop_after_text;
  }
  bool on_binary() {
    events.push_back("binary");
    return true;
  }
  bool on_ping(std::string_view p) {
    events.push_back("ping:" + std::string(p));
    return true;
  }
  bool on_pong() {
    events.push_back("pong");
    return true;
  }
  void on_close(std::uint16_t code, std::string_view reason) {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
};

struct outcome {
  std::vector<std::string> events;
  failure failed = failure::none;
};

// Feeds `wire` in pieces of `chunk` bytes (0: at once) into one reader.
outcome feed(const std::string& wire, std::size_t max_message = 65536, std::size_t chunk = 0) {
  ws::frame_reader reader;
  recorder rec;
  outcome out;
  std::size_t pos = 0;
  while (pos < wire.size() || wire.empty()) {
    auto n = chunk ? std::min(chunk, wire.size() - pos) : wire.size() - pos;
    std::string piece = wire.substr(pos, n); // the reader writes into what it is given
    auto r = reader.read(piece.data(), piece.size(), max_message, rec);
    pos += n;
    if (r.failed != failure::none) {
      out.failed = r.failed;
      break;
    }
    if (wire.empty())
      break;
  }
  out.events = rec.events;
  return out;
}

std::string events(const outcome& o) {
  std::string s;
  for (auto& e : o.events)
    s += (s.empty() ? "" : " | ") + e;
  return s;
}

} // namespace

TEST_CASE("a masked text frame is delivered unmasked, and nothing is held once it is") {
  ws::frame_reader reader;
  recorder rec;
  auto wire = frame(opcode::text, R"({"type":"create-room"})");
  auto r = reader.read(wire.data(), wire.size(), 65536, rec);
  CHECK(r.failed == failure::none);
  CHECK(r.used == wire.size());
  REQUIRE(rec.events.size() == 1);
  CHECK(rec.events[0] == R"(text:{"type":"create-room"})");
  CHECK(reader.held_bytes() == 0);
}

TEST_CASE("messages cut at every possible place arrive the same as whole ones") {
  std::string wire = frame(opcode::text, "hello") + frame(opcode::ping, "p1") +
                     frame(opcode::text, std::string(300, 'x')) + frame(opcode::text, "fra", false) +
                     frame(opcode::ping, "in between") + frame(opcode::cont, "gm", false) + frame(opcode::pong, "") +
                     frame(opcode::cont, "ented") + frame(opcode::text, std::string(70000, 'y')) +
                     frame(opcode::binary, "\x01\x02") + frame(opcode::text, "");
  auto whole = feed(wire, 1 << 20);
  CHECK(whole.failed == failure::none);
  CHECK(events(whole) == "text:hello | ping:p1 | text:" + std::string(300, 'x') +
                           " | ping:in between | pong | text:fragmented | text:" + std::string(70000, 'y') +
                           " | binary | text:");
  for (std::size_t chunk : {1, 2, 3, 5, 7, 13, 64, 127, 1000, 4096}) {
    auto cut = feed(wire, 1 << 20, chunk);
    CHECK_MESSAGE(events(cut) == events(whole), "pieces of " << chunk);
  }
  // Random cuts.
  std::mt19937 rng(14);
  for (int round = 0; round < 50; ++round) {
    ws::frame_reader reader;
    recorder rec;
    std::size_t pos = 0;
    while (pos < wire.size()) {
      auto n = std::min<std::size_t>(wire.size() - pos, 1 + rng() % 3000);
      std::string piece = wire.substr(pos, n);
      auto r = reader.read(piece.data(), piece.size(), 1 << 20, rec);
      REQUIRE(r.failed == failure::none);
      pos += n;
    }
    outcome o;
    o.events = rec.events;
    CHECK(events(o) == events(whole));
    CHECK(reader.held_bytes() == 0);
  }
}

TEST_CASE("a message over the size limit fails with 1009 from a header alone") {
  // One frame: only its header is given.
  auto header = frame(opcode::text, std::string(65537, 'a')).substr(0, 14);
  CHECK(feed(header).failed == failure::too_big);
  // Fragments: the one that crosses the limit.
  std::string wire;
  for (int i = 0; i < 999; ++i)
    wire += frame(i == 0 ? opcode::text : opcode::cont, std::string(65, ' '), false);
  auto ok = feed(wire);
  CHECK(ok.failed == failure::none);
  wire += frame(opcode::cont, std::string(65537 - 999 * 65, ' ')).substr(0, 8);
  CHECK(feed(wire).failed == failure::too_big);
  // Exactly at the limit is fine.
  CHECK(feed(frame(opcode::text, std::string(65536, 'a'))).failed == failure::none);
  CHECK(ws::close_code_of(failure::too_big) == 1009);
}

TEST_CASE("framing violations fail with 1002, in Beast's order of checks") {
  auto fails = [](const std::string& wire) { return feed(wire).failed == failure::protocol_error; };
  CHECK(fails(frame(opcode::text, "x", true, 4)));                 // RSV1 without an extension
  CHECK(fails(frame(opcode::ping, "x", true, 2)));                 // reserved bits on a control frame
  CHECK(fails(frame(static_cast<opcode>(3), "")));                 // reserved data opcode
  CHECK(fails(frame(static_cast<opcode>(11), "")));                // reserved control opcode
  CHECK(fails(frame(opcode::text, "x", true, 0, false)));          // unmasked
  CHECK(fails(frame(opcode::ping, "x", false)));                   // fragmented control frame
  CHECK(fails(frame(opcode::ping, std::string(126, 'p'))));        // control payload over 125
  CHECK(fails(frame(opcode::cont, "x")));                          // continuation of nothing
  CHECK(fails(frame(opcode::text, "a", false) + frame(opcode::text, "b"))); // new message inside one
  // Lengths in a longer form than needed.
  auto small = frame(opcode::text, std::string(100, 'a'));
  std::string non_minimal = small.substr(0, 1) + std::string("\xfe\x00\x64", 3) + small.substr(2);
  CHECK(fails(non_minimal));
  // Unmasked and too big at once: the mask is checked first (as Beast did).
  auto both = frame(opcode::text, std::string(70000, 'a'), true, 0, false).substr(0, 10);
  CHECK(fails(both));
  // The top bit of a 64-bit length set: too big, before it is anything else.
  std::string huge = std::string("\x81\xff", 2) + std::string("\x80\x00\x00\x00\x00\x00\x00\x0a", 8) + "kkkk";
  CHECK(feed(huge).failed == failure::too_big);
}

TEST_CASE("invalid UTF-8 fails with 1007 as soon as the bad byte arrives") {
  CHECK(feed(frame(opcode::text, "a\xc0\xafz")).failed == failure::invalid_utf8);
  CHECK(feed(frame(opcode::text, "\xed\xa0\x80")).failed == failure::invalid_utf8);
  // Cut short at the end of the message.
  CHECK(feed(frame(opcode::text, "ab\xe2\x82")).failed == failure::invalid_utf8);
  // Fail fast: the frame never ends, the bad byte is enough.
  auto partial = frame(opcode::text, "\xce\xba\xf4\x90\x80\x80 and more").substr(0, 6 + 4);
  CHECK(feed(partial).failed == failure::invalid_utf8);
  // A character split across fragments is fine.
  CHECK(feed(frame(opcode::text, "\xf0\x90", false) + frame(opcode::cont, "\x80\x80")).failed == failure::none);
  // Binary is not text.
  CHECK(feed(frame(opcode::binary, "\xff\xfe")).failed == failure::none);
}

TEST_CASE("the UTF-8 check agrees with Beast's on every short sequence and on random text") {
  auto beast_ok = [](const std::string& s) {
    boost::beast::websocket::detail::utf8_checker c;
    return c.write(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) && c.finish();
  };
  std::string s;
  for (int a = 0; a < 256; ++a) {
    s.assign(1, static_cast<char>(a));
    REQUIRE(ws::valid_utf8(s) == beast_ok(s));
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      REQUIRE(ws::valid_utf8(s) == beast_ok(s));
    }
  }
  // Three- and four-byte sequences around every boundary of RFC 3629.
  const int leads[] = {0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5};
  for (int lead : leads)
    for (int b = 0x70; b < 0xd0; ++b)
      for (int c = 0x70; c < 0xd0; ++c) {
        s.assign({static_cast<char>(lead), static_cast<char>(b), static_cast<char>(c)});
        REQUIRE(ws::valid_utf8(s) == beast_ok(s));
        s += static_cast<char>(0x80 + (b + c) % 64);
        REQUIRE(ws::valid_utf8(s) == beast_ok(s));
      }
  std::mt19937 rng(6455);
  for (int round = 0; round < 20000; ++round) {
    s.clear();
    auto n = rng() % 40;
    for (std::size_t i = 0; i < n; ++i)
      s += static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 26);
    REQUIRE_MESSAGE(ws::valid_utf8(s) == beast_ok(s), "round " << round);
  }
}

TEST_CASE("close frames carry no payload or a valid code and UTF-8 reason, anything else is 1002") {
  CHECK(events(feed(frame(opcode::close, ""))) == "close:0:");
  CHECK(events(feed(frame(opcode::close, close_payload(1000, "bye")))) == "close:1000:bye");
  CHECK(events(feed(frame(opcode::close, close_payload(4999)))) == "close:4999:");
  CHECK(events(feed(frame(opcode::close, close_payload(5000)))) == "close:5000:"); // as Beast: 3000 and up
  CHECK(feed(frame(opcode::close, "a")).failed == failure::protocol_error);
  for (std::uint16_t bad : {0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999})
    CHECK_MESSAGE(feed(frame(opcode::close, close_payload(bad))).failed == failure::protocol_error, bad);
  CHECK(feed(frame(opcode::close, close_payload(1000, "\xed\xa0\x80"))).failed == failure::protocol_error);
  // Nothing after a close frame is read.
  auto after = feed(frame(opcode::close, close_payload(1000)) + frame(opcode::text, "late"));
  CHECK(events(after) == "close:1000:");
  CHECK(ws::close_code_of(failure::protocol_error) == 1002);
  CHECK(ws::close_code_of(failure::invalid_utf8) == 1007);
}

TEST_CASE("a sink that stops after a message gets the rest back to feed later") {
  ws::frame_reader reader;
  recorder rec;
  rec.stop_after_text = true;
  auto wire = frame(opcode::text, "one") + frame(opcode::text, "two") + frame(opcode::text, "thr", false);
  auto r = reader.read(wire.data(), wire.size(), 65536, rec);
  CHECK(r.failed == failure::none);
  REQUIRE(r.used < wire.size());
  CHECK(rec.events == std::vector<std::string>{"text:one"});
  reader.stash(wire.data() + r.used, wire.size() - r.used);
  CHECK(reader.has_stash());
  rec.stop_after_text = false;
  auto rest = reader.take_stash() + frame(opcode::cont, "ee");
  r = reader.read(rest.data(), rest.size(), 65536, rec);
  CHECK(r.failed == failure::none);
  CHECK(rec.events == std::vector<std::string>{"text:one", "text:two", "text:three"});
  CHECK(reader.held_bytes() == 0);
}

TEST_CASE("server frames use the shortest length form and close reasons are cut at a character") {
  char h[ws::max_header_bytes];
  CHECK(ws::write_header(h, opcode::text, 125) == 2);
  CHECK(ws::write_header(h, opcode::text, 126) == 4);
  CHECK(ws::write_header(h, opcode::text, 65535) == 4);
  CHECK(ws::write_header(h, opcode::text, 65536) == 10);
  CHECK(static_cast<unsigned char>(h[0]) == 0x81);
  CHECK((static_cast<unsigned char>(h[1]) & 0x80) == 0); // never masked
  auto c = ws::close_frame(1008, std::string(122, 'r') + "\xc3\xa9" + "tail");
  CHECK(c.size() == 2 + 2 + 122); // the two-byte character does not fit whole, so it goes
  CHECK(ws::valid_utf8(c.substr(4)));
  CHECK(ws::close_frame(0, "ignored") == std::string("\x88\x00", 2));
  CHECK(ws::control_frame(opcode::pong, "abc") == std::string("\x8a\x03" "abc", 5));
}
