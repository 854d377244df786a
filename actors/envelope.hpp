// What one node publishes to another's channel: `K|room|from_node|body`.
// K is F (a relayed frame; body = the frame's bytes, unchanged), J (a guest
// joined on from_node; body = its connection name), L (the room ended on
// from_node, or from_node knows no such room), D (the member on from_node lost
// its connection: its seat is parked), R (a parked member resumed on
// from_node; body = its connection name) or X (a fence: every envelope
// published to this channel before the park that sent it has arrived).
#pragma once

#include <string>
#include <string_view>

namespace signaling::envelope {

enum class kind : char { frame = 'F', joined = 'J', left = 'L', parked = 'D', resumed = 'R', fence = 'X' };

std::string make(kind k, std::string_view room, std::string_view from_node, std::string_view body = {});

struct parsed {
  kind k = kind::left;
  std::string_view room;
  std::string_view from_node;
  std::string_view body;
};

// False for anything that is not a well-formed envelope.
bool parse(std::string_view payload, parsed& out);

} // namespace signaling::envelope
