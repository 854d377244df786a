#include "transport/timer_wheel.hpp"

namespace signaling::transport {

timer_wheel::timer_wheel(boost::asio::io_context& ioc, clock::time_point base) : timer_(ioc.get_executor()), base_(base) {}

timer_wheel::~timer_wheel() {
  // Owners may outlive the wheel at shutdown: cut every entry loose, so their
  // destructors unlink from nothing.
  for (auto& head : heads_) {
    while (auto* e = head)
      e->unschedule();
  }
}

std::uint64_t timer_wheel::now_tick() const {
  return static_cast<std::uint64_t>((clock::now() - base_) / tick);
}

std::uint64_t timer_wheel::at(clock::time_point when) const {
  if (when <= base_)
    return 0;
  auto d = when - base_;
  auto t = static_cast<std::uint64_t>(d / tick);
  return d % tick == clock::duration::zero() ? t : t + 1;
}

void timer_wheel::schedule(timer_entry& e, clock::time_point when) {
  schedule_tick(e, when == clock::time_point::max() ? UINT64_MAX : at(when));
}

void timer_wheel::schedule_tick(timer_entry& e, std::uint64_t due) {
  e.unschedule();
  if (due == UINT64_MAX || stopped_)
    return;
  // Already due: the next tick (an entry never fires inside schedule()).
  insert(e, due <= current_ ? current_ + 1 : due);
  if (e.due_ < armed_for_)
    arm();
}

void timer_wheel::insert(timer_entry& e, std::uint64_t due) {
  e.due_ = due;
  auto slot = static_cast<std::size_t>(due % slots);
  auto& head = heads_[slot];
  e.next_ = head;
  if (head)
    head->pprev_ = &e.next_;
  head = &e;
  e.pprev_ = &head;
  occupied_[slot / 64] |= std::uint64_t{1} << (slot % 64);
}

void timer_wheel::stop() {
  stopped_ = true;
  timer_.cancel();
  armed_for_ = UINT64_MAX;
}

// Waits for the next slot that has entries (they may be due a turn later:
// then the wake-up only finds that out).
void timer_wheel::arm() {
  if (stopped_)
    return;
  std::uint64_t next = UINT64_MAX;
  for (std::size_t i = 1; i <= slots; ++i) {
    auto t = current_ + i;
    auto slot = static_cast<std::size_t>(t % slots);
    auto word = occupied_[slot / 64] >> (slot % 64);
    if (word == 0) {
      // Skip the rest of this 64-bit word in one step.
      i += 63 - slot % 64;
      continue;
    }
    if (word & 1) {
      next = t;
      break;
    }
  }
  if (next == armed_for_)
    return;
  armed_for_ = next;
  if (next == UINT64_MAX) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(base_ + next * tick);
  timer_.async_wait([this](const boost::system::error_code& ec) { on_fire(ec); });
}

void timer_wheel::on_fire(const boost::system::error_code& ec) {
  if (ec || stopped_)
    return; // re-armed (a newer wait is pending) or stopped
  armed_for_ = UINT64_MAX;
  auto now = now_tick();
  // Every tick since the last visit, at most one turn (a longer stall visits
  // each slot once all the same).
  timer_entry* firing = nullptr;
  auto first = current_ + 1;
  auto last = now < first ? first - 1 : now;
  if (last - first >= slots)
    first = last - slots + 1;
  for (auto t = first; t <= last; ++t) {
    auto slot = static_cast<std::size_t>(t % slots);
    auto** link = &heads_[slot];
    while (auto* e = *link) {
      if (e->due_ > now) {
        link = &e->next_;
        continue;
      }
      // Moved to the firing list: an entry unscheduled or destroyed by an
      // earlier callback simply drops out of it.
      e->unschedule();
      e->next_ = firing;
      if (firing)
        firing->pprev_ = &e->next_;
      firing = e;
      e->pprev_ = &firing;
    }
    if (!heads_[slot])
      occupied_[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
  }
  if (last > current_)
    current_ = last;
  while (auto* e = firing) {
    e->unschedule();
    e->on_timer();
  }
  arm();
}

} // namespace signaling::transport
