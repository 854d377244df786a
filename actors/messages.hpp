// Every atom and message type exchanged between the actors of a node, declared
// once. Frames travel as transport::frame_ptr (one immutable buffer shared by
// every hop), which never leaves the process, hence "unsafe" in CAF's terms.
#pragma once

#include "transport/ws_link.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/type_id.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(signaling, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(signaling, (signaling::transport::frame_ptr))

  // connection -> directory: (create_atom, host)          a new room, host seated
  CAF_ADD_ATOM(signaling, signaling, create_atom, "create")
  // directory -> connection: (created_atom, id, room)
  CAF_ADD_ATOM(signaling, signaling, created_atom, "created")
  // connection -> directory -> room: (join_room_atom, id, guest)
  CAF_ADD_ATOM(signaling, signaling, join_room_atom, "join_room")
  // directory|room -> connection: (refused_atom, error code name)
  CAF_ADD_ATOM(signaling, signaling, refused_atom, "refused")
  // room -> guest: (joined_atom, id, room, host)
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

  // Cluster mode: what arrives from other nodes, forwarded to a room actor.
  // (remote_frame_atom, from node, frame, t0)  a frame from the member over there
  CAF_ADD_ATOM(signaling, signaling, remote_frame_atom, "r_frame")
  // (remote_joined_atom, node, conn)        a guest joined over there
  CAF_ADD_ATOM(signaling, signaling, remote_joined_atom, "r_joined")
  // (remote_left_atom, from node)           the member over there is gone
  CAF_ADD_ATOM(signaling, signaling, remote_left_atom, "r_left")
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

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::transport::frame_ptr)
