// The actors of a node with a real caf::actor_system but no sockets: each
// connection actor sits on a fake ws_link whose strand is the test thread
// (posted work runs only when the test drains it), so orderings that are
// races over real sockets are deterministic here.
#include "actors/connection_actor.hpp"
#include "actors/messages.hpp"
#include "actors/node_context.hpp"
#include "actors/room_directory.hpp"
#include "actors/room_actor.hpp"
#include "actors/limits.hpp"
#include "actors/link.hpp"
#include "telemetry/stats.hpp"
#include "support/test_node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

using namespace signaling;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// The I/O thread of one or more fake links: post() queues work that runs only
// when the test drains it, on the test's own thread. is_current() is true
// while it runs something (a drain, or a frame handed to a handler), as on a
// real I/O thread. After stop() posts are dropped, as a closed session's.
class fake_thread final : public io_thread {
public:
  void post(std::function<void()> fn) override {
    std::lock_guard<std::mutex> g{mx_};
    if (!gone_)
      queue_.push_back(std::move(fn));
  }
  bool is_current() const override { return running_; }

  // Runs queued work until the queue is empty; returns how much ran.
  std::size_t drain() {
    std::size_t n = 0;
    while (run_one())
      ++n;
    return n;
  }
  // Runs the first queued work only; false if there was none.
  bool run_one() {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> g{mx_};
      if (queue_.empty())
        return false;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    run([&] { fn(); });
    return true;
  }
  std::size_t queued() {
    std::lock_guard<std::mutex> g{mx_};
    return queue_.size();
  }
  // Runs `fn` as work of this thread.
  template <class F>
  void run(F&& fn) {
    bool was = running_;
    running_ = true;
    fn();
    running_ = was;
  }
  void stop() {
    std::deque<std::function<void()>> dropped;
    std::lock_guard<std::mutex> g{mx_};
    gone_ = true;
    dropped.swap(queue_);
  }

private:
  std::mutex mx_;
  std::deque<std::function<void()>> queue_;
  bool gone_ = false;
  bool running_ = false;
};

// The socket side of one connection, without a socket: send() and close()
// record, the deadline is kept for fire_deadline().
class fake_link final : public connection_link {
public:
  explicit fake_link(std::shared_ptr<fake_thread> t) : thread_(std::move(t)) {}
  void send(std::string_view text) override { send(std::make_shared<const std::string>(text)); }
  void send(const frame_ptr& frame) override {
    std::lock_guard<std::mutex> g{mx_};
    frames_.push_back(frame);
  }
  void close(close_code code, std::string_view) override {
    std::lock_guard<std::mutex> g{mx_};
    closes_.push_back(code);
  }
  void pause_reading() override { paused_ = true; }
  void resume_reading() override { paused_ = false; }
  void set_deadline(clock::time_point when) override { deadline_ = when; }
  clock::time_point deadline() const { return deadline_; }
  std::size_t queued_bytes() const override { return 0; }
  std::shared_ptr<io_thread> thread() const override { return thread_; }
  // Moves when the test has named a thread it may move to (movable_to).
  bool move_to(io_thread& target, const std::function<void(const std::shared_ptr<io_thread>&)>& switch_over) override {
    if (!movable_to_ || movable_to_.get() != &target)
      return false;
    switch_over(movable_to_);
    thread_ = std::move(movable_to_);
    ++moves_;
    return true;
  }
  std::shared_ptr<fake_thread> movable_to_;
  int moves_ = 0;
  std::string remote_address() const override { return remote_; }
  std::string client_address() const override { return remote_; }
  const access_grant& grant() const override { return grant_; }
  access_grant grant_;
  bool paused_ = false;

  std::vector<frame_ptr> frames() const {
    std::lock_guard<std::mutex> g{mx_};
    return frames_;
  }
  std::vector<close_code> closes() const {
    std::lock_guard<std::mutex> g{mx_};
    return closes_;
  }
  fake_thread& io() { return *thread_; }

private:
  mutable std::mutex mx_;
  std::shared_ptr<fake_thread> thread_;
  std::vector<frame_ptr> frames_;
  std::vector<close_code> closes_;
  clock::time_point deadline_ = clock::time_point::max();
  std::string remote_ = "fake";
};

