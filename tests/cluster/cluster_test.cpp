// Cluster behaviour that only exists with several nodes: racing guests, a
// node dying, Redis going away or losing its data, and churn leaving Redis
// clean. Real redis-server, real signal-node processes, real sockets.
#include "support/cluster.hpp"
#include "support/ws_client.hpp"

#include <doctest/doctest.h>
#include <regex>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

using namespace testing;
using json = nlohmann::json;

namespace {

json read_json(ws_client& c, std::chrono::milliseconds t = 5s) {
  return json::parse(c.read_text(t));
}

std::string create_room(ws_client& host) {
  host.send(R"({"type":"create-room"})");
  auto m = read_json(host);
  REQUIRE_MESSAGE(m["type"] == "room-created", m.dump());
  return m["roomId"].get<std::string>();
}

void join(ws_client& c, const std::string& room) {
  c.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
}

// A signal from `a` reaches `b` unchanged, and one back.
void signals_both_ways(ws_client& a, ws_client& b, const std::string& room) {
  std::string there = json{{"type", "signal"}, {"roomId", room}, {"sdp", "there"}}.dump();
  a.send(there);
  CHECK(b.read_text() == there);
  std::string back = json{{"type", "signal"}, {"roomId", room}, {"sdp", "back"}}.dump();
  b.send(back);
  CHECK(a.read_text() == back);
}

json ping(std::uint16_t port) {
  return json::parse(http_request(port, "GET", "/api/ping").body);
}

std::size_t rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6));
  return 0;
}

std::vector<std::string> room_keys(const redis_process& redis) {
  auto keys = redis.command({"KEYS", "sig:room:*"});
  return keys;
}

// A TCP proxy in front of Redis that can hold a node's commands: once a read
// from a client holds `marker` (see hold_from), that read and all that
// client sends after it wait in the proxy until release(). Replies and other
// clients' traffic pass. For orderings a test cannot otherwise make happen.
class holding_proxy {
public:
  explicit holding_proxy(std::uint16_t upstream) : upstream_(upstream) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~holding_proxy() {
    stop_ = true;
    thread_.join();
    for (auto& l : links_)
      ::close(l.client), ::close(l.server);
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  void hold_from(std::string marker) {
    std::lock_guard<std::mutex> g{m_};
    marker_ = std::move(marker);
  }
  bool holding() const {
    std::lock_guard<std::mutex> g{m_};
    return held_ >= 0;
  }
  bool held_contains(const std::string& s) const {
    std::lock_guard<std::mutex> g{m_};
    return held_bytes_.find(s) != std::string::npos;
  }
  void release() {
    std::lock_guard<std::mutex> g{m_};
    release_ = true;
  }

private:
  struct link {
    int client, server;
  };
  static void write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
      auto w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0)
        return;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void run() {
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (auto& l : links_) {
        fds.push_back({l.client, POLLIN, 0});
        fds.push_back({l.server, POLLIN, 0});
      }
      ::poll(fds.data(), fds.size(), 20);
      {
        std::lock_guard<std::mutex> g{m_};
        if (release_ && held_ >= 0) {
          write_all(links_[static_cast<std::size_t>(held_)].server, held_bytes_.data(), held_bytes_.size());
          held_ = -1;
          marker_.clear();
        }
      }
      if (fds[0].revents & POLLIN) {
        int c = ::accept(listener_, nullptr, nullptr);
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(upstream_);
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
          links_.push_back({c, s});
        else
          ::close(c), ::close(s);
      }
      char buf[65536];
      for (std::size_t i = 0; i < links_.size(); ++i) {
        auto& l = links_[i];
        auto ev_c = fds[1 + 2 * i].revents, ev_s = fds[2 + 2 * i].revents;
        if (ev_s & (POLLIN | POLLHUP)) {
          auto n = ::recv(l.server, buf, sizeof buf, 0);
          if (n > 0)
            write_all(l.client, buf, static_cast<std::size_t>(n));
          else
            ::shutdown(l.client, SHUT_RDWR);
        }
        if (ev_c & (POLLIN | POLLHUP)) {
          auto n = ::recv(l.client, buf, sizeof buf, 0);
          if (n <= 0) {
            ::shutdown(l.server, SHUT_RDWR);
            continue;
          }
          std::string_view got(buf, static_cast<std::size_t>(n));
          std::lock_guard<std::mutex> g{m_};
          if (held_ < 0 && !marker_.empty() && got.find(marker_) != std::string_view::npos)
            held_ = static_cast<int>(i);
          if (held_ == static_cast<int>(i))
            held_bytes_.append(got);
          else
            write_all(l.server, got.data(), got.size());
        }
      }
    }
  }

  std::uint16_t upstream_, port_ = 0;
  int listener_ = -1;
  std::vector<link> links_; // the proxy's thread only
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex m_;
  std::string marker_;
  int held_ = -1; // the link whose commands are held
  std::string held_bytes_;
  bool release_ = false;
};

} // namespace

