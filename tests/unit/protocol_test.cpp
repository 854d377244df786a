// signaling::protocol in isolation: the validating parse of inbound frames
// (every error code it can produce, the depth limit, which keys count) and
// the frames the server writes (valid JSON, the seed's texts, escaping).
#include "actors/protocol.hpp"
#include "actors/limits.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

using namespace signaling;
using protocol::error_code;
using protocol::msg_type;
using json = nlohmann::json;

namespace {

const std::size_t default_depth = limits{}.max_json_depth;

protocol::parse_result parse(const std::string& frame, std::size_t depth = default_depth) {
  return protocol::parse(frame, depth);
}

// Parses `frame` and checks it is refused with `code`.
void expect_refused(const std::string& frame, error_code code, std::size_t depth = default_depth) {
  auto r = parse(frame, depth);
  INFO("frame: " << frame.substr(0, 120));
  CHECK_FALSE(r.ok);
  CHECK(protocol::code_name(r.error) == protocol::code_name(code));
}

// Parses `frame` and checks it is accepted as `type` for `room`.
void expect_accepted(const std::string& frame, msg_type type, const std::string& room) {
  auto r = parse(frame);
  INFO("frame: " << frame);
  REQUIRE(r.ok);
  CHECK(r.cmd.type == type);
  CHECK(r.cmd.room_id == room);
}

// A signal frame whose nesting (the outer object included) is exactly `depth`.
std::string nested_frame(std::size_t depth) {
  REQUIRE(depth >= 1);
  std::string inner(depth - 1, '[');
  inner += std::string(depth - 1, ']');
  return R"({"type":"signal","roomId":"123456","data":)" + (depth == 1 ? std::string("0") : inner) + "}";
}

const std::vector<error_code> all_codes = {
  error_code::bad_json,     error_code::bad_message, error_code::too_deep, error_code::unknown_type,
  error_code::room_unavailable, error_code::not_a_member, error_code::no_peer, error_code::busy,
  error_code::rate_limited, error_code::unavailable,
};

} // namespace

// -- parse: errors -------------------------------------------------------------

TEST_CASE("parse refuses text that is not JSON with bad-json") {
  for (std::string f : {"", "not json", "{", R"({"type":"create-room")", R"({"type":"create-room",})",
                        R"({"type":'create-room'})", R"({"type":"create-room"} trailing)", "{}{}",
                        R"({type:"create-room"})"})
    expect_refused(f, error_code::bad_json);
}

TEST_CASE("parse never echoes the frame's content in the error detail") {
  auto r = parse(R"({"type":"create-room","secret":"hunter2)");
  CHECK_FALSE(r.ok);
  CHECK(r.detail.find("hunter2") == std::string::npos);
  auto r2 = parse(R"({"type":"hunter2"})");
  CHECK_FALSE(r2.ok);
  CHECK(r2.detail.find("hunter2") == std::string::npos);
}

TEST_CASE("parse refuses JSON that is not an object with bad-message") {
  for (std::string f : {"[]", R"(["type","create-room"])", R"("create-room")", "42", "-1.5", "null", "true",
                        "false", R"([{"type":"create-room"}])"})
    expect_refused(f, error_code::bad_message);
}

TEST_CASE("parse refuses an object without a type with bad-message") {
  expect_refused("{}", error_code::bad_message);
  expect_refused(R"({"roomId":"123456"})", error_code::bad_message);
  expect_refused(R"({"Type":"create-room"})", error_code::bad_message);
  expect_refused(R"({"data":{"type":"create-room"}})", error_code::bad_message);
  CHECK(parse("{}").detail.find("type") != std::string::npos);
}

TEST_CASE("parse refuses a type that is not a string with bad-message") {
  for (std::string v : {"1", "-3", "1.5", "null", "true", "false", "{}", R"({"a":"b"})", "[]", R"(["create-room"])"})
    expect_refused(R"({"type":)" + v + "}", error_code::bad_message);
  CHECK(parse(R"({"type":7})").detail.find("type") != std::string::npos);
}

TEST_CASE("parse refuses a roomId that is not a string with bad-message") {
  for (std::string v : {"123456", "1.5", "null", "true", "{}", "[]", R"(["123456"])", R"({"id":"123456"})"}) {
    expect_refused(R"({"type":"join-room","roomId":)" + v + "}", error_code::bad_message);
    expect_refused(R"({"roomId":)" + v + R"(,"type":"signal"})", error_code::bad_message);
    // Even where the roomId is optional, a present one must be a string.
    expect_refused(R"({"type":"create-room","roomId":)" + v + "}", error_code::bad_message);
  }
  CHECK(parse(R"({"type":"join-room","roomId":1})").detail.find("roomId") != std::string::npos);
}

