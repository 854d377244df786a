// The room actor of cluster mode: the same interface as the embedded room
// (actors/room_actor.hpp) over the same rules (room_seats), with the other
// member possibly on another node and every seat also kept in Redis. A node
// has a room actor for a room while a member of it is here: the host's node
// and, when the guest is elsewhere, the guest's node each have one, and they
// learn of each other's changes by envelopes (cluster/envelope.hpp).
// Frames between the members never pass through it: a member here sends
// through the relay port it got for the other seat (one PUBLISH to that
// seat's channel while its node listens there, else one SEAT_FRAMES call in
// Redis), and frames arriving for a member here go straight to its
// connection (room_registry). The room subscribes its members' seat
// channels when their peer is on another node and tells that node (C), and
// steps in around a lost member: it stops listening on the member's channel
// before the park, and frames that reached this node for it before the park
// took effect are kept ahead of the rest.
#pragma once

#include "actors/room_actor.hpp"
#include "cluster/messages.hpp"
#include "cluster/shards.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace signaling::cluster {

class room_registry;

using cluster_room_actor =
  room_actor::extend<caf::reacts_to<room_envelope>, caf::reacts_to<park_done>, caf::reacts_to<resume_done>,
                     caf::reacts_to<join_announced>, caf::reacts_to<grace_checked>, caf::reacts_to<record_lost>,
                     caf::reacts_to<write_back>, caf::reacts_to<reaped>, caf::reacts_to<channel_ready>,
                     caf::reacts_to<channel_closed>, caf::reacts_to<channel_lost>, caf::reacts_to<channel_retry>>;

struct cluster_room_settings : room_settings {
  const shard_set* shards = nullptr;
  room_registry* registry = nullptr;
};

// A room created here (already recorded in Redis): `host` seated; it tells
// the host room_created.
cluster_room_actor spawn_hosted_room(caf::actor_system& sys, std::string id, caf::actor host, std::string token,
                                     const cluster_room_settings* settings);

// `guest` here was seated (in Redis) in a room hosted on `host_node`: it
// tells the host's node, then the guest room_joined.
cluster_room_actor spawn_joined_room(caf::actor_system& sys, std::string id, caf::actor guest, std::string host_node,
                                     std::string host_conn, std::string gen, std::string token,
                                     const cluster_room_settings* settings);

// A member resumes here a room none of whose members is here: its seat and
// the rest come with Redis's answer to its resume_seat.
cluster_room_actor spawn_resuming_room(caf::actor_system& sys, std::string id, const cluster_room_settings* settings);

// The name a connection actor has in Redis records: this process's
// incarnation and its actor id.
std::string conn_name(const caf::actor& conn);

} // namespace signaling::cluster
