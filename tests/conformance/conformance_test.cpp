// RFC 6455 conformance, the way Autobahn|Testsuite's case groups 1-7 and 10
// probe a server (Autobahn itself needs Python 2 or Docker, neither of which
// runs here). A raw-socket client (support/raw_ws) sends hand-built frames to
// a real node and records what comes back as a trace ("error:unknown-type,
// pong, close 1002"). tests/conformance/expected.md holds, for every case,
// what a strict server does, what signal-node does, and why the two differ
// where they do; each TEST_CASE runs one group and compares every trace to it.
//
// This server is not an echo server, so a delivered text message shows as the
// protocol's answer to it: error:unknown-type for {"type":"teleport",...}, or
// error:bad-json for text that is valid UTF-8 but not JSON.
#include "support/cluster.hpp"
#include "support/raw_ws.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace testing;
using namespace std::chrono_literals;

namespace {

// -- the table of expected results -------------------------------------------

struct expectation {
  std::string strict; // what RFC 6455 / Autobahn expects ("a or b" allows either)
  std::string ours;   // what signal-node does
  std::string why;    // required when they differ
};

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

// Rows "| id | what is sent | strict | signal-node | why |" of expected.md.
const std::map<std::string, expectation>& expected() {
  static const std::map<std::string, expectation> table = [] {
    std::map<std::string, expectation> out;
    std::ifstream in(std::string(SIGNAL_SOURCE_DIR) + "/tests/conformance/expected.md");
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() < 3 || line[0] != '|')
        continue;
      std::vector<std::string> cells;
      std::stringstream ss(line.substr(1));
      std::string cell;
      while (std::getline(ss, cell, '|'))
        cells.push_back(trim(cell));
      if (cells.size() < 5 || cells[0].empty() || cells[0] == "case" || cells[0][0] == '-')
        continue;
      auto unquote = [](std::string s) {
        if (s.size() >= 2 && s.front() == '`' && s.back() == '`')
          s = s.substr(1, s.size() - 2);
        return s;
      };
      out[cells[0]] = expectation{unquote(cells[2]), unquote(cells[3]), cells[4]};
    }
    return out;
  }();
  return table;
}

bool strict_allows(const std::string& strict, const std::string& trace) {
  std::size_t pos = 0;
  for (;;) {
    auto next = strict.find(" or ", pos);
    if (trim(strict.substr(pos, next == std::string::npos ? std::string::npos : next - pos)) == trace)
      return true;
    if (next == std::string::npos)
      return false;
    pos = next + 4;
  }
}

// -- scripts: what a case sends ------------------------------------------------

struct script {
  std::vector<std::string> writes{std::string{}}; // each sent separately, `pause` apart
  std::deque<std::string> pings;                   // payloads of valid pings, to match pongs
  std::size_t chunk = 0;                           // >0: every write in pieces of this size
  std::chrono::microseconds pause = 20ms;
  bool probe = true;                               // end an open connection with a probe ping
  bool sends_close = false;                        // a close frame is among the frames sent

  script& frame(const frame_spec& f) {
    writes.back() += make_frame(f);
    sends_close = sends_close || f.opcode == ws_op::close;
    if (f.opcode == ws_op::ping && f.fin && f.rsv == 0 && f.mask && f.payload.size() <= 125)
      pings.push_back(f.payload);
    return *this;
  }
  script& frame(int op, std::string payload, bool fin = true) {
    frame_spec f;
    f.opcode = op;
    f.payload = std::move(payload);
    f.fin = fin;
    return frame(f);
  }
  script& raw(std::string bytes) {
    writes.back() += bytes;
    return *this;
  }
  script& then() {
    writes.emplace_back();
    return *this;
  }
  script& chopped(std::size_t n = 1) {
    chunk = n;
    pause = 100us;
    return *this;
  }
};