TEST_CASE("two guests racing for one seat from two nodes: exactly one gets it, 100 times out of 100") {
  redis_process redis;
  // Every round has a loser, all from 127.0.0.1: no per-address miss budget.
  const env_map env{{"JOIN_MISSES_PER_IP", "0"}};
  node_process a{redis, "node-a", env}, b{redis, "node-b", env}, c{redis, "node-c", env};
  int one_winner = 0;
  for (int round = 0; round < 100; ++round) {
    ws_client host, g1, g2;
    host.connect(a.port());
    g1.connect(b.port());
    g2.connect(c.port());
    auto room = create_room(host);
    join(g1, room);
    join(g2, room);
    auto r1 = read_json(g1), r2 = read_json(g2);
    int winners = (r1["type"] == "peer-joined") + (r2["type"] == "peer-joined");
    int refused = (r1["code"] == "room-unavailable") + (r2["code"] == "room-unavailable");
    if (winners == 1 && refused == 1 && read_json(host)["type"] == "peer-joined")
      ++one_winner;
    else
      MESSAGE("round " << round << ": " << r1.dump() << " " << r2.dump());
  }
  CHECK(one_winner == 100);
}

// Whether Redis comes to keep `n` frames for `role`'s parked seat in `room`
// within 5 s (a node may hold frames a moment to share a write to Redis).
static bool frames_kept(const redis_process& redis, const std::string& room, const std::string& role, int n) {
  return eventually([&] {
    return redis.command({"LLEN", "sig:room:" + room + ":q:" + role}) == std::vector<std::string>{std::to_string(n)};
  });
}

