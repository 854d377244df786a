// The Redis link against a real redis-server: the batching of relayed frames
// (redis_client::options::batch_delay, REDIS_BATCH_US: the least time between
// two writes, not a wait for every frame), and a subscriber link, whose
// pushes it reads itself once subscribed.
#include "cluster/redis_client.hpp"
#include "support/cluster.hpp"
#include "support/test_node.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <utility>
#include <mutex>
#include <string>
#include <vector>
#include <thread>

using namespace testing;
using namespace signaling::cluster;
using namespace std::chrono_literals;

namespace {

// A client on its own I/O thread.
class client_on_thread {
public:
  // `on_message`: a subscriber link, subscribed to `channel`, that keeps
  // what it hears.
  // `command_timeout`: longer than a test, where only Redis's answer (or
  // its dropping the link) may end a command.
  client_on_thread(const redis_process& redis, std::chrono::microseconds batch_delay, std::string channel = {},
                   std::chrono::milliseconds command_timeout = std::chrono::milliseconds(2000))
    : work_(ioc_.get_executor()) {
    redis_client::options o;
    std::string err;
    REQUIRE(parse_redis_url(redis.url(), o.endpoint, err));
    o.batch_delay = batch_delay;
    o.command_timeout = command_timeout;
    client_ = std::make_unique<redis_client>(ioc_, std::move(o));
    if (!channel.empty()) {
      client_->on_message([this](std::string_view ch, std::string_view payload) {
        std::lock_guard<std::mutex> g{mx_};
        heard_.emplace_back(std::string(ch) + " " + std::string(payload));
      });
      client_->subscribe(std::move(channel));
    }
    thread_ = std::thread([this] { ioc_.run(); });
    client_->start();
    REQUIRE(eventually([&] { return client_->up(); }));
  }
  std::vector<std::string> heard() {
    std::lock_guard<std::mutex> g{mx_};
    return heard_;
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
  std::mutex mx_;
  std::vector<std::string> heard_;
};

// A batched call's answer and its tail, as a future.
struct promised_answer final : redis_client::tail_sink {
  std::promise<std::pair<redis_result, std::string>> got;
  std::function<void()> then; // runs first, on the client's strand
  void answered(const redis_result& r, std::string tail) override {
    if (then)
      then();
    got.set_value({r, std::move(tail)});
  }
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
  std::promise<redis_result> plain;
  std::atomic<int> order{0};
  int second_at = 0, plain_at = 0;
  auto first = std::make_shared<promised_answer>();
  auto f1 = first->got.get_future();
  c->command_batched(publish, "one", first);
  REQUIRE(f1.wait_for(5s) == std::future_status::ready);
  auto r1 = f1.get().first;
  CHECK(r1.ok);
  CHECK(r1.reply.kind == redis_reply::integer);

  auto second = std::make_shared<promised_answer>();
  second->then = [&] { second_at = ++order; };
  auto f2 = second->got.get_future();
  c->command_batched(publish, "two", second);
  // It waits (for a minute): no answer in a moment.
  CHECK(f2.wait_for(200ms) == std::future_status::timeout);
  c->command({"PING"}, [&](redis_result r) {
    plain_at = ++order;
    plain.set_value(std::move(r));
  });
  auto f3 = plain.get_future();
  REQUIRE(f2.wait_for(5s) == std::future_status::ready);
  REQUIRE(f3.wait_for(5s) == std::future_status::ready);
  CHECK(f2.get().first.ok);
  CHECK(f3.get().reply.str == "PONG");
  CHECK(second_at == 1); // sent (and so answered) before the PING that took it along
  CHECK(plain_at == 2);
}

// A sink hears each batched PUBLISH's answer with the call's tail given back
// (what the direct path sends again the scripted way when nobody listened),
// and so does a call failed while Redis is away.
TEST_CASE("a batched call's sink gets its answer and its tail back, answered or failed") {
  redis_process redis;
  client_on_thread c{redis, std::chrono::microseconds(0)};
  auto publish = std::make_shared<const redis_client::args>(redis_client::args{"PUBLISH", "nobody-listens"});
  auto heard = std::make_shared<promised_answer>();
  auto f1 = heard->got.get_future();
  c->command_batched(publish, std::string(700, 'x'), heard);
  REQUIRE(f1.wait_for(5s) == std::future_status::ready);
  auto [r1, tail1] = f1.get();
  CHECK(r1.ok);
  CHECK(r1.reply.kind == redis_reply::integer);
  CHECK(r1.reply.value == 0);
  CHECK(tail1 == std::string(700, 'x'));

  redis.kill();
  auto failed = std::make_shared<promised_answer>();
  auto f2 = failed->got.get_future();
  // Sent before the link finds Redis gone, or failed at once after: either
  // way the tail comes back with a failure.
  c->command_batched(publish, "two", failed);
  REQUIRE(f2.wait_for(10s) == std::future_status::ready);
  auto [r2, tail2] = f2.get();
  CHECK_FALSE(r2.ok);
  CHECK(tail2 == "two");
}

// Messages of every size, some far larger than one read, arrive whole and in
// order; a one-off channel's subscribe and unsubscribe are confirmed in their
// place among them; and after Redis drops the link, the permanent channel is
// heard again and the one-off channel is reported lost.
TEST_CASE("a subscriber link hears every message whole and in order, and its confirmations in their place") {
  redis_process redis;
  client_on_thread sub{redis, std::chrono::microseconds(0), "news"};
  auto publish = [&](const std::string& channel, const std::string& payload) {
    return redis.command({"PUBLISH", channel, payload});
  };
  std::vector<std::string> sent;
  for (std::size_t size : {0, 1, 600, 70000, 3, 300000, 16384, 65536, 65537}) {
    std::string payload(size, 'a' + static_cast<char>(sent.size()));
    if (size > 2)
      payload.replace(1, 2, "\r\n"); // RESP's line end inside a payload
    REQUIRE(publish("news", payload) == std::vector<std::string>{"1"});
    sent.push_back("news " + payload);
  }
  // Back to back (one script's publishes): reads end in the middle of one.
  auto burst = R"(for i = 1, 40 do
                    redis.call('PUBLISH', 'news', string.rep(string.char(64 + i % 26), 1 + (i * 7919) % 90000))
                  end)";
  REQUIRE(redis.command({"EVAL", burst, "0"}).size() == 1);
  for (int i = 1; i <= 40; ++i)
    sent.push_back("news " + std::string(1 + (i * 7919) % 90000, static_cast<char>(64 + i % 26)));
  REQUIRE(eventually([&] { return sub.heard().size() == sent.size(); }));
  CHECK(sub.heard() == sent);

