// Redis that fails over and scales out (issue 16), with the real thing on
// loopback: redis-server primaries and replicas, three redis-sentinel
// processes, several independent shards, ACL users. Every wait is bounded;
// timings are printed with MESSAGE (the machine is shared: read them with
// its load in mind).
#include "support/cluster.hpp"
#include "support/raw_ws.hpp"
#include "support/ws_client.hpp"
#include "telemetry/log.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace testing;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

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

// Two new clients through `port` (a balancer) share a room: both are told
// peer-joined and a signal crosses.
bool room_through(std::uint16_t port) {
  ws_client host, guest;
  host.connect(port);
  guest.connect(port);
  auto id = create_room(host);
  join(guest, id);
  auto joined = read_json(guest)["type"] == "peer-joined" && read_json(host)["type"] == "peer-joined";
  std::string s = json{{"type", "signal"}, {"roomId", id}, {"sdp", "via haproxy"}}.dump();
  host.send(s);
  return joined && guest.read_text() == s;
}

json ping(std::uint16_t port) {
  return json::parse(http_request(port, "GET", "/api/ping").body);
}

bool ready(std::uint16_t port) {
  return http_request(port, "GET", "/readyz").status == 200;
}

std::int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

// The address the node's links to shard `i` are on, if that shard is up.
std::string shard_primary(std::uint16_t port, std::size_t i = 0) {
  auto p = ping(port);
  auto& shards = p["redisShards"];
  if (!shards.is_array() || shards.size() <= i || shards[i]["state"] != "up")
    return {};
  return shards[i]["primary"].get<std::string>();
}

// Links to shard `shard` re-established after a loss, per the node's /metrics.
std::uint64_t shard_reconnects(std::uint16_t port, const std::string& shard = "mymaster") {
  auto body = http_request(port, "GET", "/metrics").body;
  auto key = "signal_redis_shard_reconnects_total{shard=\"" + shard + "\"} ";
  auto at = body.find(key);
  return at == std::string::npos ? 0 : std::stoull(body.substr(at + key.size()));
}

// Every node in `ports` has re-established both its links to the shard since
// `before` (its reconnect counts then) and is up on `primary`.
bool back_on(const std::vector<std::uint16_t>& ports, const std::vector<std::uint64_t>& before,
             const std::string& primary) {
  for (std::size_t i = 0; i < ports.size(); ++i)
    if (shard_reconnects(ports[i]) < before[i] + 2 || shard_primary(ports[i]) != primary)
      return false;
  return true;
}

std::vector<std::uint64_t> reconnects_of(const std::vector<std::uint16_t>& ports) {
  std::vector<std::uint64_t> out;
  for (auto p : ports)
    out.push_back(shard_reconnects(p));
  return out;
}

// A room whose host is on one node and guest on another, both seated.
struct room_pair {
  ws_client host, guest;
  std::string id;
  room_pair(std::uint16_t host_port, std::uint16_t guest_port) {
    host.connect(host_port);
    guest.connect(guest_port);
    id = create_room(host);
    join(guest, id);
    REQUIRE(read_json(guest)["type"] == "peer-joined");
    REQUIRE(read_json(host)["type"] == "peer-joined");
  }
  // One signal each way; true if both arrive unchanged.
  bool relays() {
    std::string there = json{{"type", "signal"}, {"roomId", id}, {"sdp", "host to guest"}}.dump();
    std::string back = json{{"type", "signal"}, {"roomId", id}, {"sdp", "guest to host"}}.dump();
    host.send(there);
    auto a = guest.read(3s);
    guest.send(back);
    auto b = host.read(3s);
    return a.kind == ws_event::text && a.data == there && b.kind == ws_event::text && b.data == back;
  }
};

// What became of one signal sent across nodes: it arrived, or the sender was
// told `unavailable`, or neither within the bound (silence: never allowed).
enum class fate { delivered, unavailable, silence, other };

fate send_and_see(room_pair& r, int n, std::chrono::milliseconds bound = 4s) {
  auto s = json{{"type", "signal"}, {"roomId", r.id}, {"n", n}}.dump();
  r.host.send(s);
  auto deadline = clock_type::now() + bound;
  while (clock_type::now() < deadline) {
    auto g = r.guest.read(20ms);
    if (g.kind == ws_event::text)
      return g.data == s ? fate::delivered : fate::other;
    auto h = r.host.read(20ms);
    if (h.kind == ws_event::text) {
      auto m = json::parse(h.data);
      return m["type"] == "error" && m["code"] == "unavailable" ? fate::unavailable : fate::other;
    }
  }
  return fate::silence;
}

