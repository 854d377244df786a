// libFuzzer target: bytes of one inbound text frame -> protocol::parse ->
// a validated command or a typed error, checked against nlohmann::json as an
// independent oracle:
// - invalid JSON is never accepted, and is refused as bad-json or too-deep;
// - valid JSON nested deeper than the limit is refused as too-deep;
// - an accepted frame is a JSON object whose "type" and "roomId" are the ones
//   parse() extracted, and re-serializing it is stable
//   (parse -> dump -> parse -> dump gives the same bytes, and the dump parses
//   to the same command);
// - every frame the server would write back (the error for a refusal; the
//   room frames that echo an accepted roomId) is itself valid JSON.
// A violation aborts, so libFuzzer keeps the input as a crash reproducer.
#include "actors/protocol.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using signaling::protocol::error_code;
using signaling::protocol::msg_type;
using json = nlohmann::json;

[[noreturn]] void violated(const char* what, std::string_view frame) {
  std::fprintf(stderr, "protocol_fuzzer: %s (frame of %zu bytes)\n", what, frame.size());
  std::abort();
}

#define EXPECT(cond, frame)                                                                                       \
  do {                                                                                                            \
    if (!(cond))                                                                                                  \
      violated(#cond, frame);                                                                                     \
  } while (0)

std::string_view name_of(msg_type t) {
  switch (t) {
    case msg_type::create_room: return "create-room";
    case msg_type::join_room: return "join-room";
    case msg_type::leave_room: return "leave-room";
    case msg_type::signal: return "signal";
    case msg_type::chat_message: return "chat-message";
    case msg_type::resume: return "resume";
  }
  return "?";
}

// Nesting depth as the protocol counts it: a scalar is 0, a container one
// more than its deepest child. Iterative: the DOM may be thousands deep.
std::size_t depth_of(const json& root) {
  std::size_t deepest = 0;
  std::vector<std::pair<const json*, std::size_t>> todo{{&root, 0}};
  while (!todo.empty()) {
    auto [j, d] = todo.back();
    todo.pop_back();
    if (!j->is_structured())
      continue;
    deepest = std::max(deepest, d + 1);
    for (const auto& child : *j)
      todo.emplace_back(&child, d + 1);
  }
  return deepest;
}

json parse_json(std::string_view s) {
  return json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
}

void check(std::string_view frame, std::size_t max_depth) {
  auto res = signaling::protocol::parse(frame, max_depth);

  // What the server writes for a refusal must be JSON, whatever the detail.
  if (!res.ok) {
    auto reply = parse_json(signaling::protocol::error(res.error, res.detail));
    EXPECT(!reply.is_discarded() && reply["type"] == "error", frame);
    EXPECT(reply["code"] == std::string(signaling::protocol::code_name(res.error)), frame);
  }

  // nlohmann skips a UTF-8 byte order mark; RFC 8259 lets a parser refuse it.
  if (frame.size() >= 3 && frame.substr(0, 3) == "\xEF\xBB\xBF")
    return;
  // nlohmann also stops at a NUL byte, as if the input ended there. A raw NUL
  // is never JSON (not whitespace, not allowed unescaped in a string).
  if (frame.find('\0') != std::string_view::npos) {
    EXPECT(!res.ok, frame);
    EXPECT(res.error == error_code::bad_json || res.error == error_code::too_deep, frame);
    return;
  }
  json doc;
  try {
    doc = json::parse(frame.begin(), frame.end());
  } catch (const json::out_of_range&) {
    // nlohmann refuses numbers beyond a double ("1e400"); RFC 8259 lets a
    // parser accept them, and parse() does (it never reads numbers).
    return;
  } catch (const json::exception&) {
    doc = json(json::value_t::discarded);
  }
  if (doc.is_discarded()) {
    EXPECT(!res.ok, frame);
    EXPECT(res.error == error_code::bad_json || res.error == error_code::too_deep, frame);
    return;
  }
  auto depth = depth_of(doc);
  if (!doc.is_object()) {
    EXPECT(!res.ok, frame);
    EXPECT(res.error == error_code::bad_message || (res.error == error_code::too_deep && depth > max_depth), frame);
    return;
  }
  if (depth > max_depth) {
    EXPECT(!res.ok && res.error == error_code::too_deep, frame);
    return;
  }
  EXPECT(res.ok || (res.error != error_code::bad_json && res.error != error_code::too_deep), frame);
  if (res.error == error_code::unknown_type && !res.ok)
    EXPECT(doc.contains("type") && doc["type"].is_string(), frame);
  if (!res.ok)
    return;

  // Accepted: the command is what the document says.
  EXPECT(doc.contains("type") && doc["type"].is_string(), frame);
  EXPECT(doc["type"].get<std::string>() == name_of(res.cmd.type), frame);
  if (res.cmd.type != msg_type::create_room)
    EXPECT(doc.contains("roomId"), frame);
  if (doc.contains("roomId")) {
    EXPECT(doc["roomId"].is_string(), frame);
    EXPECT(doc["roomId"].get<std::string>() == res.cmd.room_id, frame);
  }
  if (res.cmd.type == msg_type::resume)
    EXPECT(doc.contains("resumeToken"), frame);
  if (doc.contains("resumeToken")) {
    EXPECT(doc["resumeToken"].is_string(), frame);
    EXPECT(doc["resumeToken"].get<std::string>() == res.cmd.resume_token, frame);
  }

  // Stable re-serialization, with the same meaning.
  auto dump1 = doc.dump();
  auto again = parse_json(dump1);
  EXPECT(!again.is_discarded(), frame);
  auto dump2 = again.dump();
  EXPECT(dump1 == dump2, frame);
  auto res2 = signaling::protocol::parse(dump1, max_depth);
  EXPECT(res2.ok, frame);
  EXPECT(res2.cmd.type == res.cmd.type && res2.cmd.room_id == res.cmd.room_id &&
           res2.cmd.resume_token == res.cmd.resume_token,
         frame);

  // The server echoes a client's roomId in room-left / peer-joined / ...:
  // that frame must be valid JSON carrying the same string.
  for (const auto& out : {signaling::protocol::room_left(res.cmd.room_id), signaling::protocol::peer_left(res.cmd.room_id),
                          signaling::protocol::peer_joined(res.cmd.room_id),
                          signaling::protocol::room_created(res.cmd.room_id, res.cmd.resume_token),
                          signaling::protocol::resumed(res.cmd.room_id, "guest", res.cmd.resume_token, 1, 0, true, 3)}) {
    auto echoed = parse_json(out);
    EXPECT(!echoed.is_discarded(), frame);
    EXPECT(echoed["roomId"].get<std::string>() == res.cmd.room_id, frame);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  // The node's default depth, and a small one so the limit is hit often.
  check(frame, 32);
  check(frame, 3);
  return 0;
}
