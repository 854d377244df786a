#include "actors/envelope.hpp"

namespace signaling::envelope {

std::string make(kind k, std::string_view room, std::string_view from_node, std::string_view body) {
  std::string out;
  out.reserve(4 + room.size() + from_node.size() + body.size());
  out += static_cast<char>(k);
  out += '|';
  out += room;
  out += '|';
  out += from_node;
  out += '|';
  out += body;
  return out;
}

bool parse(std::string_view payload, parsed& out) {
  if (payload.size() < 4 || payload[1] != '|')
    return false;
  char k = payload[0];
  if (k != 'F' && k != 'J' && k != 'L' && k != 'D' && k != 'R' && k != 'X')
    return false;
  auto rest = payload.substr(2);
  auto a = rest.find('|');
  if (a == std::string_view::npos || a == 0)
    return false;
  auto b = rest.find('|', a + 1);
  if (b == std::string_view::npos || b == a + 1)
    return false;
  out.k = static_cast<kind>(k);
  out.room = rest.substr(0, a);
  out.from_node = rest.substr(a + 1, b - a - 1);
  out.body = rest.substr(b + 1); // may contain '|': only the first three split
  return true;
}

} // namespace signaling::envelope
