// The actor of one room: what its members' connection actors and the
// directory may tell it (the typed interface `room_actor`), and the embedded
// room behind it: both members on this node, a parked member's frames kept
// here. It admits the guest and introduces the members to each other (they
// then relay straight to each other), ends the room when either leaves (the
// seed's rule), and keeps a lost member's seat for the resume grace
// (docs/protocol.md, "Seats and resume"). The rules are room_seats'; this is
// the CAF around them. Cluster mode has its own behaviour of the same
// interface (cluster/cluster_room.hpp).
#pragma once

#include "actors/messages.hpp"
#include "actors/room_seats.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace signaling {

struct node_stats;

// seat_guest: the directory seats a guest (false: refused, the guest told).
// member_left / member_lost: a member's connection left on purpose / was lost.
// deliver_frame: a frame from a member for the other, parked one (kept).
// resume_seat: a resume of a parked seat by token (false: refused).
// grace_over: to itself, a parked seat's grace timer.
// park_all_atom: node drain, members here park their seats; answers 1 if any did.
// room_atom / close_room_atom: the operator console describes / closes the room.
using room_actor = caf::typed_actor<
  caf::replies_to<seat_guest>::with<bool>, caf::reacts_to<member_left>, caf::reacts_to<member_lost>,
  caf::reacts_to<deliver_frame>, caf::replies_to<resume_seat>::with<bool>, caf::reacts_to<grace_over>,
  caf::replies_to<park_all_atom>::with<std::uint64_t>, caf::replies_to<room_atom>::with<std::string>,
  caf::replies_to<close_room_atom>::with<std::string>>;

// What every room of a node reads.
struct room_settings {
  std::string node_id;
  node_stats* stats = nullptr;
  // Seat resume (RESUME_GRACE_SECONDS; 0: off, a lost connection ends the
  // room as in the seed) and the bounds of the frames kept for a parked seat.
  std::chrono::milliseconds resume_grace{15000};
  std::size_t resume_frames = 256;
  std::size_t resume_bytes = 1 << 20;
};

// Embedded mode: a room created on this node with `host` seated.
room_actor spawn_room(caf::actor_system& sys, std::string id, caf::actor host, std::string token,
                      const room_settings* settings);

// For both room behaviours: the room as the operator console shows it.
// Members here carry their actor id (the inspector adds their connection's
// figures); a member on another node its node and connection name; a parked
// member says so.
std::string describe_room(const room_seats<caf::actor>& seats, const std::string& id, const std::string& node_id,
                          std::int64_t opened_ms, std::uint64_t remote_frames);

std::int64_t unix_ms();

} // namespace signaling