TEST_CASE("parse refuses a duplicate type with bad-message") {
  expect_refused(R"({"type":"create-room","type":"create-room"})", error_code::bad_message);
  expect_refused(R"({"type":"signal","roomId":"1","type":"chat-message"})", error_code::bad_message);
  CHECK(parse(R"({"type":"a","type":"b"})").detail.find("duplicate") != std::string::npos);
}

TEST_CASE("parse refuses a duplicate roomId with bad-message") {
  expect_refused(R"({"type":"join-room","roomId":"111111","roomId":"222222"})", error_code::bad_message);
  expect_refused(R"({"roomId":"111111","type":"signal","roomId":"111111"})", error_code::bad_message);
  CHECK(parse(R"({"type":"signal","roomId":"1","roomId":"1"})").detail.find("duplicate") != std::string::npos);
}

TEST_CASE("parse refuses join-room, signal, chat-message and leave-room without a roomId with bad-message") {
  for (std::string type : {"join-room", "signal", "chat-message", "leave-room"}) {
    expect_refused(R"({"type":")" + type + R"("})", error_code::bad_message);
    expect_refused(R"({"type":")" + type + R"(","data":{"roomId":"123456"}})", error_code::bad_message);
    CHECK(parse(R"({"type":")" + type + R"("})").detail.find("roomId") != std::string::npos);
  }
}

TEST_CASE("parse refuses a type that names no message with unknown-type") {
  for (std::string t : {"", "dance", "Create-Room", "create_room", "create-room ", "error", "room-created",
                        "peer-joined"})
    expect_refused(R"({"type":")" + t + R"(","roomId":"123456"})", error_code::unknown_type);
}

TEST_CASE("parse accepts nesting of exactly max_depth and refuses max_depth plus one with too-deep") {
  for (std::size_t depth : {std::size_t{2}, std::size_t{5}, default_depth, std::size_t{100}}) {
    INFO("max_depth " << depth);
    auto ok = parse(nested_frame(depth), depth);
    CHECK(ok.ok);
    CHECK(ok.cmd.type == msg_type::signal);
    expect_refused(nested_frame(depth + 1), error_code::too_deep, depth);
    CHECK(parse(nested_frame(depth + 1), depth).detail.find(std::to_string(depth)) != std::string::npos);
  }
}

TEST_CASE("parse counts objects and arrays alike toward the depth limit") {
  // {"a":{"a":{}}} is three deep.
  CHECK(parse(R"({"type":"create-room","a":{"a":{}}})", 3).ok);
  expect_refused(R"({"type":"create-room","a":{"a":{"a":{}}}})", error_code::too_deep, 3);
  expect_refused(R"({"type":"create-room","a":[{"a":[]}]})", error_code::too_deep, 3);
  // Depth is per path, not per document: many siblings at depth 2 are fine.
  CHECK(parse(R"({"type":"create-room","a":[],"b":{},"c":[],"d":{"e":1}})", 2).ok);
}

TEST_CASE("parse refuses 50000 nested brackets inside an object with too-deep without crashing") {
  std::string frame = R"({"type":"signal","roomId":"123456","data":)" + std::string(50000, '[') +
                      std::string(50000, ']') + "}";
  expect_refused(frame, error_code::too_deep);
  // Unterminated, too: the limit trips before the missing brackets matter.
  expect_refused(R"({"type":"signal","roomId":"1","data":)" + std::string(50000, '['), error_code::too_deep);
  // And deep objects rather than arrays.
  std::string objects = R"({"type":"signal","roomId":"1","data":)";
  for (int i = 0; i < 50000; ++i)
    objects += R"({"a":)";
  objects += "1";
  objects += std::string(50000, '}');
  objects += "}";
  expect_refused(objects, error_code::too_deep);
}

// -- parse: accepted messages ----------------------------------------------------

TEST_CASE("parse accepts every message type with its roomId") {
  expect_accepted(R"({"type":"create-room"})", msg_type::create_room, "");
  expect_accepted(R"({"type":"join-room","roomId":"123456"})", msg_type::join_room, "123456");
  expect_accepted(R"({"type":"leave-room","roomId":"654321"})", msg_type::leave_room, "654321");
  expect_accepted(R"({"type":"signal","roomId":"111111","data":{"sdp":"v=0\r\n"}})", msg_type::signal, "111111");
  expect_accepted(R"({"type":"chat-message","roomId":"222222","message":"hi"})", msg_type::chat_message, "222222");
  // Key order and whitespace do not matter.
  expect_accepted(" \n{ \"roomId\" : \"333333\" ,\t\"type\" : \"signal\" }\n", msg_type::signal, "333333");
  // An empty roomId is a string: the parse accepts it (membership is checked later).
  expect_accepted(R"({"type":"join-room","roomId":""})", msg_type::join_room, "");
}