env_map sentinel_env(const sentinel_group& g) {
  return env_map{{"REDIS_SENTINELS", g.sentinels()},
                 {"REDIS_MASTER_NAME", g.settings().master},
                 {"REDIS_PASSWORD", g.settings().auth_pass},
                 {"REDIS_SENTINEL_PASSWORD", g.settings().requirepass},
                 {"JOIN_MISSES_PER_IP", "0"}};
}

} // namespace

TEST_CASE("Sentinel failover: kill -9 of the primary, every node follows to the promoted replica in bound, "
          "clients hear unavailable meanwhile (never silence), then rooms relay, create and join again") {
  sentinel_settings ss;
  ss.requirepass = "sentinel-pw";
  sentinel_group g{ss, "data-pw"};
  auto env = sentinel_env(g);
  node_process a{"node-a", env}, b{"node-b", env};
  REQUIRE(shard_primary(a.port()) == g.primary().address());
  REQUIRE(shard_primary(b.port()) == g.primary().address());
  // Rooms across the nodes, both ways.
  std::vector<std::unique_ptr<room_pair>> rooms;
  for (int i = 0; i < 4; ++i)
    rooms.push_back(std::make_unique<room_pair>(i % 2 ? a.port() : b.port(), i % 2 ? b.port() : a.port()));
  for (auto& r : rooms)
    REQUIRE(r->relays());

  auto old_primary = g.primary().address(), promoted = g.replica().address();
  auto killed = clock_type::now();
  g.primary().kill();
  // The window: a signal keeps going through room 0 and a create-room to
  // node A, each answered or the test fails; until both nodes are up on the
  // promoted replica.
  std::map<fate, int> fates;
  int creates_refused = 0, creates_ok = 0, creates_silent = 0;
  std::int64_t switched_ms = -1, back_ms = -1;
  const auto bound = std::chrono::milliseconds(ss.down_after_ms + ss.failover_timeout_ms + 5000);
  int n = 0;
  while (clock_type::now() - killed < bound + 5s) {
    if (switched_ms < 0 && g.sentinel(0).primary() == promoted)
      switched_ms = ms_since(killed);
    if (shard_primary(a.port()) == promoted && shard_primary(b.port()) == promoted) {
      back_ms = ms_since(killed);
      break;
    }
    auto f = send_and_see(*rooms[0], n++);
    ++fates[f];
    if (f == fate::delivered) // a frame published before the kill was noticed: let the window show itself
      continue;
    ws_client newcomer;
    newcomer.connect(a.port());
    newcomer.send(R"({"type":"create-room"})");
    auto ev = newcomer.read(4s);
    if (ev.kind != ws_event::text)
      ++creates_silent;
    else if (json::parse(ev.data)["code"] == "unavailable")
      ++creates_refused;
    else
      ++creates_ok;
  }
  MESSAGE("kill -9 of the primary " << old_primary << ": sentinel 0 named " << promoted << " after " << switched_ms
                                    << " ms (down-after-milliseconds " << ss.down_after_ms
                                    << "); both nodes up on it after " << back_ms << " ms");
  MESSAGE("during the window: signals delivered "
          << fates[fate::delivered] << ", unavailable " << fates[fate::unavailable] << ", silence "
          << fates[fate::silence] << ", other " << fates[fate::other] << "; create-room unavailable " << creates_refused
          << ", created " << creates_ok << ", silent " << creates_silent);
  REQUIRE(switched_ms >= 0);
  REQUIRE(back_ms >= 0);
  // "Within down-after-milliseconds + failover time + 5 s": the failover
  // time is what the sentinels took (switched_ms includes down-after).
  CHECK(back_ms <= switched_ms + 5000);
  CHECK(std::chrono::milliseconds(back_ms) <= bound);
  CHECK(fates[fate::silence] == 0);
  CHECK(fates[fate::other] == 0);
  CHECK(fates[fate::unavailable] > 0);
  CHECK(creates_silent == 0);
  CHECK(creates_refused > 0);

  // Existing rooms relay again (a first frame may still meet a subscriber
  // that is resubscribing: the sender hears unavailable, then it works).
  for (auto& r : rooms)
    CHECK(eventually([&] { return r->relays(); }, 5s));
  // New rooms, created and joined across the nodes.
  room_pair fresh1{a.port(), b.port()}, fresh2{b.port(), a.port()};
  CHECK(fresh1.relays());
  CHECK(fresh2.relays());
  // Counts right after: 6 rooms, 12 connections, 2 nodes, seen the same from both.
  for (auto port : {a.port(), b.port()})
    CHECK(eventually(
        [&] {
          auto p = ping(port);
          return p["roomsActive"] == 6 && p["clientsConnected"] == 12 && p["clusterNodes"] == 2 && p["redis"] == "up";
        },
        5s));
  auto p = ping(a.port());
  MESSAGE("/api/ping on node-a after the failover: " << p.dump());
  auto metrics = http_request(a.port(), "GET", "/metrics").body;
  CHECK(metrics.find("signal_redis_shard_failovers_total{shard=\"mymaster\"} 1") != std::string::npos);
  CHECK(metrics.find("signal_redis_shard_up{shard=\"mymaster\"} 1") != std::string::npos);
}