// The actor system, directory and context of one node.
struct actor_env {
  node_stats stats;
  room_settings rooms{"test-node", &stats};
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  std::optional<node_context> ctx;

  explicit actor_env(limits lim = {}) {
    cfg.set("scheduler.max-threads", std::size_t{2});
    sys.emplace(cfg);
    rooms.resume_grace = lim.resume_grace;
    rooms.resume_frames = lim.resume_max_frames;
    rooms.resume_bytes = lim.resume_max_bytes;
    auto dir = spawn_local_directory(*sys, lim.room_id_digits, stats, &rooms);
    ctx.emplace(node_context{*sys, dir, lim, stats, "test-node"});
  }
  ~actor_env() {
    // Every connection actor is gone by now (clients are declared after the
    // env); the directory takes its rooms down, then the system can join.
    caf::anon_send_exit(ctx->directory, caf::exit_reason::user_shutdown);
    ctx.reset();
    sys.reset();
  }
};

// One connection: a fake link and the handler the transport would attach.
// Each client has an I/O thread of its own unless it is given one to share.
struct client {
  std::shared_ptr<fake_link> link;
  connection_handler* handler = nullptr; // owns itself until on_closed
  std::size_t seen = 0;                   // frames already taken by next()

  explicit client(node_context& ctx, std::shared_ptr<fake_thread> t = std::make_shared<fake_thread>())
    : link(std::make_shared<fake_link>(std::move(t))) {
    link->io().run([&] { handler = connection_actor_factory(ctx)(*link); });
  }
  ~client() { close(); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void send(const std::string& text) {
    link->io().run([&] { handler->on_text(text); });
  }

  // The connection ends, as the transport ends it: on_closed, then no more
  // posted work runs.
  void close() { end(close_cause::deliberate); }

  // The connection is lost (no close frame): its seat waits for a resume.
  void lose() { end(close_cause::lost); }

  void end(close_cause cause) {
    if (!handler)
      return;
    link->io().run([&] { handler->on_closed(cause); });
    link->io().stop();
    handler = nullptr;
  }

  std::size_t frame_count() const { return link->frames().size(); }

  // Drains until a frame not yet taken appears; nullptr if none in `timeout`.
  frame_ptr next_frame(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      link->io().drain();
      auto fs = link->frames();
      if (fs.size() > seen)
        return fs[seen++];
      if (std::chrono::steady_clock::now() >= deadline)
        return nullptr;
      std::this_thread::sleep_for(1ms);
    }
  }

  json next(std::chrono::milliseconds timeout = 5s) {
    auto f = next_frame(timeout);
    REQUIRE_MESSAGE(f, "no frame arrived in time");
    return json::parse(*f);
  }

  // Takes the next frame and checks it is an error with `code`.
  void expect_error(const std::string& code) {
    auto m = next();
    CHECK(m["type"] == "error");
    CHECK(m["code"] == code);
  }

  // Takes the frame that must already be there, without draining: for
  // answers given synchronously on the strand.
  json immediate() {
    auto fs = link->frames();
    REQUIRE_MESSAGE(fs.size() > seen, "no frame was written synchronously");
    return json::parse(*fs[seen++]);
  }
};

std::string create_room(client& host) {
  host.send(R"({"type":"create-room"})");
  auto m = host.next();
  REQUIRE(m["type"] == "room-created");
  return m["roomId"].get<std::string>();
}

std::string join_msg(const std::string& room) {
  return json{{"type", "join-room"}, {"roomId", room}}.dump();
}

std::string signal_msg(const std::string& room, const std::string& type = "signal") {
  return json{{"type", type}, {"roomId", room}, {"data", {{"sdp", "v=0"}}}}.dump();
}

// A host and a guest in one room, both told peer-joined.
struct pair_in_room {
  client host, guest;
  std::string room;
  explicit pair_in_room(node_context& ctx) : host(ctx), guest(ctx) {
    room = create_room(host);
    guest.send(join_msg(room));
    auto g = guest.next();
    REQUIRE(g["type"] == "peer-joined");
    auto h = host.next();
    REQUIRE(h["type"] == "peer-joined");
  }
};

bool is_room_id(const std::string& id, std::size_t digits) {
  return id.size() == digits && id.find_first_not_of("0123456789") == std::string::npos && id[0] != '0';
}

} // namespace

