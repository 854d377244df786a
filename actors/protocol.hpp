// The wire protocol in one place: message type names, error codes and their
// texts, the validating parse of an inbound frame, and the builders of the
// frames the server writes. See docs/protocol.md. No CAF, no Beast here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace signaling::protocol {

enum class msg_type { create_room, join_room, leave_room, signal, chat_message, resume };

enum class error_code {
  bad_json,         // not JSON
  bad_message,      // JSON, but not an object with a string "type", or a field of the wrong type
  too_deep,         // nesting deeper than max_json_depth
  unknown_type,     // "type" names no message of this protocol
  room_unavailable, // no such room, room full, or own room (one answer, so ids can't be probed)
  not_a_member,     // signal/chat/leave for a room the sender is not in
  no_peer,          // signal/chat while alone in the room
  busy,             // create/join while the previous one is still being answered
  rate_limited,     // over the per-connection message rate; the frame was dropped
  unavailable,      // the node cannot serve this right now (retry)
  forbidden,        // the connection's access token does not allow this (AUTH_MODE=jwt)
};

std::string_view code_name(error_code c);
std::string_view message_of(error_code c);
// Maps a code name back (for codes that travel between actors); false if unknown.
bool code_from_name(std::string_view name, error_code& out);

struct command {
  msg_type type;
  std::string room_id;      // empty when the message has none
  std::string resume_token; // resume only
};

struct parse_result {
  bool ok = false;
  error_code error = error_code::bad_json;
  std::string detail; // why, for the error message; never echoes content
  command cmd{msg_type::create_room, {}, {}};
};

// One pass over the frame: checks it is a JSON object no deeper than
// `max_depth`, extracts "type" and "roomId", and checks their types and that
// each appears once. Builds no DOM, so a 4 KB SDP costs one scan.
parse_result parse(std::string_view frame, std::size_t max_depth);

// Frames the server writes.
// With a resume token (none: empty) for the member the frame goes to.
std::string room_created(std::string_view room_id, std::string_view resume_token = {});
std::string peer_joined(std::string_view room_id, std::string_view resume_token = {});
std::string peer_disconnected(std::string_view room_id);
std::string peer_resumed(std::string_view room_id);
// The answer to resume: the seat's role, its new token, how many frames
// follow (sent while away) and how many older ones were dropped.
// `acked`: how many of its signal/chat messages the server took from the
// seat before its connection was lost (-1: not known, its node died).
std::string resumed(std::string_view room_id, std::string_view role, std::string_view resume_token,
                    std::uint64_t pending, std::uint64_t dropped, bool peer_connected, std::int64_t acked);
std::string peer_left(std::string_view room_id);
std::string room_left(std::string_view room_id);
std::string error(error_code c, std::string_view detail = {});

} // namespace signaling::protocol