TEST_CASE("a sentinel killed, and a sentinel restarted with stale state (naming the old primary): the nodes keep "
          "working, new nodes start, and a re-ask after a failover lands on the new primary") {
  sentinel_group g;
  auto env = sentinel_env(g);
  node_process a{"node-a", env}, b{"node-b", env};
  room_pair r1{a.port(), b.port()};
  REQUIRE(r1.relays());

  // Sentinel 2 dies; its configuration file (its state) stays as it was.
  auto stale_config = g.sentinel(2).config();
  g.sentinel(2).kill();
  // A node that starts now asks the two left; the nodes running re-ask when
  // their links drop (the primary kills every client).
  auto started = clock_type::now();
  node_process c{"node-c", env};
  MESSAGE("node-c ready " << ms_since(started) << " ms after start, with sentinel 2 down");
  auto before = reconnects_of({a.port(), b.port(), c.port()});
  g.primary().command({"CLIENT", "KILL", "TYPE", "normal"});
  g.primary().command({"CLIENT", "KILL", "TYPE", "pubsub"});
  CHECK(eventually([&] { return back_on({a.port(), b.port(), c.port()}, before, g.primary().address()); }, 5s));
  room_pair r2{c.port(), a.port()};
  CHECK(r2.relays());
  CHECK(eventually([&] { return r1.relays(); }, 5s));

  // A failover while sentinel 2 is down: the two left agree and promote.
  auto old_primary = g.primary().address(), promoted = g.replica().address();
  g.primary().kill();
  REQUIRE(eventually([&] { return g.sentinel(0).primary() == promoted; }, 15s));
  for (auto port : {a.port(), b.port(), c.port()})
    CHECK(eventually([&] { return shard_primary(port) == promoted; }, 10s));

  // Sentinel 2 comes back with its old state: it still names the dead
  // primary. Left alone it would hear the others' newer configuration
  // within a hello period (2 s): they PUBLISH hellos to it, and to the
  // promoted replica it knows. To keep it stale for the whole test, as a
  // sentinel cut off from its peers would be, it forgets the replica and
  // refuses PUBLISH; the nodes only ask it questions.
  std::istringstream lines(stale_config);
  std::string line, config;
  while (std::getline(lines, line))
    if (line.find("known-replica") == std::string::npos && line.rfind("user default ", 0) != 0)
      config += line + "\n";
  config += "user default on nopass ~* &* +@all -publish\n";
  g.sentinel(2).restart(config);
  REQUIRE(g.sentinel(2).primary() == old_primary);
  // Every node re-asks now (its links to the new primary are killed), and a
  // new node starts: the stale answer is outvoted by the other two.
  before = reconnects_of({a.port(), b.port(), c.port()});
  g.replica().command({"CLIENT", "KILL", "TYPE", "normal"});
  g.replica().command({"CLIENT", "KILL", "TYPE", "pubsub"});
  node_process d{"node-d", env};
  CHECK(eventually([&] { return back_on({a.port(), b.port(), c.port()}, before, promoted); }, 10s));
  CHECK(shard_primary(d.port()) == promoted);
  CHECK(g.sentinel(2).primary() == old_primary); // still stale: the test tested what it says
  room_pair r3{d.port(), b.port()};
  CHECK(r3.relays());
  CHECK(eventually([&] { return r1.relays() && r2.relays(); }, 5s));

  // One sentinel for the new primary, one for the old (dead) one: a tie.
  // The node tries one; if it is the dead primary, it avoids it next time.
  g.sentinel(1).kill();
  before = reconnects_of({a.port(), b.port(), c.port(), d.port()});
  g.replica().command({"CLIENT", "KILL", "TYPE", "normal"});
  g.replica().command({"CLIENT", "KILL", "TYPE", "pubsub"});
  started = clock_type::now();
  CHECK(eventually([&] { return back_on({a.port(), b.port(), c.port(), d.port()}, before, promoted); }, 10s));
  MESSAGE("with one sentinel naming the new primary and one the dead one, every node was back on the new primary "
          << ms_since(started) << " ms after its links were killed");
  CHECK(eventually([&] { return r3.relays(); }, 5s));
}

