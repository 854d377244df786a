// The operator console end to end: real nodes (in this process, or node
// processes sharing a real redis-server), real WebSocket clients, and the
// real build/signal-console binary run as a child process. What the console
// reports must match what the clients did, and its actions must reach them.
#include "node/config.hpp"
#include "support/cluster.hpp"
#include "support/ws_client.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

using namespace testing;
using json = nlohmann::json;

namespace {

struct console_result {
  std::optional<int> status; // nullopt: still running at the deadline (a hang)
  std::string output;
  std::chrono::milliseconds took{0};
  // The JSON lines of the output, in order.
  std::vector<json> lines() const {
    std::vector<json> out;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] == '{')
        out.push_back(json::parse(line));
    return out;
  }
  json one() const {
    auto l = lines();
    REQUIRE_MESSAGE(l.size() == 1, "output: " << output);
    return l[0];
  }
};

console_result run_console(std::vector<std::string> args, std::chrono::milliseconds deadline = 20s) {
  args.insert(args.begin(), SIGNAL_CONSOLE_BIN);
  auto start = std::chrono::steady_clock::now();
  child_process p{args, {{"ADMIN_PORT", ""}, {"ADMIN_BIND", ""}}};
  console_result r;
  r.status = p.wait_exit(deadline);
  r.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  r.output = p.output();
  return r;
}

std::string at(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

// `signal-console --json --node 127.0.0.1:PORT ARGS...`, expected to succeed.
json console_json(std::uint16_t admin, std::vector<std::string> args) {
  args.insert(args.begin(), {"--json", "--node", at(admin)});
  auto r = run_console(args);
  INFO("output: " << r.output);
  REQUIRE(r.status);
  REQUIRE(*r.status == 0);
  return r.one();
}

// The port in a node process's `event=admin_listening ... port=N` line.
std::uint16_t admin_port_of(child_process& p) {
  auto line = p.wait_for_line("event=admin_listening", 20s);
  REQUIRE_MESSAGE(line, p.output());
  return static_cast<std::uint16_t>(std::stoi(line->substr(line->find(" port=") + 6)));
}

json read_json(ws_client& c) {
  return json::parse(c.read_text());
}

std::string create_room(ws_client& host) {
  host.send(R"({"type":"create-room"})");
  auto m = read_json(host);
  REQUIRE(m["type"] == "room-created");
  return m["roomId"].get<std::string>();
}

void join(ws_client& guest, ws_client& host, const std::string& room) {
  guest.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
  REQUIRE(read_json(guest)["type"] == "peer-joined");
  REQUIRE(read_json(host)["type"] == "peer-joined");
}

void signal(ws_client& from, ws_client& to, const std::string& room, int n) {
  for (int i = 0; i < n; ++i) {
    from.send(json{{"type", "signal"}, {"roomId", room}, {"sdp", "v=0 " + std::to_string(i)}}.dump());
    REQUIRE(read_json(to)["type"] == "signal");
  }
}

// The entry of `conns` whose room role is `role` (null: in no room).
json conn_with_role(const json& conns, const json& role) {
  for (auto& c : conns["conns"])
    if (c["role"] == role)
      return c;
  FAIL("no connection with role " << role.dump() << " in " << conns.dump());
  return {};
}

json member(const json& room, const std::string& role) {
  for (auto& m : room["members"])
    if (m["role"] == role)
      return m;
  FAIL("no " << role << " in " << room.dump());
  return {};
}

// An embedded node process with its admin port discovered.
struct node_child {
  explicit node_child(env_map extra = {}) {
    env_map env{{"WS_PORT", "0"},    {"BIND_ADDRESS", "127.0.0.1"}, {"ENV_FILE", "/nonexistent"}, {"NODE_ID", "solo"},
                {"IO_THREADS", "2"}, {"LOG_LEVEL", "info"},         {"ADMIN_PORT", "0"}};
    for (auto& [k, v] : extra)
      env[k] = v;
    proc = std::make_unique<child_process>(std::vector<std::string>{SIGNAL_NODE_BIN}, env);
    auto p = wait_for_port(*proc, 20s);
    REQUIRE_MESSAGE(p, proc->output());
    port = *p;
  }
  std::unique_ptr<child_process> proc;
  std::uint16_t port = 0;
};

// Local IPv4 addresses of this machine other than loopback.
std::vector<std::string> non_loopback_ipv4() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    return out;
  for (auto* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
      continue;
    auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
    if ((ntohl(in->sin_addr.s_addr) >> 24) == 127)
      continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    out.push_back(buf);
  }
  freeifaddrs(list);
  return out;
}

