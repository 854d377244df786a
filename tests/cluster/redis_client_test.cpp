// The Redis link's batching of relayed frames (redis_client::options::
// batch_delay, REDIS_BATCH_US) against a real redis-server: the delay is the
// least time between two writes, not a wait for every frame.
#include "cluster/redis_client.hpp"
#include "support/cluster.hpp"
#include "support/test_node.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

using namespace testing;
using namespace signaling::cluster;
using namespace std::chrono_literals;

namespace {

// A client on its own I/O thread.
class client_on_thread {
public:
  client_on_thread(const redis_process& redis, std::chrono::microseconds batch_delay)
    : work_(ioc_.get_executor()) {
    redis_client::options o;
    std::string err;
    REQUIRE(parse_redis_url(redis.url(), o.endpoint, err));
    o.batch_delay = batch_delay;
    client_ = std::make_unique<redis_client>(ioc_, std::move(o));
    thread_ = std::thread([this] { ioc_.run(); });
    client_->start();
    REQUIRE(eventually([&] { return client_->up(); }));
  }
  ~client_on_thread() {
    client_->stop();
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  redis_client* operator->() { return client_.get(); }

private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<redis_client> client_;
  std::thread thread_;
};

} // namespace

// With a delay far longer than the test: a frame after a quiet moment (here,
// the first) is answered at once; one made right after that write waits for
// the interval, until a plain command (which never waits) takes it along, in
// order.
TEST_CASE("batched calls: the first after a quiet moment goes at once, the next waits for the interval or a plain "
          "command") {
  redis_process redis;
  client_on_thread c{redis, std::chrono::seconds(60)};
  auto publish = std::make_shared<const redis_client::args>(redis_client::args{"PUBLISH", "nobody-listens"});
  std::promise<redis_result> first, second, plain;
  std::atomic<int> order{0};
  int second_at = 0, plain_at = 0;
  c->command_batched(publish, "one", [&](redis_result r) { first.set_value(std::move(r)); });
  auto f1 = first.get_future();
  REQUIRE(f1.wait_for(5s) == std::future_status::ready);
  auto r1 = f1.get();
  CHECK(r1.ok);
  CHECK(r1.reply.kind == redis_reply::integer);

  c->command_batched(publish, "two", [&](redis_result r) {
    second_at = ++order;
    second.set_value(std::move(r));
  });
  auto f2 = second.get_future();
  // It waits (for a minute): no answer in a moment.
  CHECK(f2.wait_for(200ms) == std::future_status::timeout);
  c->command({"PING"}, [&](redis_result r) {
    plain_at = ++order;
    plain.set_value(std::move(r));
  });
  auto f3 = plain.get_future();
  REQUIRE(f2.wait_for(5s) == std::future_status::ready);
  REQUIRE(f3.wait_for(5s) == std::future_status::ready);
  CHECK(f2.get().ok);
  CHECK(f3.get().reply.str == "PONG");
  CHECK(second_at == 1); // sent (and so answered) before the PING that took it along
  CHECK(plain_at == 2);
}
