// One room on one node: its id, its members here, and (cluster mode) the
// member on another node. It admits the guest and introduces the members:
// two members on this node then relay straight to each other; a member on
// another node is stood in for by this actor, which publishes the frames it
// gets to that node and hands over the frames that come back. It ends the
// room when either member leaves (the seed's rule), telling the other one,
// and removes the room from Redis. A member whose connection is lost rather
// than closed keeps its seat for the resume grace (docs/protocol.md, "Seats"):
// the room keeps the frames for it (embedded mode) or has Redis keep them
// (cluster mode), so it can resume on any node.
#pragma once

#include "actors/link.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace signaling {

namespace cluster {
class redis_bridge;
}
struct node_stats;

// Cluster mode: this node's room actors by room id, read by the Redis
// subscriber's callback (an I/O thread) to route envelopes, written by the
// directory when a room starts and by the room itself when it ends.
class room_registry {
public:
  void put(const std::string& id, caf::actor room);
  void erase(const std::string& id, const caf::actor_addr& room);
  caf::actor find(std::string_view id) const;

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, caf::actor> rooms_;
};

// How a room reaches other nodes; bridge and registry are null in embedded mode.
struct room_links {
  cluster::redis_bridge* bridge = nullptr;
  std::string node_id;
  node_stats* stats = nullptr;
  room_registry* registry = nullptr;
  // Seat resume (RESUME_GRACE_SECONDS; 0: off, a lost connection ends the
  // room as in the seed) and the bounds of the frames kept for a parked seat.
  std::chrono::milliseconds resume_grace{15000};
  std::size_t resume_frames = 256;
  std::size_t resume_bytes = 1 << 20;
};

// One of the two seats of a room (0: host, 1: guest), as this node sees it.
struct seat {
  caf::actor local;       // its connection, when on this node
  std::string node, conn; // cluster mode: where it is seated when not here
  bool parked = false;    // its connection was lost, its grace runs
  std::uint64_t timer = 0; // generation of our grace timer for it (0: none)
  bool fencing = false;    // cluster: parked by us, our fence not back yet
  std::vector<std::string> in_flight; // frames for it that arrived before the fence
  std::int64_t joined_ms = 0;
  std::int64_t acked = -1; // parked: signal/chat messages it had relayed (-1: not known)
  bool freezing = false;   // node drain: asked its connection to stop relaying
  // Embedded mode keeps a seat's resume token and a parked seat's frames.
  std::string token;
  std::deque<frame_ptr> kept;
  std::size_t kept_bytes = 0;
  std::uint64_t dropped = 0;
  bool taken() const { return local || !node.empty() || parked; }
};

struct room_state {
  std::string id;
  std::string gen; // cluster: the room's generation in Redis (its first host connection)
  const room_links* links = nullptr;
  seat seats[2];
  bool ended = false;
  bool confirmed = true; // false until a guest joining from here has been told `peer-joined`
  bool resuming = false; // spawned for a resume here; waiting for Redis's answer
  // Envelopes that arrived while resuming: (from node, frame).
  std::vector<std::pair<std::string, frame_ptr>> early;
  // park_all (node drain): answered once every park's fence is back.
  std::vector<caf::response_promise> parked_waiters;
  // Resumes sent to Redis, answered in order.
  std::deque<caf::response_promise> pending_resumes;
  // For the operator console: when this actor started, and frames from the
  // member on another node.
  std::int64_t opened_ms = 0;
  std::uint64_t remote_frames = 0;
  static inline const char* name = "room";
};

// A room created on this node: `host` is here.
caf::behavior room_actor(caf::stateful_actor<room_state>* self, std::string id, caf::actor host, std::string token,
                         const room_links* links);

// Cluster mode: `guest` here joined a room hosted on `host_node`.
caf::behavior joined_room_actor(caf::stateful_actor<room_state>* self, std::string id, caf::actor guest,
                                std::string host_node, std::string host_conn, std::string gen, std::string token,
                                const room_links* links);

// Cluster mode: a member resumes here a room none of whose members is here;
// its seat and the rest come with Redis's answer to (resume_atom, ...).
caf::behavior resuming_room_actor(caf::stateful_actor<room_state>* self, std::string id, const room_links* links);

// The name a connection actor has in Redis records: its actor id.
std::string conn_name(const caf::actor& a);

} // namespace signaling
