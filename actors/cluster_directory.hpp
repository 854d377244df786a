// Cluster mode (REDIS_URL set): the room directory backed by Redis, and the
// glue that turns envelopes from other nodes into messages for room actors.
// Connection actors see the same room_directory interface as in embedded
// mode; room actors reach other nodes through the redis_bridge.
#pragma once

#include "actors/room_directory.hpp"
#include "cluster/redis_bridge.hpp"

#include <memory>

namespace signaling {

struct node_stats;

class cluster_runtime {
public:
  cluster_runtime(caf::actor_system& sys, boost::asio::io_context& ioc, cluster::redis_bridge::options opts,
                  node_stats& stats, unsigned room_id_digits);
  ~cluster_runtime();

  room_directory directory() const;
  void start();
  void leave(std::function<void()> done);
  void stop();
  bool up() const;
  std::uint64_t reconnects() const;
  cluster::redis_bridge::totals totals() const;
  // Every node in the Redis registry (see redis_bridge::list_nodes).
  void list_nodes(std::function<void(bool ok, std::vector<cluster::redis_bridge::node_entry>)> cb) const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling
