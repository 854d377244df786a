#include "actors/protocol.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace signaling::protocol {

namespace {

struct code_text {
  error_code code;
  std::string_view name;
  std::string_view message;
};

constexpr std::array<code_text, 11> codes{{
  {error_code::bad_json, "bad-json", "Invalid message format"},
  {error_code::bad_message, "bad-message", "Invalid message"},
  {error_code::too_deep, "too-deep", "Message nested too deeply"},
  {error_code::unknown_type, "unknown-type", "Unknown message type"},
  {error_code::room_unavailable, "room-unavailable", "Room not found or full"},
  {error_code::not_a_member, "not-a-member", "Not a member of this room"},
  {error_code::no_peer, "no-peer", "No peer in the room yet"},
  {error_code::busy, "busy", "Previous create-room or join-room still in progress"},
  {error_code::rate_limited, "rate-limited", "Too many messages; message dropped"},
  {error_code::unavailable, "unavailable", "Service temporarily unavailable; retry"},
  {error_code::forbidden, "forbidden", "Not allowed by your access token"},
}};

// One pass over the bytes of a frame: validates the whole document as JSON
// (RFC 8259: grammar, string escapes and surrogates, UTF-8, no control
// characters, nesting no deeper than the limit) and keeps the top-level
// "type", "roomId" and "resumeToken" strings. No DOM, no allocation except
// those strings: a 4 KB SDP costs one scan.
class frame_scanner {
public:
  frame_scanner(std::string_view text, std::size_t max_depth)
    : p_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

  // False with error_/detail_ set when the frame is refused.
  bool scan() {
    ws();
    if (p_ == end_)
      return fail(error_code::bad_json, {});
    bool is_object = *p_ == '{';
    if (!value(0))
      return false;
    ws();
    if (p_ != end_)
      return fail(error_code::bad_json, {});
    if (!is_object)
      return fail(error_code::bad_message, "message must be a JSON object");
    if (!wrong_field_.empty())
      return fail(error_code::bad_message, wrong_field_);
    return true;
  }

  error_code error_ = error_code::bad_json;
  std::string detail_;
  std::string type_;
  std::string room_id_;
  std::string resume_token_;
  bool seen_type_ = false;
  bool seen_room_id_ = false;
  bool seen_resume_token_ = false;

private:
  enum class field { other, type, room_id, resume_token };

  bool fail(error_code c, std::string why) {
    // The first failure wins: a deeper syntax error must not relabel it.
    if (!failed_) {
      failed_ = true;
      error_ = c;
      detail_ = std::move(why);
    }
    return false;
  }
  bool syntax() { return fail(error_code::bad_json, {}); }

  // A field the protocol cannot use (duplicate, wrong type) is reported only
  // once the whole frame has proven to be JSON: invalid JSON is always bad-json.
  void wrong_field(std::string why) {
    if (wrong_field_.empty())
      wrong_field_ = std::move(why);
  }

  void ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  bool value(std::size_t depth) {
    if (p_ == end_)
      return syntax();
    switch (*p_) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return string(nullptr);
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool enter(std::size_t depth) {
    if (depth > max_depth_)
      return fail(error_code::too_deep, "nesting deeper than " + std::to_string(max_depth_));
    ++p_;
    ws();
    return true;
  }

  bool object(std::size_t depth) {
    if (!enter(depth))
      return false;
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      if (p_ == end_ || *p_ != '"')
        return syntax();
      std::string key;
      if (!string(depth == 1 ? &key : nullptr))
        return false;
      ws();
      if (p_ == end_ || *p_ != ':')
        return syntax();
      ++p_;
      ws();
      field f = field::other;
      if (depth == 1 && key == "type") {
        if (seen_type_)
          wrong_field("duplicate \"type\"");
        seen_type_ = true;
        f = field::type;
      } else if (depth == 1 && key == "roomId") {
        if (seen_room_id_)
          wrong_field("duplicate \"roomId\"");
        seen_room_id_ = true;
        f = field::room_id;
      } else if (depth == 1 && key == "resumeToken") {
        if (seen_resume_token_)
          wrong_field("duplicate \"resumeToken\"");
        seen_resume_token_ = true;
        f = field::resume_token;
      }
      if (f == field::other) {
        if (!value(depth))
          return false;
      } else {
        if (p_ == end_)
          return syntax();
        if (*p_ != '"') {
          auto name = f == field::type ? "type" : f == field::room_id ? "roomId" : "resumeToken";
          wrong_field(std::string("\"") + name + "\" must be a string");
          if (!value(depth))
            return false;
        } else {
          auto& target = f == field::type ? type_ : f == field::room_id ? room_id_ : resume_token_;
          target.clear(); // a duplicate overwrote nothing: it is refused anyway
          if (!string(&target))
            return false;
        }
      }
      bool closed = false;
      if (!after_element('}', closed))
        return false;
      if (closed)
        return true;
    }
  }

