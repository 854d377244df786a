#include "bench/frame.hpp"

namespace bench {

namespace {

// A browser offer is a few hundred bytes of lines like these (JSON-escaped CRLF).
constexpr std::string_view sdp_lines =
  R"(v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n)"
  R"(a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n)"
  R"(c=IN IP4 0.0.0.0\r\na=ice-ufrag:Xk3v\r\na=ice-pwd:Q1m8F0pRzN4tYV2hbqW7sL9c\r\na=ice-options:trickle\r\n)"
  R"(a=fingerprint:sha-256 4C:2B:9E:11:7A:60:D3:5F:08:C4:93:EE:21:BA:7D:46:19:F2:AC:35:8E:60:D1:0B:47:C9:2E:73:B8:15:A4:F6\r\n)"
  R"(a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n)";

void put_digits(char* at, std::size_t width, std::uint64_t v) {
  for (std::size_t i = width; i-- > 0;) {
    at[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

bool get_digits(std::string_view s, std::size_t at, std::size_t width, std::uint64_t& out) {
  if (at + width > s.size())
    return false;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    char c = s[at + i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

} // namespace

frame_template make_frame(const std::string& room_id, char kind, std::size_t size) {
  frame_template f;
  f.text = R"({"type":"signal","roomId":")" + room_id + R"(",)";
  f.text += bench_key;
  f.field = f.text.size();
  f.text += std::string(bench_field_len, '0');
  f.text[f.field] = kind;
  for (std::size_t p : {std::size_t{1}, 2 + pair_digits, 3 + pair_digits + seq_digits,
                        4 + pair_digits + seq_digits + time_digits})
    f.text[f.field + p] = ' ';
  f.text += R"(","sdp":{"type":")";
  f.text += kind == 'o' ? "offer" : "answer";
  f.text += R"(","sdp":")";
  const std::string tail = R"("}})";
  std::size_t room = size > f.text.size() + tail.size() ? size - f.text.size() - tail.size() : 0;
  std::string pad;
  while (pad.size() < room)
    pad += sdp_lines;
  pad.resize(room);
  // Never end inside an escape: a lone backslash would make invalid JSON.
  std::size_t slashes = 0;
  for (auto i = pad.size(); i-- > 0 && pad[i] == '\\';)
    ++slashes;
  if (slashes % 2 == 1)
    pad.back() = 'x';
  f.text += pad;
  f.text += tail;
  return f;
}

void fill(frame_template& f, std::uint64_t pair, std::uint64_t seq, std::uint64_t t, std::uint64_t u) {
  char* b = f.text.data() + f.field;
  put_digits(b + 2, pair_digits, pair);
  put_digits(b + 3 + pair_digits, seq_digits, seq);
  put_digits(b + 4 + pair_digits + seq_digits, time_digits, t);
  put_digits(b + 5 + pair_digits + seq_digits + time_digits, time_digits, u);
}

bool parse_bench(std::string_view text, bench_fields& out) {
  auto at = text.find(bench_key);
  if (at == std::string_view::npos)
    return false;
  at += bench_key.size();
  if (at + bench_field_len > text.size())
    return false;
  out.kind = text[at];
  return get_digits(text, at + 2, pair_digits, out.pair) &&
         get_digits(text, at + 3 + pair_digits, seq_digits, out.seq) &&
         get_digits(text, at + 4 + pair_digits + seq_digits, time_digits, out.t) &&
         get_digits(text, at + 5 + pair_digits + seq_digits + time_digits, time_digits, out.u);
}

} // namespace bench
