#include "bench/wire.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace bench::wire {

namespace {

// RFC 6455 section 1.3's own example: this key must be answered with that value.
constexpr std::string_view fixed_key = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view fixed_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Header plus payload length of the frame at p, once its header is there:
// 0 while the header is incomplete; `too_big` when the payload exceeds max.
std::size_t frame_size(const unsigned char* p, std::size_t n, std::size_t max, bool& too_big) {
  if (n < 2)
    return 0;
  std::uint64_t len = p[1] & 0x7F;
  std::size_t header = 2;
  if (len == 126) {
    if (n < 4)
      return 0;
    len = (std::uint64_t{p[2]} << 8) | p[3];
    header = 4;
  } else if (len == 127) {
    if (n < 10)
      return 0;
    len = 0;
    for (int i = 2; i < 10; ++i)
      len = (len << 8) | p[i];
    header = 10;
  }
  if (p[1] & 0x80)
    header += 4; // a mask (refused later, but sized right)
  if (len > max) {
    too_big = true;
    return 0;
  }
  return header + static_cast<std::size_t>(len);
}

} // namespace

std::string upgrade_request(std::string_view host_port, std::string_view target) {
  std::string r;
  r.reserve(160 + host_port.size() + target.size());
  r.append("GET ").append(target).append(" HTTP/1.1\r\nHost: ").append(host_port);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(fixed_key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

upgrade_answer parse_upgrade_answer(std::string_view received) {
  upgrade_answer a;
  auto end = received.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (received.size() > 16 * 1024)
      a.result = upgrade_answer::state::malformed;
    return a;
  }
  a.header_bytes = end + 4;
  auto head = received.substr(0, end);
  auto eol = head.find("\r\n");
  auto status_line = head.substr(0, eol);
  // "HTTP/1.1 101 Switching Protocols"
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[11]))) {
    a.result = upgrade_answer::state::malformed;
    return a;
  }
  a.status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  if (a.status != 101) {
    a.result = upgrade_answer::state::declined;
    return a;
  }
  bool upgrade = false, accept = false;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    auto line = head.substr(0, eol);
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto name = trim(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (iequal(name, "Upgrade"))
      upgrade = iequal(value, "websocket");
    else if (iequal(name, "Sec-WebSocket-Accept"))
      accept = value == fixed_accept;
  }
  a.result = upgrade && accept ? upgrade_answer::state::accepted : upgrade_answer::state::declined;
  return a;
}

