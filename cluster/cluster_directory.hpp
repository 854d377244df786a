// Cluster mode (REDIS_URL set): the room directory backed by Redis, and the
// runtime that wires it to the bridge: envelopes from other nodes routed to
// rooms and members (room_registry), and what the node reads of the cluster
// (actors/remote.hpp's cluster_view). Connection actors see the same
// room_directory interface as in embedded mode.
#pragma once

#include "actors/remote.hpp"
#include "actors/room_directory.hpp"
#include "cluster/redis_bridge.hpp"

#include <memory>

namespace signaling {
struct node_stats;
}

namespace signaling::cluster {

class cluster_runtime final : public cluster_view {
public:
  cluster_runtime(caf::actor_system& sys, boost::asio::io_context& ioc, redis_bridge::options opts, node_stats& stats,
                  unsigned room_id_digits);
  ~cluster_runtime() override;

  room_directory directory() const;
  void start();
  // Graceful exit: leaves the registry at once (see redis_bridge::leave).
  void leave(std::function<void()> done);
  void stop();

  // cluster_view
  bool up() const override;
  std::uint64_t reconnects() const override;
  totals cluster_totals() const override;
  void list_nodes(std::function<void(bool ok, std::vector<node_entry> nodes)> cb) const override;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::cluster
