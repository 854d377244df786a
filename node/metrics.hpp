// The Prometheus text exposition of a node's counters, written by hand in
// this one unit (format 0.0.4: # HELP, # TYPE, samples). Names follow
// Prometheus conventions (base units, _total counters, _info, process_*);
// deploy/prometheus/ (alert rules, dashboard) uses only what is rendered here,
// and tests/prometheus checks that against a live scrape.
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

// What the node knows beside its counters.
struct node_view {
  bool ready = false;
  std::uint64_t max_connections = 0; // MAX_CONNECTIONS
  std::optional<redis_view> redis;   // empty in embedded mode
};

std::string render_metrics(const node_stats& stats, const node_view& node);

} // namespace signaling