  std::promise<bool> subscribed;
  std::promise<void> lost_once, unsubscribed;
  sub->subscribe_once("once", [&](bool ok) { subscribed.set_value(ok); }, [&] { lost_once.set_value(); });
  auto s1 = subscribed.get_future();
  REQUIRE(s1.wait_for(5s) == std::future_status::ready);
  REQUIRE(s1.get());
  CHECK(publish("once", "first") == std::vector<std::string>{"1"});
  REQUIRE(eventually([&] { return sub.heard().size() == sent.size() + 1; }));
  CHECK(sub.heard().back() == "once first");

  // Redis drops every pub/sub link: the one-off channel is lost, the
  // permanent one comes back with the link.
  redis.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  REQUIRE(lost_once.get_future().wait_for(5s) == std::future_status::ready);
  REQUIRE(eventually([&] { return sub->up() && publish("news", "again") == std::vector<std::string>{"1"}; }));
  REQUIRE(eventually([&] { return sub.heard().back() == "news again"; }));
  CHECK(publish("once", "nobody") == std::vector<std::string>{"0"});

  // An unsubscribe is confirmed after what was published before it.
  std::promise<bool> again;
  sub->subscribe_once("twice", [&](bool ok) { again.set_value(ok); }, [] {});
  REQUIRE(again.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(publish("twice", "before") == std::vector<std::string>{"1"});
  sub->unsubscribe("twice", [&] { unsubscribed.set_value(); });
  REQUIRE(unsubscribed.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(sub.heard().back() == "twice before");
  CHECK(publish("twice", "after") == std::vector<std::string>{"0"});
}

namespace {

// A reply as text: "int:1", "str:two", "nil", "status:OK", "err:...",
// "[a,b]"; a long string by its length and a checksum of its bytes.
std::string describe(const redis_reply& r) {
  switch (r.kind) {
    case redis_reply::nil: return "nil";
    case redis_reply::integer: return "int:" + std::to_string(r.value);
    case redis_reply::status: return "status:" + r.str;
    case redis_reply::error: return "err:" + r.str;
    case redis_reply::string:
      if (r.str.size() > 64)
        return "str:" + std::to_string(r.str.size()) + "#" + std::to_string(std::hash<std::string>{}(r.str));
      return "str:" + r.str;
    case redis_reply::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < r.elements.size(); ++i)
        out += (i ? "," : "") + describe(r.elements[i]);
      return out + "]";
    }
  }
  return "?";
}

// Commands made back to back, answers kept in the order they come.
struct answers {
  std::mutex mx;
  std::vector<std::pair<std::size_t, std::string>> got; // (command's index, reply or failure)
  std::size_t made = 0;