namespace {

// A WebSocket of the sharding test: raw bytes, one descriptor each, so that
// thousands fit in the test process.
struct raw_client {
  std::unique_ptr<raw_ws> ws;
  explicit raw_client(std::uint16_t port) : ws(std::make_unique<raw_ws>(port)) { ws->upgrade(port); }
  void send(const std::string& text) { ws->send(make_frame(ws_op::text, text)); }
  // The next text message, or "" on timeout.
  std::string read(std::chrono::milliseconds t = 5s) {
    server_frame f;
    while (ws->next(f, t) == raw_ws::event::frame)
      if (f.opcode == ws_op::text)
        return f.payload;
    return {};
  }
};

std::string field(const std::string& message, const char* key) {
  auto j = json::parse(message, nullptr, false);
  if (j.is_discarded() || !j.contains(key) || !j[key].is_string())
    return {};
  return j[key].get<std::string>();
}

// Room ids with a record on `redis`.
std::set<std::string> rooms_on(const redis_process& redis) {
  std::set<std::string> out;
  for (auto& k : redis.command({"KEYS", "sig:room:*"}))
    if (k.find(":q:") == std::string::npos)
      out.insert(k.substr(std::string("sig:room:").size()));
  return out;
}

} // namespace

TEST_CASE("three shards, three nodes, 3,000 rooms: each shard holds its share, kill -9 of one leaves the others' "
          "rooms relaying with no frame lost and creates succeeding, and its rooms come back when it restarts empty") {
  redis_process r0, r1, r2;
  std::vector<redis_process*> shards{&r0, &r1, &r2};
  env_map env{{"REDIS_URL", r0.url() + "," + r1.url() + "," + r2.url()}, {"JOIN_MISSES_PER_IP", "0"}};
  node_process a{"node-a", env}, b{"node-b", env}, c{"node-c", env};
  std::vector<std::uint16_t> ports{a.port(), b.port(), c.port()};

  constexpr int n_rooms = 3000;
  std::vector<raw_client> hosts, guests;
  std::vector<std::string> ids(n_rooms);
  hosts.reserve(n_rooms);
  guests.reserve(n_rooms);
  auto t0 = clock_type::now();
  for (int i = 0; i < n_rooms; ++i) {
    hosts.emplace_back(ports[i % 3]);
    hosts.back().send(R"({"type":"create-room"})");
  }
  for (int i = 0; i < n_rooms; ++i) {
    auto m = hosts[i].read();
    ids[i] = field(m, "roomId");
    REQUIRE_MESSAGE(!ids[i].empty(), m);
    guests.emplace_back(ports[(i + 1) % 3]);
    guests.back().send(json{{"type", "join-room"}, {"roomId", ids[i]}}.dump());
  }
  for (int i = 0; i < n_rooms; ++i) {
    REQUIRE(field(guests[i].read(), "type") == "peer-joined");
    REQUIRE(field(hosts[i].read(), "type") == "peer-joined");
  }
  MESSAGE(n_rooms << " rooms created and joined across 3 nodes in " << ms_since(t0) << " ms");

  // Each shard holds its share (1,000 ± 15%), and every room is on exactly one.
  std::vector<std::set<std::string>> on(3);
  std::map<std::string, int> shard_of;
  for (int s = 0; s < 3; ++s) {
    on[s] = rooms_on(*shards[s]);
    for (auto& id : on[s])
      shard_of[id] = s;
    MESSAGE("shard " << s << " holds " << on[s].size() << " rooms");
    CHECK(on[s].size() >= 850);
    CHECK(on[s].size() <= 1150);
  }
  CHECK(on[0].size() + on[1].size() + on[2].size() == n_rooms);
  for (auto& id : ids)
    CHECK(shard_of.count(id) == 1);

  // Rooms with no guest yet, one hosted per node per shard, for joins later.
  std::vector<raw_client> waiting_hosts;
  std::vector<std::string> waiting;
  while (waiting.size() < 30) {
    waiting_hosts.emplace_back(ports[waiting.size() % 3]);
    waiting_hosts.back().send(R"({"type":"create-room"})");
    waiting.push_back(field(waiting_hosts.back().read(), "roomId"));
  }

  // kill -9 of shard 1.
  shards[1]->kill();
  auto killed = clock_type::now();
  for (auto port : ports)
    REQUIRE(eventually([&] { return ping(port)["redisShards"][1]["state"] == "down"; }, 10s));
  MESSAGE("every node saw shard 1 down " << ms_since(killed) << " ms after kill -9; /readyz still "
                                         << http_request(a.port(), "GET", "/readyz").status);
  for (auto port : ports) {
    CHECK(ready(port)); // two shards are usable
    auto p = ping(port);
    CHECK(p["redis"] == "degraded");
    // Each shard's state in /metrics too, by name.
    auto metrics = http_request(port, "GET", "/metrics").body;
    for (int s = 0; s < 3; ++s) {
      auto line = "signal_redis_shard_up{shard=\"" + shards[s]->address() + "\"} " + (s == 1 ? "0" : "1");
      CHECK_MESSAGE(metrics.find(line) != std::string::npos, line);
    }
    CHECK(metrics.find("signal_redis_up 1") != std::string::npos);
  }

  // Every room on shards 0 and 2 relays, three frames each way, none lost,
  // in order; every room on shard 1 answers unavailable, and nothing arrives.
  int live_checked = 0, live_lost = 0, dead_unavailable = 0, dead_other = 0;
  for (int i = 0; i < n_rooms; ++i) {
    bool dead = shard_of[ids[i]] == 1;
    for (int k = 0; k < (dead ? 1 : 3); ++k)
      hosts[i].send(json{{"type", "signal"}, {"roomId", ids[i]}, {"n", k}}.dump());
    if (dead) {
      auto m = hosts[i].read();
      (field(m, "code") == "unavailable" ? dead_unavailable : dead_other)++;
      continue;
    }
    for (int k = 0; k < 3; ++k) {
      auto m = json::parse(guests[i].read(), nullptr, false);
      if (m.is_discarded() || m["n"] != k)
        ++live_lost;
    }
    guests[i].send(json{{"type", "signal"}, {"roomId", ids[i]}, {"n", "back"}}.dump());
    if (field(hosts[i].read(), "n") != "back")
      ++live_lost;
    ++live_checked;
  }
  MESSAGE("shard 1 down: " << live_checked << " rooms on shards 0 and 2 relayed 4 frames each, " << live_lost
                           << " lost; " << dead_unavailable << " rooms on shard 1 answered unavailable, " << dead_other
                           << " something else");
  CHECK(live_checked == static_cast<int>(on[0].size() + on[2].size()));
  CHECK(live_lost == 0);
  CHECK(dead_unavailable == static_cast<int>(on[1].size()));
  CHECK(dead_other == 0);
  // Nothing of it leaked to a guest of a dead-shard room.
  for (int i = 0; i < n_rooms; ++i)
    if (shard_of[ids[i]] == 1)
      CHECK(guests[i].read(1ms).empty());

  // Creates keep succeeding (on the shards that are up) and are joinable across nodes.
  std::vector<raw_client> new_hosts, new_guests;
  for (int i = 0; i < 60; ++i) {
    new_hosts.emplace_back(ports[i % 3]);
    new_hosts.back().send(R"({"type":"create-room"})");
    auto id = field(new_hosts.back().read(), "roomId");
    REQUIRE(!id.empty());
    new_guests.emplace_back(ports[(i + 2) % 3]);
    new_guests.back().send(json{{"type", "join-room"}, {"roomId", id}}.dump());
    CHECK(field(new_guests.back().read(), "type") == "peer-joined");
    CHECK(field(new_hosts.back().read(), "type") == "peer-joined");
  }
  // Joins of waiting rooms: those on shard 1 are unavailable for now.
  std::vector<std::size_t> waiting_dead;
  for (std::size_t w = 0; w < waiting.size(); ++w) {
    bool dead = r0.command({"EXISTS", "sig:room:" + waiting[w]})[0] == "0" &&
                r2.command({"EXISTS", "sig:room:" + waiting[w]})[0] == "0";
    if (!dead)
      continue;
    waiting_dead.push_back(w);
    raw_client joiner{ports[(w + 1) % 3]};
    joiner.send(json{{"type", "join-room"}, {"roomId", waiting[w]}}.dump());
    CHECK(field(joiner.read(), "code") == "unavailable");
  }
  MESSAGE(waiting_dead.size() << " of " << waiting.size() << " waiting rooms are on shard 1");
  CHECK(!waiting_dead.empty());

  // Shard 1 restarts empty: the hosts' nodes write their rooms back.
  shards[1]->restart();
  auto restarted = clock_type::now();
  for (auto port : ports)
    REQUIRE(eventually([&] { return ping(port)["redisShards"][1]["state"] == "up"; }, 15s));
  auto expected = on[1];
  for (auto w : waiting_dead)
    expected.insert(waiting[w]);
  CHECK(eventually([&] { return rooms_on(r1) == expected; }, 15s));
  MESSAGE("shard 1 back empty: its " << expected.size() << " rooms written back within " << ms_since(restarted)
                                     << " ms");
  int back_relaying = 0;
  for (int i = 0; i < n_rooms; ++i) {
    if (shard_of[ids[i]] != 1)
      continue;
    auto s = json{{"type", "signal"}, {"roomId", ids[i]}, {"n", "after"}}.dump();
    hosts[i].send(s);
    if (guests[i].read() == s)
      ++back_relaying;
  }
  CHECK(back_relaying == static_cast<int>(on[1].size()));
  for (auto w : waiting_dead) {
    raw_client joiner{ports[(w + 1) % 3]};
    joiner.send(json{{"type", "join-room"}, {"roomId", waiting[w]}}.dump());
    CHECK(field(joiner.read(), "type") == "peer-joined");
  }
}