// -- rooms --------------------------------------------------------------------------

TEST_CASE("create-room answers room-created with a fresh six-digit id and counts the room") {
  actor_env env;
  client host{*env.ctx};
  host.send(R"({"type":"create-room"})");
  auto m = host.next();
  CHECK(m["type"] == "room-created");
  CHECK(is_room_id(m["roomId"].get<std::string>(), 6));
  CHECK(env.stats.rooms.load() == 1);
}

TEST_CASE("join-room tells both the guest and the host peer-joined with the room id") {
  actor_env env;
  client host{*env.ctx}, guest{*env.ctx};
  auto room = create_room(host);
  guest.send(join_msg(room));
  auto g = guest.next();
  CHECK(g["type"] == "peer-joined");
  CHECK(g["roomId"] == room);
  auto h = host.next();
  CHECK(h["type"] == "peer-joined");
  CHECK(h["roomId"] == room);
  CHECK(env.stats.rooms.load() == 1);
}

TEST_CASE("join-room for a room that does not exist is refused with room-unavailable") {
  actor_env env;
  client guest{*env.ctx};
  guest.send(join_msg("123456"));
  guest.expect_error("room-unavailable");
}

TEST_CASE("a third client cannot join a full room") {
  actor_env env;
  pair_in_room p{*env.ctx};
  client third{*env.ctx};
  third.send(join_msg(p.room));
  third.expect_error("room-unavailable");
  // The members are still paired: a relay still works.
  auto f = signal_msg(p.room);
  p.host.send(f);
  auto got = p.guest.next_frame();
  REQUIRE(got);
  CHECK(*got == f);
}

TEST_CASE("the host joining its own room is refused with room-unavailable") {
  actor_env env;
  client host{*env.ctx};
  auto room = create_room(host);
  host.send(join_msg(room));
  auto m = host.immediate();
  CHECK(m["code"] == "room-unavailable");
}

// -- relay ---------------------------------------------------------------------------

TEST_CASE("a relayed frame reaches a peer on another thread byte for byte") {
  actor_env env;
  pair_in_room p{*env.ctx};
  auto sent = signal_msg(p.room);
  p.host.send(sent);
  auto got = p.guest.next_frame();
  REQUIRE(got);
  CHECK(*got == sent);
  auto chat = signal_msg(p.room, "chat-message");
  p.guest.send(chat);
  auto back = p.host.next_frame();
  REQUIRE(back);
  CHECK(*back == chat);
  CHECK(env.stats.relayed_local.load() == 2);
  // Nothing is echoed to the sender.
  p.host.link->io().drain();
  CHECK(p.host.frame_count() == p.host.seen);
}

TEST_CASE("a peer on the same I/O thread gets the relayed frame at once, without a post") {
  actor_env env;
  auto io = std::make_shared<fake_thread>();
  client host{*env.ctx, io}, guest{*env.ctx, io};
  auto room = create_room(host);
  guest.send(join_msg(room));
  REQUIRE(guest.next()["type"] == "peer-joined");
  REQUIRE(host.next()["type"] == "peer-joined");
  auto sent = signal_msg(room);
  host.send(sent);
  // Written to the guest's link during the host's on_text: nothing was queued.
  auto got = guest.immediate();
  CHECK(got == json::parse(sent));
  CHECK(io->drain() == 0);
  CHECK(env.stats.relayed_local.load() == 1);
}

TEST_CASE("a stranger's signal, chat-message and leave-room get not-a-member") {
  actor_env env;
  pair_in_room p{*env.ctx};
  client stranger{*env.ctx};
  stranger.send(signal_msg(p.room));
  CHECK(stranger.immediate()["code"] == "not-a-member");
  stranger.send(signal_msg(p.room, "chat-message"));
  CHECK(stranger.immediate()["code"] == "not-a-member");
  stranger.send(json{{"type", "leave-room"}, {"roomId", p.room}}.dump());
  CHECK(stranger.immediate()["code"] == "not-a-member");
  CHECK(env.stats.relayed_local.load() == 0);
}

TEST_CASE("a member signalling another room's id gets not-a-member") {
  actor_env env;
  pair_in_room p{*env.ctx};
  client other{*env.ctx};
  auto other_room = create_room(other);
  p.host.send(signal_msg(other_room));
  CHECK(p.host.immediate()["code"] == "not-a-member");
}

