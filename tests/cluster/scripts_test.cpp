// The Lua scripts (cluster/scripts/*.lua) as the node runs them, through the
// bridge and its client, against a real redis-server: the envelopes they
// publish parse with the one C++ parser, every reply has its decoder, and a
// server that lost the scripts (SCRIPT FLUSH) gets them again without a call
// lost or reordered.
#include "cluster/envelope.hpp"
#include "cluster/redis_bridge.hpp"
#include "support/cluster.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <doctest/doctest.h>

#include <future>
#include <mutex>
#include <thread>

using namespace testing;
using namespace signaling::cluster;

namespace {

// A bridge for node `node_id` on its own I/O thread, and every envelope
// published to that node's channel.
class bridge_node {
public:
  bridge_node(const redis_process& redis, std::string node_id) : work_(ioc_.get_executor()) {
    redis_bridge::options o;
    std::string err;
    REQUIRE(parse_redis_url(redis.url(), o.endpoint, err));
    o.node_id = std::move(node_id);
    o.heartbeat = std::chrono::milliseconds(200);
    o.node_ttl = std::chrono::milliseconds(2000);
    o.resume_grace = std::chrono::milliseconds(15000);
    redis_bridge::handlers h;
    h.on_message = [this](std::string_view payload) {
      std::lock_guard<std::mutex> g{mx_};
      got_.emplace_back(payload);
    };
    bridge_ = std::make_unique<redis_bridge>(ioc_, std::move(o), std::move(h));
    thread_ = std::thread([this] { ioc_.run(); });
    bridge_->start();
    REQUIRE(eventually([&] { return bridge_->up(); }));
  }
  ~bridge_node() {
    bridge_->stop();
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  // Runs `f` on the bridge's thread.
  template <class F>
  void run(F f) {
    boost::asio::post(ioc_, std::move(f));
  }

  redis_bridge& operator*() { return *bridge_; }
  redis_bridge* operator->() { return bridge_.get(); }

  // The next envelope published to this node that is not a heartbeat's, parsed.
  envelope::parsed next(std::string& storage) {
    bool got = eventually([&] {
      std::lock_guard<std::mutex> g{mx_};
      return seen_ < got_.size();
    });
    REQUIRE_MESSAGE(got, "no envelope arrived");
    std::lock_guard<std::mutex> g{mx_};
    storage = got_[seen_++];
    envelope::parsed e;
    REQUIRE_MESSAGE(envelope::parse(storage, e), storage);
    return e;
  }
  std::size_t received() {
    std::lock_guard<std::mutex> g{mx_};
    return got_.size();
  }

private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<redis_bridge> bridge_;
  std::thread thread_;
  std::mutex mx_;
  std::vector<std::string> got_;
  std::size_t seen_ = 0;
};

template <class T, class Call>
T wait_for(Call call) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  call([p](T v) { p->set_value(std::move(v)); });
  REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  return f.get();
}

} // namespace

TEST_CASE("every envelope the scripts publish parses, with the room's generation and the seat's role") {
  redis_process redis;
  bridge_node a{redis, "node-a"}, b{redis, "node-b"}, c{redis, "node-c"};
  std::string storage;

  auto created = wait_for<create_reply>([&](auto cb) { a->create_room("483920", "inc-1", "host-token", cb); });
  REQUIRE(created.result == outcome::ok);
  CHECK(wait_for<create_reply>([&](auto cb) { b->create_room("483920", "inc-9", "t", cb); }).result ==
        outcome::refused);
  auto joined = wait_for<join_reply>([&](auto cb) { b->join_room("483920", "inc-2", "guest-token", cb); });
  REQUIRE(joined.result == outcome::ok);
  CHECK(joined.host_node == "node-a");
  CHECK(joined.host_conn == "inc-1");
  CHECK(joined.gen == "inc-1");

  // A frame to the seated guest: node-b's channel gets the sender's envelope unchanged.
  auto to_guest = a->seat_frames_args("483920", "inc-1", "guest");
  auto frame = std::string(R"({"type":"signal","roomId":"483920","sdp":"v=0|x"})");
  auto r = wait_for<seat_frames_reply>([&](auto cb) {
    a->relay(to_guest, envelope::frame_header("483920", "inc-1", "node-a", "guest") + frame, cb);
  });
  CHECK(r.result == seat_frames_reply::delivered);
  auto e = b.next(storage);
  CHECK(e.k == envelope::kind::frame);
  CHECK(e.gen == "inc-1");
  CHECK(e.role == "guest");
  CHECK(e.body == frame);

  // The guest's connection is lost: node-a hears D, node-b its fence X.
  auto parked = wait_for<park_reply>([&](auto cb) { b->park_seat("483920", "inc-1", "guest", "inc-2", 3, cb); });
  REQUIRE(parked.result == outcome::ok);
  CHECK(parked.other_node == "node-a");
  e = a.next(storage);
  CHECK(e.k == envelope::kind::parked);
  CHECK(e.room == "483920");
  CHECK(e.gen == "inc-1");
  CHECK(e.node == "node-b");
  CHECK(e.role == "guest");
  e = b.next(storage);
  CHECK(e.k == envelope::kind::fence);
  CHECK(e.role == "guest");

  // Frames for the parked guest are kept, without their headers.
  r = wait_for<seat_frames_reply>([&](auto cb) {
    a->relay(to_guest, envelope::frame_header("483920", "inc-1", "node-a", "guest") + frame, cb);
  });
  CHECK(r.result == seat_frames_reply::kept);

  // It resumes on node-c: node-a hears R; the kept frame comes with the answer.
  auto resumed =
    wait_for<resume_reply>([&](auto cb) { c->resume("483920", "guest-token", "inc-3", "new-token", cb); });
  REQUIRE(resumed.result == outcome::ok);
  CHECK(resumed.role == "guest");
  CHECK(resumed.gen == "inc-1");
  CHECK(resumed.other_node == "node-a");
  CHECK(resumed.acked == 3);
  REQUIRE(resumed.frames.size() == 1);
  CHECK(resumed.frames[0] == frame);
  e = a.next(storage);
  CHECK(e.k == envelope::kind::resumed);
  CHECK(e.node == "node-c");
  CHECK(e.role == "guest");
  CHECK(e.body == "inc-3");
  CHECK(wait_for<resume_reply>([&](auto cb) { c->resume("483920", "guest-token", "inc-4", "t", cb); }).result ==
        outcome::refused); // a token works once

  auto gone = wait_for<expire_reply>([&](auto cb) { a->expire_seat("483920", "inc-1", "guest", cb); });
  CHECK_FALSE(gone.ended); // seated again, not expired
  a->end_room("483920", "inc-1");
  CHECK(eventually([&] { return redis.command({"EXISTS", "sig:room:483920"}) == std::vector<std::string>{"0"}; }));
}

