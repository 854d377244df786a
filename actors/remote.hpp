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
  };
  struct totals {
    std::int64_t rooms = 0, connections = 0, nodes = 0;
  };

  virtual ~cluster_view() = default;
  // Redis reachable for commands and relaying (the node is ready).
  virtual bool up() const = 0;
  // Times the Redis links came back after having been up.
  virtual std::uint64_t reconnects() const = 0;
  // Cluster-wide counts as of the last heartbeat (this node's own until then).
  virtual totals cluster_totals() const = 0;
  // Every node of the registry, read from Redis now; `ok` false if Redis
  // failed. `cb` runs on a Redis thread.
  virtual void list_nodes(std::function<void(bool ok, std::vector<node_entry> nodes)> cb) const = 0;
};

} // namespace signaling