TEST_CASE("a host alone in its room gets no-peer for a signal") {
  actor_env env;
  client host{*env.ctx};
  auto room = create_room(host);
  host.send(signal_msg(room));
  CHECK(host.immediate()["code"] == "no-peer");
}

TEST_CASE("a frame relayed from a room the receiver has since left is dropped") {
  actor_env env;
  pair_in_room p{*env.ctx};
  // The deliver message is queued on the guest's strand at once, but the
  // guest leaves before its strand runs it.
  p.host.send(signal_msg(p.room));
  p.guest.send(json{{"type", "leave-room"}, {"roomId", p.room}}.dump());
  auto left = p.guest.immediate();
  CHECK(left["type"] == "room-left");
  CHECK(left["roomId"] == p.room);
  CHECK(p.guest.link->io().drain() >= 1);
  CHECK(p.guest.frame_count() == p.guest.seen);
  auto h = p.host.next();
  CHECK(h["type"] == "peer-left");
}

// -- one request at a time -----------------------------------------------------------------

TEST_CASE("a second create-room sent before the first is answered gets busy") {
  actor_env env;
  client c{*env.ctx};
  c.send(R"({"type":"create-room"})");
  c.send(R"({"type":"create-room"})");
  // The busy answer is written on the spot; the first answer waits for a drain.
  CHECK(c.frame_count() == 1);
  CHECK(c.immediate()["code"] == "busy");
  c.send(join_msg("123456"));
  CHECK(c.immediate()["code"] == "busy");
  auto m = c.next();
  CHECK(m["type"] == "room-created");
  CHECK(env.stats.rooms.load() == 1);
  // Answered: the next create is accepted (and replaces the room).
  c.send(R"({"type":"create-room"})");
  CHECK(c.next()["type"] == "room-created");
}

TEST_CASE("a join-room sent before the previous join is answered gets busy") {
  actor_env env;
  client host{*env.ctx}, guest{*env.ctx};
  auto room = create_room(host);
  guest.send(join_msg(room));
  guest.send(join_msg(room));
  CHECK(guest.immediate()["code"] == "busy");
  CHECK(guest.next()["type"] == "peer-joined");
}

// -- leaving ----------------------------------------------------------------------------

TEST_CASE("when a member's connection closes the other hears peer-left and the room is gone") {
  actor_env env;
  pair_in_room p{*env.ctx};
  CHECK(env.stats.rooms.load() == 1);
  p.host.close();
  auto m = p.guest.next();
  CHECK(m["type"] == "peer-left");
  CHECK(m["roomId"] == p.room);
  CHECK(testing::eventually([&] { return env.stats.rooms.load() == 0; }));
  // The guest is no longer a member of the ended room.
  p.guest.send(signal_msg(p.room));
  CHECK(p.guest.immediate()["code"] == "not-a-member");
}

TEST_CASE("when the guest's connection closes the host hears peer-left") {
  actor_env env;
  pair_in_room p{*env.ctx};
  p.guest.close();
  auto m = p.host.next();
  CHECK(m["type"] == "peer-left");
  CHECK(m["roomId"] == p.room);
  CHECK(testing::eventually([&] { return env.stats.rooms.load() == 0; }));
}

TEST_CASE("a lone host's connection closing removes its room from the directory") {
  actor_env env;
  client host{*env.ctx}, guest{*env.ctx};
  auto room = create_room(host);
  CHECK(env.stats.rooms.load() == 1);
  host.close();
  CHECK(testing::eventually([&] { return env.stats.rooms.load() == 0; }));
  guest.send(join_msg(room));
  guest.expect_error("room-unavailable");
}

TEST_CASE("leave-room answers room-left, tells the peer peer-left and ends the room") {
  actor_env env;
  pair_in_room p{*env.ctx};
  p.guest.send(json{{"type", "leave-room"}, {"roomId", p.room}}.dump());
  auto g = p.guest.immediate();
  CHECK(g["type"] == "room-left");
  CHECK(g["roomId"] == p.room);
  auto h = p.host.next();
  CHECK(h["type"] == "peer-left");
  CHECK(h["roomId"] == p.room);
  CHECK(testing::eventually([&] { return env.stats.rooms.load() == 0; }));
}