TEST_CASE("after SCRIPT FLUSH every script call still runs, in order, and the scripts are loaded again") {
  redis_process redis;
  bridge_node a{redis, "node-a"}, b{redis, "node-b"};
  std::string storage;
  // Two rooms, their frames alternating: no two calls in a row share an
  // EVALSHA, so each is answered NOSCRIPT on its own.
  const std::string rooms[] = {"111111", "222222"};
  decltype(a->seat_frames_args("", "", "")) to_guest[2];
  std::string header[2];
  for (int r = 0; r < 2; ++r) {
    REQUIRE(wait_for<create_reply>([&](auto cb) { a->create_room(rooms[r], "inc-1", "t", cb); }).result ==
            outcome::ok);
    REQUIRE(wait_for<join_reply>([&](auto cb) { b->join_room(rooms[r], "inc-2", "t", cb); }).result == outcome::ok);
    to_guest[r] = a->seat_frames_args(rooms[r], "inc-1", "guest");
    header[r] = envelope::frame_header(rooms[r], "inc-1", "node-a", "guest");
  }
  auto before = b.received();

  REQUIRE(redis.command({"SCRIPT", "FLUSH"}) == std::vector<std::string>{"OK"});
  constexpr int n = 1000; // per part
  std::atomic<int> delivered{0};
  auto relay = [&](int i) {
    a->relay(to_guest[i % 2], header[i % 2] + std::to_string(i), [&](seat_frames_reply r) {
      if (r.result == seat_frames_reply::delivered)
        ++delivered;
    });
  };
  // Frames 0 .. 2n-1 go out in one write (the bridge's thread waits until
  // they are queued) with a PUBLISH between their two halves; their NOSCRIPT
  // answers come back in several reads (about 48 bytes each, hiredis reads
  // 16 KB at a time). The PUBLISH's answer stops the bridge's thread between
  // the halves' answers until frames 2n .. 3n-1 are queued: those must not
  // overtake the second half's frames, which are sent again after them.
  std::promise<void> queued, reached, go;
  auto go_f = go.get_future().share();
  struct release { // the bridge's thread goes on even if a REQUIRE below fails
    std::promise<void>& p;
    ~release() {
      try {
        p.set_value();
      } catch (const std::future_error&) {
      }
    }
  } release_go{go};
  a.run([q = queued.get_future().share()] { q.wait(); });
  for (int i = 0; i < n; ++i)
    relay(i);
  a->publish("nobody", "x", [&reached, go_f](bool) {
    reached.set_value();
    go_f.wait();
  });
  for (int i = n; i < 2 * n; ++i)
    relay(i);
  queued.set_value();
  REQUIRE(reached.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  for (int i = 2 * n; i < 3 * n; ++i)
    relay(i);
  go.set_value();
  REQUIRE(eventually([&] { return delivered.load() == 3 * n; }));
  REQUIRE(eventually([&] { return b.received() == before + 3 * n; }));
  int next[2] = {0, 1}, out_of_order = 0;
  for (int i = 0; i < 3 * n; ++i) {
    auto e = b.next(storage);
    int r = e.room == rooms[0] ? 0 : 1;
    if (e.body != std::to_string(next[r]))
      ++out_of_order;
    next[r] = std::stoi(std::string(e.body)) + 2;
  }
  CHECK(out_of_order == 0);
  // Loaded again: EVALSHA works once more.
  auto exists = redis.command({"SCRIPT", "EXISTS", std::string(scripts::seat_frames.sha1)});
  CHECK(exists == std::vector<std::string>{"1"});
}

// A room whose other seat is parked, watched from the node left behind: if
// the record goes meanwhile (the parked member's node was reaped while cut
// off and, back, ended its room; or Redis lost it), nobody can resume that
// seat, so the grace's end must end the room here too, not leave its member
// waiting for a peer that cannot come back.
TEST_CASE("EXPIRE ends a room whose record is gone, and leaves one whose parked seat is within its grace") {
  redis_process redis;
  bridge_node a{redis, "node-a"}, b{redis, "node-b"};
  REQUIRE(wait_for<create_reply>([&](auto cb) { a->create_room("271828", "inc-1", "t", cb); }).result == outcome::ok);
  REQUIRE(wait_for<join_reply>([&](auto cb) { b->join_room("271828", "inc-2", "g", cb); }).result == outcome::ok);
  REQUIRE(wait_for<park_reply>([&](auto cb) { a->park_seat("271828", "inc-1", "host", "inc-1", 0, cb); }).result ==
          outcome::ok);
  // Within the grace (15 s here): not ended.
  CHECK_FALSE(wait_for<expire_reply>([&](auto cb) { b->expire_seat("271828", "inc-1", "host", cb); }).ended);
  // The record goes: the grace's end ends the room.
  a->end_room("271828", "inc-1");
  CHECK(eventually([&] { return redis.command({"EXISTS", "sig:room:271828"}) == std::vector<std::string>{"0"}; }));
  CHECK(wait_for<expire_reply>([&](auto cb) { b->expire_seat("271828", "inc-1", "host", cb); }).ended);
  // As does a record of another generation (the id went to a new room).
  REQUIRE(wait_for<create_reply>([&](auto cb) { a->create_room("271828", "inc-7", "t", cb); }).result == outcome::ok);
  CHECK(wait_for<expire_reply>([&](auto cb) { b->expire_seat("271828", "inc-1", "host", cb); }).ended);
  // ... without touching it.
  CHECK(redis.command({"HGET", "sig:room:271828", "gen"}) == std::vector<std::string>{"inc-7"});
}

TEST_CASE("RESTORE: the first member's node writes the record, the other adds its token, newer tokens and other rooms stay") {
  redis_process redis;
  bridge_node a{redis, "node-a"}, b{redis, "node-b"};
  using seat = redis_bridge::restored_seat;
  auto restore = [&](bridge_node& n, const std::string& gen, const seat& host, const seat& guest) {
    return wait_for<restore_reply>([&](auto cb) { n->restore_room("314159", gen, host, guest, cb); }).result;
  };
  auto field = [&](const char* f) { return redis.command({"HGET", "sig:room:314159", f}); };
  // The guest's node first: it knows where the host is, not the host's token.
  CHECK(restore(b, "inc-1", seat{"node-a", "inc-1", ""}, seat{"node-b", "inc-2", "gt"}) == outcome::ok);
  CHECK(field("host_node") == std::vector<std::string>{"node-a"});
  CHECK(field("guest_conn") == std::vector<std::string>{"inc-2"});
  CHECK(field("guest_tok") == std::vector<std::string>{"gt"});
  CHECK(redis.command({"HEXISTS", "sig:room:314159", "host_tok"}) == std::vector<std::string>{"0"});
  CHECK(redis.command({"SISMEMBER", "sig:node:node-a:rooms", "314159"}) == std::vector<std::string>{"1"});
  CHECK(redis.command({"SISMEMBER", "sig:node:node-b:rooms", "314159"}) == std::vector<std::string>{"1"});
  // Then the host's node adds the host's token.
  CHECK(restore(a, "inc-1", seat{"node-a", "inc-1", "ht"}, seat{"node-b", "inc-2", ""}) == outcome::ok);
  CHECK(field("host_tok") == std::vector<std::string>{"ht"});
  CHECK(field("guest_tok") == std::vector<std::string>{"gt"});
  // A token already there is newer (a resume since): kept.
  CHECK(restore(b, "inc-1", seat{"node-a", "inc-1", ""}, seat{"node-b", "inc-2", "old"}) == outcome::ok);
  CHECK(field("guest_tok") == std::vector<std::string>{"gt"});
  // The id went to another room: refused, untouched.
  CHECK(restore(a, "inc-9", seat{"node-a", "inc-9", "x"}, seat{"", "", ""}) == outcome::refused);
  CHECK(field("gen") == std::vector<std::string>{"inc-1"});
  CHECK(field("host_tok") == std::vector<std::string>{"ht"});
}
