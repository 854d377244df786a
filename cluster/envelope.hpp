// What one node publishes to another's channel (`chan:{node}`), one format for
// every kind, built here and by the Lua scripts (cluster/scripts/envelope.lua,
// prepended to every script that publishes), parsed here only:
//
//   kind|room|gen|node|role|body
//
//   kind  F  a frame for seat `role`, from `node`; body = the frame, unchanged
//         J  a guest joined the room on `node`; body = its connection name
//         L  the room ended on `node` (or `node` knows no such room)
//         D  the member of seat `role` on `node` lost its connection: parked
//         R  parked seat `role` resumed on `node`; body = its connection name
//         X  a fence, to the node that parked seat `role`: every envelope
//            published to this channel before the park has arrived
//         C  the member of seat `role` on `node` listens on its own seat
//            channel (redis_bridge::seat_channel); body = its connection name
//   gen   the room's generation (its first host connection): an envelope
//         for an earlier room with the same id is told apart by it
//   body  may contain '|': only the first five fields split
// Node ids, generations and room ids never contain '|'.
#pragma once

#include <string>
#include <string_view>

namespace signaling::cluster::envelope {

enum class kind : char { frame = 'F', joined = 'J', left = 'L', parked = 'D', resumed = 'R', fence = 'X',
                        listening = 'C' };

std::string make(kind k, std::string_view room, std::string_view gen, std::string_view node, std::string_view role,
                 std::string_view body = {});
// The part of an F envelope before its frame: make(frame, ...) with an empty
// body. A sender writes it once and appends each frame.
std::string frame_header(std::string_view room, std::string_view gen, std::string_view node, std::string_view role);

struct parsed {
  kind k = kind::left;
  std::string_view room, gen, node, role, body;
};

// False for anything that is not a well-formed envelope.
bool parse(std::string_view payload, parsed& out);

} // namespace signaling::cluster::envelope