  // After a member or element: a comma (more follows) or the closing bracket.
  bool after_element(char close, bool& closed) {
    ws();
    if (p_ != end_ && (*p_ == ',' || *p_ == close)) {
      closed = *p_ == close;
      ++p_;
      ws();
      return true;
    }
    return syntax();
  }

  bool array(std::size_t depth) {
    if (!enter(depth))
      return false;
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      if (!value(depth))
        return false;
      bool closed = false;
      if (!after_element(']', closed))
        return false;
      if (closed)
        return true;
    }
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return syntax();
    p_ += word.size();
    return true;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number() {
    if (p_ != end_ && *p_ == '-')
      ++p_;
    if (p_ == end_)
      return syntax();
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && digit(*p_))
        ++p_;
    } else {
      return syntax();
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !digit(*p_))
        return syntax();
      while (p_ != end_ && digit(*p_))
        ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (p_ == end_ || !digit(*p_))
        return syntax();
      while (p_ != end_ && digit(*p_))
        ++p_;
    }
    return true;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  bool hex4(unsigned& out) {
    if (end_ - p_ < 4)
      return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex(p_[i]);
      if (h < 0)
        return false;
      out = out * 16 + static_cast<unsigned>(h);
    }
    p_ += 4;
    return true;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Skips plain characters (ASCII, not a quote, a backslash or a control
  // character) sixteen or eight at a time, the bulk of any SDP, and leaves p_
  // at the first one that needs the careful loop below (or near the end).
  void skip_plain(std::string* out) {
    constexpr std::uint64_t ones = 0x0101010101010101ull;
    constexpr std::uint64_t highs = 0x8080808080808080ull;
    auto any_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
    const char* from = p_;
    // A value nobody keeps: its one-letter escapes (the \r\n of every SDP
    // line) need no decoding, only checking.
    auto escape_skipped = [&] {
      if (out || *p_ != '\\' || end_ - p_ < 2 || !simple_escape(p_[1]))
        return false;
      p_ += 2;
      return true;
    };
    auto done = [&] {
      if (out && p_ != from)
        out->append(from, static_cast<std::size_t>(p_ - from));
    };
#if defined(__SSE2__)
    // 16 bytes at a time: a signed compare with 0x20 flags both the control
    // characters and every byte of a multi-byte UTF-8 sequence (0x80-0xFF are
    // negative), the two equalities the quote and the backslash.
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (end_ - p_ >= 16) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_));
      __m128i flagged = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                     _mm_cmplt_epi8(v, space));
      if (auto stop = static_cast<unsigned>(_mm_movemask_epi8(flagged))) {
        p_ += __builtin_ctz(stop);
        if (escape_skipped())
          continue;
        return done();
      }
      p_ += 16;
    }
#endif
    while (end_ - p_ >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p_, 8);
      std::uint64_t below_space = (w - ones * 0x20) & ~w & highs; // exact for bytes under 0x80
      auto stop = (w & highs) | below_space | any_zero(w ^ (ones * '"')) | any_zero(w ^ (ones * '\\'));
      if (stop) {
        // The lowest flagged byte is a true one (the tricks above can only
        // flag bytes above a true one), and the bytes before it are plain.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        p_ += __builtin_ctzll(stop) / 8;
        if (escape_skipped())
          continue;
#endif
        break;
      }
      p_ += 8;
    }
    done();
  }

  static bool simple_escape(char e) {
    switch (e) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't': return true;
      default: return false;
    }
  }

  // Length of one well-formed UTF-8 sequence at p_ (RFC 3629: no overlongs,
  // no surrogates, nothing above U+10FFFF), or 0.
  std::size_t utf8_length() const {
    auto b = [&](std::ptrdiff_t i) { return static_cast<unsigned char>(p_[i]); };
    auto avail = end_ - p_;
    unsigned c = b(0);
    auto cont = [&](std::ptrdiff_t i) { return i < avail && (b(i) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF)
      return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2))
        return 0;
      if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))
        return 0;
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3))
        return 0;
      if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))
        return 0;
      return 4;
    }
    return 0;
  }

  // A string at p_ (the opening quote); its decoded value goes to `out` if given.
  bool string(std::string* out) {
    ++p_;
    for (;;) {
      skip_plain(out);
      if (p_ == end_)
        return syntax();
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20)
        return syntax();
      if (c == '\\') {
        ++p_;
        if (p_ == end_)
          return syntax();
        char e = *p_++;
        char plain = 0;
        switch (e) {
          case '"': plain = '"'; break;
          case '\\': plain = '\\'; break;
          case '/': plain = '/'; break;
          case 'b': plain = '\b'; break;
          case 'f': plain = '\f'; break;
          case 'n': plain = '\n'; break;
          case 'r': plain = '\r'; break;
          case 't': plain = '\t'; break;
          case 'u': {
            unsigned cp = 0;
            if (!hex4(cp))
              return syntax();
            if (cp >= 0xDC00 && cp <= 0xDFFF)
              return syntax(); // a low surrogate alone
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              unsigned low = 0;
              if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
                return syntax();
              p_ += 2;
              if (!hex4(low) || low < 0xDC00 || low > 0xDFFF)
                return syntax();
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            if (out)
              append_utf8(*out, cp);
            continue;
          }
          default: return syntax();
        }
        if (out)
          *out += plain;
        continue;
      }
      if (c < 0x80) {
        if (out)
          *out += static_cast<char>(c);
        ++p_;
        continue;
      }
      auto n = utf8_length();
      if (n == 0)
        return syntax();
      if (out)
        out->append(p_, n);
      p_ += n;
    }
  }

  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  bool failed_ = false;
  std::string wrong_field_;
};

