// Every message exchanged between the actors of a node, declared once: one
// type per message, real types in every field. They never leave the process
// (frames travel as frame_ptr, one immutable buffer shared by every hop;
// actor handles and relay ports are local), hence "unsafe" in CAF's terms.
// Only the operator console's atoms (at the end) cross the middleman, with
// builtin types.
#pragma once

#include "actors/link.hpp"
#include "actors/protocol.hpp"
#include "actors/room_seats.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace signaling {

class remote_relay; // actors/remote.hpp

// What a member sends its frames to: the other member's connection actor on
// this node, the room (embedded mode, while the other's seat is parked: the
// room keeps them), or, in cluster mode, a relay port for the other's seat
// (seated on another node, or parked: Redis publishes or keeps them).
struct peer_ref {
  caf::actor actor;
  std::shared_ptr<remote_relay> remote;
  explicit operator bool() const { return actor || remote; }
};

// -- a connection asks the directory (answered with room_created, joined,
//    seat_resumed or refused) -------------------------------------------------

struct create_room_request {
  caf::actor conn;
};
// `address`: the client's (as for MAX_CONNECTIONS_PER_IP), whose join-miss
// budget the cluster checks (JOIN_MISSES_PER_IP).
struct join_room_request {
  std::string room_id;
  caf::actor conn;
  std::string address;
};
struct resume_request {
  std::string room_id;
  std::string token;
  caf::actor conn;
  std::string address;
};

// -- the directory or a room answers a connection -----------------------------

struct room_created {
  std::string room_id;
  caf::actor room;
  std::string token; // the host's resume token
};
struct room_joined {
  std::string room_id;
  caf::actor room;
  peer_ref peer; // the host
  std::string token;
};
struct seat_resumed {
  std::string room_id;
  caf::actor room;
  peer_ref peer; // empty while the other seat is free
  seat_role role;
  std::string token;               // the seat's new resume token
  std::vector<std::string> frames; // kept for it while it was away, oldest first
  std::uint64_t dropped = 0;       // older frames dropped past the bounds
  bool peer_connected = false;
  std::int64_t acked = -1; // messages it had relayed before it was lost (-1: not known)
};
struct refused {
  protocol::error_code code;
};

// -- a room tells its member about the other one ------------------------------

struct peer_joined {
  caf::actor room;
  peer_ref peer; // the guest
};
// The other member's connection was lost: its seat is parked. Frames go to
// `peer` from now on (they are kept for it).
struct peer_gone {
  caf::actor room;
  peer_ref peer;
};
struct peer_back {
  caf::actor room;
  peer_ref peer;
};
struct peer_left {
  caf::actor room;
};
// The operator closed the room: the member closes with 1000.
struct room_closed {
  caf::actor room;
};
// A frame for room `room_id` could not reach the other member's node.
struct relay_failed {
  std::string room_id;
};

// -- frames -------------------------------------------------------------------

// A frame for the member (to its connection) or, from a member, for the
// other one (to the room standing in for it). `received`: now_ns() when it
// reached this node, for the relay latency histogram.
struct deliver_frame {
  std::string room_id;
  frame_ptr frame;
  std::int64_t received = 0;
};

// -- a member's connection tells its room -------------------------------------

// The member left on purpose (leave-room, or a deliberate close): the room ends.
struct member_left {
  caf::actor conn;
};
// The member's connection was lost after it had relayed `acked` messages in
// this seat: its seat waits RESUME_GRACE_SECONDS for a resume.
struct member_lost {
  caf::actor conn;
  std::uint64_t acked = 0;
};

// -- the directory tells a room -----------------------------------------------

// Seat `conn` as the guest (true), or refuse it (false; it hears refused).
struct seat_guest {
  caf::actor conn;
  std::string token;
};
// Give `conn` the parked seat whose resume token is `token`; the room answers
// `conn` itself. The reply says whether it did.
struct resume_seat {
  std::string token;
  caf::actor conn;
};

// -- a room, to itself ----------------------------------------------------------

// The grace of parked seat `role` is over, if timer generation `timer` is
// still the one watching it.
struct grace_over {
  seat_role role;
  std::uint64_t timer = 0;
};

} // namespace signaling

