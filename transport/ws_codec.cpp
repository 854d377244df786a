#include "transport/ws_codec.hpp"

#include <algorithm>

namespace signaling::transport::ws {

std::uint16_t close_code_of(failure f) {
  switch (f) {
    case failure::protocol_error: return 1002;
    case failure::invalid_utf8: return 1007;
    case failure::too_big: return 1009;
    case failure::none: break;
  }
  return 1000;
}

bool valid_close_code(std::uint16_t code) {
  if (code >= 1000 && code <= 1003)
    return true;
  if (code >= 1007 && code <= 1013)
    return true;
  return code >= 3000;
}

// -- UTF-8 ---------------------------------------------------------------------

namespace {

// What the next byte must be, after a lead byte (RFC 3629 table 3-7).
enum : std::uint8_t {
  at_boundary = 0,
  need_1 = 1,       // one 80..BF
  need_2 = 2,       // two 80..BF
  need_3 = 3,       // three 80..BF
  after_e0 = 4,     // A0..BF, then one more (no overlong 3-byte forms)
  after_ed = 5,     // 80..9F, then one more (no surrogates)
  after_f0 = 6,     // 90..BF, then two more (no overlong 4-byte forms)
  after_f4 = 7,     // 80..8F, then two more (nothing past U+10FFFF)
  invalid = 0xff,
};

bool continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

} // namespace

bool utf8_validator::write(const unsigned char* p, std::size_t n) {
  std::uint8_t s = state_;
  std::size_t i = 0;
  while (i < n) {
    if (s == at_boundary) {
      // JSON and SDP are ASCII: eight bytes at a time while they are.
      while (i + 8 <= n) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull)
          break;
        i += 8;
      }
      if (i == n)
        break;
      unsigned char b = p[i++];
      if (b < 0x80)
        continue;
      if (b < 0xC2)
        s = invalid; // a continuation byte, or an overlong 2-byte form
      else if (b < 0xE0)
        s = need_1;
      else if (b == 0xE0)
        s = after_e0;
      else if (b == 0xED)
        s = after_ed;
      else if (b < 0xF0)
        s = need_2;
      else if (b == 0xF0)
        s = after_f0;
      else if (b < 0xF4)
        s = need_3;
      else if (b == 0xF4)
        s = after_f4;
      else
        s = invalid;
    } else {
      unsigned char b = p[i++];
      switch (s) {
        case need_1: s = continuation(b) ? at_boundary : invalid; break;
        case need_2: s = continuation(b) ? need_1 : invalid; break;
        case need_3: s = continuation(b) ? need_2 : invalid; break;
        case after_e0: s = (b >= 0xA0 && b <= 0xBF) ? need_1 : invalid; break;
        case after_ed: s = (b >= 0x80 && b <= 0x9F) ? need_1 : invalid; break;
        case after_f0: s = (b >= 0x90 && b <= 0xBF) ? need_2 : invalid; break;
        case after_f4: s = (b >= 0x80 && b <= 0x8F) ? need_2 : invalid; break;
        default: s = invalid; break;
      }
    }
    if (s == invalid) {
      state_ = invalid;
      return false;
    }
  }
  state_ = s;
  return true;
}

bool valid_utf8(std::string_view text) {
  utf8_validator v;
  return v.write(reinterpret_cast<const unsigned char*>(text.data()), text.size()) && v.finished();
}

// -- writing -----------------------------------------------------------------------

std::size_t write_header(char* out, opcode op, std::uint64_t payload) {
  out[0] = static_cast<char>(0x80 | static_cast<unsigned>(op));
  if (payload < 126) {
    out[1] = static_cast<char>(payload);
    return 2;
  }
  if (payload < 65536) {
    out[1] = 126;
    out[2] = static_cast<char>(payload >> 8);
    out[3] = static_cast<char>(payload);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i)
    out[2 + i] = static_cast<char>(payload >> (56 - 8 * i));
  return 10;
}

std::string control_frame(opcode op, std::string_view payload) {
  payload = payload.substr(0, 125);
  std::string out(2 + payload.size(), '\0');
  write_header(out.data(), op, payload.size());
  if (!payload.empty()) // an empty view may hold a null pointer, which memcpy must not get
    std::memcpy(out.data() + 2, payload.data(), payload.size());
  return out;
}

