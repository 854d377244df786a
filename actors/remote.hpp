// The seam between the actors and the cluster (cluster/, Redis): what a
// member on this node needs of a seat on another node, and what the node and
// its console read of the cluster. Owned by actors/, implemented by cluster/;
// embedded mode has none of them. No Redis header comes through this file.
#pragma once

#include <caf/fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace signaling {

// A seat of a room whose member is not on this node (seated on another node,
// or parked): frames for it go through here. A member gets one from its
// room, for the other seat, and calls it from its own I/O thread.
class remote_relay {
public:
  virtual ~remote_relay() = default;
  // A validated frame from `sender` (a connection actor of this node) for
  // this seat: published to the seat's node, in order, or kept for the seat
  // while it is parked. If it cannot be handed over, `sender` hears
  // relay_failed. Thread-safe; copies `frame`.
  virtual void relay(std::string_view frame, const caf::actor& sender) = 0;
};

// What this node knows of the cluster, for /api/ping, /readyz, /metrics and
// the console.
class cluster_view {
public:
  // One node of the registry, as of its last heartbeat.
  struct node_entry {
    std::string id;
    bool alive = false; // false once its heartbeat expired (it is reaped next)
    std::int64_t rooms = 0, connections = 0;
    std::string info; // what it wrote about itself (admin address, start), JSON
    std::uint32_t shards_alive = 0; // shards (of those this node could read) holding its heartbeat
  };
  // One Redis shard as this node sees it. With one Redis there is one.
  struct shard_state {
    std::string name;    // host:port[/db] or the Sentinel master name
    std::string state;   // "up", "down", or "refused" (credentials, permissions, another shard list)
    std::string primary; // host:port the node's links are (or were last) on; empty before
    std::string problem; // why it is not up, when known
    std::uint64_t reconnects = 0; // links re-established after a loss
    std::uint64_t failovers = 0;  // times the primary's address changed
  };
  struct totals {
    std::int64_t rooms = 0, connections = 0, nodes = 0;
  };

  virtual ~cluster_view() = default;
  // At least one shard usable for commands and relaying, and no shard
  // saying this node's shard list differs from the cluster's (the node is
  // ready).
  virtual bool up() const = 0;
  // Times the Redis links came back after having been up (every shard).
  virtual std::uint64_t reconnects() const = 0;
  // Every shard, in the order configured.
  virtual std::vector<shard_state> shards() const = 0;
  // Cluster-wide counts as of the last heartbeat (this node's own until then).
  virtual totals cluster_totals() const = 0;
  // Every node of the registries of all shards, read from Redis now, merged
  // by id; `ok` false if no shard answered. `cb` runs on a Redis thread.
  virtual void list_nodes(std::function<void(bool ok, std::vector<node_entry> nodes)> cb) const = 0;
};

} // namespace signaling