  void make(client_on_thread& c, redis_client::args a) {
    c->command(std::move(a), [this, i = made++](redis_result r) {
      std::lock_guard<std::mutex> g{mx};
      got.emplace_back(i, r.ok ? describe(r.reply) : "failed");
    });
  }
  std::size_t size() {
    std::lock_guard<std::mutex> g{mx};
    return got.size();
  }
};

} // namespace

// The commands link reads its replies itself once it is up: every kind of
// RESP reply, nested arrays, a reply and a command far larger than one read
// or one write of the socket, and thousands of small replies whose reads end
// anywhere, each answers its own command, in the order they were made.
TEST_CASE("a commands link answers each command with its own reply, of every kind and size, in order") {
  redis_process redis;
  answers a; // (outlives the client, whose last callbacks may run as it stops)
  client_on_thread c{redis, std::chrono::microseconds(0), {}, 10min};
  REQUIRE(eventually([&] { return c->does_own_io(); })); // past hiredis from the first command on
  std::string big(8 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4099)
    big[i] = static_cast<char>('a' + i % 26);
  big.replace(1000, 2, "\r\n");
  std::string medium(70000, 'm');
  medium.replace(65535, 2, "\r\n"); // (a CRLF inside, where a 64 KiB read of it alone would end)
  std::string big_sum = "str:" + std::to_string(big.size()) + "#" + std::to_string(std::hash<std::string>{}(big));
  std::string medium_sum =
    "str:" + std::to_string(medium.size()) + "#" + std::to_string(std::hash<std::string>{}(medium));

  std::vector<std::string> expected;
  auto expect = [&](redis_client::args cmd, std::string reply) {
    a.make(c, std::move(cmd));
    expected.push_back(std::move(reply));
  };
  // Alone, so that only the socket's room for more can carry its write on.
  expect({"SET", "big", big}, "status:OK");
  REQUIRE(eventually([&] { return a.size() == 1; }, 20s));
  expect({"SET", "k", "v"}, "status:OK");
  expect({"GET", "k"}, "str:v");
  expect({"GET", "missing"}, "nil");
  expect({"INCR", "n"}, "int:1");
  expect({"INCR", "k"}, "err:ERR value is not an integer or out of range");
  expect({"EVAL", "return {1, 'two', {3, {'four', ''}}, false, {}}", "0"}, "[int:1,str:two,[int:3,[str:four,str:]],nil,[]]");
  expect({"BLPOP", "nothing", "0.05"}, "nil"); // a nil array
  expect({"SET", "medium", medium}, "status:OK");
  expect({"GET", "big"}, big_sum);
  for (int i = 0; i < 20000; ++i) {
    if (i % 1000 == 999)
      expect({"GET", "medium"}, medium_sum);
    expect({"INCR", "count"}, "int:" + std::to_string(i + 1));
  }
  expect({"PING"}, "status:PONG");
  REQUIRE(eventually([&] { return a.size() == expected.size(); }, 20s));
  std::lock_guard<std::mutex> g{a.mx};
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < a.got.size(); ++i)
    if (a.got[i].first != i || a.got[i].second != expected[i]) {
      if (++wrong <= 5) {
        INFO("answer " << i << " of command " << a.got[i].first);
        CHECK(a.got[i].second.substr(0, 200) == expected[a.got[i].first].substr(0, 200));
      }
    }
  CHECK(wrong == 0);
}

// Redis drops the link while commands wait for their replies: each fails, in
// the order made, and the link comes back and answers again.
TEST_CASE("a commands link that Redis drops fails the commands waiting for their replies, in order, and comes back") {
  redis_process redis;
  answers a; // (outlives the client, whose last callbacks may run as it stops)
  // No command timeout within the test: only the link's own read of the
  // dropped connection can fail the commands.
  client_on_thread c{redis, std::chrono::microseconds(0), {}, 10min};
  REQUIRE(eventually([&] { return c->does_own_io(); }));
  a.make(c, {"BLPOP", "nothing", "30"});
  a.make(c, {"PING"}); // answered only after the BLPOP
  REQUIRE(eventually([&] {
    for (const auto& line : redis.command({"CLIENT", "LIST"}))
      if (line.find("cmd=blpop") != std::string::npos)
        return true;
    return false;
  }));
  CHECK(a.size() == 0);
  redis.command({"CLIENT", "KILL", "TYPE", "normal"});
  REQUIRE(eventually([&] { return a.size() == 2; }));
  {
    std::lock_guard<std::mutex> g{a.mx};
    CHECK(a.got == std::vector<std::pair<std::size_t, std::string>>{{0, "failed"}, {1, "failed"}});
  }
  REQUIRE(eventually([&] { return c->up(); }));
  REQUIRE(eventually([&] {
    auto pong = std::make_shared<std::promise<std::string>>(); // (a late answer may outlive this try)
    auto f = pong->get_future();
    c->command({"PING"}, [pong](redis_result r) { pong->set_value(r.ok ? describe(r.reply) : "failed"); });
    return f.wait_for(5s) == std::future_status::ready && f.get() == "status:PONG";
  }));
  CHECK(c->does_own_io());
}