TEST_CASE("kill -9 of the host's node: guests hear peer-disconnected in bound, a host resumes on a node that "
          "never had the room, with the frames kept in Redis, a host that does not is gone after the grace") {
  redis_process redis;
  // NODE_TTL_MS=2000 in these tests; the default is 5000 (bound ~6 s).
  const env_map env{{"RESUME_GRACE_SECONDS", "4"}};
  auto a = std::make_unique<node_process>(redis, "node-a", env);
  node_process b{redis, "node-b", env};
  node_process c{redis, "node-c", env};
  // Two rooms hosted on node A with their guests on node B.
  ws_client host1, guest1, host2, guest2;
  host1.connect(a->port());
  guest1.connect(b.port());
  host2.connect(a->port());
  guest2.connect(b.port());
  host1.send(R"({"type":"create-room"})");
  auto created = read_json(host1);
  auto room1 = created["roomId"].get<std::string>();
  auto token1 = created["resumeToken"].get<std::string>();
  join(guest1, room1);
  REQUIRE(read_json(guest1)["type"] == "peer-joined");
  REQUIRE(read_json(host1)["type"] == "peer-joined");
  auto room2 = create_room(host2);
  join(guest2, room2);
  REQUIRE(read_json(guest2)["type"] == "peer-joined");
  REQUIRE(read_json(host2)["type"] == "peer-joined");

  auto killed = std::chrono::steady_clock::now();
  a->proc().signal(SIGKILL);
  auto m = read_json(guest1, 10s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
  MESSAGE("peer-disconnected arrived " << took.count() << " ms after kill -9 (NODE_TTL_MS=2000, HEARTBEAT_MS=250)");
  CHECK(m["type"] == "peer-disconnected");
  CHECK(m["roomId"] == room1);
  CHECK(read_json(guest2, 10s)["type"] == "peer-disconnected");
  // What guest 1 says meanwhile waits in Redis: node A is gone, node C has
  // never seen the room.
  for (int i = 0; i < 3; ++i)
    guest1.send(json{{"type", "signal"}, {"roomId", room1}, {"n", i}}.dump());
  // Node B handles them at once, but may hold them a moment to share a
  // write to Redis (REDIS_BATCH_US): the resume below counts what Redis has.
  REQUIRE(frames_kept(redis, room1, "host", 3));
  ws_client back;
  back.connect(c.port());
  back.send(json{{"type", "resume"}, {"roomId", room1}, {"resumeToken", token1}}.dump());
  auto r = read_json(back);
  CHECK(r["type"] == "resumed");
  CHECK(r["role"] == "host");
  CHECK(r["pending"] == 3);
  CHECK(r["peerConnected"] == true);
  for (int i = 0; i < 3; ++i)
    CHECK(read_json(back)["n"] == i);
  CHECK(read_json(guest1)["type"] == "peer-resumed");
  signals_both_ways(back, guest1, room1);

  // Room 2's host never comes back: peer-left when its grace ends, and the
  // id is gone.
  auto left = read_json(guest2, 15s);
  CHECK(left["type"] == "peer-left");
  CHECK(left["roomId"] == room2);
  ws_client late;
  late.connect(b.port());
  join(late, room2);
  CHECK(read_json(late)["code"] == "room-unavailable");
  CHECK(redis.command({"EXISTS", "sig:room:" + room2}) == std::vector<std::string>{"0"});
  CHECK(redis.command({"SISMEMBER", "sig:nodes", "node-a"}) == std::vector<std::string>{"0"});
}

// A guest joins on node B just as the host's node A is found dead, and the
// host resumes on B before B learns that nobody on A heard of the join. The
// resume must be answered, whatever Redis says of it.
TEST_CASE("a host resuming on the node where a guest's join to its dead node is failing gets an answer: the room, or a refusal") {
  redis_process redis;
  holding_proxy proxy{redis.port()};
  const env_map env{{"RESUME_GRACE_SECONDS", "30"}};
  auto a = std::make_unique<node_process>(redis, "node-a", env);
  // Node B reaches Redis through the proxy, which holds its commands for a
  // while: its liveness and its link's deadline outlast that. Its resumes go
  // straight to the room (the per-address budget's read would wait behind
  // the held commands).
  node_process b{"node-b", {{"REDIS_URL", proxy.url()},
                            {"RESUME_GRACE_SECONDS", "30"},
                            {"NODE_TTL_MS", "60000"},
                            {"REDIS_TIMEOUT_MS", "60000"},
                            {"JOIN_MISSES_PER_IP", "0"}}};
  node_process c{redis, "node-c", env}; // finds node A dead (NODE_TTL_MS=2000) and parks its seats
  ws_client host;
  host.connect(a->port());
  host.send(R"({"type":"create-room"})");
  auto created = read_json(host);
  auto room = created["roomId"].get<std::string>();
  auto token = created["resumeToken"].get<std::string>();
  a->proc().signal(SIGKILL);
  a->proc().wait_exit(5s); // (nullopt: it died of the signal)
  // Its subscriber went with it: nobody hears node A's channel any more.
  REQUIRE(eventually([&] {
    return redis.command({"PUBSUB", "NUMSUB", "sig:chan:node-a"}) == std::vector<std::string>{"sig:chan:node-a", "0"};
  }));
  // The guest's join passes Redis (the host is still seated there, on A);
  // node B's news of it to node A (J), and all B sends after, wait.
  proxy.hold_from("J|" + room + "|");
  ws_client guest;
  guest.connect(b.port());
  join(guest, room);
  REQUIRE(eventually([&] { return proxy.holding(); }));
  ws_client back;
  back.connect(b.port());
  auto resume = json{{"type", "resume"}, {"roomId", room}, {"resumeToken", token}}.dump();

  SUBCASE("the host's seat was parked first: the resume opens the room on node B") {
    REQUIRE(eventually([&] { return redis.command({"HEXISTS", "sig:room:" + room, "host_due"}) == std::vector<std::string>{"1"}; }, 10s));
    back.send(resume);
    REQUIRE(eventually([&] { return proxy.held_contains(token); }));
    proxy.release(); // Redis answers the J (nobody heard it), then the resume
    auto g = read_json(guest);
    CHECK(g["type"] == "error");
    CHECK(g["code"] == "unavailable");
    auto r = read_json(back);
    REQUIRE_MESSAGE(r["type"] == "resumed", r.dump());
    CHECK(r["role"] == "host");
    CHECK(r["peerConnected"] == false);
    // The guest's seat is free again: another guest joins (on node C) and
    // the two talk.
    REQUIRE(eventually([&] { return redis.command({"HEXISTS", "sig:room:" + room, "guest_tok"}) == std::vector<std::string>{"0"}; }));
    ws_client guest2;
    guest2.connect(c.port());
    join(guest2, room);
    CHECK(read_json(guest2)["type"] == "peer-joined");
    CHECK(read_json(back)["type"] == "peer-joined");
    signals_both_ways(back, guest2, room);
  }
  SUBCASE("the host's seat is not parked yet: the resume is refused, and may be made again") {
    back.send(resume);
    REQUIRE(eventually([&] { return proxy.held_contains(token); }));
    proxy.release();
    CHECK(read_json(guest)["code"] == "unavailable");
    auto r = read_json(back);
    CHECK(r["type"] == "error");
    CHECK(r["code"] == "room-unavailable");
    // Once node C has parked the seat, the same token brings the host back.
    REQUIRE(eventually([&] { return redis.command({"HEXISTS", "sig:room:" + room, "host_due"}) == std::vector<std::string>{"1"}; }, 10s));
    back.send(resume);
    CHECK(read_json(back)["type"] == "resumed");
  }
}

TEST_CASE("Redis stopped until the nodes retry at their longest backoff, then restarted: what clients see, and recovery without restarting nodes") {
  redis_process redis;
  node_process a{redis, "node-a"}, b{redis, "node-b"};
  // A room inside node A, and one across A and B.
  ws_client local_host, local_guest, cross_host, cross_guest;
  local_host.connect(a.port());
  local_guest.connect(a.port());
  cross_host.connect(a.port());
  cross_guest.connect(b.port());
  auto local_room = create_room(local_host);
  join(local_guest, local_room);
  REQUIRE(read_json(local_guest)["type"] == "peer-joined");
  REQUIRE(read_json(local_host)["type"] == "peer-joined");
  auto cross_room = create_room(cross_host);
  join(cross_guest, cross_room);
  REQUIRE(read_json(cross_guest)["type"] == "peer-joined");
  REQUIRE(read_json(cross_host)["type"] == "peer-joined");

  redis.stop();
  auto down_at = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return http_request(a.port(), "GET", "/readyz").status == 503; }, 10s));
  MESSAGE("node-a /readyz: 503 while Redis is down; /api/ping redis=" << ping(a.port())["redis"]);

  // New rooms: a quick, retryable refusal, not a hang.
  ws_client newcomer;
  newcomer.connect(a.port());
  auto asked = std::chrono::steady_clock::now();
  newcomer.send(R"({"type":"create-room"})");
  auto refusal = read_json(newcomer);
  MESSAGE("create-room during the outage answered in "
          << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked).count()
          << " ms: " << refusal.dump());
  CHECK(refusal["code"] == "unavailable");

  // Inside one node, relaying goes on.
  std::string hello = json{{"type", "signal"}, {"roomId", local_room}, {"sdp", "during outage"}}.dump();
  local_host.send(hello);
  CHECK(local_guest.read_text() == hello);

  // Across nodes, the sender is told; nothing is silently lost.
  std::string refused = json{{"type", "signal"}, {"roomId", cross_room}, {"sdp", "lost?"}}.dump();
  cross_host.send(refused);
  auto cross_err = read_json(cross_host);
  MESSAGE("cross-node signal during the outage: " << cross_err.dump());
  CHECK(cross_err["code"] == "unavailable");
  // (Refused, so it never arrives: checked on everything the guest reads below.)

  // A long outage: it lasts until both nodes' links retry at their longest
  // backoff (2 s, so a retry_ms of at least 1000 after jitter), twice each for
  // both links; the node must come back from there without a restart. (The
  // restarted Redis is empty, so how long past the nodes' TTL it stayed away
  // changes nothing; the FLUSHALL cases below cover a Redis that lost its data.)
  // Up to 60 s.
  auto at_longest_backoff = [](node_process& n) {
    static const std::regex retry{"event=redis_down [^\n]*retry_ms=([0-9]+)"};
    auto out = n.proc().output();
    int long_waits = 0;
    for (std::sregex_iterator i{out.begin(), out.end(), retry}, end; i != end; ++i)
      long_waits += std::stoi((*i)[1]) >= 1000;
    return long_waits >= 4;
  };
  REQUIRE(eventually([&] { return at_longest_backoff(a) && at_longest_backoff(b); }, 60s));
  MESSAGE("Redis restarted after an outage of "
          << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - down_at).count()
          << " ms");
  redis.restart();
  REQUIRE(eventually([&] { return http_request(a.port(), "GET", "/readyz").status == 200; }, 15s));
  REQUIRE(eventually([&] { return http_request(b.port(), "GET", "/readyz").status == 200; }, 15s));

  // The room that lived through it relays across nodes again.
  std::string after = json{{"type", "signal"}, {"roomId", cross_room}, {"sdp", "after outage"}}.dump();
  CHECK(eventually([&] {
    cross_host.send(after);
    auto ev = cross_guest.read(500ms);
    CHECK(ev.data != refused);
    if (ev.kind == ws_event::text && ev.data == after)
      return true;
    cross_host.read(100ms); // an `unavailable` while the subscriber resubscribes
    return false;
  }, 10s));
  // Its record came back into the new, empty Redis (restored by its host's node).
  CHECK(eventually([&] { return !redis.command({"EXISTS", "sig:room:" + cross_room}).empty() &&
                                redis.command({"EXISTS", "sig:room:" + cross_room})[0] == "1"; }, 10s));
  // New rooms work across nodes.
  ws_client h2, g2;
  h2.connect(b.port());
  g2.connect(a.port());
  auto fresh = create_room(h2);
  join(g2, fresh);
  CHECK(read_json(g2)["type"] == "peer-joined");
  CHECK(read_json(h2)["type"] == "peer-joined");
}