// -- limits -----------------------------------------------------------------------------

// Time for the rate-limit cases: the connection actors read it through
// node_context::now, and the cases step it to each deadline instead of
// sleeping until it passes.
namespace {
std::atomic<connection_link::clock::rep> stepped_ticks{0};
connection_link::clock::time_point stepped_now() {
  return connection_link::clock::time_point(connection_link::clock::duration(stepped_ticks.load()));
}
void step_to(connection_link::clock::time_point t) {
  stepped_ticks.store(t.time_since_epoch().count());
}
// An actor environment on stepped time, starting from the real now.
struct stepped_env : actor_env {
  explicit stepped_env(limits lim) : actor_env(lim) {
    step_to(connection_link::clock::now());
    ctx->now = &stepped_now;
  }
};
} // namespace

TEST_CASE("a message over the rate is not refused: reading pauses until the bucket refills, and every message is acted on") {
  limits lim;
  lim.rate_per_second = 50;
  lim.rate_burst = 2;
  stepped_env env{lim};
  client c{*env.ctx};
  const std::string msg = R"({"type":"leave-room","roomId":"123456"})";
  c.send(msg);
  CHECK(c.immediate()["code"] == "not-a-member");
  CHECK_FALSE(c.link->paused_);
  // The second message takes the last token: reading stops until one is back.
  auto before = stepped_now();
  c.send(msg);
  CHECK(c.immediate()["code"] == "not-a-member");
  CHECK(c.link->paused_);
  auto due = c.link->deadline();
  CHECK(due > before);
  CHECK(due <= before + std::chrono::milliseconds(25)); // one token at 50/s
  // The deadline resumes reading; nothing was refused or dropped.
  step_to(due);
  c.link->io().run([&] { c.handler->on_deadline(); });
  CHECK_FALSE(c.link->paused_);
  c.send(msg);
  CHECK(c.immediate()["code"] == "not-a-member");
  CHECK(env.stats.errors[static_cast<std::size_t>(protocol::error_code::rate_limited)].load() == 0);
  CHECK(c.link->closes().empty());
}

TEST_CASE("a client still over the rate after RATE_LIMIT_STRIKES slowed messages in a row is closed 1008") {
  limits lim;
  lim.rate_per_second = 20; // a token every 50 ms; read within 5 ms of a resume is "waiting"
  lim.rate_burst = 1;
  lim.rate_strikes_before_close = 3;
  stepped_env env{lim};
  client c{*env.ctx};
  const std::string msg = R"({"type":"leave-room","roomId":"123456"})";
  // Each message empties the bucket; the next one was already waiting when
  // reading resumed: a strike each time.
  c.send(msg);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(c.link->paused_);
    step_to(c.link->deadline());
    c.link->io().run([&] { c.handler->on_deadline(); });
    c.send(msg);
    CHECK(c.link->closes().empty());
  }
  step_to(c.link->deadline());
  c.link->io().run([&] { c.handler->on_deadline(); });
  c.send(msg);
  auto closes = c.link->closes();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0] == close_code::policy_violation);
  CHECK(c.frame_count() == 4); // four answered, the last one closed instead
}

TEST_CASE("a slowed client that then sends within its rate starts a new run of strikes") {
  limits lim;
  lim.rate_per_second = 20;
  lim.rate_burst = 1;
  lim.rate_strikes_before_close = 1;
  stepped_env env{lim};
  client c{*env.ctx};
  const std::string msg = R"({"type":"leave-room","roomId":"123456"})";
  for (int i = 0; i < 5; ++i) {
    c.send(msg);
    REQUIRE(c.link->paused_);
    step_to(c.link->deadline());
    c.link->io().run([&] { c.handler->on_deadline(); });
    // Not waiting when reading resumed: the client keeps to its rate.
    step_to(stepped_now() + std::chrono::milliseconds(20));
  }
  CHECK(c.link->closes().empty());
}

TEST_CASE("a frame deeper than max_json_depth gets too-deep from the connection actor") {
  limits lim;
  lim.max_json_depth = 3;
  actor_env env{lim};
  client c{*env.ctx};
  c.send(R"({"type":"create-room","a":[[]]})");
  CHECK(c.next()["type"] == "room-created");
  c.send(R"({"type":"create-room","a":[[[]]]})");
  CHECK(c.immediate()["code"] == "too-deep");
}