// {"type":"teleport","p":"xx…"} of exactly n bytes (n >= 26): answered unknown-type only if intact.
std::string json_of_length(std::size_t n) {
  std::string head = R"({"type":"teleport","p":")";
  if (n < head.size() + 2)
    return std::string(n, 'x');
  return head + std::string(n - head.size() - 2, 'x') + "\"}";
}

const std::string teleport = R"({"type":"teleport"})";

std::string render_text(const std::string& payload) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_object() && j.value("type", "") == "error")
    return "error:" + j.value("code", "?");
  if (j.is_object())
    return "text:" + j.value("type", "?");
  return "text";
}

// Upgrades, runs the script, and renders what the server did.
std::string run(std::uint16_t port, script s) {
  raw_ws c{port};
  c.upgrade(port);
  std::vector<std::string> trace;
  bool ended = false;
  const bool sent_close = s.sends_close;
  auto on_frame = [&](const server_frame& f) {
    switch (f.opcode) {
      case ws_op::text: trace.push_back(render_text(f.payload)); break;
      case ws_op::binary: trace.push_back("binary"); break;
      case ws_op::ping: trace.push_back("server-ping"); break;
      case ws_op::pong:
        if (!s.pings.empty() && s.pings.front() == f.payload) {
          s.pings.pop_front();
          trace.push_back("pong");
        } else {
          trace.push_back("pong-mismatch");
        }
        break;
      case ws_op::close: {
        auto code = f.close_code();
        trace.push_back(code ? "close " + std::to_string(code) : "close");
        // Answer a close the server started, as a client must (RFC 6455
        // 5.5.1); the server must then close the TCP connection (7.1.1).
        if (!sent_close)
          c.send(make_frame(ws_op::close, close_payload(code ? std::optional<std::uint16_t>(code) : std::nullopt)));
        if (!c.wait_eof(3s))
          trace.back() += " tcp-open";
        ended = true;
        break;
      }
      default: trace.push_back("opcode-" + std::to_string(f.opcode));
    }
  };
  for (std::size_t i = 0; i < s.writes.size() && !ended; ++i) {
    if (i > 0)
      std::this_thread::sleep_for(s.pause);
    if (!c.send(s.writes[i], s.chunk, s.pause))
      break; // the server is gone; what it said is still in our receive buffer
    // Take what has already arrived before the next write.
    server_frame f;
    while (!ended && c.next(f, 1ms) == raw_ws::event::frame)
      on_frame(f);
  }
  bool probed = false;
  while (!ended) {
    server_frame f;
    auto ev = c.next(f, probed ? 3000ms : 150ms);
    if (ev == raw_ws::event::frame) {
      if (probed && f.opcode == ws_op::pong && s.pings.size() == 1 && f.payload == "probe") {
        trace.push_back("open");
        break;
      }
      on_frame(f);
    } else if (ev == raw_ws::event::timeout && !probed && s.probe) {
      // Quiet so far: a probe ping's pong shows everything sent before it was
      // handled and the connection is still open.
      probed = true;
      s.pings.push_back("probe");
      c.send(make_frame(ws_op::ping, "probe"));
    } else {
      trace.push_back(ev == raw_ws::event::eof ? "eof" : ev == raw_ws::event::timeout ? "silent" : "error");
      break;
    }
  }
  std::string out;
  for (auto& t : trace)
    out += (out.empty() ? "" : ", ") + t;
  return out;
}

// Handshake cases: the status line and the headers that matter.
std::string run_handshake(std::uint16_t port, const std::string& request, const std::string& key = {}) {
  raw_ws c{port};
  auto h = c.handshake(request);
  std::string out = "http " + std::to_string(h.status);
  if (h.status == 101 && !key.empty() && h.header("sec-websocket-accept") != websocket_accept(key))
    out += " bad-accept";
  if (!h.header("sec-websocket-version").empty())
    out += " version=" + h.header("sec-websocket-version");
  if (!h.header("sec-websocket-protocol").empty())
    out += " protocol=" + h.header("sec-websocket-protocol");
  if (!h.header("sec-websocket-extensions").empty())
    out += " extensions=" + h.header("sec-websocket-extensions");
  return out;
}

