// The deadlines of every connection on one I/O thread (handshake, idle and
// keepalive ping, close, the connection actor's own), kept in one hashed
// timing wheel driven by a single Asio timer: a connection holds an intrusive
// entry instead of a timer object, and arming one allocates nothing. Entries
// fire no earlier than asked and at most a tick (4 ms) plus the loop's own
// lateness after. Only the owning thread may touch the wheel or its entries.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>

namespace signaling::transport {

// What a wheel calls back. Embedded in its owner; unlinks itself when destroyed.
class timer_entry {
public:
  timer_entry() = default;
  timer_entry(const timer_entry&) = delete;
  timer_entry& operator=(const timer_entry&) = delete;
  bool scheduled() const { return pprev_ != nullptr; }
  void unschedule() {
    if (!pprev_)
      return;
    *pprev_ = next_;
    if (next_)
      next_->pprev_ = pprev_;
    next_ = nullptr;
    pprev_ = nullptr;
  }

protected:
  ~timer_entry() { unschedule(); }
  // Called on the wheel's thread, once per schedule().
  virtual void on_timer() = 0;

private:
  friend class timer_wheel;
  timer_entry* next_ = nullptr;
  timer_entry** pprev_ = nullptr; // the pointer that points at us; null: not scheduled
  std::uint64_t due_ = 0;         // tick
};

class timer_wheel {
public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds tick{4};
  static constexpr std::size_t slots = 4096; // one turn: 16.4 s

  // `base`: tick 0. The wheels of one node share it, so a tick means the
  // same instant on every thread (a connection keeps its deadlines as ticks
  // when it moves to another thread).
  explicit timer_wheel(boost::asio::io_context& ioc, clock::time_point base = clock::now());
  ~timer_wheel(); // entries still scheduled are let go without a call
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  // Fires `e` at the first tick at or after `when` (replacing any earlier schedule).
  void schedule(timer_entry& e, clock::time_point when);
  // The same, as a tick (see at()).
  void schedule_tick(timer_entry& e, std::uint64_t due);
  // The first tick at or after `when`.
  std::uint64_t at(clock::time_point when) const;
  std::uint64_t after(std::chrono::milliseconds d) const { return at(clock::now() + d); }
  // The tick `now` is in.
  std::uint64_t now_tick() const;
  // Stops the timer (the loop is ending); entries stay, nothing fires.
  void stop();

private:
  void arm();
  void on_fire(const boost::system::error_code& ec);
  void insert(timer_entry& e, std::uint64_t due);

  boost::asio::basic_waitable_timer<clock, boost::asio::wait_traits<clock>, boost::asio::io_context::executor_type>
    timer_;
  clock::time_point base_;
  std::uint64_t current_ = 0;                    // every tick up to this one has fired
  std::uint64_t armed_for_ = UINT64_MAX;         // the tick the timer waits for
  std::array<timer_entry*, slots> heads_{};
  std::array<std::uint64_t, slots / 64> occupied_{}; // a set bit may be stale (slot emptied since)
  bool stopped_ = false;
};

} // namespace signaling::transport