TEST_CASE("all nodes must use the same shard list: a node with another list (fewer shards, another server) is "
          "refused at start with a log line naming both lists, the order does not matter, and a stopped cluster's "
          "list gives way") {
  redis_process r0, r1, r2;
  auto list = [](std::vector<const redis_process*> rs) {
    std::string urls;
    for (auto* r : rs)
      urls += (urls.empty() ? "" : ",") + r->url();
    return urls;
  };
  auto a = std::make_unique<node_process>("node-a", env_map{{"REDIS_URL", list({&r0, &r1})}});
  auto b = std::make_unique<node_process>("node-b", env_map{{"REDIS_URL", list({&r1, &r0})}}); // same shards
  CHECK(ready(b->port()));
  std::string cluster_list = r0.address() + "," + r1.address();
  if (r1.address() < r0.address())
    cluster_list = r1.address() + "," + r0.address();

  for (auto urls : {list({&r0}), list({&r0, &r2})}) {
    child_process refused{{SIGNAL_NODE_BIN},
                          {{"WS_PORT", "0"},
                           {"BIND_ADDRESS", "127.0.0.1"},
                           {"ENV_FILE", "/nonexistent"},
                           {"NODE_ID", "node-x"},
                           {"ADMIN_PORT", "off"},
                           {"REDIS_URL", urls},
                           {"NODE_TTL_MS", "2000"},
                           {"HEARTBEAT_MS", "250"}}};
    auto status = refused.wait_exit(15s);
    auto out = refused.output();
    REQUIRE_MESSAGE(status, out);
    CHECK(*status == 1);
    auto line = refused.wait_for_line("event=shard_list_mismatch", 1s);
    REQUIRE_MESSAGE(line, out);
    MESSAGE("REDIS_URL=" << urls << ": " << *line);
    CHECK(line->find("cluster=" + signaling::log::logfmt_value(cluster_list)) != std::string::npos);
    CHECK(refused.wait_for_line("event=fatal", 1s));
  }
  // The cluster was not disturbed.
  room_pair r{a->port(), b->port()};
  CHECK(r.relays());

  // Once every node of the cluster has left, another list is the cluster's.
  a->proc().signal(SIGTERM);
  b->proc().signal(SIGTERM);
  CHECK(a->proc().wait_exit(15s));
  CHECK(b->proc().wait_exit(15s));
  node_process solo{"node-solo", env_map{{"REDIS_URL", list({&r0, &r2})}}};
  CHECK(ready(solo.port()));
}