// -- the cases -----------------------------------------------------------------

using case_fn = std::function<std::string(std::uint16_t)>;

std::vector<std::pair<std::string, case_fn>>& cases() {
  static std::vector<std::pair<std::string, case_fn>> all;
  return all;
}

void add(const std::string& id, std::function<script()> make) {
  cases().emplace_back(id, [make](std::uint16_t port) { return run(port, make()); });
}

void add_handshake(const std::string& id, std::function<std::string(std::uint16_t)> fn) {
  cases().emplace_back(id, std::move(fn));
}

frame_spec spec(int op, std::string payload, bool fin = true, int rsv = 0, bool mask = true) {
  frame_spec f;
  f.opcode = op;
  f.payload = std::move(payload);
  f.fin = fin;
  f.rsv = rsv;
  f.mask = mask;
  return f;
}

std::string bytes(std::size_t n, std::uint8_t seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 31 + seed) & 0xff);
  return s;
}

void define_cases() {
  if (!cases().empty())
    return;
  // Group 1: framing, text and binary messages of every length encoding.
  const std::size_t lengths[] = {0, 125, 126, 127, 128, 65535, 65536};
  for (std::size_t i = 0; i < 7; ++i) {
    auto n = lengths[i];
    add("1.1." + std::to_string(i + 1), [n] { return script{}.frame(ws_op::text, json_of_length(n)); });
    add("1.2." + std::to_string(i + 1), [n] { return script{}.frame(ws_op::binary, bytes(n)); });
  }
  add("1.1.8", [] {
    auto s = script{}.frame(ws_op::text, json_of_length(65536));
    s.chunk = 997;
    s.pause = 0us;
    return s;
  });
  add("1.2.8", [] {
    auto s = script{}.frame(ws_op::binary, bytes(65536));
    s.chunk = 997;
    s.pause = 0us;
    return s;
  });

  // Group 2: ping and pong.
  add("2.1", [] { return script{}.frame(ws_op::ping, ""); });
  add("2.2", [] { return script{}.frame(ws_op::ping, "Hello, world!"); });
  add("2.3", [] { return script{}.frame(ws_op::ping, std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8)); });
  add("2.4", [] { return script{}.frame(ws_op::ping, std::string(125, '\xfe')); });
  add("2.5", [] { return script{}.frame(ws_op::ping, std::string(126, '\xfe')); });
  add("2.6", [] { return script{}.frame(ws_op::ping, std::string(125, '\xfe')).chopped(); });
  add("2.7", [] { return script{}.frame(ws_op::pong, ""); });
  add("2.8", [] { return script{}.frame(ws_op::pong, "unsolicited pong payload"); });
  add("2.9", [] { return script{}.frame(ws_op::pong, "unsolicited pong payload").frame(ws_op::ping, "ping payload"); });
  add("2.10", [] {
    script s;
    for (int i = 0; i < 10; ++i)
      s.frame(ws_op::ping, "payload-" + std::to_string(i));
    return s;
  });
  add("2.11", [] {
    script s;
    for (int i = 0; i < 10; ++i)
      s.frame(ws_op::ping, "payload-" + std::to_string(i));
    return s.chopped();
  });

  // Group 3: reserved bits.
  add("3.1", [] { return script{}.frame(spec(ws_op::text, teleport, true, 1)); });
  add("3.2", [] {
    return script{}.frame(ws_op::text, teleport).frame(spec(ws_op::text, teleport, true, 2)).frame(ws_op::ping, "");
  });
  add("3.3", [] {
    return script{}.frame(ws_op::text, teleport).then().frame(spec(ws_op::text, teleport, true, 3)).then().frame(
      ws_op::ping, "");
  });
  add("3.4", [] {
    return script{}.frame(ws_op::text, teleport).frame(spec(ws_op::text, teleport, true, 4)).frame(ws_op::ping, "").chopped();
  });
  add("3.5", [] { return script{}.frame(spec(ws_op::binary, bytes(8), true, 5)); });
  add("3.6", [] { return script{}.frame(spec(ws_op::ping, "Hello", true, 6)); });
  add("3.7", [] { return script{}.frame(spec(ws_op::close, close_payload(1000), true, 7)); });

  // Group 4: reserved opcodes, non-control (3-7) and control (11-15).
  for (int i = 0; i < 5; ++i) {
    int op = 3 + i;
    add("4.1." + std::to_string(i + 1), [op, i] {
      script s;
      if (i >= 2)
        s.frame(ws_op::text, teleport);
      s.frame(op, i % 2 ? "reserved payload" : "");
      if (i >= 2)
        s.frame(ws_op::ping, "");
      if (i == 4)
        s.chopped();
      return s;
    });
    int cop = 11 + i;
    add("4.2." + std::to_string(i + 1), [cop, i] {
      script s;
      if (i >= 2)
        s.frame(ws_op::text, teleport);
      s.frame(cop, i % 2 ? "reserved payload" : "");
      if (i >= 2)
        s.frame(ws_op::ping, "");
      if (i == 4)
        s.chopped();
      return s;
    });
  }

  // Group 5: fragmentation, with control frames in between.
  const std::string part1 = R"({"type":"tele)", part2 = R"(port","x":1})";
  add("5.1", [] { return script{}.frame(ws_op::ping, "fragment1", false).frame(ws_op::cont, "fragment2"); });
  add("5.2", [] { return script{}.frame(ws_op::pong, "fragment1", false).frame(ws_op::cont, "fragment2"); });
  add("5.3", [=] { return script{}.frame(ws_op::text, part1, false).frame(ws_op::cont, part2); });
  add("5.4", [=] { return script{}.frame(ws_op::text, part1, false).then().frame(ws_op::cont, part2); });
  add("5.5", [=] { return script{}.frame(ws_op::text, part1, false).frame(ws_op::cont, part2).chopped(); });
  add("5.6", [=] {
    return script{}.frame(ws_op::text, part1, false).frame(ws_op::ping, "ping payload").frame(ws_op::cont, part2);
  });
  add("5.7", [=] {
    return script{}.frame(ws_op::text, part1, false).then().frame(ws_op::ping, "ping payload").then().frame(
      ws_op::cont, part2);
  });
  add("5.8", [=] {
    return script{}
      .frame(ws_op::text, part1, false)
      .frame(ws_op::ping, "ping payload")
      .frame(ws_op::cont, part2)
      .chopped();
  });
  for (int v = 0; v < 3; ++v) {
    add("5." + std::to_string(9 + v), [v] {
      script s;
      s.frame(ws_op::cont, "non-continuation payload", true);
      if (v == 1)
        s.then();
      s.frame(ws_op::text, teleport).frame(ws_op::ping, "");
      if (v == 2)
        s.chopped();
      return s;
    });
    add("5." + std::to_string(12 + v), [v] {
      script s;
      s.frame(ws_op::cont, "non-continuation payload", false);
      if (v == 1)
        s.then();
      s.frame(ws_op::text, teleport).frame(ws_op::ping, "");
      if (v == 2)
        s.chopped();
      return s;
    });
  }
  add("5.15", [=] {
    return script{}
      .frame(ws_op::text, part1, false)
      .frame(ws_op::cont, part2)
      .frame(ws_op::cont, "fragment3", false)
      .frame(ws_op::text, "fragment4");
  });
  add("5.16", [] {
    script s;
    for (int i = 0; i < 2; ++i)
      s.frame(ws_op::cont, "fragment1", false).frame(ws_op::text, "fragment2", false).frame(ws_op::cont, "fragment3");
    return s;
  });
  add("5.17", [] {
    script s;
    for (int i = 0; i < 2; ++i)
      s.frame(ws_op::cont, "fragment1", true).frame(ws_op::text, "fragment2", false).frame(ws_op::cont, "fragment3");
    return s;
  });
  add("5.18", [=] { return script{}.frame(ws_op::text, part1, false).frame(ws_op::text, part2); });
  auto five = [](bool separate) {
    const std::string parts[] = {R"({"ty)", R"(pe":"tel)", R"(eport")", R"(,"x":)", "1}"};
    script s;
    for (int i = 0; i < 5; ++i) {
      s.frame(i == 0 ? ws_op::text : ws_op::cont, parts[i], i == 4);
      if (i == 1 || i == 3)
        s.frame(ws_op::ping, "pongme " + std::to_string(i));
      if (separate && i < 4)
        s.then();
    }
    return s;
  };
  add("5.19", [=] { return five(true); });
  add("5.20", [=] { return five(false); });

  // Group 6: UTF-8. Valid text that is not JSON is delivered and answered
  // bad-json; invalid text is refused by the transport with 1007.
  add("6.1.1", [] { return script{}.frame(ws_op::text, ""); });
  add("6.1.2", [] { return script{}.frame(ws_op::text, "", false).frame(ws_op::cont, "", false).frame(ws_op::cont, ""); });
  add("6.1.3", [] {
    return script{}.frame(ws_op::text, "", false).frame(ws_op::cont, teleport, false).frame(ws_op::cont, "");
  });
  const std::string hello = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
  const std::string kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
  const std::string hello_json = R"({"type":"teleport","p":")" + hello + "\"}";
  add("6.2.1", [=] { return script{}.frame(ws_op::text, hello_json); });
  add("6.2.2", [=] {
    auto cut = hello_json.find("@"); // a code point boundary
    return script{}.frame(ws_op::text, hello_json.substr(0, cut), false).frame(ws_op::cont, hello_json.substr(cut));
  });
  auto per_byte = [](const std::string& text) {
    script s;
    for (std::size_t i = 0; i < text.size(); ++i)
      s.frame(i == 0 ? ws_op::text : ws_op::cont, text.substr(i, 1), i + 1 == text.size());
    return s;
  };
  add("6.2.3", [=] { return per_byte(hello_json); });
  add("6.2.4", [=] { return per_byte(R"({"type":"teleport","p":")" + kosme + "\"}"); });
  const std::string bad = kosme + "\xed\xa0\x80" + "edited";
  add("6.3.1", [=] { return script{}.frame(ws_op::text, bad); });
  add("6.3.2", [=] { return per_byte(bad); });
  // Fail fast: the bad bytes end the connection before the message does.
  add("6.4.1", [=] {
    script s;
    s.frame(ws_op::text, kosme, false).then().frame(ws_op::cont, "\xf4\x90\x80\x80", false);
    s.probe = false;
    return s;
  });
  add("6.4.2", [=] {
    script s;
    s.frame(ws_op::text, kosme + "\xf4", false).then().frame(ws_op::cont, "\x90\x80\x80", false);
    s.probe = false;
    return s;
  });
  auto partial_frame = [=](const std::string& invalid) {
    // One frame announcing kosme + invalid + "edited", of which only the
    // first two parts are ever sent.
    frame_spec f = spec(ws_op::text, kosme + invalid + "edited");
    std::string masked = make_frame(f);
    auto header = masked.size() - f.payload.size();
    script s;
    s.raw(masked.substr(0, header + kosme.size())).then().raw(masked.substr(header + kosme.size(), invalid.size()));
    s.probe = false;
    return s;
  };
  add("6.4.3", [=] { return partial_frame("\xf4\x90\x80\x80"); });
  add("6.4.4", [=] { return partial_frame("\xf4\x90"); });
  const std::vector<std::pair<std::string, std::string>> sequences = {
    // valid: boundaries of each encoding length, and noncharacters
    {"6.5.1", std::string("\x00", 1)}, {"6.5.2", "\x7f"}, {"6.5.3", "\xc2\x80"}, {"6.5.4", "\xdf\xbf"},
    {"6.5.5", "\xe0\xa0\x80"}, {"6.5.6", "\xef\xbf\xbf"}, {"6.5.7", "\xf0\x90\x80\x80"},
    {"6.5.8", "\xf4\x8f\xbf\xbf"}, {"6.5.9", "\xed\x9f\xbf"}, {"6.5.10", "\xee\x80\x80"},
    {"6.5.11", "\xef\xbf\xbd"}, {"6.5.12", "\xef\xbf\xbe"},
    // invalid: past U+10FFFF, 5- and 6-byte forms
    {"6.6.1", "\xf4\x90\x80\x80"}, {"6.6.2", "\xf7\xbf\xbf\xbf"}, {"6.6.3", "\xf8\x88\x80\x80\x80"},
    {"6.6.4", "\xfc\x84\x80\x80\x80\x80"},
    // invalid: continuation bytes without a start
    {"6.7.1", "\x80"}, {"6.7.2", "\xbf"}, {"6.7.3", "\x80\xbf\x80"},
    // invalid: start bytes followed by a space, and sequences cut at the end
    {"6.8.1", "\xc0 "}, {"6.8.2", "\xe0 "}, {"6.8.3", "\xf0 "}, {"6.8.4", "\xc2"}, {"6.8.5", "\xe0\xa0"},
    {"6.8.6", "\xf0\x90\x80"},
    // invalid: bytes that never occur
    {"6.9.1", "\xfe"}, {"6.9.2", "\xff"}, {"6.9.3", "\xfe\xfe\xff\xff"},
    // invalid: overlong forms
    {"6.10.1", "\xc0\xaf"}, {"6.10.2", "\xe0\x80\xaf"}, {"6.10.3", "\xf0\x80\x80\xaf"}, {"6.10.4", "\xc1\xbf"},
    {"6.10.5", "\xe0\x9f\xbf"}, {"6.10.6", "\xf0\x8f\xbf\xbf"}, {"6.10.7", "\xc0\x80"},
    // invalid: UTF-16 surrogates
    {"6.11.1", "\xed\xa0\x80"}, {"6.11.2", "\xed\xad\xbf"}, {"6.11.3", "\xed\xbf\xbf"},
    {"6.11.4", "\xed\xa0\x80\xed\xb0\x80"},
  };
  for (auto& [id, seq] : sequences) {
    auto text = "a" + seq + "z";
    add(id, [text] { return script{}.frame(ws_op::text, text); });
  }
  // A code point split across two frames is still one valid character.
  add("6.12.1", [] { return script{}.frame(ws_op::text, "\xf0\x90", false).frame(ws_op::cont, "\x80\x80"); });

  // Group 7: the close handshake.
  add("7.1.1", [] { return script{}.frame(ws_op::close, close_payload(1000)); });
  add("7.1.2", [] { return script{}.frame(ws_op::close, close_payload(1000)).frame(ws_op::close, close_payload(1000)); });
  add("7.1.3", [] { return script{}.frame(ws_op::close, close_payload(1000)).frame(ws_op::ping, "after close"); });
  add("7.1.4", [] { return script{}.frame(ws_op::close, close_payload(1000)).frame(ws_op::text, teleport); });
  add("7.1.5", [=] {
    return script{}.frame(ws_op::text, part1, false).frame(ws_op::close, close_payload(1000)).frame(ws_op::cont, part2);
  });
  add("7.1.6", [] {
    return script{}.frame(ws_op::text, teleport).frame(ws_op::close, close_payload(1000)).frame(ws_op::ping, "x");
  });
  add("7.3.1", [] { return script{}.frame(ws_op::close, ""); });
  add("7.3.2", [] { return script{}.frame(ws_op::close, "a"); });
  add("7.3.3", [] { return script{}.frame(ws_op::close, close_payload(1000)); });
  add("7.3.4", [] { return script{}.frame(ws_op::close, close_payload(1000, "Hello World!")); });
  add("7.3.5", [] { return script{}.frame(ws_op::close, close_payload(1000, std::string(123, '*'))); });
  add("7.3.6", [] { return script{}.frame(ws_op::close, close_payload(1000, std::string(124, '*'))); });
  add("7.5.1", [=] { return script{}.frame(ws_op::close, close_payload(1000, bad)); });
  int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999};
  for (std::size_t i = 0; i < std::size(valid); ++i) {
    auto code = static_cast<std::uint16_t>(valid[i]);
    add("7.7." + std::to_string(i + 1), [code] { return script{}.frame(ws_op::close, close_payload(code)); });
  }
  int invalid[] = {0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999};
  for (std::size_t i = 0; i < std::size(invalid); ++i) {
    auto code = static_cast<std::uint16_t>(invalid[i]);
    add("7.9." + std::to_string(i + 1), [code] { return script{}.frame(ws_op::close, close_payload(code)); });
  }
  add("7.13.1", [] { return script{}.frame(ws_op::close, close_payload(5000)); });
  add("7.13.2", [] { return script{}.frame(ws_op::close, close_payload(65535)); });

  // Group 10: a message at the size limit in 1300-byte fragments.
  add("10.1.1", [] {
    auto text = json_of_length(65536);
    script s;
    for (std::size_t off = 0; off < text.size(); off += 1300)
      s.frame(off == 0 ? ws_op::text : ws_op::cont, text.substr(off, 1300), off + 1300 >= text.size());
    return s;
  });

  // Group M: client frames must be masked (RFC 6455 5.1).
  add("M.1", [] { return script{}.frame(spec(ws_op::text, teleport, true, 0, false)); });
  add("M.2", [] { return script{}.frame(spec(ws_op::ping, "unmasked", true, 0, false)); });
  add("M.3", [] { return script{}.frame(spec(ws_op::close, close_payload(1000), true, 0, false)); });
  add("M.4", [=] { return script{}.frame(ws_op::text, part1 + "x", false).frame(spec(ws_op::cont, "\"}", true, 0, false)); });

  // Group X: length encodings (RFC 6455 5.2: the minimal form, top bit 0).
  add("X.1", [] {
    frame_spec f = spec(ws_op::text, json_of_length(100));
    auto b = make_frame(f);
    // Re-encode the 7-bit length 100 in the 16-bit form.
    std::string out;
    out += b[0];
    out += static_cast<char>(0x80 | 126);
    out += '\0';
    out += static_cast<char>(100);
    out += b.substr(2);
    return script{}.raw(out);
  });
  add("X.2", [] {
    frame_spec f = spec(ws_op::text, json_of_length(200));
    auto b = make_frame(f); // 16-bit form: 2 + 2 header bytes
    std::string out;
    out += b[0];
    out += static_cast<char>(0x80 | 127);
    out += std::string(7, '\0');
    out += static_cast<char>(200);
    out += b.substr(4);
    return script{}.raw(out);
  });
  add("X.3", [] {
    frame_spec f = spec(ws_op::text, "");
    f.length = (std::uint64_t{1} << 63) + 10;
    script s;
    s.frame(f);
    s.probe = false;
    return s;
  });

  // Group H: the opening handshake.
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  add_handshake("H.1", [=](std::uint16_t port) { return run_handshake(port, raw_ws::upgrade_request(port), key); });
  add_handshake("H.2", [](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {{"Sec-WebSocket-Version", "8"}}));
  });
  add_handshake("H.3", [](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {{"Sec-WebSocket-Key", ""}}));
  });
  add_handshake("H.4", [](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {{"Sec-WebSocket-Version", ""}}));
  });
  add_handshake("H.5", [](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {{"Sec-WebSocket-Key", std::string(40, 'A')}}));
  });
  add_handshake("H.6", [=](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {{"Sec-WebSocket-Protocol", "chat, superchat"}}), key);
  });
  add_handshake("H.7", [=](std::uint16_t port) {
    return run_handshake(
      port, raw_ws::upgrade_request(port, {{"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"}}),
      key);
  });
  add_handshake("H.8", [](std::uint16_t port) { return run_handshake(port, raw_ws::upgrade_request(port, {}, "POST")); });
  add_handshake("H.9", [](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {}, "GET", "HTTP/1.0"));
  });
  add_handshake("H.10", [](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {{"Connection", "keep-alive"}}));
  });
  add_handshake("H.11", [](std::uint16_t port) {
    return run_handshake(port, raw_ws::upgrade_request(port, {{"Origin", "https://evil.example"}}));
  });
  // A client that does not wait for 101 before its first frame (RFC 6455 4.1 says it must).
  add_handshake("H.12", [](std::uint16_t port) {
    raw_ws c{port};
    auto h = c.handshake(raw_ws::upgrade_request(port) + make_frame(ws_op::text, teleport));
    if (h.status != 101)
      return "http " + std::to_string(h.status);
    server_frame f;
    auto ev = c.next(f, 1s);
    if (ev == raw_ws::event::frame && f.opcode == ws_op::text)
      return "http 101, " + render_text(f.payload);
    if (ev == raw_ws::event::frame && f.opcode == ws_op::close)
      return "http 101, close " + std::to_string(f.close_code());
    return std::string("http 101, ") + (ev == raw_ws::event::timeout ? "silent" : "eof");
  });
}