TEST_CASE("FLUSHALL: live rooms are restored, nothing else is joinable, new rooms work") {
  redis_process redis;
  node_process a{redis, "node-a"}, b{redis, "node-b"};
  ws_client host, guest, waiting;
  host.connect(a.port());
  guest.connect(b.port());
  waiting.connect(a.port());
  auto room = create_room(host);
  join(guest, room);
  REQUIRE(read_json(guest)["type"] == "peer-joined");
  REQUIRE(read_json(host)["type"] == "peer-joined");
  auto open_room = create_room(waiting); // nobody joined yet
  // A record no live node hosts: a phantom once Redis forgets and is rebuilt.
  redis.command({"HSET", "sig:room:999999", "host_node", "gone-node", "host_conn", "1"});

  REQUIRE(redis.command({"FLUSHALL"}) == std::vector<std::string>{"OK"});
  // The hosts' nodes notice their liveness keys vanished and write their rooms back.
  CHECK(eventually([&] { return redis.command({"EXISTS", "sig:room:" + open_room})[0] == "1"; }, 10s));
  CHECK(redis.command({"EXISTS", "sig:room:" + room})[0] == "1");
  CHECK(redis.command({"EXISTS", "sig:room:999999"})[0] == "0");

  std::string s = json{{"type", "signal"}, {"roomId", room}, {"sdp", "after flush"}}.dump();
  host.send(s);
  CHECK(guest.read_text() == s);

  ws_client joiner, prober;
  joiner.connect(b.port());
  join(joiner, open_room);
  CHECK(read_json(joiner)["type"] == "peer-joined");
  CHECK(read_json(waiting)["type"] == "peer-joined");
  prober.connect(b.port());
  join(prober, "999999");
  CHECK(read_json(prober)["code"] == "room-unavailable");
}

