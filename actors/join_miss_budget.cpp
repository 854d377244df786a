#include "actors/join_miss_budget.hpp"

#include <algorithm>

namespace signaling {

double join_miss_budget::refill(bucket& b, clock::time_point now) const {
  double rate = per_minute_ / 60.0;
  b.tokens = std::min<double>(per_minute_, b.tokens + rate * std::chrono::duration<double>(now - b.last).count());
  b.last = now;
  return b.tokens;
}

bool join_miss_budget::allow(const std::string& address, clock::time_point now) {
  if (per_minute_ == 0)
    return true;
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = buckets_.find(address);
  return i == buckets_.end() || refill(i->second, now) >= 1;
}

void join_miss_budget::charge(const std::string& address, clock::time_point now) {
  if (per_minute_ == 0)
    return;
  if (shared_)
    shared_(address);
  std::lock_guard<std::mutex> guard{mutex_};
  auto [i, fresh] = buckets_.try_emplace(address, bucket{static_cast<double>(per_minute_), now});
  if (!fresh)
    refill(i->second, now);
  i->second.tokens = std::max(0.0, i->second.tokens - 1);
  if (buckets_.size() >= sweep_at_)
    sweep(now);
}

// An address whose budget is full again is no different from one never seen:
// forget it, so the map holds only recent guessers, whatever the churn.
void join_miss_budget::sweep(clock::time_point now) {
  for (auto i = buckets_.begin(); i != buckets_.end();)
    i = refill(i->second, now) >= per_minute_ ? buckets_.erase(i) : std::next(i);
  sweep_at_ = std::max<std::size_t>(1024, buckets_.size() * 2);
}

std::size_t join_miss_budget::tracked() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return buckets_.size();
}

} // namespace signaling