// A node for the harness: defaults, except a rate limit that cannot interfere
// and no demo client (so plain HTTP to / is a 404).
env_map node_env() {
  return {{"RATE_LIMIT_PER_SEC", "1000000"}, {"RATE_LIMIT_BURST", "1000000"}, {"WEB_DIR", ""}};
}

void run_group(const std::string& prefix) {
  define_cases();
  single_node net{node_env()};
  const auto& table = expected();
  REQUIRE_MESSAGE(!table.empty(), "tests/conformance/expected.md not found or empty");
  int ran = 0;
  for (auto& [id, fn] : cases()) {
    if (id.rfind(prefix, 0) != 0)
      continue;
    ++ran;
    auto row = table.find(id);
    std::string trace;
    try {
      trace = fn(net.host_port());
    } catch (const std::exception& e) {
      trace = std::string("exception: ") + e.what();
    }
    if (row == table.end()) {
      FAIL_CHECK("case " << id << " has no row in expected.md (it did: " << trace << ")");
      continue;
    }
    CHECK_MESSAGE(trace == row->second.ours, "case " << id << ": expected `" << row->second.ours << "`, got `"
                                                     << trace << "`");
    if (!strict_allows(row->second.strict, row->second.ours))
      CHECK_MESSAGE(!row->second.why.empty(), "case " << id << " differs from strict RFC behaviour without a reason");
  }
  CHECK(ran > 0);
}

} // namespace