TEST_CASE("after FLUSHALL both members can still resume: each member's node writes its resume token back") {
  redis_process redis;
  node_process a{redis, "node-a"}, b{redis, "node-b"};
  ws_client host, guest;
  host.connect(a.port());
  guest.connect(b.port());
  host.send(R"({"type":"create-room"})");
  auto c = read_json(host);
  REQUIRE(c["type"] == "room-created");
  std::string room = c["roomId"], host_token = c["resumeToken"];
  join(guest, room);
  auto g = read_json(guest);
  REQUIRE(g["type"] == "peer-joined");
  std::string guest_token = g["resumeToken"];
  REQUIRE(read_json(host)["type"] == "peer-joined");

  REQUIRE(redis.command({"FLUSHALL"}) == std::vector<std::string>{"OK"});
  // Node A knows only the host's token, node B only the guest's: both come back.
  auto key = "sig:room:" + room;
  CHECK(eventually([&] { return redis.command({"HGET", key, "host_tok"}) == std::vector<std::string>{host_token}; },
                   10s));
  CHECK(eventually([&] { return redis.command({"HGET", key, "guest_tok"}) == std::vector<std::string>{guest_token}; },
                   10s));

  // The guest's connection is lost; it resumes on the host's node.
  guest.kill();
  REQUIRE(read_json(host, 10s)["type"] == "peer-disconnected");
  ws_client guest2;
  guest2.connect(a.port());
  guest2.send(json{{"type", "resume"}, {"roomId", room}, {"resumeToken", guest_token}}.dump());
  auto r = read_json(guest2);
  REQUIRE_MESSAGE(r["type"] == "resumed", r.dump());
  CHECK(r["role"] == "guest");
  CHECK(read_json(host)["type"] == "peer-resumed");

  // Then the host's; it resumes on node B.
  host.kill();
  REQUIRE(read_json(guest2, 10s)["type"] == "peer-disconnected");
  ws_client host2;
  host2.connect(b.port());
  host2.send(json{{"type", "resume"}, {"roomId", room}, {"resumeToken", host_token}}.dump());
  r = read_json(host2);
  REQUIRE_MESSAGE(r["type"] == "resumed", r.dump());
  CHECK(r["role"] == "host");
  CHECK(read_json(guest2)["type"] == "peer-resumed");
  std::string s = json{{"type", "signal"}, {"roomId", room}, {"sdp", "after flush and two resumes"}}.dump();
  host2.send(s);
  CHECK(guest2.read_text() == s);
}

