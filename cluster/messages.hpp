// The messages of cluster mode's actors, declared once (the block continues
// actors/messages.hpp's IDs): envelopes from other nodes routed to a room,
// and Redis's answers, which come back on a Redis strand and return to the
// room or directory that asked as messages.
#pragma once

#include "actors/messages.hpp"
#include "cluster/envelope.hpp"
#include "cluster/scripts.hpp"

#include <caf/actor.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <string>
#include <variant>

namespace signaling::cluster {

// An envelope for a room (any kind but a frame the registry handed to its
// member directly). `frame` holds an F envelope's body.
struct room_envelope {
  envelope::kind k = envelope::kind::left;
  std::string node, role, body;
  frame_ptr frame;
  std::int64_t received = 0;
};

// -- Redis's answers to a room --------------------------------------------------

struct park_done {
  seat_role role;
  park_reply reply;
};
struct resume_done {
  caf::actor conn;
  std::string token; // the seat's new token, if it resumed
  resume_reply reply;
};
// Our J envelope reached the host's node (or could not).
struct join_announced {
  bool delivered = false;
};
struct grace_checked {
  seat_role role;
  std::uint64_t timer = 0;
  bool ended = false;
};
// RESTORE refused: the id went to another room while Redis had lost ours.
struct record_lost {};

// The seat channel of our member in seat `role` (redis_bridge::subscribe_seat)
// is listened on (ok), or could not be.
struct channel_ready {
  seat_role role;
  std::string channel;
  bool ok = false;
};

// The subscriber link holding that channel dropped: it is gone for good.
struct channel_lost {
  seat_role role;
  std::string channel;
};

// Time to listen again for member `role` (after a lost channel, or a
// subscribe refused while the link was down).
struct channel_retry {
  seat_role role;
};

// Redis confirmed we no longer listen on the seat channel of `role`: nothing
// sent there reaches us any more, and its park may run.
struct channel_closed {
  seat_role role;
  std::string conn;
  std::uint64_t acked = 0;
};

// -- the directory tells its rooms ----------------------------------------------

// A shard lost our records (a restart without data, FLUSHALL, a failover
// that lost the last writes): rooms on it write theirs back. The directory
// hears which shard (-1: every one); a room only hears it concerns it.
struct write_back {
  std::int32_t shard = -1;
};
// Other nodes reaped this node on a shard (it was cut off past its TTL): the
// shard's rooms are gone cluster-wide and their other members were told; end
// them here too.
struct reaped {
  std::int32_t shard = -1;
};

// -- Redis's answers to the directory --------------------------------------------

struct create_done {
  std::string room_id;
  caf::actor conn;
  std::string token;
  int attempt = 0;
  create_reply reply;
};
struct join_done {
  std::string room_id;
  caf::actor conn;
  std::string token;
  join_reply reply;
};
// The cluster-wide join-miss budget of a request's address was read.
struct misses_checked {
  using pending = std::variant<join_room_request, resume_request>;
  pending request;
  bool allowed = true;
  const caf::actor& conn() const {
    return std::visit([](const auto& r) -> const caf::actor& { return r.conn; }, request);
  }
};

} // namespace signaling::cluster

CAF_BEGIN_TYPE_ID_BLOCK(signaling_cluster, caf::id_block::signaling::end)

  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::room_envelope))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::park_done))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::resume_done))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::join_announced))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::grace_checked))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::record_lost))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::write_back))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::reaped))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::create_done))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::join_done))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::misses_checked))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::channel_ready))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::channel_closed))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::channel_lost))
  CAF_ADD_TYPE_ID(signaling_cluster, (signaling::cluster::channel_retry))

CAF_END_TYPE_ID_BLOCK(signaling_cluster)

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::room_envelope)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::park_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::resume_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::join_announced)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::grace_checked)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::record_lost)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::write_back)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::reaped)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::create_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::join_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::misses_checked)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::channel_ready)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::channel_closed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::channel_lost)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(signaling::cluster::channel_retry)
