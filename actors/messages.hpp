// Every atom and message type exchanged between the actors of a node, declared
// once. Frames travel as frame_ptr (one immutable buffer shared by
// every hop), which never leaves the process, hence "unsafe" in CAF's terms.
#pragma once

#include "actors/link.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/type_id.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(signaling, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(signaling, (signaling::frame_ptr))

  // connection -> directory: (create_atom, host)          a new room, host seated
  CAF_ADD_ATOM(signaling, signaling, create_atom, "create")
  // directory -> connection: (created_atom, id, room, resume token)
  CAF_ADD_ATOM(signaling, signaling, created_atom, "created")
  // connection -> directory: (join_room_atom, id, guest);
  // directory -> room: (join_room_atom, guest, resume token)
  CAF_ADD_ATOM(signaling, signaling, join_room_atom, "join_room")
  // directory|room -> connection: (refused_atom, error code name)
  CAF_ADD_ATOM(signaling, signaling, refused_atom, "refused")
  // room -> guest: (joined_atom, id, room, host, resume token)
  CAF_ADD_ATOM(signaling, signaling, joined_atom, "joined")
  // room -> host: (peer_joined_atom, room, guest)
  CAF_ADD_ATOM(signaling, signaling, peer_joined_atom, "peer_join")
  // connection -> room: (leave_room_atom, member)
  CAF_ADD_ATOM(signaling, signaling, leave_room_atom, "leave_room")
  // room -> remaining member: (peer_left_atom, room)
  CAF_ADD_ATOM(signaling, signaling, peer_left_atom, "peer_left")
  // connection|room -> connection, or connection -> room standing in for a
  // member on another node: (deliver_atom, room id, frame, t0) where t0
  // (now_ns) is when the frame reached this node, for the relay histogram
  CAF_ADD_ATOM(signaling, signaling, deliver_atom, "deliver")
  // room -> connection: (relay_failed_atom, room id): a frame could not be
  // handed to the member on another node
  CAF_ADD_ATOM(signaling, signaling, relay_failed_atom, "relay_fail")

  // Seat resume (docs/protocol.md, "Seats").
  // connection -> room: (park_atom, member, acked): its connection was lost,
  // not closed, after `acked` signal/chat messages relayed in this seat
  CAF_ADD_ATOM(signaling, signaling, park_atom, "park")
  // room -> member: (peer_gone_atom, room): the other member's connection was
  // lost; send to the room from now on (it keeps the frames)
  CAF_ADD_ATOM(signaling, signaling, peer_gone_atom, "peer_gone")
  // room -> member: (peer_back_atom, room, peer): the other member resumed;
  // `peer` is its connection (same node) or the room (standing in for it)
  CAF_ADD_ATOM(signaling, signaling, peer_back_atom, "peer_back")
  // connection -> directory: (resume_atom, id, token, conn);
  // directory -> room: (resume_atom, token, conn) -> role ("" refused)
  CAF_ADD_ATOM(signaling, signaling, resume_atom, "resume")
  // room -> connection: (resumed_atom, id, room, peer, role, new token,
  // frames kept for it, frames dropped, peer connected, acked or -1)
  CAF_ADD_ATOM(signaling, signaling, resumed_atom, "resumed")
  // room, to itself: (grace_over_atom, role, timer generation)
  CAF_ADD_ATOM(signaling, signaling, grace_over_atom, "grace_over")
  // node shutdown -> directory -> rooms: (park_all_atom) -> members parked:
  // every member here keeps its seat for a resume elsewhere;
  // room -> connection: (park_all_atom) -> acked: relay nothing more
  CAF_ADD_ATOM(signaling, signaling, park_all_atom, "park_all")

  // Cluster mode: what arrives from other nodes, forwarded to a room actor.
  // (remote_frame_atom, from node, frame, t0)  a frame from the member over there
  CAF_ADD_ATOM(signaling, signaling, remote_frame_atom, "r_frame")
  // (remote_joined_atom, node, conn)        a guest joined over there
  CAF_ADD_ATOM(signaling, signaling, remote_joined_atom, "r_joined")
  // (remote_left_atom, from node)           the member over there is gone
  CAF_ADD_ATOM(signaling, signaling, remote_left_atom, "r_left")
  // (remote_parked_atom, from node)         its connection was lost: seat parked
  CAF_ADD_ATOM(signaling, signaling, remote_parked_atom, "r_parked")
  // (remote_resumed_atom, node, conn)       the parked member resumed over there
  CAF_ADD_ATOM(signaling, signaling, remote_resumed_atom, "r_resumed")
  // (fence_atom, from node)                 our own park went through Redis
  CAF_ADD_ATOM(signaling, signaling, fence_atom, "fence")
  // directory -> room: (restore_atom)      write yourself back into Redis
  CAF_ADD_ATOM(signaling, signaling, restore_atom, "restore")
  // cluster directory, to itself: answers from Redis
  CAF_ADD_ATOM(signaling, signaling, create_done_atom, "create_ok")
  CAF_ADD_ATOM(signaling, signaling, join_done_atom, "join_ok")
  CAF_ADD_ATOM(signaling, signaling, registry_lost_atom, "reg_lost")

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
  // inspector -> directory: (list_rooms_atom) -> (ids, rooms, hosted count)
  CAF_ADD_ATOM(signaling, signaling, list_rooms_atom, "list_rooms")
  // room -> member: (room_closed_atom, room): the operator closed the room
  CAF_ADD_ATOM(signaling, signaling, room_closed_atom, "room_closd")

CAF_END_TYPE_ID_BLOCK(signaling)

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::frame_ptr)