TEST_CASE("parse decodes escapes in type and roomId") {
  expect_accepted(R"({"type":"cr\u0065ate-room"})", msg_type::create_room, "");
  expect_accepted(R"({"type":"join-room","roomId":"12\u00334"})", msg_type::join_room, "1234");
}

TEST_CASE("parse ignores type and roomId keys below the top level") {
  expect_accepted(R"({"type":"signal","roomId":"123456","data":{"type":"offer","roomId":"999999"}})",
                  msg_type::signal, "123456");
  expect_accepted(R"({"data":{"type":7,"roomId":[1]},"type":"chat-message","roomId":"123456"})",
                  msg_type::chat_message, "123456");
  expect_accepted(R"({"type":"signal","data":[{"type":"x"},{"roomId":null}],"roomId":"42"})", msg_type::signal,
                  "42");
  expect_accepted(R"({"type":"signal","roomId":"1","a":{"type":"x","type":"y","roomId":"2","roomId":"3"}})",
                  msg_type::signal, "1");
  // String values equal to the key names are just values.
  expect_accepted(R"({"note":"type","other":"roomId","type":"create-room"})", msg_type::create_room, "");
}

TEST_CASE("parse accepts values of any type in other fields") {
  expect_accepted(
    R"({"type":"signal","roomId":"1","a":null,"b":true,"c":-1,"d":1e300,"e":18446744073709551615,"f":[],"g":{}})",
    msg_type::signal, "1");
}

// -- builders ----------------------------------------------------------------------

TEST_CASE("room builders write the seed's frames as valid JSON") {
  CHECK(protocol::room_created("123456") == R"({"type":"room-created","roomId":"123456"})");
  CHECK(protocol::peer_joined("123456") == R"({"type":"peer-joined","roomId":"123456"})");
  CHECK(protocol::peer_left("123456") == R"({"type":"peer-left","roomId":"123456"})");
  CHECK(protocol::room_left("123456") == R"({"type":"room-left","roomId":"123456"})");
  for (auto text : {protocol::room_created("1"), protocol::peer_joined("1"), protocol::peer_left("1"),
                    protocol::room_left("1")}) {
    auto j = json::parse(text);
    CHECK(j.is_object());
    CHECK(j.size() == 2);
    CHECK(j["roomId"] == "1");
  }
}

TEST_CASE("error frames carry the seed's texts") {
  CHECK(protocol::error(error_code::room_unavailable) ==
        R"({"type":"error","code":"room-unavailable","message":"Room not found or full"})");
  CHECK(protocol::error(error_code::bad_json) ==
        R"({"type":"error","code":"bad-json","message":"Invalid message format"})");
}

TEST_CASE("every error frame is valid JSON with type, code and message") {
  for (auto c : all_codes) {
    auto j = json::parse(protocol::error(c));
    CHECK(j.size() == 3);
    CHECK(j["type"] == "error");
    CHECK(j["code"] == std::string(protocol::code_name(c)));
    CHECK(j["message"] == std::string(protocol::message_of(c)));
    CHECK_FALSE(protocol::message_of(c).empty());
  }
}

TEST_CASE("an error detail is appended to the message") {
  auto j = json::parse(protocol::error(error_code::bad_message, "missing \"type\""));
  CHECK(j["code"] == "bad-message");
  CHECK(j["message"] == "Invalid message: missing \"type\"");
}

TEST_CASE("error escapes quotes, backslashes and control characters in the detail") {
  std::string detail = "q\" b\\ n\n r\r t\t nul";
  detail += '\0';
  detail += " one\x01 us\x1f del\x7f slash/ utf8 \xc3\xa9";
  auto text = protocol::error(error_code::bad_message, detail);
  // No raw control character reaches the wire.
  for (char c : text)
    CHECK(static_cast<unsigned char>(c) >= 0x20);
  json j;
  REQUIRE_NOTHROW(j = json::parse(text));
  CHECK(j["message"].get<std::string>() == "Invalid message: " + detail);
  CHECK(text.find("\\u0000") != std::string::npos);
  CHECK(text.find("\\u0001") != std::string::npos);
  CHECK(text.find("\\u001f") != std::string::npos);
}

