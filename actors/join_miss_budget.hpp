// How many refused join-room (room-unavailable) each client address may still
// collect, shared by every connection of a node (JOIN_MISSES_PER_IP). A scanner
// that reconnects after each wrong guess, or guesses on many connections at
// once, spends one budget per address, not one per connection. Thread-safe:
// connection actors run on every I/O thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace signaling {

class join_miss_budget {
public:
  using clock = std::chrono::steady_clock;

  // `per_minute` misses per address, refilled evenly over a minute, at most
  // that many saved up. 0: no budget (always allowed).
  explicit join_miss_budget(std::uint32_t per_minute) : per_minute_(per_minute) {}

  // Whether `address` may try a join now (has a miss left to spend).
  bool allow(const std::string& address, clock::time_point now = clock::now());
  // A join from `address` missed: spends one (and one of its cluster-wide
  // budget, in cluster mode).
  void charge(const std::string& address, clock::time_point now = clock::now());
  // Cluster mode: each charge is also spent from the address's budget for
  // the whole cluster (kept in Redis; the directory checks it before a join
  // goes on). Set once, before any connection; runs on the charging thread.
  void share_with(std::function<void(const std::string& address)> charge_shared) {
    shared_ = std::move(charge_shared);
  }
  // Addresses currently tracked (those that missed recently).
  std::size_t tracked() const;

private:
  struct bucket {
    double tokens;
    clock::time_point last;
  };
  double refill(bucket& b, clock::time_point now) const;
  void sweep(clock::time_point now);

  const std::uint32_t per_minute_;
  std::function<void(const std::string&)> shared_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
  std::size_t sweep_at_ = 1024;
};

} // namespace signaling