std::string close_frame(std::uint16_t code, std::string_view reason) {
  if (code == 0)
    return control_frame(opcode::close, {});
  // 125 bytes of payload: the code and 123 of reason, never half a character.
  if (reason.size() > 123) {
    std::size_t cut = 123;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80)
      --cut;
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.reserve(2 + reason.size());
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xff);
  payload.append(reason);
  return control_frame(opcode::close, payload);
}

// -- reading -----------------------------------------------------------------------

std::size_t frame_reader::header_size(const unsigned char* p) {
  std::size_t len7 = p[1] & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((p[1] & 0x80) ? 4 : 0);
}

// The checks run in Beast's order (stream_impl.hpp, parse_fh), so a frame with
// several faults gets the same close code as before: opcode and reserved bits,
// control frame rules, the mask, then the length's encoding, then the limit.
frame_reader::step frame_reader::parse_header(const unsigned char* p, std::size_t n, std::size_t max_message,
                                              header& h, failure& why) const {
  if (n < 2)
    return step::more;
  auto size = header_size(p);
  if (n < size)
    return step::more;
  why = failure::protocol_error;
  unsigned op = p[0] & 0x0f;
  bool fin = (p[0] & 0x80) != 0;
  bool rsv = (p[0] & 0x70) != 0;
  std::uint64_t len = p[1] & 0x7f;
  bool in_message = (flags_ & f_in_message) != 0;
  switch (op) {
    case 0x1:
    case 0x2:
      if (in_message || rsv) // a new message inside another; no extension uses the bits
        return step::bad;
      break;
    case 0x0:
      if (!in_message || rsv)
        return step::bad;
      break;
    case 0x8:
    case 0x9:
    case 0xA:
      if (!fin || len > 125 || rsv)
        return step::bad;
      break;
    default: return step::bad; // reserved opcodes
  }
  if (!(p[1] & 0x80))
    return step::bad; // a client's frames are masked (RFC 6455 5.1)
  std::size_t at = 2;
  if (len == 126) {
    len = (std::uint64_t{p[2]} << 8) | p[3];
    if (len < 126)
      return step::bad; // not the shortest form
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i)
      len = (len << 8) | p[2 + i];
    if (len < 65536)
      return step::bad;
    at = 10;
  }
  std::memcpy(&h.key, p + at, 4);
  if (!(op & 8)) {
    std::uint64_t before = op == 0 ? message_bytes_ : 0;
    // Known from the header alone: refused before one byte of payload is read.
    if (len > UINT64_MAX - before || (max_message != 0 && before + len > max_message)) {
      why = failure::too_big;
      return step::bad;
    }
  }
  why = failure::none;
  h.length = len;
  h.size = static_cast<std::uint8_t>(size);
  h.op = static_cast<opcode>(op);
  h.fin = fin;
  return step::ok;
}

void frame_reader::begin_frame(const header& h) {
  key_ = h.key;
  payload_left_ = h.length;
  if (h.op != opcode::cont) {
    flags_ = static_cast<std::uint8_t>((flags_ & ~f_binary) | f_in_message | (h.op == opcode::binary ? f_binary : 0));
    message_bytes_ = 0;
    utf8_.reset();
  }
  message_bytes_ += h.length;
  flags_ = static_cast<std::uint8_t>(h.fin ? (flags_ | f_final) : (flags_ & ~f_final));
}

void frame_reader::unmask(char* p, std::size_t n) {
  unsigned char k[4];
  std::memcpy(k, &key_, 4);
  unsigned char k8[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
  std::uint64_t wide;
  std::memcpy(&wide, k8, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= wide;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i)
    p[i] = static_cast<char>(p[i] ^ k[i & 3]);
  // The next byte of this frame's payload continues where these stopped.
  unsigned char next[4] = {k[n & 3], k[(n + 1) & 3], k[(n + 2) & 3], k[(n + 3) & 3]};
  std::memcpy(&key_, next, 4);
}

std::size_t frame_reader::held_bytes() const {
  if (!spill_)
    return 0;
  return spill_->unit.capacity() + spill_->message.capacity() + spill_->stash.capacity();
}

void frame_reader::stash(const char* p, std::size_t n) {
  if (n > 0)
    spilled().stash.append(p, n);
}

std::string frame_reader::take_stash() {
  if (!spill_)
    return {};
  std::string out = std::move(spill_->stash);
  spill_->stash.clear();
  release_spill();
  return out;
}

} // namespace signaling::transport::ws