TEST_CASE("conformance 1: text and binary frames of every length encoding") { run_group("1."); }
TEST_CASE("conformance 2: pings are answered with identical pongs, unsolicited pongs ignored") { run_group("2."); }
TEST_CASE("conformance 3: frames with reserved bits set fail the connection") { run_group("3."); }
TEST_CASE("conformance 4: reserved opcodes fail the connection") { run_group("4."); }
TEST_CASE("conformance 5: fragmented messages, control frames between fragments") { run_group("5."); }
TEST_CASE("conformance 6: UTF-8 is validated, and invalid text fails fast with 1007") { run_group("6."); }
TEST_CASE("conformance 7: the close handshake echoes valid codes and refuses invalid ones") { run_group("7."); }
TEST_CASE("conformance 10: a message at the size limit in 1300-byte fragments") { run_group("10."); }
TEST_CASE("conformance M: unmasked client frames fail the connection") { run_group("M."); }
TEST_CASE("conformance X: non-minimal and oversized length encodings") { run_group("X."); }
TEST_CASE("conformance H: the opening handshake") { run_group("H."); }

TEST_CASE("every row of expected.md is a case the harness runs") {
  define_cases();
  std::set<std::string> ids;
  for (auto& c : cases())
    ids.insert(c.first);
  for (auto& [id, row] : expected())
    CHECK_MESSAGE(ids.count(id), "expected.md row " << id << " is not a case");
}
