#include "actors/protocol.hpp"

#include <nlohmann/json.hpp>

#include <array>

namespace signaling::protocol {

namespace {

struct code_text {
  error_code code;
  std::string_view name;
  std::string_view message;
};

constexpr std::array<code_text, 10> codes{{
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
}};

// Walks the SAX events of one document. Only the top level matters to the
// protocol; deeper values are counted for the depth limit and skipped.
class frame_scanner final : public nlohmann::json_sax<nlohmann::json> {
public:
  explicit frame_scanner(std::size_t max_depth) : max_depth_(max_depth) {}

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }

  bool string(string_t& val) override {
    if (depth_ == 0)
      return fail(error_code::bad_message, "message must be a JSON object");
    if (depth_ == 1) {
      if (field_ == field::type)
        type_ = std::move(val);
      else if (field_ == field::room_id)
        room_id_ = std::move(val);
      field_ = field::other;
    }
    return true;
  }

  bool start_object(std::size_t) override { return open(); }
  bool start_array(std::size_t) override {
    if (depth_ == 0)
      return fail(error_code::bad_message, "message must be a JSON object");
    return open();
  }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    if (depth_ != 1)
      return true;
    if (k == "type") {
      if (seen_type_)
        return fail(error_code::bad_message, "duplicate \"type\"");
      seen_type_ = true;
      field_ = field::type;
    } else if (k == "roomId") {
      if (seen_room_id_)
        return fail(error_code::bad_message, "duplicate \"roomId\"");
      seen_room_id_ = true;
      field_ = field::room_id;
    } else {
      field_ = field::other;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    if (!failed_)
      fail(error_code::bad_json, {}); // the seed's exact text, nothing added
    return false;
  }

  bool failed_ = false;
  error_code error_ = error_code::bad_json;
  std::string detail_;
  std::string type_;
  std::string room_id_;
  bool seen_type_ = false;
  bool seen_room_id_ = false;

private:
  enum class field { other, type, room_id };

  bool scalar() {
    if (depth_ == 0)
      return fail(error_code::bad_message, "message must be a JSON object");
    return wrong_type_check();
  }

  // A non-string value (scalar or container) for "type" or "roomId".
  bool wrong_type_check() {
    if (depth_ == 1 && field_ != field::other) {
      auto name = field_ == field::type ? "type" : "roomId";
      return fail(error_code::bad_message, std::string("\"") + name + "\" must be a string");
    }
    return true;
  }

  bool open() {
    if (!wrong_type_check())
      return false;
    field_ = field::other;
    if (++depth_ > max_depth_)
      return fail(error_code::too_deep, "nesting deeper than " + std::to_string(max_depth_));
    return true;
  }

  bool close() {
    --depth_;
    return true;
  }

  bool fail(error_code c, std::string why) {
    failed_ = true;
    error_ = c;
    detail_ = std::move(why);
    return false;
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
  field field_ = field::other;
};

bool type_from_name(std::string_view name, msg_type& out) {
  static constexpr std::array<std::pair<std::string_view, msg_type>, 5> names{{
    {"create-room", msg_type::create_room},
    {"join-room", msg_type::join_room},
    {"leave-room", msg_type::leave_room},
    {"signal", msg_type::signal},
    {"chat-message", msg_type::chat_message},
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
  frame_scanner scan{max_depth};
  bool ok = nlohmann::json::sax_parse(frame.begin(), frame.end(), &scan);
  if (!ok || scan.failed_) {
    res.error = scan.failed_ ? scan.error_ : error_code::bad_json;
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
  res.cmd.room_id = std::move(scan.room_id_);
  res.ok = true;
  return res;
}

std::string room_created(std::string_view room_id) {
  return typed_with_room("room-created", room_id);
}

std::string peer_joined(std::string_view room_id) {
  return typed_with_room("peer-joined", room_id);
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
