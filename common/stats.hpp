// Counters of one node, shared by transport/ and actors/. Each counter is
// updated at the one place where the fact it counts happens (a session opening,
// the directory adding a room), so it cannot drift from the actors' state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace signaling {

struct node_stats {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> connections{0};     // open WebSocket sessions
  std::atomic<std::int64_t> rooms{0};           // rooms hosted here (the host is on this node)
  std::atomic<std::int64_t> room_actors{0};     // room actors alive here (cluster: also joined rooms)
  std::atomic<std::uint64_t> messages_in{0};    // text frames received
  std::atomic<std::uint64_t> relayed{0};        // frames handed to a peer
  std::atomic<std::uint64_t> errors_sent{0};    // `error` frames sent
  std::atomic<std::uint64_t> slow_closed{0};    // readers cut at the send-queue limit

  double uptime_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
};

} // namespace signaling