void append_frame(std::string& out, opcode op, std::string_view payload, std::uint32_t mask) {
  auto at = out.size();
  std::size_t n = payload.size();
  std::size_t header = n < 126 ? 6 : n < 65536 ? 8 : 14;
  out.resize(at + header + n);
  auto* h = reinterpret_cast<unsigned char*>(&out[at]);
  h[0] = static_cast<unsigned char>(0x80 | static_cast<unsigned>(op));
  std::size_t k = 2;
  if (n < 126) {
    h[1] = static_cast<unsigned char>(0x80 | n);
  } else if (n < 65536) {
    h[1] = 0x80 | 126;
    h[2] = static_cast<unsigned char>(n >> 8);
    h[3] = static_cast<unsigned char>(n);
    k = 4;
  } else {
    h[1] = 0x80 | 127;
    for (int i = 0; i < 8; ++i)
      h[2 + i] = static_cast<unsigned char>(static_cast<std::uint64_t>(n) >> (56 - 8 * i));
    k = 10;
  }
  unsigned char key[4] = {static_cast<unsigned char>(mask >> 24), static_cast<unsigned char>(mask >> 16),
                          static_cast<unsigned char>(mask >> 8), static_cast<unsigned char>(mask)};
  std::memcpy(h + k, key, 4);
  auto* dst = h + k + 4;
  const auto* src = reinterpret_cast<const unsigned char*>(payload.data());
  // Eight bytes at a time with the key repeated, then the tail.
  std::uint64_t key8;
  unsigned char rep[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  std::memcpy(&key8, rep, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= key8;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i)
    dst[i] = src[i] ^ key[i & 3];
}

const char* fault_text(fault f) {
  switch (f) {
    case fault::none: return "none";
    case fault::masked_frame: return "the server sent a masked frame";
    case fault::reserved_bits: return "reserved bits set";
    case fault::bad_opcode: return "unknown opcode";
    case fault::bad_control: return "fragmented or oversized control frame";
    case fault::unexpected_continuation: return "fragments out of order";
    case fault::too_big: return "message too big";
  }
  return "?";
}

fault frame_reader::feed(const char* data, std::size_t n, sink& s) {
  bool stopped = false;
  if (!partial_.empty()) {
    // Complete the frame the last read cut, from the front of this one.
    bool too_big = false;
    std::size_t want = 0;
    for (;;) {
      want = frame_size(reinterpret_cast<const unsigned char*>(partial_.data()), partial_.size(), max_message_, too_big);
      if (too_big)
        return fault::too_big;
      if (want != 0 || n == 0)
        break;
      partial_.push_back(*data++); // still in the header: a byte at a time (at most 13)
      --n;
    }
    if (want == 0)
      return fault::none; // the header is still incomplete
    if (partial_.size() + n < want) {
      partial_.append(data, n);
      return fault::none;
    }
    auto take = want - partial_.size();
    partial_.append(data, take);
    data += take;
    n -= take;
    std::size_t used = 0;
    auto f = frames(partial_.data(), partial_.size(), used, s, stopped);
    partial_.clear();
    if (f != fault::none || stopped)
      return f;
  }
  std::size_t used = 0;
  auto f = frames(data, n, used, s, stopped);
  if (f == fault::none && !stopped && used < n)
    partial_.assign(data + used, n - used);
  return f;
}

fault frame_reader::frames(const char* data, std::size_t n, std::size_t& used, sink& s, bool& stopped) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  used = 0;
  while (used < n) {
    bool too_big = false;
    auto size = frame_size(p + used, n - used, max_message_, too_big);
    if (too_big)
      return fault::too_big;
    if (size == 0 || size > n - used)
      return fault::none; // cut: the caller keeps the rest
    const auto* h = p + used;
    if (h[1] & 0x80)
      return fault::masked_frame;
    if (h[0] & 0x70)
      return fault::reserved_bits;
    bool fin = (h[0] & 0x80) != 0;
    auto op = static_cast<opcode>(h[0] & 0x0F);
    std::size_t len7 = h[1] & 0x7F;
    std::size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
    std::string_view payload(data + used + header, size - header);
    used += size;
    bool go = true;
    switch (op) {
      case opcode::text:
      case opcode::binary:
        if (in_message_)
          return fault::unexpected_continuation;
        if (fin) {
          go = s.on_text(payload);
        } else {
          message_.assign(payload.data(), payload.size());
          in_message_ = true;
        }
        break;
      case opcode::continuation:
        if (!in_message_)
          return fault::unexpected_continuation;
        if (message_.size() + payload.size() > max_message_)
          return fault::too_big;
        message_.append(payload.data(), payload.size());
        if (fin) {
          in_message_ = false;
          go = s.on_text(message_);
          message_.clear();
        }
        break;
      case opcode::close:
      case opcode::ping:
      case opcode::pong:
        if (!fin || payload.size() > 125)
          return fault::bad_control;
        if (op == opcode::ping)
          go = s.on_ping(payload);
        else if (op == opcode::pong)
          go = s.on_pong();
        else
          go = s.on_close(payload.size() >= 2 ? static_cast<std::uint16_t>(
                                                    (static_cast<unsigned char>(payload[0]) << 8) |
                                                    static_cast<unsigned char>(payload[1]))
                                              : 1005);
        break;
      default: return fault::bad_opcode;
    }
    if (!go) {
      stopped = true;
      return fault::none;
    }
  }
  return fault::none;
}

} // namespace bench::wire
