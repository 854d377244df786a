// The Prometheus text exposition of a node's counters, written by hand in
// this one unit (format 0.0.4: # HELP, # TYPE, samples).
#pragma once

#include "actors/remote.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace signaling {

struct node_stats;

struct redis_view {
  bool up = false; // at least one shard usable
  std::uint64_t reconnects = 0;
  std::vector<cluster_view::shard_state> shards;
};

// `redis` is empty in embedded mode.
std::string render_metrics(const node_stats& stats, bool ready, const std::optional<redis_view>& redis);

} // namespace signaling
