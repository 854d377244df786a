// Counters of one node, shared by transport/, actors/ and cluster glue. Each
// counter is updated at the one place where the fact it counts happens (a
// session opening, the directory adding a room), so it cannot drift from the
// actors' state. node/metrics.cpp renders them for Prometheus.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace signaling {

// Why a WebSocket ended, from the server's side.
enum class close_kind : std::size_t {
  client,          // the client sent a close frame (or closed after ours)
  going_away,      // we closed 1001
  service_restart, // we closed 1012 (drain)
  unsupported,     // we closed 1003 (binary frame)
  policy,          // we closed 1008 (rate limit)
  too_big,         // Beast closed 1009
  protocol_error,  // Beast failed the connection (framing, UTF-8, ...)
  slow_reader,     // cut off at the send-queue limit
  timeout,         // idle or handshake deadline
  dropped,         // TCP reset or EOF without a close frame
  count_
};

// Latency of a relay inside this node: frame read (or, cross-node, received
// from Redis) until it is queued on the receiving socket. Fixed buckets, µs.
struct latency_histogram {
  static constexpr std::array<std::uint64_t, 12> bounds_us{25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000};
  std::array<std::atomic<std::uint64_t>, bounds_us.size() + 1> buckets{}; // last: +Inf
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum_ns{0};

  void observe(std::chrono::nanoseconds d) {
    auto us = static_cast<std::uint64_t>(d.count() / 1000);
    std::size_t i = 0;
    while (i < bounds_us.size() && us > bounds_us[i])
      ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    sum_ns.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  }
};

// Upgrades the node refused, by HTTP status (transport/http_session.cpp):
// 401 no or a bad token, 403 origin not allowed, 429 per-address cap, 503
// MAX_CONNECTIONS or draining. Any other status counts as "other".
struct refused_upgrades {
  static constexpr std::array<int, 4> statuses{401, 403, 429, 503};
  std::array<std::atomic<std::uint64_t>, statuses.size() + 1> by_status{}; // last: other

  void count(int status) {
    std::size_t i = 0;
    while (i < statuses.size() && statuses[i] != status)
      ++i;
    by_status[i].fetch_add(1, std::memory_order_relaxed);
  }
};

struct node_stats {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();
  std::atomic<std::int64_t> connections{0};      // open WebSocket sessions
  std::atomic<std::int64_t> rooms{0};            // rooms hosted here (the host is on this node)
  std::atomic<std::int64_t> room_actors{0};      // room actors alive here (cluster: also joined rooms)
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> rooms_created{0};
  std::atomic<std::uint64_t> messages_in{0};     // text frames received
  std::atomic<std::uint64_t> messages_out{0};    // text frames handed to client sockets
  // Relayed frames, each counted once where it happens, so every one only
  // ever grows (a Prometheus counter must never go down):
  std::atomic<std::uint64_t> relayed_local{0};   // sender and receiver both here, delivered
  std::atomic<std::uint64_t> relayed_resumed{0}; // kept for a parked seat, handed over on its resume here
  std::atomic<std::uint64_t> relayed_out{0};     // frames published to a peer's node
  std::atomic<std::uint64_t> relayed_in{0};      // frames received from another node
  std::atomic<std::uint64_t> relay_failed{0};    // cross-node frames that could not be delivered
  // How the frames of relayed_out went (cluster/direct_route.hpp): a plain
  // PUBLISH to the seat's channel, or SEAT_FRAMES; `resent` of the scripted
  // ones had gone directly first and found nobody listening.
  std::atomic<std::uint64_t> cross_direct{0};
  std::atomic<std::uint64_t> cross_scripted{0};
  std::atomic<std::uint64_t> cross_resent{0};
  std::atomic<std::uint64_t> slow_closed{0};     // readers cut at the send-queue limit
  std::atomic<std::uint64_t> thread_moves{0};    // connections moved to their peer's I/O thread (PAIR_THREADS)
  std::array<std::atomic<std::uint64_t>, 16> errors{};  // `error` frames sent, by protocol::error_code
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(close_kind::count_)> closes{};
  refused_upgrades upgrades_refused;
  // Seats parked in rooms whose actor lives here (actors/room_seats.hpp keeps
  // it: each room adds what it holds and takes it back when it goes).
  std::atomic<std::int64_t> parked_seats{0};
  latency_histogram relay_latency;
  // Round trip of the heartbeat (one small Lua script a HEARTBEAT_MS) to Redis.
  latency_histogram redis_heartbeat;

  void count_close(close_kind k) { closes[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed); }

  double uptime_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
};

// Monotonic nanoseconds, the clock relay latency is measured with.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

} // namespace signaling