TEST_CASE("REDIS_URL on a server that is demoted to a replica (READONLY): the node drops the link and asks again, "
          "clients hear unavailable (never silence), and once it is a primary again the rooms are written back and "
          "relay") {
  // What a managed endpoint does during its failover: the address stays,
  // the server behind it stops taking writes for a while.
  redis_process x, y;
  env_map env{{"REDIS_URL", x.url()}, {"JOIN_MISSES_PER_IP", "0"}};
  node_process a{"node-a", env}, b{"node-b", env};
  room_pair r{a.port(), b.port()};
  REQUIRE(r.relays());

  auto demoted = clock_type::now();
  x.command({"REPLICAOF", "127.0.0.1", std::to_string(y.port())}); // its data: y's (none), its clients: kept
  for (auto* n : {&a, &b})
    CHECK(n->proc().wait_for_line("READONLY", 5s));
  MESSAGE("both nodes logged READONLY " << ms_since(demoted) << " ms after REPLICAOF");
  for (auto port : {a.port(), b.port()})
    CHECK(eventually([&] { return !ready(port) && ping(port)["redis"] == "down"; }, 5s));
  // Meanwhile: signals and creates are answered unavailable, none is met by silence.
  std::map<fate, int> fates;
  for (int i = 0; i < 10; ++i)
    ++fates[send_and_see(r, i)];
  ws_client newcomer;
  newcomer.connect(a.port());
  newcomer.send(R"({"type":"create-room"})");
  auto created = json::parse(newcomer.read_text(5s));
  MESSAGE("x a replica: signals unavailable " << fates[fate::unavailable] << ", delivered " << fates[fate::delivered]
                                              << ", silence " << fates[fate::silence] << ", other "
                                              << fates[fate::other] << "; create-room: " << created.dump());
  CHECK(fates[fate::unavailable] == 10);
  CHECK(created["code"] == "unavailable");

  // Primary again (empty: it took y's data): the nodes come back without a
  // restart and write the room back.
  x.command({"REPLICAOF", "NO", "ONE"});
  auto promoted = clock_type::now();
  for (auto port : {a.port(), b.port()})
    CHECK(eventually([&] { return ready(port); }, 10s));
  CHECK(eventually([&] { return x.command({"EXISTS", "sig:room:" + r.id}) == std::vector<std::string>{"1"}; }, 5s));
  CHECK(eventually([&] { return r.relays(); }, 5s));
  MESSAGE("x a primary again: nodes ready, the room written back and relaying " << ms_since(promoted) << " ms later");
  room_pair fresh{b.port(), a.port()};
  CHECK(fresh.relays());
}