// -- the directory ----------------------------------------------------------------------

TEST_CASE("5000 live rooms get 5000 distinct six-digit ids") {
  constexpr int n = 5000;
  actor_env env;
  auto& sys = *env.sys;
  caf::scoped_actor collector{sys};
  caf::actor to_collector = collector;
  // One host per room: each room monitors its host and stays live while the
  // host does. A host tells the collector which id its room got.
  std::vector<caf::actor> hosts;
  hosts.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto host = sys.spawn([to_collector](caf::event_based_actor*) -> caf::behavior {
      return {
        [to_collector](room_created& c) { caf::anon_send(to_collector, std::move(c.room_id)); },
        [to_collector](const refused& r) {
          caf::anon_send(to_collector, "refused: " + std::string(protocol::code_name(r.code)));
        },
      };
    });
    caf::anon_send(env.ctx->directory, create_room_request{host});
    hosts.push_back(std::move(host));
  }
  std::set<std::string> ids;
  std::vector<std::string> bad;
  bool timed_out = false;
  for (int i = 0; i < n && !timed_out; ++i)
    collector->receive(
      [&](std::string& id) {
        if (!is_room_id(id, 6))
          bad.push_back(id);
        ids.insert(std::move(id));
      },
      caf::after(std::chrono::seconds(30)) >> [&] { timed_out = true; });
  CHECK_FALSE(timed_out);
  CHECK_MESSAGE(bad.empty(), "first bad id: " << (bad.empty() ? "" : bad.front()));
  CHECK(ids.size() == static_cast<std::size_t>(n));
  CHECK(env.stats.rooms.load() == n);

  // Each host's end ends its room.
  for (auto& h : hosts)
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  CHECK(testing::eventually([&] { return env.stats.rooms.load() == 0; }, 30s));
  hosts.clear();
  to_collector = nullptr;
}

// -- seat resume ------------------------------------------------------------------

TEST_CASE("a lost host resumes its seat and gets what the guest sent meanwhile, bounded, oldest dropped") {
  limits lim;
  lim.resume_max_frames = 5;
  actor_env env{lim};
  client host{*env.ctx}, guest{*env.ctx};
  host.send(R"({"type":"create-room"})");
  auto created = host.next();
  auto room = created["roomId"].get<std::string>();
  auto token = created["resumeToken"].get<std::string>();
  CHECK(token.size() == 32);
  guest.send(join_msg(room));
  auto joined = guest.next();
  REQUIRE(joined["type"] == "peer-joined");
  CHECK(joined["resumeToken"].get<std::string>().size() == 32);
  CHECK(joined["resumeToken"] != token);
  REQUIRE(host.next()["type"] == "peer-joined");
  host.lose();
  CHECK(guest.next()["type"] == "peer-disconnected");
  for (int i = 0; i < 8; ++i)
    guest.send(json{{"type", "chat-message"}, {"roomId", room}, {"n", i}}.dump());
  // Nobody can take the seat meanwhile.
  client other{*env.ctx};
  other.send(join_msg(room));
  other.expect_error("room-unavailable");
  client back{*env.ctx};
  back.send(json{{"type", "resume"}, {"roomId", room}, {"resumeToken", token}}.dump());
  auto r = back.next();
  MESSAGE(r.dump());
  CHECK(r["type"] == "resumed");
  CHECK(r["role"] == "host");
  CHECK(r["pending"] == 5);
  CHECK(r["dropped"] == 3);
  for (int i = 3; i < 8; ++i)
    CHECK(back.next()["n"] == i);
  CHECK(guest.next()["type"] == "peer-resumed");
  guest.send(signal_msg(room));
  CHECK(back.next()["type"] == "signal");
}

// -- a guest's connection moving to its host's thread (PAIR_THREADS) ---------------

