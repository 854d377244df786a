// This node's cluster rooms by id, for the subscriber (a Redis strand) to
// route each envelope from another node: a frame for a member seated here
// straight to its connection actor, everything else to the room actor.
// Frames go straight only while nothing sent to the room for that room is
// still unhandled, so a frame can never overtake the news before it (a guest
// joined, a seat parked or resumed): the room handles that news first, tells
// its member, and only then counts it handled. Thread-safe.
#pragma once

#include "actors/room_seats.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace signaling::cluster {

class room_registry {
public:
  // Where an envelope for a room goes.
  struct route {
    enum kind { member, room, unknown, stale } to = unknown;
    caf::actor target; // the member's connection (member) or the room actor (room)
  };

  // Room `id` (generation `gen`, empty while not yet known) is `room`'s.
  void put(const std::string& id, const std::string& gen, const caf::actor& room);
  void set_gen(const std::string& id, const caf::actor_addr& room, const std::string& gen);
  void erase(const std::string& id, const caf::actor_addr& room);
  // Frames for seat `r` may go straight to `conn` (null: through the room).
  // Set only once `conn` knows its seat.
  void set_member(const std::string& id, const caf::actor_addr& room, seat_role r, const caf::actor& conn);
  // The room has handled one envelope routed to it.
  void handled(const std::string& id, const caf::actor_addr& room);

  // A frame for seat `r` of room `id`, generation `gen`.
  route frame(std::string_view id, std::string_view gen, seat_role r);
  // Any other envelope for room `id`, generation `gen`.
  route other(std::string_view id, std::string_view gen);
  // The room actor of `id`, whatever its generation (null: none).
  caf::actor find(std::string_view id) const;
  // Frames handed straight to members of room `id` (for the console).
  std::uint64_t direct_frames(const std::string& id) const;

private:
  struct entry {
    caf::actor room;
    std::string gen;
    caf::actor members[2];
    std::uint32_t at_room = 0; // envelopes routed to the room, not yet handled
    std::uint64_t direct = 0;
  };
  entry* lookup(std::string_view id, const caf::actor_addr* room);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> rooms_;
};

} // namespace signaling::cluster