TEST_CASE("room builders escape the room id") {
  auto j = json::parse(protocol::room_created("a\"b\\c\n"));
  CHECK(j["roomId"] == "a\"b\\c\n");
}

TEST_CASE("parse's own error details make valid error frames") {
  for (std::string f : std::vector<std::string>{"x", "[]", R"({"type":1})", R"({"type":"a","type":"b"})", R"({"type":"signal"})",
                        nested_frame(default_depth + 1)}) {
    auto r = parse(f);
    REQUIRE_FALSE(r.ok);
    auto j = json::parse(protocol::error(r.error, r.detail));
    CHECK(j["code"] == std::string(protocol::code_name(r.error)));
  }
}

// -- code names ------------------------------------------------------------------------

TEST_CASE("code_name and code_from_name round-trip every code") {
  std::set<std::string> names;
  for (auto c : all_codes) {
    auto name = protocol::code_name(c);
    CHECK_FALSE(name.empty());
    names.insert(std::string(name));
    error_code back = c == error_code::bad_json ? error_code::unavailable : error_code::bad_json;
    REQUIRE(protocol::code_from_name(name, back));
    CHECK(back == c);
  }
  CHECK(names.size() == all_codes.size());
}

TEST_CASE("code names are the documented wire names") {
  CHECK(protocol::code_name(error_code::bad_json) == "bad-json");
  CHECK(protocol::code_name(error_code::bad_message) == "bad-message");
  CHECK(protocol::code_name(error_code::too_deep) == "too-deep");
  CHECK(protocol::code_name(error_code::unknown_type) == "unknown-type");
  CHECK(protocol::code_name(error_code::room_unavailable) == "room-unavailable");
  CHECK(protocol::code_name(error_code::not_a_member) == "not-a-member");
  CHECK(protocol::code_name(error_code::no_peer) == "no-peer");
  CHECK(protocol::code_name(error_code::busy) == "busy");
  CHECK(protocol::code_name(error_code::rate_limited) == "rate-limited");
  CHECK(protocol::code_name(error_code::unavailable) == "unavailable");
}

TEST_CASE("code_from_name refuses an unknown name and leaves the output alone") {
  for (std::string name : {"", "nope", "BUSY", "bad_json", "busy "}) {
    error_code out = error_code::no_peer;
    CHECK_FALSE(protocol::code_from_name(name, out));
    CHECK(out == error_code::no_peer);
  }
}

// The string scanner reads 16 bytes (or 8) at a time and stops at a quote, a
// backslash, a control character or a non-ASCII byte: each of those at every
// offset of strings from 0 to 40 bytes, in a value that is skipped (the SDP)
// and in one that is decoded (the room id), across the block boundaries.
TEST_CASE("parse finds a quote, an escape, a control byte or UTF-8 at every offset of a string, skipped or decoded") {
  for (std::size_t len = 0; len <= 40; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      CAPTURE(len);
      CAPTURE(at);
      auto with = [&](const std::string& piece) { return std::string(at, 'a') + piece + std::string(len - at, 'b'); };
      auto sdp = [](const std::string& value) { return R"({"type":"signal","roomId":"1","sdp":")" + value + "\"}"; };
      auto room = [](const std::string& value) { return R"({"type":"join-room","roomId":")" + value + "\"}"; };
      // Escapes: skipped and decoded.
      expect_accepted(sdp(with("\\r\\n")), msg_type::signal, "1");
      expect_accepted(sdp(with("\\u00e9")), msg_type::signal, "1");
      expect_accepted(room(with("\\\"")), msg_type::join_room, with("\""));
      expect_accepted(room(with("\\u0041")), msg_type::join_room, with("A"));
      expect_accepted(room(with("\\\\")), msg_type::join_room, with("\\"));
      // UTF-8: a valid two-byte character passes; a lone continuation byte does not.
      expect_accepted(sdp(with("\xC3\xA9")), msg_type::signal, "1");
      expect_accepted(room(with("\xC3\xA9")), msg_type::join_room, with("\xC3\xA9"));
      expect_refused(sdp(with("\x80")), error_code::bad_json);
      expect_refused(room(with("\x80")), error_code::bad_json);
      // A raw control character, an unfinished escape, and the string cut short.
      expect_refused(sdp(with("\x01")), error_code::bad_json);
      expect_refused(room(with("\n")), error_code::bad_json);
      expect_refused(sdp(with("\\x")), error_code::bad_json);
      expect_refused(R"({"type":"signal","roomId":"1","sdp":")" + with("\""), error_code::bad_json);
    }
  }
}
