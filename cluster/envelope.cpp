#include "cluster/envelope.hpp"

namespace signaling::cluster::envelope {

std::string frame_header(std::string_view room, std::string_view gen, std::string_view node, std::string_view role) {
  return make(kind::frame, room, gen, node, role);
}

std::string make(kind k, std::string_view room, std::string_view gen, std::string_view node, std::string_view role,
                 std::string_view body) {
  std::string out;
  out.reserve(6 + room.size() + gen.size() + node.size() + role.size() + body.size());
  out += static_cast<char>(k);
  for (auto field : {room, gen, node, role}) {
    out += '|';
    out += field;
  }
  out += '|';
  out += body;
  return out;
}

bool parse(std::string_view payload, parsed& out) {
  if (payload.size() < 2 || payload[1] != '|')
    return false;
  char k = payload[0];
  if (k != 'F' && k != 'J' && k != 'L' && k != 'D' && k != 'R' && k != 'X' && k != 'C')
    return false;
  std::string_view fields[4];
  auto rest = payload.substr(2);
  for (auto& f : fields) {
    auto bar = rest.find('|');
    if (bar == std::string_view::npos)
      return false;
    f = rest.substr(0, bar);
    rest = rest.substr(bar + 1);
  }
  if (fields[0].empty() || fields[1].empty() || fields[2].empty())
    return false; // room, gen and node are never empty; role may be
  out.k = static_cast<kind>(k);
  out.room = fields[0];
  out.gen = fields[1];
  out.node = fields[2];
  out.role = fields[3];
  out.body = rest;
  return true;
}

} // namespace signaling::cluster::envelope
