// One room on one node: its id, its members here, and (cluster mode) the
// member on another node. It admits the guest and introduces the members:
// two members on this node then relay straight to each other; a member on
// another node is stood in for by this actor, which publishes the frames it
// gets to that node and hands over the frames that come back. It ends the
// room when either member leaves or terminates (the seed's rule), telling
// the other one, and removes the room from Redis.
#pragma once

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

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
};

struct room_state {
  std::string id;
  const room_links* links = nullptr;
  caf::actor host;  // on this node, or null
  caf::actor guest; // on this node, or null
  // The member on another node (cluster mode), as recorded in Redis.
  std::string remote_node;
  std::string remote_conn;
  // The host as recorded in Redis: guards end_room against a reused id.
  std::string host_node;
  std::string host_conn;
  bool ended = false;
  bool confirmed = true; // false until a guest joining from here has been told `peer-joined`
  // For the operator console: when this actor started and each member joined
  // (unix ms; 0: not known here), and frames from the member on another node.
  std::int64_t opened_ms = 0;
  std::int64_t host_joined_ms = 0;
  std::int64_t guest_joined_ms = 0;
  std::uint64_t remote_frames = 0;
  static inline const char* name = "room";
};

// A room created on this node: `host` is here.
caf::behavior room_actor(caf::stateful_actor<room_state>* self, std::string id, caf::actor host,
                         const room_links* links);

// Cluster mode: `guest` here joined a room hosted on `host_node`.
caf::behavior joined_room_actor(caf::stateful_actor<room_state>* self, std::string id, caf::actor guest,
                                std::string host_node, std::string host_conn, const room_links* links);

// The name a connection actor has in Redis records: its actor id.
std::string conn_name(const caf::actor& a);

} // namespace signaling