TEST_CASE("churn of 10,000 rooms across nodes leaves Redis clean and node memory near its baseline") {
  redis_process redis;
  node_process a{redis, "node-a"}, b{redis, "node-b"};
  auto channels_before = redis.command({"PUBSUB", "CHANNELS", "sig:*"});
  REQUIRE(channels_before.size() == 2);
  constexpr int batch = 100, rounds = 100;
  // Warm up once so allocator pools exist before the baseline.
  auto run = [&](int n_rounds) {
    for (int r = 0; r < n_rounds; ++r) {
      std::vector<ws_client> hosts(batch), guests(batch);
      std::vector<std::string> ids(batch);
      for (int i = 0; i < batch; ++i) {
        hosts[i].connect(i % 2 ? a.port() : b.port());
        guests[i].connect(i % 2 ? b.port() : a.port());
        hosts[i].send(R"({"type":"create-room"})");
      }
      for (int i = 0; i < batch; ++i) {
        ids[i] = read_json(hosts[i])["roomId"].get<std::string>();
        join(guests[i], ids[i]);
      }
      for (int i = 0; i < batch; ++i) {
        REQUIRE(read_json(guests[i])["type"] == "peer-joined");
        REQUIRE(read_json(hosts[i])["type"] == "peer-joined");
        guests[i].send(json{{"type", "leave-room"}, {"roomId", ids[i]}}.dump());
      }
      for (int i = 0; i < batch; ++i) {
        REQUIRE(read_json(guests[i])["type"] == "room-left");
        REQUIRE(read_json(hosts[i])["type"] == "peer-left");
      }
    }
  };
  run(5);
  REQUIRE(eventually([&] { return room_keys(redis).empty(); }, 10s));
  auto base_a = rss_kb(a.proc().pid()), base_b = rss_kb(b.proc().pid());
  run(rounds);
  CHECK(eventually([&] { return room_keys(redis).empty(); }, 10s));
  CHECK(eventually([&] {
    return redis.command({"SCARD", "sig:node:node-a:rooms"})[0] == "0" &&
           redis.command({"SCARD", "sig:node:node-b:rooms"})[0] == "0";
  }, 10s));
  auto channels = redis.command({"PUBSUB", "CHANNELS", "sig:*"});
  CHECK(std::set<std::string>(channels.begin(), channels.end()) ==
        std::set<std::string>{"sig:chan:node-a", "sig:chan:node-b"});
  CHECK(redis.command({"PUBSUB", "NUMSUB", "sig:chan:node-a", "sig:chan:node-b"}) ==
        std::vector<std::string>{"sig:chan:node-a", "1", "sig:chan:node-b", "1"});
  CHECK(eventually([&] { return ping(a.port())["nodeRoomsActive"] == 0 && ping(b.port())["nodeRoomsActive"] == 0; }));
  auto after_a = rss_kb(a.proc().pid()), after_b = rss_kb(b.proc().pid());
  MESSAGE("RSS node-a " << base_a << " -> " << after_a << " kB, node-b " << base_b << " -> " << after_b
                        << " kB over 10,000 rooms");
  // "Near the baseline": a leak of even 1 kB per room would add ~10 MB.
  CHECK(after_a < base_a + 8 * 1024);
  CHECK(after_b < base_b + 8 * 1024);
}