TEST_CASE("ACL: a Redis whose only user is `signal on >pw ~sig:* &sig:* +@all` works (user in the URL, or "
          "REDIS_USERNAME/REDIS_PASSWORD), and a wrong password or a user without the sig: keys is a clear start-up "
          "error") {
  redis_process redis{{"--user", "default", "off", "--user", "signal", "on", ">pw", "~sig:*", "&sig:*", "+@all",
                       "--user", "other", "on", ">pw", "~other:*", "&other:*", "+@all"}};
  redis.set_auth({"signal", "pw"});
  node_process a{"node-a", env_map{{"REDIS_URL", "redis://signal:pw@127.0.0.1:" + std::to_string(redis.port())}}};
  node_process b{"node-b", env_map{{"REDIS_URL", redis.url()}, {"REDIS_USERNAME", "signal"}, {"REDIS_PASSWORD", "pw"}}};
  room_pair r{a.port(), b.port()};
  CHECK(r.relays());
  CHECK(redis.command({"EXISTS", "sig:room:" + r.id}) == std::vector<std::string>{"1"});

  struct bad_case {
    std::string url, expect;
  };
  for (auto& bad : {bad_case{"redis://signal:wrong@127.0.0.1:" + std::to_string(redis.port()), "WRONGPASS"},
                    bad_case{"redis://other:pw@127.0.0.1:" + std::to_string(redis.port()), "NOPERM"}}) {
    auto started = clock_type::now();
    child_process node{{SIGNAL_NODE_BIN},
                       {{"WS_PORT", "0"},
                        {"BIND_ADDRESS", "127.0.0.1"},
                        {"ENV_FILE", "/nonexistent"},
                        {"NODE_ID", "node-x"},
                        {"ADMIN_PORT", "off"},
                        {"REDIS_URL", bad.url}}};
    auto status = node.wait_exit(15s);
    REQUIRE_MESSAGE(status, node.output());
    CHECK(*status == 1);
    auto line = node.wait_for_line("event=fatal", 1s);
    REQUIRE_MESSAGE(line, node.output());
    MESSAGE("exit " << *status << " after " << ms_since(started) << " ms: " << *line);
    CHECK(line->find(bad.expect) != std::string::npos);
    CHECK(line->find("signal:wrong") == std::string::npos); // never a password
    CHECK(line->find("other:pw") == std::string::npos);
    CHECK(node.output().find("event=listening") == std::string::npos);
  }
}

