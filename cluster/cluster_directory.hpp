// Cluster mode (REDIS_URL or REDIS_SENTINELS set): the room directory backed
// by Redis, and the runtime that wires it to one bridge per shard (and to
// the Sentinels, when they name the primaries): envelopes from other nodes
// routed to rooms and members (room_registry), and what the node reads of
// the cluster (actors/remote.hpp's cluster_view). Connection actors see the
// same room_directory interface as in embedded mode.
#pragma once

#include "actors/remote.hpp"
#include "actors/room_directory.hpp"
#include "cluster/redis_bridge.hpp"
#include "cluster/shards.hpp"

#include <chrono>
#include <memory>
#include <optional>

namespace signaling {
struct node_stats;
}

namespace signaling::cluster {

class cluster_runtime final : public cluster_view {
public:
  // `opts` holds what every shard's bridge shares (node id, TTLs, resume
  // bounds); `plan` the shards and sentinels.
  // `join_misses_per_ip`: the cluster-wide budget joins and resumes are
  // checked against (JOIN_MISSES_PER_IP; 0: none).
  cluster_runtime(caf::actor_system& sys, boost::asio::io_context& ioc, redis_plan plan, redis_bridge::options opts,
                  node_stats& stats, unsigned room_id_digits, std::uint32_t join_misses_per_ip);
  ~cluster_runtime() override;

  room_directory directory() const;
  void start();
  // Blocks (the I/O threads must be running) until every shard has been up
  // once or refused this node, at most `timeout`; then why Redis refuses
  // this node (credentials, permissions, another shard list), if it does. A
  // shard merely unreachable is no refusal: the node starts unready.
  std::optional<std::string> await_settled(std::chrono::milliseconds timeout);
  // Graceful exit: leaves the registry at once (see redis_bridge::leave).
  void leave(std::function<void()> done);
  void stop();

  // Per-address budgets for the whole cluster, on the shard the address
  // hashes to (redis_bridge::address_misses and *_address_slot). `cb` gets
  // ok, refused, or unavailable when that shard cannot answer now: the
  // caller then goes by the node's own budget. It runs on a Redis strand,
  // or here at once when the shard is down.
  void charge_join_miss(const std::string& address) const;
  void take_address_slot(const std::string& address, std::size_t cap, std::function<void(outcome)> cb) const;
  void give_address_slot(const std::string& address) const;

  // cluster_view
  bool up() const override;
  std::uint64_t reconnects() const override;
  std::vector<shard_state> shards() const override;
  totals cluster_totals() const override;
  void list_nodes(std::function<void(bool ok, std::vector<node_entry> nodes)> cb) const override;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::cluster
