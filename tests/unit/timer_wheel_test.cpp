// The transport's timer wheel (transport/timer_wheel.hpp) on a real
// io_context: entries fire once, never before their time, in time order
// across ticks; rescheduled, unscheduled and destroyed entries behave.
#include "transport/timer_wheel.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <vector>

using namespace signaling::transport;
using namespace std::chrono_literals;
using clock_type = timer_wheel::clock;

namespace {

struct probe final : timer_entry {
  std::vector<clock_type::time_point>* log;
  int fired = 0;
  clock_type::time_point at{};
  explicit probe(std::vector<clock_type::time_point>* l) : log(l) {}
  ~probe() = default;
  void on_timer() override {
    ++fired;
    at = clock_type::now();
    if (log)
      log->push_back(at);
  }
};

// Runs `ioc` until `done` or 5 s pass.
template <class F>
void run_until(boost::asio::io_context& ioc, F done) {
  auto deadline = clock_type::now() + 5s;
  while (!done() && clock_type::now() < deadline) {
    ioc.restart();
    ioc.run_for(10ms);
  }
}

} // namespace

TEST_CASE("wheel entries fire once, never early, in the order of their times") {
  boost::asio::io_context ioc;
  timer_wheel wheel{ioc};
  std::vector<clock_type::time_point> order;
  std::vector<std::unique_ptr<probe>> probes;
  std::vector<clock_type::time_point> asked;
  auto t0 = clock_type::now();
  for (int ms : {70, 5, 33, 0, 120, 9, 48}) {
    probes.push_back(std::make_unique<probe>(&order));
    asked.push_back(t0 + std::chrono::milliseconds(ms));
    wheel.schedule(*probes.back(), asked.back());
  }
  run_until(ioc, [&] { return order.size() == probes.size(); });
  REQUIRE(order.size() == probes.size());
  for (std::size_t i = 0; i < probes.size(); ++i) {
    CHECK(probes[i]->fired == 1);
    CHECK(probes[i]->at >= asked[i]);
  }
  CHECK(std::is_sorted(order.begin(), order.end()));
}

TEST_CASE("a rescheduled wheel entry fires at its new time only, an unscheduled or destroyed one never") {
  boost::asio::io_context ioc;
  timer_wheel wheel{ioc};
  probe moved{nullptr}, cancelled{nullptr}, marker{nullptr};
  auto gone = std::make_unique<probe>(nullptr);
  auto t0 = clock_type::now();
  wheel.schedule(moved, t0 + 10ms);
  wheel.schedule(moved, t0 + 60ms); // replaces the first
  wheel.schedule(cancelled, t0 + 20ms);
  cancelled.unschedule();
  wheel.schedule(*gone, t0 + 20ms);
  gone.reset();
  wheel.schedule(marker, t0 + 90ms);
  run_until(ioc, [&] { return marker.fired > 0; });
  CHECK(moved.fired == 1);
  CHECK(moved.at >= t0 + 60ms);
  CHECK(cancelled.fired == 0);
  CHECK(marker.fired == 1);
  // time_point::max() clears.
  wheel.schedule(moved, clock_type::time_point::max());
  CHECK(!moved.scheduled());
}

TEST_CASE("a wheel entry due more than a turn ahead waits its turn") {
  boost::asio::io_context ioc;
  timer_wheel wheel{ioc};
  probe far{nullptr}, near{nullptr};
  auto t0 = clock_type::now();
  // The same slot one turn apart: the far one must not fire with the near one.
  wheel.schedule(near, t0 + 40ms);
  wheel.schedule(far, t0 + 40ms + timer_wheel::tick * timer_wheel::slots);
  run_until(ioc, [&] { return near.fired > 0; });
  CHECK(near.fired == 1);
  CHECK(far.fired == 0);
  CHECK(far.scheduled());
}
