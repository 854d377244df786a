// The room directory of a node: allocates room ids that are never equal to a
// live room's, and maps an id to its room actor. This typed interface is all
// connection actors see, so the in-memory directory (embedded mode) and the
// Redis-backed one (cluster mode) are interchangeable.
#pragma once

#include "actors/messages.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace signaling {

// create_room_request: creates a room seating its conn; answers the conn
//   with room_created or refused.
// join_room_request: seats its conn in the room; the room answers the conn
//   with room_joined, or anyone answers refused.
// resume_request: gives its conn the parked seat whose resume token it
//   carries; the room answers the conn with seat_resumed, or anyone refused.
// (list_rooms_atom): every room actor of this node with its id, ordered by id,
//   and how many of them have their host here (the inspector's view).
// (park_all_atom): node drain: every member here keeps its seat for a resume
//   on another node; answers how many rooms parked members.
using room_directory = caf::typed_actor<
  caf::reacts_to<create_room_request>, caf::reacts_to<join_room_request>, caf::reacts_to<resume_request>,
  caf::replies_to<list_rooms_atom>::with<std::vector<std::string>, std::vector<caf::actor>, std::uint64_t>,
  caf::replies_to<park_all_atom>::with<std::uint64_t>>;

struct node_stats;
struct room_settings;

// Spawns the in-memory directory used when no REDIS_URL is configured.
// `settings` must outlive the directory's rooms.
room_directory spawn_local_directory(caf::actor_system& sys, unsigned room_id_digits, node_stats& stats,
                                     const room_settings* settings);

} // namespace signaling