TEST_CASE("drain: SIGTERM fails /readyz first, parks its seats, then its clients get 1012 and resume elsewhere, exit 0") {
  redis_process redis;
  node_process a{redis, "node-a", {{"DRAIN_DELAY_MS", "1500"}, {"SHUTDOWN_TIMEOUT_MS", "5000"}}};
  node_process b{redis, "node-b"};
  node_process c{redis, "node-c"};
  // A room across a and b (a is drained), and one across b and c.
  ws_client ha, gb, hb, gc;
  ha.connect(a.port());
  gb.connect(b.port());
  hb.connect(b.port());
  gc.connect(c.port());
  ha.send(R"({"type":"create-room"})");
  auto created = read_json(ha);
  auto drained_room = created["roomId"].get<std::string>();
  auto ha_token = created["resumeToken"].get<std::string>();
  join(gb, drained_room);
  REQUIRE(read_json(gb)["type"] == "peer-joined");
  REQUIRE(read_json(ha)["type"] == "peer-joined");
  auto other_room = create_room(hb);
  join(gc, other_room);
  REQUIRE(read_json(gc)["type"] == "peer-joined");
  REQUIRE(read_json(hb)["type"] == "peer-joined");

  auto started = std::chrono::steady_clock::now();
  a.proc().signal(SIGTERM);
  // Not ready any more, yet still serving: the load balancer's cue to move on.
  REQUIRE(eventually([&] { return http_request(a.port(), "GET", "/readyz").status == 503; }, 1s));
  std::string during = json{{"type", "signal"}, {"roomId", drained_room}, {"sdp", "during drain delay"}}.dump();
  ha.send(during);
  CHECK(gb.read_text() == during);
  CHECK(ws_client{}.try_connect(a.port()) == 101); // still accepting during the delay

  auto ev = ha.read(10s);
  CHECK(ev.kind == ws_event::closed);
  CHECK(ev.code == 1012);
  // The seat was parked before the close: the guest keeps its room.
  CHECK(read_json(gb)["type"] == "peer-disconnected");
  for (int i = 0; i < 5; ++i)
    gb.send(json{{"type", "signal"}, {"roomId", drained_room}, {"n", i}}.dump());
  auto status = a.proc().wait_exit(15s);
  REQUIRE(status);
  CHECK(*status == 0);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  MESSAGE("node-a drained and exited " << took.count() << " ms after SIGTERM (DRAIN_DELAY_MS=1500)");
  CHECK(took < 1500ms + 5000ms + 2000ms); // drain delay + shutdown timeout + slack: the grace period holds

  // The rest of the cluster is unaffected, and node-a left Redis at once,
  // leaving the parked seat behind.
  std::string s = json{{"type", "signal"}, {"roomId", other_room}, {"sdp", "after drain"}}.dump();
  hb.send(s);
  CHECK(gc.read_text() == s);
  CHECK(redis.command({"SISMEMBER", "sig:nodes", "node-a"}) == std::vector<std::string>{"0"});
  CHECK(redis.command({"EXISTS", "sig:room:" + drained_room}) == std::vector<std::string>{"1"});

  // The drained host resumes on node C and gets what the guest sent meanwhile.
  REQUIRE(frames_kept(redis, drained_room, "host", 5)); // (see the kill -9 case)
  ws_client back;
  back.connect(c.port());
  back.send(json{{"type", "resume"}, {"roomId", drained_room}, {"resumeToken", ha_token}}.dump());
  auto r = read_json(back);
  CHECK(r["type"] == "resumed");
  CHECK(r["pending"] == 5);
  for (int i = 0; i < 5; ++i)
    CHECK(read_json(back)["n"] == i);
  CHECK(read_json(gb)["type"] == "peer-resumed");
  std::string after = json{{"type", "signal"}, {"roomId", drained_room}, {"sdp", "after the move"}}.dump();
  back.send(after);
  CHECK(gb.read_text() == after);
}