// The local address ("0100007F" style, as /proc/net/tcp writes it) of the
// socket listening on `port`, or empty if none.
std::string listening_address(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line); // header
  char want[8];
  std::snprintf(want, sizeof want, "%04X", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state;
    f >> slot >> local >> remote >> state;
    if (state == "0A" && local.substr(local.find(':') + 1) == want)
      return local.substr(0, local.find(':'));
  }
  return {};
}

bool tcp_connects(const std::string& ip, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

} // namespace

TEST_CASE("stats, rooms, room, conns and conn report what the clients did") {
  running_node n;
  auto admin = n.n.admin_port();
  REQUIRE(admin != 0);
  ws_client host, guest, idle, noisy;
  host.connect(n.port());
  guest.connect(n.port());
  idle.connect(n.port());
  noisy.connect(n.port());
  auto room = create_room(host);
  join(guest, host, room);
  signal(host, guest, room, 3);
  signal(guest, host, room, 2);
  noisy.send("not json");
  REQUIRE(read_json(noisy)["code"] == "bad-json");

  auto stats = console_json(admin, {"stats"});
  CHECK(stats["node"] == "test-node");
  CHECK(stats["mode"] == "embedded");
  CHECK(stats["admin"] == at(admin));
  CHECK(stats["connections"] == 4);
  CHECK(stats["rooms"] == 1);
  CHECK(stats["room_actors"] == 1);
  // create + join + 5 signals + "not json"
  CHECK(stats["messages"]["in"] == 8);
  // room-created, 2 peer-joined, 5 relayed, 1 error
  CHECK(stats["messages"]["out"] == 9);
  CHECK(stats["relays"]["local"] == 5);
  CHECK(stats["relays"]["cross_node_out"] == 0);
  CHECK(stats["errors"]["bad-json"] == 1);
  CHECK(stats["errors"]["not-a-member"] == 0);
  CHECK(stats["rss_bytes"].get<long>() > 0);
  CHECK(stats["actors"].get<long>() >= 6); // 4 connections, a room, the directory
  CHECK(stats["redis"].is_null());
  CHECK(stats["ready"] == true);
  CHECK(stats["draining"] == false);

  auto rooms = console_json(admin, {"rooms"});
  CHECK(rooms["total"] == 1);
  REQUIRE(rooms["rooms"].size() == 1);
  auto r0 = rooms["rooms"][0];
  CHECK(r0["id"] == room);
  CHECK(r0["state"] == "paired");
  CHECK(r0["hosted"] == true);
  CHECK(r0["cross_node"] == false);
  CHECK(r0["members"].size() == 2);

  auto conns = console_json(admin, {"conns"});
  CHECK(conns["total"] == 4);
  CHECK(conns["conns"].size() == 4);
  auto h = conn_with_role(conns, "host");
  auto g = conn_with_role(conns, "guest");
  CHECK(h["room"] == room);
  CHECK(g["room"] == room);
  CHECK(h["messages_in"] == 4);  // create + 3 signals
  CHECK(h["messages_out"] == 4); // room-created, peer-joined, 2 signals
  CHECK(h["relayed"] == 3);
  CHECK(g["messages_in"] == 3);  // join + 2 signals
  CHECK(g["messages_out"] == 4); // peer-joined, 3 signals
  CHECK(g["relayed"] == 2);
  CHECK(h["queued_bytes"] == 0);
  CHECK(h["remote"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  std::size_t unroomed = 0;
  for (auto& c : conns["conns"])
    unroomed += c["room"].is_null() ? 1 : 0;
  CHECK(unroomed == 2);

  auto one = console_json(admin, {"room", room});
  CHECK(one["id"] == room);
  CHECK(one["state"] == "paired");
  auto hm = member(one, "host");
  auto gm = member(one, "guest");
  CHECK(hm["actor"] == h["actor"]);
  CHECK(gm["actor"] == g["actor"]);
  CHECK(hm["node"] == "test-node");
  CHECK(hm["relayed"] == 3);
  CHECK(gm["relayed"] == 2);
  CHECK(hm["remote"] == h["remote"]);
  CHECK(hm["joined_at_ms"].get<std::int64_t>() <= gm["joined_at_ms"].get<std::int64_t>());

  auto c = console_json(admin, {"conn", std::to_string(h["actor"].get<std::uint64_t>())});
  CHECK(c["actor"] == h["actor"]);
  CHECK(c["room"] == room);
  CHECK(c["role"] == "host");
  CHECK(c["paired"] == true);
  CHECK(c["relayed"] == 3);
  CHECK(c["idle_ms"].get<std::int64_t>() >= 0);
  CHECK(c["last_activity_ms"].get<std::int64_t>() >= c["connected_at_ms"].get<std::int64_t>());

  // The limit applies; the total does not change.
  auto limited = console_json(admin, {"conns", "--limit", "1"});
  CHECK(limited["total"] == 4);
  CHECK(limited["conns"].size() == 1);

  // Unknown ids: status 1 and an error the caller can read.
  auto missing = run_console({"--json", "--node", at(admin), "room", "000001"});
  REQUIRE(missing.status);
  CHECK(*missing.status == 1);
  CHECK(missing.one()["code"] == "not-found");
  auto nobody = run_console({"--json", "--node", at(admin), "conn", "999999"});
  REQUIRE(nobody.status);
  CHECK(*nobody.status == 1);
  CHECK(nobody.one()["code"] == "not-found");
}

TEST_CASE("the human output is a table of the same facts") {
  running_node n;
  ws_client host, guest;
  host.connect(n.port());
  guest.connect(n.port());
  auto room = create_room(host);
  join(guest, host, room);
  auto r = run_console({"--node", at(n.n.admin_port()), "rooms"});
  REQUIRE(r.status);
  CHECK(*r.status == 0);
  CHECK(r.output.find("ROOM") != std::string::npos);
  CHECK(r.output.find(room + "  paired") != std::string::npos);
  CHECK(r.output.find("1 of 1 room(s) on test-node") != std::string::npos);
  auto s = run_console({"--node", at(n.n.admin_port()), "stats"});
  REQUIRE(s.status);
  CHECK(*s.status == 0);
  CHECK(s.output.find("connections     2") != std::string::npos);
}

TEST_CASE("kick closes that client with 1008 and its peer hears peer-left") {
  running_node n;
  auto admin = n.n.admin_port();
  ws_client host, guest;
  host.connect(n.port());
  guest.connect(n.port());
  auto room = create_room(host);
  join(guest, host, room);
  auto h = conn_with_role(console_json(admin, {"conns"}), "host");
  auto id = std::to_string(h["actor"].get<std::uint64_t>());

  auto k = console_json(admin, {"kick", id});
  CHECK(k["kicked"] == h["actor"]);
  auto ev = host.read();
  CHECK(ev.kind == ws_event::closed);
  CHECK(ev.code == 1008);
  auto left = read_json(guest);
  CHECK(left["type"] == "peer-left");
  CHECK(left["roomId"] == room);
  CHECK(eventually([&] { return console_json(admin, {"conns"})["total"] == 1; }));
  auto again = run_console({"--json", "--node", at(admin), "kick", id});
  REQUIRE(again.status);
  CHECK(*again.status == 1);
}

TEST_CASE("close-room sends every member peer-left, then closes it with 1000") {
  running_node n;
  auto admin = n.n.admin_port();
  ws_client host, guest, other;
  host.connect(n.port());
  guest.connect(n.port());
  other.connect(n.port());
  auto room = create_room(host);
  join(guest, host, room);
  auto keep = create_room(other);

  auto closed = console_json(admin, {"close-room", room});
  CHECK(closed["closed"] == room);
  CHECK(closed["members_closed"].size() == 2);
  CHECK(closed["remote_member_node"].is_null());
  for (auto* c : {&host, &guest}) {
    auto m = read_json(*c);
    CHECK(m["type"] == "peer-left");
    CHECK(m["roomId"] == room);
    auto ev = c->read();
    CHECK(ev.kind == ws_event::closed);
    CHECK(ev.code == 1000);
  }
  // Only that room: the other one lives on.
  CHECK(eventually([&] { return console_json(admin, {"rooms"})["total"] == 1; }));
  CHECK(console_json(admin, {"rooms"})["rooms"][0]["id"] == keep);
  auto gone = run_console({"--json", "--node", at(admin), "close-room", room});
  REQUIRE(gone.status);
  CHECK(*gone.status == 1);
  CHECK(gone.one()["code"] == "not-found");
}

TEST_CASE("log-level changes the node's level and refuses an unknown one") {
  node_child n;
  auto admin = admin_port_of(*n.proc);
  auto changed = console_json(admin, {"log-level", "debug"});
  CHECK(changed["previous"] == "info");
  CHECK(changed["log_level"] == "debug");
  CHECK(n.proc->wait_for_line("event=log_level level=debug previous=info", 5s));
  CHECK(console_json(admin, {"stats"})["log_level"] == "debug");
  auto bad = run_console({"--json", "--node", at(admin), "log-level", "loud"});
  REQUIRE(bad.status);
  CHECK(*bad.status == 1);
  CHECK(bad.one()["code"] == "bad-level");
}

TEST_CASE("drain from the console is SIGTERM's drain: /readyz fails, clients get 1012, exit 0") {
  node_child n{{{"DRAIN_DELAY_MS", "500"}}};
  auto admin = admin_port_of(*n.proc);
  ws_client c;
  c.connect(n.port);
  auto d = console_json(admin, {"drain"});
  CHECK(d["draining"] == true);
  CHECK(d["already"] == false);
  CHECK(d["drain_delay_ms"] == 500);
  CHECK(d["close_code"] == 1012);
  CHECK(http_request(n.port, "GET", "/readyz").status == 503);
  auto ev = c.read(5s);
  CHECK(ev.kind == ws_event::closed);
  CHECK(ev.code == 1012);
  auto status = n.proc->wait_exit(15s);
  REQUIRE(status);
  CHECK(*status == 0);
  auto out = n.proc->output();
  CHECK(out.find("event=drain_requested by=console") != std::string::npos);
  CHECK(out.find("event=drain_start") != std::string::npos);
  CHECK(out.find("event=shutdown_start") != std::string::npos);
}

TEST_CASE("two nodes on one Redis: nodes lists both, use switches between them, rooms span them") {
  two_nodes net;
  auto admin_a = admin_port_of(net.a.proc());
  auto admin_b = admin_port_of(net.b.proc());
  ws_client host, guest;
  host.connect(net.a.port());
  guest.connect(net.b.port());
  auto room = create_room(host);
  join(guest, host, room);
  signal(host, guest, room, 2);
  signal(guest, host, room, 1);

  // The registry fills with the heartbeats (every 250 ms here).
  json nodes;
  REQUIRE(eventually(
      [&] {
        nodes = console_json(admin_a, {"nodes"});
        return nodes["nodes"].size() == 2 && nodes["nodes"][0]["connections"] == 1 &&
               nodes["nodes"][1]["connections"] == 1;
      },
      10s));
  CHECK(nodes["mode"] == "cluster");
  CHECK(nodes["nodes"][0]["id"] == "node-a");
  CHECK(nodes["nodes"][0]["admin"] == at(admin_a));
  CHECK(nodes["nodes"][0]["self"] == true);
  CHECK(nodes["nodes"][0]["alive"] == true);
  CHECK(nodes["nodes"][0]["rooms"] == 1);
  CHECK(nodes["nodes"][0]["uptime_s"].is_number());
  CHECK(nodes["nodes"][1]["id"] == "node-b");
  CHECK(nodes["nodes"][1]["admin"] == at(admin_b));
  CHECK(nodes["nodes"][1]["self"] == false);
  CHECK(nodes["nodes"][1]["rooms"] == 0); // the room is hosted on node-a

  // A session through a script file: stats here, `use` the other node, its
  // view of the same room, and back.
  char path[] = "/tmp/console-script-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  {
    std::ofstream script(path);
    script << "# a comment\nstats\nuse node-b\nstats\nroom " << room << "\nconns\nuse node-a\nroom " << room << "\n";
  }
  auto r = run_console({"--json", "--node", at(admin_a), "--script", path});
  std::remove(path);
  INFO(r.output);
  REQUIRE(r.status);
  CHECK(*r.status == 0);
  auto l = r.lines();
  REQUIRE(l.size() == 7);
  CHECK(l[0]["node"] == "node-a");
  CHECK(l[0]["mode"] == "cluster");
  CHECK(l[0]["redis"] == "up");
  CHECK(l[0]["relays"]["cross_node_out"] == 2);
  CHECK(l[0]["relays"]["cross_node_in"] == 1);
  CHECK(l[1]["node"] == "node-b");
  CHECK(l[1]["admin"] == at(admin_b));
  CHECK(l[2]["node"] == "node-b");
  CHECK(l[2]["rooms"] == 0);       // hosted on node-a
  CHECK(l[2]["room_actors"] == 1); // the guest's stand-in for the host
  CHECK(l[2]["relays"]["cross_node_out"] == 1);
  // node-b's view: the guest is here, the host is on node-a.
  auto on_b = l[3];
  CHECK(on_b["cross_node"] == true);
  CHECK(on_b["hosted"] == false);
  auto host_seen_from_b = member(on_b, "host");
  auto guest_on_b = member(on_b, "guest");
  CHECK(host_seen_from_b["node"] == "node-a");
  CHECK(host_seen_from_b["relayed"] == 2);
  CHECK(guest_on_b["node"] == "node-b");
  CHECK(guest_on_b["relayed"] == 1);
  CHECK(guest_on_b["remote"].is_string());
  CHECK(l[4]["total"] == 1);
  CHECK(l[4]["conns"][0]["actor"] == guest_on_b["actor"]);
  CHECK(l[5]["node"] == "node-a");
  // node-a's view names the guest by its actor id on node-b.
  auto on_a = l[6];
  CHECK(on_a["hosted"] == true);
  CHECK(member(on_a, "guest")["node"] == "node-b");
  CHECK(member(on_a, "guest")["actor"] == guest_on_b["actor"]);
  CHECK(member(on_a, "host")["actor"] == host_seen_from_b["actor"]);

  // The same through standard input, as an operator's pipe would.
  child_process piped{{"/bin/sh", "-c",
                       "printf 'nodes\\nuse node-b\\nstats\\n' | " SIGNAL_CONSOLE_BIN " --json --node " + at(admin_a)}};
  auto ps = piped.wait_exit(20s);
  REQUIRE(ps);
  CHECK(*ps == 0);
  console_result pr{ps, piped.output(), {}};
  auto pl = pr.lines();
  REQUIRE(pl.size() == 3);
  CHECK(pl[0]["nodes"].size() == 2);
  CHECK(pl[2]["node"] == "node-b");

  // An unknown node is refused and the session stays where it was.
  auto unknown = run_console({"--json", "--node", at(admin_a), "use", "node-z"});
  REQUIRE(unknown.status);
  CHECK(*unknown.status == 1);
  CHECK(unknown.one()["code"] == "unknown-node");

  // close-room on the host's node: the guest on node-b hears peer-left and stays connected.
  auto closed = console_json(admin_a, {"close-room", room});
  CHECK(closed["remote_member_node"] == "node-b");
  CHECK(read_json(host)["type"] == "peer-left");
  CHECK(host.read().code == 1000);
  auto left = read_json(guest);
  CHECK(left["type"] == "peer-left");
  CHECK(left["roomId"] == room);
  guest.send(R"({"type":"create-room"})");
  CHECK(read_json(guest)["type"] == "room-created");
}

TEST_CASE("the admin port listens on loopback only, unless ADMIN_BIND says otherwise") {
  running_node n;
  auto admin = n.n.admin_port();
  REQUIRE(admin != 0);
  CHECK(listening_address(admin) == "0100007F"); // 127.0.0.1
  for (const auto& ip : non_loopback_ipv4()) {
    INFO("address " << ip);
    CHECK_FALSE(tcp_connects(ip, admin));
    auto r = run_console({"--node", ip + ":" + std::to_string(admin), "stats"}, 10s);
    REQUIRE(r.status);
    CHECK(*r.status == 3);
  }
  // Binding elsewhere is an explicit choice, and the node says so.
  node_child exposed{{{"ADMIN_BIND", "0.0.0.0"}}};
  auto open_port = admin_port_of(*exposed.proc);
  CHECK(listening_address(open_port) == "00000000");
  CHECK(exposed.proc->wait_for_line("event=admin_exposed", 5s));
  CHECK(console_json(open_port, {"stats"})["node"] == "solo");
}

TEST_CASE("a down node, a wrong port or a non-admin port gives a clear error within the deadline") {
  // Nothing listens.
  auto nothing = free_port();
  auto r = run_console({"--node", at(nothing), "stats"});
  REQUIRE(r.status);
  CHECK(*r.status == 3);
  CHECK(r.took < 5s);
  CHECK(r.output.find("cannot reach " + at(nothing)) != std::string::npos);
  auto j = run_console({"--json", "--node", at(nothing), "stats"});
  REQUIRE(j.status);
  CHECK(*j.status == 3);
  CHECK(j.one()["code"] == "unreachable");

  // Something listens that is not an admin port: the node's WebSocket port.
  node_child n;
  auto w = run_console({"--json", "--timeout", "1500", "--node", at(n.port), "stats"});
  REQUIRE(w.status);
  CHECK(*w.status == 3);
  CHECK(w.took < 6s);
  CHECK(w.one()["code"] == "not-admin");
  CHECK(w.one()["error"].get<std::string>().find("did not answer as a signal-node admin port") != std::string::npos);

  // The node is killed: its admin port is gone.
  auto admin = admin_port_of(*n.proc);
  CHECK(console_json(admin, {"stats"})["node"] == "solo");
  n.proc->signal(SIGKILL);
  n.proc->wait_exit(5s);
  auto dead = run_console({"--node", at(admin), "stats"});
  REQUIRE(dead.status);
  CHECK(*dead.status == 3);
  CHECK(dead.took < 5s);
}

TEST_CASE("bad usage exits 2 and names the problem") {
  running_node n;
  auto r = run_console({"--node", at(n.n.admin_port()), "frobnicate"});
  REQUIRE(r.status);
  CHECK(*r.status == 2);
  CHECK(r.output.find("unknown command") != std::string::npos);
  auto k = run_console({"--node", at(n.n.admin_port()), "kick", "abc"});
  REQUIRE(k.status);
  CHECK(*k.status == 2);
  auto o = run_console({"--node", "no-port-here", "stats"});
  REQUIRE(o.status);
  CHECK(*o.status == 2);
}

TEST_CASE("ADMIN_PORT defaults to 4100 on 127.0.0.1 and takes 0 and off, and a taken admin port does not stop the node") {
  const char* argv[] = {"signal-node"};
  const char* none[] = {"ENV_FILE=/nonexistent", nullptr};
  auto d = signaling::load_config(1, argv, none).cfg;
  CHECK(d.admin_port == 4100);
  CHECK(d.admin_bind == "127.0.0.1");
  const char* off[] = {"ENV_FILE=/nonexistent", "ADMIN_PORT=off", nullptr};
  CHECK(signaling::load_config(1, argv, off).cfg.admin_port == -1);
  const char* bad[] = {"ENV_FILE=/nonexistent", "ADMIN_PORT=70000", nullptr};
  CHECK_THROWS_AS(signaling::load_config(1, argv, bad), signaling::config_error);

  node_child disabled{{{"ADMIN_PORT", "off"}}};
  CHECK(disabled.proc->wait_for_line("event=admin_disabled", 5s));

  running_node holder;
  node_child clash{{{"ADMIN_PORT", std::to_string(holder.n.admin_port())}}};
  CHECK(clash.proc->wait_for_line("event=admin_unavailable", 5s));
  CHECK(http_request(clash.port, "GET", "/readyz").status == 200);

  // A node that fails to start after publishing its inspector still exits.
  child_process taken{{SIGNAL_NODE_BIN},
                      {{"WS_PORT", std::to_string(holder.port())},
                       {"BIND_ADDRESS", "127.0.0.1"},
                       {"ENV_FILE", "/nonexistent"},
                       {"ADMIN_PORT", "0"}}};
  auto status = taken.wait_exit(10s);
  INFO(taken.output());
  CHECK(taken.output().find("event=admin_listening") != std::string::npos);
  REQUIRE(status);
  CHECK(*status == 1);
}

TEST_CASE("nodes shows each Redis shard: on how many each node is alive, and a shard that stopped as down") {
  redis_process r0, r1;
  env_map env{{"REDIS_URL", r0.url() + "," + r1.url()}};
  node_process a{"node-a", env}, b{"node-b", env};
  auto admin_a = admin_port_of(a.proc());
  json nodes;
  REQUIRE(eventually(
      [&] {
        nodes = console_json(admin_a, {"nodes"});
        return nodes["nodes"].size() == 2 && nodes["nodes"][1]["shards_alive"] == 2;
      },
      10s));
  REQUIRE(nodes["shards"].size() == 2);
  CHECK(nodes["shards"][0]["name"] == "127.0.0.1:" + std::to_string(r0.port()));
  CHECK(nodes["shards"][1]["state"] == "up");

  r1.stop();
  REQUIRE(eventually([&] { return console_json(admin_a, {"nodes"})["shards"][1]["state"] == "down"; }, 10s));
  // The registry is read from the shards that answer: both nodes alive on one of two.
  REQUIRE(eventually(
      [&] {
        nodes = console_json(admin_a, {"nodes"});
        return nodes["nodes"].size() == 2 && nodes["nodes"][0]["shards_alive"] == 1 &&
               nodes["nodes"][1]["shards_alive"] == 1;
      },
      10s));
  auto human = run_console({"--node", at(admin_a), "nodes"});
  INFO(human.output);
  REQUIRE(human.status);
  CHECK(*human.status == 0);
  CHECK(human.output.find("SHARDS") != std::string::npos);
  CHECK(human.output.find("1/2") != std::string::npos);
  CHECK(human.output.find("Redis shards, as node-a sees them") != std::string::npos);
  CHECK(human.output.find(std::to_string(r1.port()) + "  down") != std::string::npos);
}