TEST_CASE("deploy/local-cluster.sh up 2 --sentinel --shards 2: two primary/replica groups behind three sentinels, "
          "nodes on both shards, a room through HAProxy, a failover followed, and down stops every process") {
  local_cluster lc{{{"SENTINEL_DOWN_AFTER_MS", "1000"}}, 2, {"--sentinel", "--shards", "2"}};
  REQUIRE(lc.redis().size() == 7); // redis1, redis1-replica, redis2, redis2-replica, sentinel1..3
  for (auto& [name, node] : lc.nodes()) {
    auto p = ping(node.second);
    REQUIRE_MESSAGE(p["redisShards"].size() == 2, p.dump());
    CHECK(p["redisShards"][0]["name"] == "shard1");
    CHECK(p["redisShards"][1]["name"] == "shard2");
    CHECK(p["redis"] == "up");
  }
  CHECK(room_through(lc.lb_port()));
  // shard2's primary dies: the sentinels promote its replica, the nodes follow.
  auto promoted = "127.0.0.1:" + std::to_string(lc.redis().at("redis2-replica"));
  try {
    redis_command(lc.redis().at("redis2"), {"SHUTDOWN", "NOSAVE"}); // it never answers: it is gone
  } catch (const std::runtime_error&) {
  }
  for (auto& [name, node] : lc.nodes())
    CHECK(eventually([&, port = node.second] { return shard_primary(port, 1) == promoted; }, 20s));
  CHECK(eventually([&] { return room_through(lc.lb_port()); }, 5s));
  auto pids = lc.pids();
  auto out = lc.down();
  CHECK(out.find("local cluster: down") != std::string::npos);
  for (int pid : pids) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_s, comm, state;
    bool running = static_cast<bool>(stat >> pid_s >> comm >> state) && state != "Z";
    CHECK_MESSAGE(!running, "process " << pid << " (" << comm << ") is still running after down");
  }
}

TEST_CASE("deploy/local-cluster.sh up: a balancer or Redis port taken after it was found free (bound, not yet "
          "listening) is skipped for the next free one, and the cluster serves there") {
  // A socket bound to a port but not listening: a probe finds the port free,
  // the server started on it fails with "Address already in use". This is
  // what a node's or another program's port 0 does between the two.
  auto hold = [] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    return std::pair<int, std::uint16_t>{fd, ntohs(addr.sin_port)};
  };
  auto [lb_fd, lb_held] = hold();
  auto [redis_fd, redis_held] = hold();
  local_cluster lc{{{"LB_PORT", std::to_string(lb_held)}, {"REDIS_PORT", std::to_string(redis_held)}}, 1};
  CHECK(lc.lb_port() != lb_held);
  CHECK(lc.redis().at("redis") != redis_held);
  CHECK(room_through(lc.lb_port()));
  ::close(lb_fd);
  ::close(redis_fd);
}