bool type_from_name(std::string_view name, msg_type& out) {
  static constexpr std::array<std::pair<std::string_view, msg_type>, 6> names{{
    {"create-room", msg_type::create_room},
    {"join-room", msg_type::join_room},
    {"leave-room", msg_type::leave_room},
    {"signal", msg_type::signal},
    {"chat-message", msg_type::chat_message},
    {"resume", msg_type::resume},
  }};
  for (const auto& [n, t] : names)
    if (n == name) {
      out = t;
      return true;
    }
  return false;
}

// Minimal JSON string escaping for the few texts the server writes itself.
void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xf];
          out += hex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string typed_with_room(std::string_view type, std::string_view room_id) {
  std::string out = R"({"type":)";
  append_quoted(out, type);
  out += R"(,"roomId":)";
  append_quoted(out, room_id);
  out += '}';
  return out;
}

} // namespace

std::string_view code_name(error_code c) {
  return codes[static_cast<std::size_t>(c)].name;
}

std::string_view message_of(error_code c) {
  return codes[static_cast<std::size_t>(c)].message;
}

bool code_from_name(std::string_view name, error_code& out) {
  for (const auto& ct : codes)
    if (ct.name == name) {
      out = ct.code;
      return true;
    }
  return false;
}

parse_result parse(std::string_view frame, std::size_t max_depth) {
  parse_result res;
  frame_scanner scan{frame, max_depth};
  if (!scan.scan()) {
    res.error = scan.error_;
    res.detail = scan.detail_;
    return res;
  }
  if (!scan.seen_type_) {
    res.error = error_code::bad_message;
    res.detail = "missing \"type\"";
    return res;
  }
  if (!type_from_name(scan.type_, res.cmd.type)) {
    res.error = error_code::unknown_type;
    return res;
  }
  bool needs_room = res.cmd.type != msg_type::create_room;
  if (needs_room && !scan.seen_room_id_) {
    res.error = error_code::bad_message;
    res.detail = "missing \"roomId\"";
    return res;
  }
  if (res.cmd.type == msg_type::resume && !scan.seen_resume_token_) {
    res.error = error_code::bad_message;
    res.detail = "missing \"resumeToken\"";
    return res;
  }
  res.cmd.room_id = std::move(scan.room_id_);
  res.cmd.resume_token = std::move(scan.resume_token_);
  res.ok = true;
  return res;
}

namespace {

// {"type":..,"roomId":..,"resumeToken":..}: the token only when there is one.
std::string with_token(std::string_view type, std::string_view room_id, std::string_view token) {
  auto out = typed_with_room(type, room_id);
  if (token.empty())
    return out;
  out.pop_back();
  out += R"(,"resumeToken":)";
  append_quoted(out, token);
  out += '}';
  return out;
}

} // namespace

std::string room_created(std::string_view room_id, std::string_view resume_token) {
  return with_token("room-created", room_id, resume_token);
}

std::string peer_joined(std::string_view room_id, std::string_view resume_token) {
  return with_token("peer-joined", room_id, resume_token);
}

std::string peer_disconnected(std::string_view room_id) {
  return typed_with_room("peer-disconnected", room_id);
}

std::string peer_resumed(std::string_view room_id) {
  return typed_with_room("peer-resumed", room_id);
}

std::string resumed(std::string_view room_id, std::string_view role, std::string_view resume_token,
                    std::uint64_t pending, std::uint64_t dropped, bool peer_connected, std::int64_t acked) {
  auto out = with_token("resumed", room_id, resume_token);
  out.pop_back();
  out += R"(,"role":)";
  append_quoted(out, role);
  out += R"(,"pending":)" + std::to_string(pending);
  out += R"(,"dropped":)" + std::to_string(dropped);
  out += R"(,"peerConnected":)";
  out += peer_connected ? "true" : "false";
  if (acked >= 0)
    out += R"(,"acked":)" + std::to_string(acked);
  out += '}';
  return out;
}

std::string peer_left(std::string_view room_id) {
  return typed_with_room("peer-left", room_id);
}

std::string room_left(std::string_view room_id) {
  return typed_with_room("room-left", room_id);
}

std::string error(error_code c, std::string_view detail) {
  std::string out = R"({"type":"error","code":)";
  append_quoted(out, code_name(c));
  out += R"(,"message":)";
  if (detail.empty()) {
    append_quoted(out, message_of(c));
  } else {
    std::string msg{message_of(c)};
    msg += ": ";
    msg += detail;
    append_quoted(out, msg);
  }
  out += '}';
  return out;
}

} // namespace signaling::protocol