CAF_BEGIN_TYPE_ID_BLOCK(signaling, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(signaling, (signaling::frame_ptr))
  CAF_ADD_TYPE_ID(signaling, (signaling::seat_role))
  CAF_ADD_TYPE_ID(signaling, (signaling::create_room_request))
  CAF_ADD_TYPE_ID(signaling, (signaling::join_room_request))
  CAF_ADD_TYPE_ID(signaling, (signaling::resume_request))
  CAF_ADD_TYPE_ID(signaling, (signaling::room_created))
  CAF_ADD_TYPE_ID(signaling, (signaling::room_joined))
  CAF_ADD_TYPE_ID(signaling, (signaling::seat_resumed))
  CAF_ADD_TYPE_ID(signaling, (signaling::refused))
  CAF_ADD_TYPE_ID(signaling, (signaling::peer_joined))
  CAF_ADD_TYPE_ID(signaling, (signaling::peer_gone))
  CAF_ADD_TYPE_ID(signaling, (signaling::peer_back))
  CAF_ADD_TYPE_ID(signaling, (signaling::peer_left))
  CAF_ADD_TYPE_ID(signaling, (signaling::room_closed))
  CAF_ADD_TYPE_ID(signaling, (signaling::relay_failed))
  CAF_ADD_TYPE_ID(signaling, (signaling::deliver_frame))
  CAF_ADD_TYPE_ID(signaling, (signaling::member_left))
  CAF_ADD_TYPE_ID(signaling, (signaling::member_lost))
  CAF_ADD_TYPE_ID(signaling, (signaling::seat_guest))
  CAF_ADD_TYPE_ID(signaling, (signaling::resume_seat))
  CAF_ADD_TYPE_ID(signaling, (signaling::grace_over))

  // Node drain. shutdown -> directory -> rooms -> members:
  // (park_all_atom) -> how many rooms parked members; to a connection:
  // stop relaying, answer how many messages it relayed in its seat.
  CAF_ADD_ATOM(signaling, signaling, park_all_atom, "park_all")
  // inspector -> directory: (list_rooms_atom) -> (ids, rooms, hosted count)
  CAF_ADD_ATOM(signaling, signaling, list_rooms_atom, "list_rooms")

  // Operator console (actors/inspector.hpp). Console -> inspector, over the
  // middleman: builtin types only, every answer one JSON string.
  CAF_ADD_ATOM(signaling, signaling, stats_atom, "a_stats")         // (stats_atom)
  CAF_ADD_ATOM(signaling, signaling, nodes_atom, "a_nodes")         // (nodes_atom)
  CAF_ADD_ATOM(signaling, signaling, rooms_atom, "a_rooms")         // (rooms_atom, limit)
  CAF_ADD_ATOM(signaling, signaling, conns_atom, "a_conns")         // (conns_atom, limit)
  CAF_ADD_ATOM(signaling, signaling, drain_atom, "a_drain")         // (drain_atom)
  CAF_ADD_ATOM(signaling, signaling, log_level_atom, "a_loglevel")  // (log_level_atom, level)
  // (room_atom, id) to the inspector; (room_atom) to a room actor: its state as JSON
  CAF_ADD_ATOM(signaling, signaling, room_atom, "a_room")
  // (conn_atom, actor id) to the inspector; (conn_atom) to a connection actor: its state as JSON
  CAF_ADD_ATOM(signaling, signaling, conn_atom, "a_conn")
  // (kick_atom, actor id) to the inspector; (kick_atom) to a connection actor: close 1008
  CAF_ADD_ATOM(signaling, signaling, kick_atom, "a_kick")
  // (close_room_atom, id) to the inspector; (close_room_atom) to a room actor: end it
  CAF_ADD_ATOM(signaling, signaling, close_room_atom, "a_close")

CAF_END_TYPE_ID_BLOCK(signaling)

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::frame_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::seat_role)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::create_room_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::join_room_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::resume_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::room_created)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::room_joined)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::seat_resumed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::refused)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::peer_joined)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::peer_gone)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::peer_back)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::peer_left)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::room_closed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::relay_failed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::deliver_frame)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::member_left)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::member_lost)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::seat_guest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::resume_seat)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::grace_over)
