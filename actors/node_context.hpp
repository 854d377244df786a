// What every actor of a node may read: the actor system, the room directory,
// the limits and the counters. Built once at start-up by node/, outlives every
// actor (the node joins all actors before destroying it).
#pragma once

#include "actors/room_directory.hpp"
#include "common/limits.hpp"
#include "common/stats.hpp"

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
};

} // namespace signaling