TEST_CASE("a guest that moves to its host's thread gets the host's frames in order, sent before, during and after the move") {
  actor_env env;
  auto host_thread = std::make_shared<fake_thread>();
  auto guest_thread = std::make_shared<fake_thread>(); // kept: the loop outlives the move
  client host{*env.ctx, host_thread};
  client guest{*env.ctx, guest_thread};
  guest.link->movable_to_ = host_thread;
  auto room = create_room(host);
  guest.send(join_msg(room));
  // The room has told both; the host hears first and starts sending while the
  // guest's own room-joined still waits on the guest's thread.
  auto h = host.next();
  REQUIRE(h["type"] == "peer-joined");
  auto frame = [&](int i) { return json{{"type", "signal"}, {"roomId", room}, {"data", {{"n", i}}}}.dump(); };
  host.send(frame(1)); // posted to the guest's old thread, behind its room-joined
  host.send(frame(2));
  auto& old_thread = *guest_thread;
  REQUIRE(old_thread.queued() == 3);
  REQUIRE(old_thread.run_one()); // room-joined: the guest moves to the host's thread
  CHECK(guest.link->moves_ == 1);
  CHECK(&guest.link->io() == host_thread.get());
  // Sent after the move: a direct call on the shared thread, which must wait
  // for 1 and 2, still on the old thread.
  host.send(frame(3));
  host_thread->drain(); // nothing of 1 and 2 has come through yet
  old_thread.drain();   // forwards 1, 2 and the end-of-move marker
  host_thread->drain();
  host.send(frame(4)); // settled: a plain call
  std::vector<int> got;
  auto joined = guest.next();
  CHECK(joined["type"] == "peer-joined");
  for (int i = 0; i < 4; ++i) {
    auto m = guest.next();
    REQUIRE(m["type"] == "signal");
    got.push_back(m["data"]["n"].get<int>());
  }
  CHECK(got == std::vector<int>{1, 2, 3, 4});
  // And the guest's frames reach the host with a plain call now.
  guest.send(signal_msg(room));
  CHECK(host.immediate()["type"] == "signal");
  CHECK(old_thread.queued() == 0);
}

TEST_CASE("a guest whose connection cannot move stays on its thread and relays through posts") {
  actor_env env;
  auto host_thread = std::make_shared<fake_thread>();
  client host{*env.ctx, host_thread};
  client guest{*env.ctx}; // movable_to_ unset: move_to refuses, as TLS or a busy socket would
  auto room = create_room(host);
  guest.send(join_msg(room));
  CHECK(guest.next()["type"] == "peer-joined");
  CHECK(host.next()["type"] == "peer-joined");
  CHECK(guest.link->moves_ == 0);
  host.send(signal_msg(room));
  CHECK(guest.link->io().queued() == 1);
  CHECK(guest.next()["type"] == "signal");
}

TEST_CASE("with pair_threads off a guest never asks to move") {
  actor_env env;
  env.ctx->pair_threads = false;
  auto host_thread = std::make_shared<fake_thread>();
  client host{*env.ctx, host_thread};
  client guest{*env.ctx};
  guest.link->movable_to_ = host_thread;
  auto room = create_room(host);
  guest.send(join_msg(room));
  CHECK(guest.next()["type"] == "peer-joined");
  CHECK(guest.link->moves_ == 0);
}

TEST_CASE("a room's message to a guest that has just moved waits for the frames sent to it before the move") {
  actor_env env;
  auto host_thread = std::make_shared<fake_thread>();
  auto guest_thread = std::make_shared<fake_thread>();
  client host{*env.ctx, host_thread};
  client guest{*env.ctx, guest_thread};
  guest.link->movable_to_ = host_thread;
  auto room = create_room(host);
  guest.send(join_msg(room));
  REQUIRE(host.next()["type"] == "peer-joined");
  host.send(signal_msg(room)); // posted to the guest's old thread
  REQUIRE(guest_thread->run_one()); // room-joined: the guest moves
  REQUIRE(guest.link->moves_ == 1);
  // The host leaves: the room tells the guest peer-left, posted straight to
  // its new thread, while the signal is still on the old one.
  host.send(json{{"type", "leave-room"}, {"roomId", room}}.dump());
  REQUIRE(testing::eventually([&] { return host_thread->queued() > 0; }));
  host_thread->drain();
  guest_thread->drain();
  host_thread->drain();
  CHECK(guest.next()["type"] == "peer-joined");
  CHECK(guest.next()["type"] == "signal"); // not dropped as from a room already left
  CHECK(guest.next()["type"] == "peer-left");
}
