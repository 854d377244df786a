// What every actor of a node may read: the actor system, the room directory,
// the limits, the counters and the registry of live connection actors. Built
// once at start-up by node/, outlives every actor (the node joins all actors
// before destroying it).
#pragma once

#include "actors/connection_registry.hpp"
#include "actors/join_miss_budget.hpp"
#include "actors/room_directory.hpp"
#include "actors/limits.hpp"
#include "telemetry/stats.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace caf {
class actor_system;
}

namespace signaling {

struct node_context {
  caf::actor_system& system;
  room_directory directory;
  limits lim;
  node_stats& stats;
  std::string node_id;
  // The live connection actors (handles only), for the operator console.
  std::shared_ptr<connection_registry> conns = std::make_shared<connection_registry>();
  // Refused joins per client address, shared by all its connections.
  std::shared_ptr<join_miss_budget> join_misses = std::make_shared<join_miss_budget>(lim.join_misses_per_ip);
  // PAIR_THREADS: a connection whose peer is on this node moves to its
  // peer's I/O thread when it joins or resumes (actors/connection_actor.cpp).
  bool pair_threads = true;
  // The time the connection actors' rate limits and deadlines are measured
  // in (tests step it instead of waiting for it to pass).
  std::chrono::steady_clock::time_point (*now)() = &std::chrono::steady_clock::now;
};

} // namespace signaling
