// The seed protocol end to end over real sockets with Beast's WebSocket
// client. Every case runs twice: on one node in this process, and on two
// signal-node processes sharing a real redis-server, with the host on one
// node and the guest on the other. One TEST_CASE per behaviour.
#include "support/cluster.hpp"
#include "support/ws_client.hpp"
#include "node/jwt.hpp"
#include "support/tls_ws_client.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <numeric>
#include <random>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace testing;
using json = nlohmann::json;

namespace {

json read_json(ws_client& c, std::chrono::milliseconds t = 5s) {
  return json::parse(c.read_text(t));
}

// Expects an error frame with `code`; returns it.
json expect_error(ws_client& c, const std::string& code) {
  auto m = read_json(c);
  CHECK(m["type"] == "error");
  CHECK(m["code"] == code);
  CHECK(m["message"].is_string());
  return m;
}

// Nothing is on its way to `c`: its peer in `room` sends a marker, and the
// marker is the next thing `c` reads (anything sent to `c` before it, by the
// node or by the peer, would arrive first). No waiting for silence.
void expect_nothing_for(ws_client& c, ws_client& peer, const std::string& room) {
  static int markers = 0;
  auto marker = json{{"type", "signal"}, {"roomId", room}, {"marker", ++markers}}.dump();
  peer.send(marker);
  auto ev = c.read();
  CHECK_MESSAGE((ev.kind == ws_event::text && ev.data == marker), "unexpected: " << ev.data);
}

void join(ws_client& c, const std::string& room) {
  c.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
}

std::string create_room(ws_client& host) {
  host.send(R"({"type":"create-room"})");
  auto m = read_json(host);
  REQUIRE(m["type"] == "room-created");
  return m["roomId"].get<std::string>();
}

// A host and a guest sharing one room.
struct pair_in_room {
  ws_client host, guest;
  std::string room;
  pair_in_room(std::uint16_t host_port, std::uint16_t guest_port) {
    host.connect(host_port);
    guest.connect(guest_port);
    room = create_room(host);
    guest.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
    auto g = read_json(guest);
    REQUIRE(g["type"] == "peer-joined");
    auto h = read_json(host);
    REQUIRE(h["type"] == "peer-joined");
  }
};

// A pair that kept the resume tokens the server gave it.
struct resumable_pair {
  ws_client host, guest;
  std::string room, host_token, guest_token;
  resumable_pair(std::uint16_t host_port, std::uint16_t guest_port) {
    host.connect(host_port);
    guest.connect(guest_port);
    host.send(R"({"type":"create-room"})");
    auto c = read_json(host);
    REQUIRE(c["type"] == "room-created");
    room = c["roomId"].get<std::string>();
    host_token = c["resumeToken"].get<std::string>();
    guest.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
    auto g = read_json(guest);
    REQUIRE(g["type"] == "peer-joined");
    guest_token = g["resumeToken"].get<std::string>();
    auto h = read_json(host);
    REQUIRE(h["type"] == "peer-joined");
    CHECK(!h.contains("resumeToken")); // the host has had its token since room-created
  }
};

// Returns once the server has read everything `c` sent before: a connection
// handles its frames in order, and this one is answered with an error.
void all_read(ws_client& c) {
  c.send(R"({"type":"leave-room","roomId":"0"})");
  expect_error(c, "not-a-member");
}

bool process_running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_s, comm, state;
  return static_cast<bool>(stat >> pid_s >> comm >> state) && state != "Z";
}

std::string resume_msg(const std::string& room, const std::string& token) {
  return json{{"type", "resume"}, {"roomId", room}, {"resumeToken", token}}.dump();
}

// `c` connects to `port` and resumes the seat of `token`; the answer.
json resume_on(ws_client& c, std::uint16_t port, const std::string& room, const std::string& token,
               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  c.connect(port);
  c.send(resume_msg(room, token));
  return read_json(c, timeout);
}

template <class T>
pair_in_room make_pair_in(const T& net) {
  return pair_in_room{net.host_port(), net.guest_port()};
}

json ping(std::uint16_t port) {
  return json::parse(http_request(port, "GET", "/api/ping").body);
}

} // namespace

// Protocol behaviour: one node, two nodes (also with their frames to each
// other batched), and three nodes behind HAProxy (deploy/local-cluster.sh)
// where clients only know the balancer's port.
#define PROTOCOL_CASE(name) TEST_CASE_TEMPLATE(name, T, single_node, two_nodes, two_nodes_unbatched, load_balanced)
// Per-node behaviour (limits, counters), checked on the node itself.
#define NODE_CASE(name) TEST_CASE_TEMPLATE(name, T, single_node, two_nodes)

PROTOCOL_CASE("create-room answers room-created with a six-digit id") {
  T net;
  ws_client c;
  c.connect(net.host_port());
  auto id = create_room(c);
  CHECK(id.size() == 6);
  CHECK(id.find_first_not_of("0123456789") == std::string::npos);
  CHECK(id[0] != '0');
}

PROTOCOL_CASE("join-room sends peer-joined to both peers") {
  T net;
  ws_client host, guest;
  host.connect(net.host_port());
  guest.connect(net.guest_port());
  auto room = create_room(host);
  guest.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
  auto g = read_json(guest);
  auto h = read_json(host);
  CHECK(g["type"] == "peer-joined");
  CHECK(h["type"] == "peer-joined");
  CHECK(g["roomId"] == room);
}

PROTOCOL_CASE("an unknown room, a full room and one's own room all get the same refusal") {
  T net;
  auto p = make_pair_in(net);
  ws_client third;
  third.connect(net.guest_port());

  third.send(R"({"type":"join-room","roomId":"000000"})");
  auto unknown = expect_error(third, "room-unavailable");
  CHECK(unknown["message"] == "Room not found or full");

  third.send(json{{"type", "join-room"}, {"roomId", p.room}}.dump());
  auto full = expect_error(third, "room-unavailable");
  CHECK(full == unknown);

  ws_client lone;
  lone.connect(net.guest_port());
  auto own = create_room(lone);
  lone.send(json{{"type", "join-room"}, {"roomId", own}}.dump());
  CHECK(expect_error(lone, "room-unavailable") == unknown);
  expect_nothing_for(p.host, p.guest, p.room);
  expect_nothing_for(p.guest, p.host, p.room);
}

PROTOCOL_CASE("signal is relayed byte for byte to the other member only") {
  T net;
  auto p = make_pair_in(net);
  // Odd spacing and key order: the relay must forward the sender's bytes, not a re-serialization.
  std::string offer = R"({ "sdp" : {"type":"offer","sdp":"v=0\r\no=- 46 2 IN IP4 127.0.0.1\r\n"}, "type":"signal",  "roomId":")" +
                      p.room + R"(", "n": 1.50 })";
  p.host.send(offer);
  CHECK(p.guest.read_text() == offer);
  expect_nothing_for(p.host, p.guest, p.room); // no echo

  std::string answer = R"({"type":"signal","roomId":")" + p.room + R"(","candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdpMid":"0"}})";
  p.guest.send(answer);
  CHECK(p.host.read_text() == answer);
  expect_nothing_for(p.guest, p.host, p.room);
}

PROTOCOL_CASE("chat-message is relayed unchanged to the other member") {
  T net;
  auto p = make_pair_in(net);
  std::string chat = R"({"type":"chat-message","roomId":")" + p.room +
                     R"(","message":"Hello, world! \u00e9 ✓","sender":"User","timestamp":"2024-01-01T12:00:00.000Z"})";
  p.guest.send(chat);
  CHECK(p.host.read_text() == chat);
  expect_nothing_for(p.guest, p.host, p.room);
}

PROTOCOL_CASE("a stranger cannot signal or chat into a room it has not joined") {
  T net;
  auto p = make_pair_in(net);
  ws_client stranger;
  stranger.connect(net.guest_port());
  stranger.send(json{{"type", "signal"}, {"roomId", p.room}, {"sdp", "evil"}}.dump());
  expect_error(stranger, "not-a-member");
  stranger.send(json{{"type", "chat-message"}, {"roomId", p.room}, {"message", "evil"}}.dump());
  expect_error(stranger, "not-a-member");
  // A member of another room cannot reach this one either.
  ws_client other;
  other.connect(net.host_port());
  create_room(other);
  other.send(json{{"type", "signal"}, {"roomId", p.room}, {"sdp", "evil"}}.dump());
  expect_error(other, "not-a-member");
  expect_nothing_for(p.host, p.guest, p.room);
  expect_nothing_for(p.guest, p.host, p.room);
}

PROTOCOL_CASE("a member alone in its room is told there is no peer yet") {
  T net;
  ws_client host;
  host.connect(net.host_port());
  auto room = create_room(host);
  host.send(json{{"type", "signal"}, {"roomId", room}, {"sdp", "x"}}.dump());
  expect_error(host, "no-peer");
}

PROTOCOL_CASE("a lost connection: the other member gets peer-disconnected, then peer-left when the grace ends") {
  T net{{{"RESUME_GRACE_SECONDS", "1"}, {"JOIN_MISS_DELAY_MS", "0"}}};
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  p.guest.kill(); // no close frame: a dead peer
  auto d = read_json(p.host, 10s);
  CHECK(d["type"] == "peer-disconnected");
  CHECK(d["roomId"] == p.room);
  auto m = read_json(p.host, 10s);
  CHECK(m["type"] == "peer-left");
  CHECK(m["roomId"] == p.room);
  ws_client late;
  late.connect(net.guest_port());
  late.send(json{{"type", "join-room"}, {"roomId", p.room}}.dump());
  expect_error(late, "room-unavailable");
  // Too late to resume: the same answer as for a room that never was.
  late.send(resume_msg(p.room, p.guest_token));
  expect_error(late, "room-unavailable");
  // The host is no longer a member either.
  p.host.send(json{{"type", "signal"}, {"roomId", p.room}}.dump());
  expect_error(p.host, "not-a-member");
}

PROTOCOL_CASE("a guest whose connection drops resumes on another node and gets all 20 signals sent meanwhile, in order") {
  T net;
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  p.guest.kill();
  auto d = read_json(p.host, 10s);
  REQUIRE(d["type"] == "peer-disconnected");
  for (int i = 0; i < 20; ++i)
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"n", i}}.dump());
  all_read(p.host);
  // Two nodes: the guest was on node B and comes back on node A.
  ws_client back;
  json r = resume_on(back, net.host_port(), p.room, p.guest_token);
  CHECK(r["type"] == "resumed");
  CHECK(r["roomId"] == p.room);
  CHECK(r["role"] == "guest");
  CHECK(r["pending"] == 20);
  CHECK(r["dropped"] == 0);
  CHECK(r["peerConnected"] == true);
  CHECK(r["acked"] == 0); // it had sent nothing
  REQUIRE(r["resumeToken"].is_string());
  CHECK(r["resumeToken"].get<std::string>().size() == 32);
  CHECK(r["resumeToken"] != p.guest_token); // a new token for every resume
  for (int i = 0; i < 20; ++i) {
    auto f = read_json(back);
    CHECK(f["type"] == "signal");
    CHECK(f["n"] == i);
  }
  CHECK(read_json(p.host)["type"] == "peer-resumed");
  // The room goes on, both ways.
  std::string up = json{{"type", "signal"}, {"roomId", p.room}, {"sdp", "from the resumed guest"}}.dump();
  back.send(up);
  CHECK(p.host.read_text() == up);
  std::string down = json{{"type", "signal"}, {"roomId", p.room}, {"sdp", "to the resumed guest"}}.dump();
  p.host.send(down);
  CHECK(back.read_text() == down);
}

PROTOCOL_CASE("resume refuses forged and reused tokens, a closing tab (1001) still ends the room at once") {
  T net{{{"JOIN_MISS_DELAY_MS", "0"}}};
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  p.guest.kill();
  REQUIRE(read_json(p.host, 10s)["type"] == "peer-disconnected");
  ws_client probe;
  probe.connect(net.guest_port());
  probe.send(resume_msg(p.room, std::string(32, '0')));
  expect_error(probe, "room-unavailable");
  // The host's seat is not parked: its token reclaims nothing (refused once
  // no loss of the host came within room_seats::loss_wait).
  probe.send(resume_msg(p.room, p.host_token));
  expect_error(probe, "room-unavailable");
  probe.send(json{{"type", "resume"}, {"roomId", p.room}}.dump());
  expect_error(probe, "bad-message");
  ws_client back;
  back.connect(net.guest_port());
  back.send(resume_msg(p.room, p.guest_token));
  auto r = read_json(back);
  REQUIRE(r["type"] == "resumed");
  CHECK(read_json(p.host)["type"] == "peer-resumed");
  // The token it used is spent.
  ws_client again;
  again.connect(net.guest_port());
  again.send(resume_msg(p.room, p.guest_token));
  expect_error(again, "room-unavailable");
  // A closing tab is a deliberate leave: the seed's rule, no grace.
  back.close(1001);
  auto m = read_json(p.host);
  CHECK(m["type"] == "peer-left");
  again.send(resume_msg(p.room, r["resumeToken"].get<std::string>()));
  expect_error(again, "room-unavailable");
}

PROTOCOL_CASE("frames kept for a parked seat are bounded: the oldest are dropped and the resumed member is told how many") {
  T net{{{"RESUME_MAX_FRAMES", "5"}}};
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  p.host.kill(); // the host's seat this time
  REQUIRE(read_json(p.guest, 10s)["type"] == "peer-disconnected");
  for (int i = 0; i < 8; ++i)
    p.guest.send(json{{"type", "chat-message"}, {"roomId", p.room}, {"n", i}}.dump());
  all_read(p.guest);
  // A guest cannot join a room whose host is away.
  ws_client other;
  other.connect(net.host_port());
  join(other, p.room);
  expect_error(other, "room-unavailable");
  ws_client back;
  back.connect(net.guest_port());
  back.send(resume_msg(p.room, p.host_token));
  auto r = read_json(back);
  REQUIRE(r["type"] == "resumed");
  CHECK(r["role"] == "host");
  CHECK(r["pending"] == 5);
  CHECK(r["dropped"] == 3);
  for (int i = 3; i < 8; ++i)
    CHECK(read_json(back)["n"] == i);
  CHECK(read_json(p.guest)["type"] == "peer-resumed");
}

PROTOCOL_CASE("the host closing cleanly also ends the room for the guest") {
  T net;
  auto p = make_pair_in(net);
  p.host.close(1000);
  auto m = read_json(p.guest);
  CHECK(m["type"] == "peer-left");
}

PROTOCOL_CASE("leave-room confirms to the leaver and tells the peer") {
  T net;
  auto p = make_pair_in(net);
  p.guest.send(json{{"type", "leave-room"}, {"roomId", p.room}}.dump());
  auto g = read_json(p.guest);
  CHECK(g["type"] == "room-left");
  CHECK(g["roomId"] == p.room);
  auto h = read_json(p.host);
  CHECK(h["type"] == "peer-left");
  // Leaving a room one is not in is an error.
  p.guest.send(json{{"type", "leave-room"}, {"roomId", p.room}}.dump());
  expect_error(p.guest, "not-a-member");
  // The connection stays usable.
  auto again = create_room(p.guest);
  CHECK(again.size() == 6);
}

PROTOCOL_CASE("creating a second room leaves the first") {
  T net;
  auto p = make_pair_in(net);
  auto second = create_room(p.host);
  CHECK(second != p.room);
  auto g = read_json(p.guest);
  CHECK(g["type"] == "peer-left");
}

PROTOCOL_CASE("malformed input gets typed errors and the connection keeps working") {
  T net;
  ws_client c;
  c.connect(net.host_port());
  c.send("{not json");
  auto bad = expect_error(c, "bad-json");
  CHECK(bad["message"].get<std::string>().rfind("Invalid message format", 0) == 0);
  c.send("[1,2,3]");
  expect_error(c, "bad-message");
  c.send("\"create-room\"");
  expect_error(c, "bad-message");
  c.send(R"({"roomId":"123456"})");
  expect_error(c, "bad-message");
  c.send(R"({"type":42})");
  expect_error(c, "bad-message");
  c.send(R"({"type":"join-room","roomId":123456})");
  expect_error(c, "bad-message");
  c.send(R"({"type":"join-room"})");
  expect_error(c, "bad-message");
  c.send(R"({"type":"signal","type":"create-room"})");
  expect_error(c, "bad-message");
  c.send(R"({"type":"teleport"})");
  expect_error(c, "unknown-type");
  c.send(R"({"type":"create-room"} trailing)");
  expect_error(c, "bad-json");
  CHECK(create_room(c).size() == 6);
}

PROTOCOL_CASE("documents nested deeper than the limit are refused while parsing") {
  T net{{{"MAX_MESSAGE_BYTES", "262144"}}};
  ws_client c;
  c.connect(net.host_port());
  auto nest = [](std::size_t depth) {
    return R"({"type":"chat-message","roomId":"1","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  c.send(nest(31)); // 32 levels with the outer object: allowed, fails later on membership
  expect_error(c, "not-a-member");
  c.send(nest(32));
  expect_error(c, "too-deep");
  c.send(std::string(50000, '[') + std::string(50000, ']'));
  expect_error(c, "too-deep"); // depth is refused while scanning, before the top-level type
  c.send("{\"a\":" + std::string(50000, '[') + std::string(50000, ']') + "}");
  expect_error(c, "too-deep");
  CHECK(create_room(c).size() == 6);
}

PROTOCOL_CASE("a frame over the size limit closes the connection with 1009") {
  T net{{{"MAX_MESSAGE_BYTES", "4096"}}};
  ws_client ok, big;
  ok.connect(net.host_port());
  big.connect(net.host_port());
  std::string padding(4096 - 40, 'x');
  std::string at_limit = R"({"type":"create-room","p":")" + padding + "\"}";
  at_limit.append(4096 - at_limit.size() - 2, ' ');
  at_limit += "  ";
  REQUIRE(at_limit.size() == 4096);
  ok.send(at_limit);
  CHECK(read_json(ok)["type"] == "room-created");
  big.send(at_limit + " ");
  auto ev = big.read();
  if constexpr (T::balanced) {
    // The node closes 1009 and drops the TCP connection with the rest of the
    // frame unread; the reset can overtake the close frame inside HAProxy.
    CHECK((ev.kind == ws_event::error || (ev.kind == ws_event::closed && ev.code == 1009)));
  } else {
    CHECK(ev.kind == ws_event::closed);
    CHECK(ev.code == 1009);
  }
  CHECK(create_room(ok).size() == 6);
}

PROTOCOL_CASE("a binary frame closes the connection with 1003") {
  T net;
  ws_client c;
  c.connect(net.host_port());
  c.send_binary(std::string("\x00\x01\x02", 3));
  auto ev = c.read();
  CHECK(ev.kind == ws_event::closed);
  CHECK(ev.code == 1003);
}

PROTOCOL_CASE("200 signals arrive in order") {
  T net;
  auto p = make_pair_in(net);
  for (int i = 0; i < 200; ++i)
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"seq", i}}.dump());
  for (int i = 0; i < 200; ++i) {
    auto m = read_json(p.guest);
    REQUIRE(m["seq"] == i);
  }
}

PROTOCOL_CASE("a burst well over the message rate is slowed, not dropped: every frame arrives, in order") {
  // The issue 17 case: create-room, then a burst of signals five times the
  // bucket. The node stops reading until tokens come back (TCP holds the
  // rest), so the burst takes a while, but nothing is refused or lost.
  T net{{{"RATE_LIMIT_PER_SEC", "100"}, {"RATE_LIMIT_BURST", "20"}, {"RATE_LIMIT_STRIKES", "200"}}};
  auto p = make_pair_in(net);
  constexpr int n = 100;
  for (int i = 0; i < n; ++i)
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"seq", i}}.dump());
  for (int i = 0; i < n; ++i) {
    auto m = read_json(p.guest, 10s);
    INFO("message ", i, ": ", m.dump());
    REQUIRE(m["type"] == "signal");
    REQUIRE(m["seq"] == i);
  }
  // No error frame reached the sender, and it is still connected.
  p.host.send(json{{"type", "leave-room"}, {"roomId", p.room}}.dump());
  CHECK(read_json(p.host)["type"] == "room-left");
}

PROTOCOL_CASE("a client over its message rate for longer than its strike budget is closed 1008, others go on") {
  T net{{{"RATE_LIMIT_PER_SEC", "20"}, {"RATE_LIMIT_BURST", "3"}, {"RATE_LIMIT_STRIKES", "2"}}};
  ws_client other;
  other.connect(net.host_port());
  ws_client c;
  c.connect(net.host_port());
  for (int i = 0; i < 20; ++i)
    c.send(R"({"type":"teleport"})");
  int answered = 0;
  for (;;) {
    auto ev = c.read(5s);
    if (ev.kind == ws_event::text) {
      CHECK(json::parse(ev.data)["code"] == "unknown-type"); // answered, never refused
      ++answered;
      continue;
    }
    REQUIRE(ev.kind == ws_event::closed);
    CHECK(ev.code == 1008);
    break;
  }
  CHECK(answered >= 3);
  CHECK(answered < 20);
  // Everyone else is unaffected.
  CHECK(create_room(other).size() == 6);
}

PROTOCOL_CASE("a reader that stops reading is cut off at its send-queue limit, others go on") {
  T net{{{"MAX_SEND_QUEUE_BYTES", "262144"}, {"RATE_LIMIT_PER_SEC", "1000000"}, {"RATE_LIMIT_BURST", "1000000"}}};
  auto p = make_pair_in(net);
  auto bystanders = make_pair_in(net);
  p.guest.receive_buffer_bytes(4096); // and never reads again
  std::string blob(32 * 1024, 'a');
  std::string frame = json{{"type", "signal"}, {"roomId", p.room}, {"sdp", blob}}.dump();
  bool left = false;
  // Up to 800 frames (25.6 MB), stopping at peer-left: well past the 256 KiB
  // queue plus the kernel's socket buffers (tcp_wmem max 4 MB) and, behind the
  // balancer, HAProxy's own two sockets (up to ~10 MB more before the node's
  // queue grows: 12.8 MB was not always enough there), yet under Redis's
  // default pub/sub output limit (32 MB), past which Redis would drop the
  // receiving node's subscriber (docs/architecture.md, "Failure handling").
  for (int i = 0; i < 800 && !left; ++i) {
    p.host.send(frame);
    if (i % 20 == 19) {
      auto ev = p.host.read(1ms);
      if (ev.kind == ws_event::text) {
        INFO(ev.data);
        left = json::parse(ev.data)["type"] == "peer-left";
        CHECK(left);
      }
    }
  }
  std::string last;
  if (!left) {
    auto m = read_json(p.host, 10s);
    last = m.dump();
    left = m["type"] == "peer-left";
  }
  INFO(last);
  CHECK(left);
  bystanders.host.send(json{{"type", "chat-message"}, {"roomId", bystanders.room}, {"message", "still here"}}.dump());
  // Across nodes the chat queues behind the flood's frames on the node channel (dropped on arrival,
  // the reader being gone), so allow the backlog time to drain.
  auto got = read_json(bystanders.guest, 30s);
  INFO(got.dump());
  CHECK(got["message"] == "still here");
}

NODE_CASE("GET /api/ping reports the seed's fields plus node id and uptime") {
  T net;
  auto p = make_pair_in(net);
  ws_client lone;
  lone.connect(net.host_port());
  create_room(lone);
  auto r = http_request(net.host_port(), "GET", "/api/ping");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  auto j = json::parse(r.body);
  CHECK(j["status"] == "ok");
  CHECK(j["message"] == "WebSocket signaling server is running");
  CHECK(j["nodeId"] == (T::cluster ? "node-a" : "test-node"));
  CHECK(j["uptimeSeconds"].is_number_integer());
  // In a cluster the counts are cluster-wide as of the last heartbeat, and
  // this node's own follow: the host node has both rooms, one of three clients.
  CHECK(eventually([&] {
    auto k = ping(net.host_port());
    return k["roomsActive"] == 2 && k["clientsConnected"] == 3;
  }));
  if constexpr (T::cluster) {
    auto k = ping(net.host_port());
    CHECK(k["nodeRoomsActive"] == 2);
    CHECK(k["nodeClientsConnected"] == 2);
    CHECK(k["clusterNodes"] == 2);
    CHECK(k["redis"] == "up");
  }
}

PROTOCOL_CASE("health endpoints answer, unknown paths get 404") {
  T net;
  CHECK(http_request(net.host_port(), "GET", "/healthz").status == 200);
  CHECK(http_request(net.host_port(), "GET", "/readyz").status == 200);
  CHECK(http_request(net.host_port(), "GET", "/nope").status == 404);
  CHECK(http_request(net.host_port(), "POST", "/api/ping").status == 405);
  auto head = http_request(net.host_port(), "HEAD", "/api/ping");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

PROTOCOL_CASE("CORS: listed origins get Access-Control-Allow-Origin, others do not") {
  T net{{{"FRONTEND_URL", "http://localhost:5173,https://app.example"}}};
  auto ok = http_request(net.host_port(), "GET", "/api/ping", {{"Origin", "https://app.example"}});
  CHECK(ok.status == 200);
  CHECK(ok.header("access-control-allow-origin") == "https://app.example");
  auto bad = http_request(net.host_port(), "GET", "/api/ping", {{"Origin", "https://evil.example"}});
  CHECK(bad.header("access-control-allow-origin").empty());
  auto none = http_request(net.host_port(), "GET", "/api/ping");
  CHECK(none.status == 200);
  CHECK(none.header("access-control-allow-origin").empty());

  auto pre = http_request(net.host_port(), "OPTIONS", "/api/ping",
                          {{"Origin", "http://localhost:5173"}, {"Access-Control-Request-Method", "GET"}});
  CHECK(pre.status == 204);
  CHECK(pre.header("access-control-allow-origin") == "http://localhost:5173");
  CHECK(pre.header("access-control-allow-methods").find("GET") != std::string::npos);
  auto pre_bad = http_request(net.host_port(), "OPTIONS", "/api/ping",
                              {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}});
  CHECK(pre_bad.status == 403);
  CHECK(pre_bad.header("access-control-allow-origin").empty());
}

PROTOCOL_CASE("the WebSocket upgrade checks Origin: listed, same-origin and absent pass, others get 403") {
  T net{{{"FRONTEND_URL", "http://localhost:5173"}}};
  auto port = net.host_port();
  CHECK(ws_client{}.try_connect(port, {{"Origin", "http://localhost:5173"}}) == 101);
  CHECK(ws_client{}.try_connect(port) == 101);
  CHECK(ws_client{}.try_connect(port, {{"Origin", "http://127.0.0.1:" + std::to_string(port)}}) == 101);
  CHECK(ws_client{}.try_connect(port, {{"Origin", "https://evil.example"}}) == 403);
  CHECK(ws_client{}.try_connect(port, {{"Origin", "http://localhost:5173.evil.example"}}) == 403);
}

PROTOCOL_CASE("with FRONTEND_URL unset only same-origin and non-browser clients may connect") {
  T net;
  CHECK(ws_client{}.try_connect(net.host_port()) == 101);
  CHECK(ws_client{}.try_connect(net.host_port(), {{"Origin", "http://localhost:5173"}}) == 403);
}

PROTOCOL_CASE("FRONTEND_URL=* allows every origin") {
  T net{{{"FRONTEND_URL", "*"}}};
  CHECK(ws_client{}.try_connect(net.host_port(), {{"Origin", "https://anything.example"}}) == 101);
}

NODE_CASE("upgrades past max connections get 503") {
  T net{{{"MAX_CONNECTIONS", "2"}}};
  ws_client a, b;
  a.connect(net.host_port());
  b.connect(net.host_port());
  REQUIRE(eventually([&] { return ping(net.host_port())["clientsConnected"] == 2; }));
  CHECK(ws_client{}.try_connect(net.host_port()) == 503);
  a.close();
  REQUIRE(eventually([&] { return ping(net.host_port())["clientsConnected"] == 1; }));
  CHECK(ws_client{}.try_connect(net.host_port()) == 101);
}

PROTOCOL_CASE("rooms created over sockets all have distinct ids") {
  T net;
  std::vector<ws_client> hosts(300);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    hosts[i].connect(i % 2 ? net.guest_port() : net.host_port()); // both nodes draw ids
    hosts[i].send(R"({"type":"create-room"})");
  }
  for (auto& h : hosts)
    ids.insert(read_json(h)["roomId"].get<std::string>());
  CHECK(ids.size() == hosts.size());
  CHECK(eventually([&] { return ping(net.host_port())["roomsActive"] == 300; }));
}

namespace {

// Checks the exposition format 0.0.4 line by line and returns the samples
// (name with labels -> value). Fails the test on any malformed line.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::istringstream in(text);
  std::string line;
  const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
  const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  const std::regex sample(
    R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, type)) {
      CHECK_MESSAGE(!types.count(m[1]), "TYPE twice: " << line);
      types[m[1]] = m[2];
    } else if (std::regex_match(line, m, help)) {
    } else if (std::regex_match(line, m, sample)) {
      std::string name = m[1];
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (family.size() > std::strlen(suffix) && family.compare(family.size() - std::strlen(suffix), std::string::npos, suffix) == 0 &&
            types.count(family.substr(0, family.size() - std::strlen(suffix))))
          family = family.substr(0, family.size() - std::strlen(suffix));
      CHECK_MESSAGE(types.count(family), "sample without TYPE: " << line);
      samples[name + std::string(m[2])] = std::stod(m[7]);
    } else {
      FAIL_CHECK("not Prometheus text: " << line);
    }
  }
  return samples;
}

} // namespace

NODE_CASE("/metrics is valid Prometheus text and its counters move with traffic") {
  T net;
  auto before = parse_prometheus(http_request(net.host_port(), "GET", "/metrics").body);
  auto guest_before = parse_prometheus(http_request(net.guest_port(), "GET", "/metrics").body);
  auto p = make_pair_in(net);
  for (int i = 0; i < 10; ++i) {
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"seq", i}}.dump());
    p.guest.read_text();
  }
  p.host.send("{bad");
  read_json(p.host);
  auto r = http_request(net.host_port(), "GET", "/metrics");
  CHECK(r.status == 200);
  CHECK(r.header("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
  auto after = parse_prometheus(r.body);
  auto moved = [&](const std::string& k) { return after[k] - before[k]; };
  CHECK(moved("signal_rooms_created_total") == 1);
  CHECK(moved("signal_messages_received_total") >= 12); // create, 10 signals, bad json (+join on one node)
  CHECK(moved("signal_errors_total{code=\"bad-json\"}") == 1);
  CHECK(after["signal_connections"] >= 1);
  if constexpr (T::cluster) {
    CHECK(moved("signal_relayed_total{path=\"cross_node_out\"}") == 10);
    CHECK(after["signal_redis_up"] == 1);
  } else {
    CHECK(moved("signal_relayed_total{path=\"local\"}") == 10);
    CHECK(moved("signal_relay_latency_seconds_count") == 10);
    CHECK(after["signal_relay_latency_seconds_bucket{le=\"+Inf\"}"] == after["signal_relay_latency_seconds_count"]);
  }
  p.guest.close();
  read_json(p.host); // peer-left
  // Counted where the guest was connected.
  CHECK(eventually([&] {
    auto m = parse_prometheus(http_request(net.guest_port(), "GET", "/metrics").body);
    return m["signal_closes_total{reason=\"client\"}"] - guest_before["signal_closes_total{reason=\"client\"}"] == 1;
  }));
}

// Across nodes a frame is one PUBLISH to the peer seat's own channel once the
// peer's node listens there (cluster/direct_route.hpp); a peer lost with
// frames on their way there gets them through SEAT_FRAMES, in order.
TEST_CASE_TEMPLATE("across nodes frames go direct once the peer listens, and a lost peer keeps every frame sent after "
                   "peer-disconnected, in order",
                   T, two_nodes, two_nodes_unbatched) {
  T net;
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  auto sends = [&](const std::string& way) {
    return parse_prometheus(http_request(net.host_port(), "GET", "/metrics").body)
      ["signal_cross_node_sends_total{way=\"" + way + "\"}"];
  };
  // The guest's node announces its channel once Redis confirms it: from then
  // on the host's frames go direct.
  int n = 0;
  REQUIRE(eventually([&] {
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"n", n++}}.dump());
    read_json(p.guest);
    return sends("direct") > 0;
  }));
  CHECK(sends("direct") + sends("scripted") == n);
  CHECK(sends("resent") == 0);
  // A burst, and the guest lost in the middle of it: what was on its way to
  // the guest's channel is answered "nobody heard" and sent again through
  // SEAT_FRAMES; nothing is delivered twice or out of order.
  int first = n;
  for (int i = 0; i < 100; ++i)
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"n", n++}}.dump());
  p.guest.kill();
  for (int i = 0; i < 100; ++i)
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"n", n++}}.dump());
  REQUIRE(read_json(p.host, 10s)["type"] == "peer-disconnected");
  int after = n; // everything from here on must reach the resumed guest
  for (int i = 0; i < 20; ++i)
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"n", n++}}.dump());
  all_read(p.host);
  ws_client back;
  json r = resume_on(back, net.host_port(), p.room, p.guest_token);
  REQUIRE(r["type"] == "resumed");
  CHECK(r["dropped"] == 0);
  std::vector<int> got;
  for (int i = 0; i < r["pending"].get<int>(); ++i)
    got.push_back(read_json(back)["n"].get<int>());
  CHECK(read_json(p.host)["type"] == "peer-resumed");
  // Lost with the connection: only what its node had written to it before
  // it noticed, so what is kept is a run up to the last frame sent.
  REQUIRE(!got.empty());
  CHECK(got.front() >= first);
  for (std::size_t i = 1; i < got.size(); ++i)
    CHECK(got[i] == got[i - 1] + 1);
  CHECK(got.back() == n - 1);
  CHECK(got.front() <= after);
  // The resumed guest is on the host's node now: the room goes on, both ways.
  std::string up = json{{"type", "signal"}, {"roomId", p.room}, {"sdp", "from the resumed guest"}}.dump();
  back.send(up);
  CHECK(p.host.read_text() == up);
}

// `c` sends a resume of `token`'s seat to `port` and hears nothing for a
// moment: the resume waits (a refusal, as before the wait, comes at once).
void resume_waits(ws_client& c, std::uint16_t port, const std::string& room, const std::string& token) {
  c.connect(port);
  c.send(resume_msg(room, token));
  auto early = c.read(std::chrono::milliseconds(200));
  CHECK_MESSAGE(early.kind == ws_event::timeout, "answered while the old connection is open: " << early.data);
}

// After `back` resumed: `host` hears peer-disconnected (perhaps) and
// peer-resumed, never its own signal, and its signal `sent` reaches `back`.
void relays_after_resume(ws_client& host, ws_client& back, const std::string& sent) {
  host.send(sent);
  for (;;) {
    auto t = host.read_text();
    if (t == sent)
      FAIL("the host got its own signal back");
    auto j = json::parse(t);
    if (j["type"] == "peer-resumed")
      break;
    REQUIRE(j["type"] == "peer-disconnected");
  }
  CHECK(back.read_text() == sent);
}

// Right after a loss, the resume may reach the room before the loss does (the
// new connection's resume and the old one's end are read by different
// threads), and across nodes the lost member's node first gives up its seat
// channel (an UNSUBSCRIBE Redis must confirm) and only then parks the seat: a
// resume arriving meanwhile waits for the loss and the park instead of
// finding the seat still seated (refused), and the room does not step aside
// while it is answered.
NODE_CASE("a guest lost and resuming at once on its own node is resumed every time") {
  T net;
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    auto p = resumable_pair{net.host_port(), net.guest_port()};
    for (int i = 0; i < 3; ++i) {
      p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"n", i}}.dump());
      read_json(p.guest);
    }
    p.guest.kill();
    ws_client back;
    auto answer = resume_on(back, net.guest_port(), p.room, p.guest_token, 10s);
    INFO(answer.dump());
    REQUIRE(answer["type"] == "resumed");
    relays_after_resume(p.host, back, json{{"type", "signal"}, {"roomId", p.room}, {"round", round}}.dump());
  }
}

// A resume with the token of a seat still here waits a moment for that seat's
// loss (room_seats::loss_wait); it is refused if the old connection leaves the
// room on purpose instead (the room ends), as it is when no loss comes (the
// host's token in "resume refuses forged and reused tokens").
NODE_CASE("a resume waiting for the old connection's loss is refused when that connection leaves instead") {
  T net;
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  ws_client back;
  resume_waits(back, net.guest_port(), p.room, p.guest_token);
  p.guest.send(json{{"type", "leave-room"}, {"roomId", p.room}}.dump());
  expect_error(back, "room-unavailable");
  CHECK(read_json(p.host)["type"] == "peer-left");
}

// A client can find its connection dead before the server does; its resume
// waits for the loss (here: the old connection ends a moment after the resume
// arrived) and is answered `resumed` once the seat is parked.
NODE_CASE("a resume made while the seat's old connection is still open is answered once that connection is lost") {
  T net;
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  ws_client back;
  resume_waits(back, net.guest_port(), p.room, p.guest_token);
  p.guest.kill();
  auto answer = read_json(back, 10s);
  INFO(answer.dump());
  REQUIRE(answer["type"] == "resumed");
  CHECK(answer["role"] == "guest");
  relays_after_resume(p.host, back, json{{"type", "signal"}, {"roomId", p.room}, {"n", "after"}}.dump());
}

// A resumer that goes while its resume waits is forgotten: the seat is not
// given to it (which would end the room), and the token it carried still
// reclaims the seat.
NODE_CASE("a resumer that goes while its resume waits for the loss leaves the token good and the room open") {
  T net;
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  auto open_here = [&] {
    return parse_prometheus(http_request(net.guest_port(), "GET", "/metrics").body)["signal_connections"];
  };
  auto before = open_here();
  {
    ws_client gone;
    resume_waits(gone, net.guest_port(), p.room, p.guest_token);
    gone.kill();
  }
  // Its node has closed it (the room hears of it as the actor ends) before
  // the old connection goes.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (open_here() > before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(open_here() == before);
  p.guest.kill();
  REQUIRE(read_json(p.host, 10s)["type"] == "peer-disconnected");
  ws_client back;
  auto answer = resume_on(back, net.guest_port(), p.room, p.guest_token, 10s);
  INFO(answer.dump());
  REQUIRE(answer["type"] == "resumed");
  CHECK(read_json(p.host)["type"] == "peer-resumed");
}

// On a node that holds no member of the room any more, a resume opens a room
// there to ask Redis; a second resume of that room on that node meanwhile
// waits behind the first. A refusal of the first (a wrong token) must not
// close that room before the second is answered: its client would wait for
// ever, and Redis would give the seat to a connection nobody serves.
TEST_CASE_TEMPLATE("a refused resume does not drop a second resume of the same room on the same node", T,
                   two_nodes) {
  T net;
  auto rooms_on_guest_node = [&] {
    return parse_prometheus(http_request(net.guest_port(), "GET", "/metrics").body)["signal_rooms"];
  };
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    auto p = resumable_pair{net.host_port(), net.guest_port()};
    p.guest.kill();
    REQUIRE(read_json(p.host, 10s)["type"] == "peer-disconnected");
    // The guest's node keeps no room once its only member there is parked.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (rooms_on_guest_node() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(rooms_on_guest_node() == 0);
    ws_client forger, back;
    forger.connect(net.guest_port());
    back.connect(net.guest_port());
    forger.send(resume_msg(p.room, std::string(32, '0')));
    back.send(resume_msg(p.room, p.guest_token));
    expect_error(forger, "room-unavailable");
    auto answer = read_json(back, 10s);
    INFO(answer.dump());
    REQUIRE(answer["type"] == "resumed");
    relays_after_resume(p.host, back, json{{"type", "signal"}, {"roomId", p.room}, {"round", round}}.dump());
  }
}

// A seat channel is lost with the subscriber link that held it (here Redis
// drops every pub/sub link): the room keeps relaying through SEAT_FRAMES, in
// order, and its member's node listens again under a new name and says so,
// so frames go direct again.
TEST_CASE_TEMPLATE("seat channels lost with the subscriber links: frames keep their order and go direct again", T,
                   two_nodes) {
  T net;
  auto p = resumable_pair{net.host_port(), net.guest_port()};
  auto sends = [&](const std::string& way) {
    return parse_prometheus(http_request(net.host_port(), "GET", "/metrics").body)
      ["signal_cross_node_sends_total{way=\"" + way + "\"}"];
  };
  std::vector<int> got;
  int n = 0;
  // Sends one signal; true if the guest got it, going direct, heard at once.
  auto one_direct = [&] {
    double direct = sends("direct"), resent = sends("resent");
    p.host.send(json{{"type", "signal"}, {"roomId", p.room}, {"n", n++}}.dump());
    try {
      for (;;) { // what went missing while the links were down is not waited for
        int m = read_json(p.guest, 1s)["n"].get<int>();
        got.push_back(m);
        if (m == n - 1)
          break;
      }
    } catch (const std::exception&) {
      return false;
    }
    return sends("direct") == direct + 1 && sends("resent") == resent;
  };
  REQUIRE(eventually(one_direct));
  auto killed = net.redis.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  REQUIRE(killed.size() == 1);
  CHECK(killed[0] == "2"); // both nodes' subscriber links
  int first_after = n;
  REQUIRE(eventually(one_direct, 20s));
  CHECK(n - first_after >= 2); // the first one after the kill found the old channel gone
  for (std::size_t i = 1; i < got.size(); ++i)
    CHECK(got[i] > got[i - 1]);
}

NODE_CASE("/metrics: readiness, build, process facts, refused upgrades by status, parked seats and resumed frames") {
  T net{{{"MAX_CONNECTIONS", "3"}}};
  auto scrape = [](std::uint16_t port) { return parse_prometheus(http_request(port, "GET", "/metrics").body); };
  auto before = scrape(net.host_port());
  CHECK(before["signal_ready"] == 1);
  CHECK(before.count("signal_up") == 0); // renamed: Prometheus's own `up` means the scrape worked
  CHECK(before["signal_max_connections"] == 3);
  CHECK(before["signal_build_info{version=\"" + std::string(SIGNAL_VERSION) + "\"}"] == 1);
  auto now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count());
  // The node started within the last minute (and, in-process, so did this test).
  CHECK(before["process_start_time_seconds"] > now - 60);
  CHECK(before["process_start_time_seconds"] <= now + 1);
  CHECK(before["process_open_fds"] > 2);
  CHECK(before["process_open_fds"] < before["process_max_fds"]);
  CHECK(before["process_resident_memory_bytes"] > 1e6);
  CHECK(before["process_virtual_memory_bytes"] >= before["process_resident_memory_bytes"]);
  CHECK(before.count("process_cpu_seconds_total") == 1);

  // Refused upgrades, counted by status where they were refused.
  CHECK(ws_client{}.try_connect(net.host_port(), {{"Origin", "https://elsewhere.example"}}) == 403);
  resumable_pair p{net.host_port(), net.guest_port()};
  // Three more to the host's node: one node holds host and guest already (2
  // refused), two nodes only the host (1 refused).
  std::vector<ws_client> more(3);
  double open_here = T::cluster ? 1 : 2;
  for (auto& c : more) {
    if (c.try_connect(net.host_port()) != 101)
      continue;
    // Counted once its session runs, which may be just after the client saw 101.
    open_here += 1;
    REQUIRE(eventually([&] { return scrape(net.host_port())["signal_connections"] == open_here; }));
  }
  auto refused = scrape(net.host_port());
  CHECK(refused["signal_upgrades_refused_total{status=\"403\"}"] - before["signal_upgrades_refused_total{status=\"403\"}"] == 1);
  CHECK(refused["signal_upgrades_refused_total{status=\"503\"}"] - before["signal_upgrades_refused_total{status=\"503\"}"] ==
        (T::cluster ? 1 : 2));
  more.clear();

  // A lost guest: its seat is parked, counted where its room waits (the host's node).
  p.guest.kill();
  CHECK(read_json(p.host)["type"] == "peer-disconnected");
  CHECK(eventually([&] { return scrape(net.host_port())["signal_parked_seats"] == 1; }));
  std::string kept = json{{"type", "signal"}, {"roomId", p.room}, {"sdp", "kept"}}.dump();
  p.host.send(kept);
  all_read(p.host);
  auto guest_before = scrape(net.guest_port());
  ws_client back;
  REQUIRE(eventually([&] { // MAX_CONNECTIONS: the dropped guest's slot comes back once its session is gone
    back = ws_client{};
    return back.try_connect(net.guest_port()) == 101;
  }));
  back.send(resume_msg(p.room, p.guest_token));
  auto r = read_json(back);
  REQUIRE(r["type"] == "resumed");
  CHECK(back.read_text() == kept);
  auto after = scrape(net.guest_port());
  CHECK(after["signal_relayed_total{path=\"resumed\"}"] - guest_before["signal_relayed_total{path=\"resumed\"}"] == 1);
  CHECK(eventually([&] { return scrape(net.host_port())["signal_parked_seats"] == 0; }));
}

// PAIR_THREADS (on by default): the test node has two I/O threads and deals
// connections out in turn, so guest i joining host i+1's room puts the two
// on different threads; each guest's connection moves to its host's thread
// as it joins, while the host is already sending. Nothing is lost or
// reordered in either direction, and the moves are counted.
TEST_CASE("on one node, guests joining hosts on another I/O thread move to it and every frame arrives once, in order") {
  single_node net;
  constexpr int pairs = 8, frames = 50;
  auto moves = [&] {
    return parse_prometheus(http_request(net.host_port(), "GET", "/metrics").body)["signal_thread_moves_total"];
  };
  auto before = moves();
  std::vector<std::unique_ptr<ws_client>> hosts, guests;
  std::vector<std::string> rooms;
  for (int i = 0; i < pairs; ++i) {
    hosts.push_back(std::make_unique<ws_client>());
    hosts.back()->connect(net.host_port());
    rooms.push_back(create_room(*hosts.back()));
  }
  for (int i = 0; i < pairs; ++i) {
    guests.push_back(std::make_unique<ws_client>());
    guests.back()->connect(net.guest_port());
  }
  auto frame = [](const std::string& room, int n) {
    return json{{"type", "signal"}, {"roomId", room}, {"data", {{"n", n}}}}.dump();
  };
  for (int i = 0; i < pairs; ++i) {
    auto& guest = *guests[i];
    auto& host = *hosts[(i + 1) % pairs];
    const auto& room = rooms[(i + 1) % pairs];
    join(guest, room);
    REQUIRE(read_json(host)["type"] == "peer-joined");
    for (int n = 0; n < frames; ++n) // the guest may still be moving
      host.send(frame(room, n));
    REQUIRE(read_json(guest)["type"] == "peer-joined");
    for (int n = 0; n < frames; ++n)
      guest.send(frame(room, n));
  }
  auto expect_in_order = [&](ws_client& c) {
    for (int n = 0; n < frames; ++n) {
      auto m = read_json(c);
      REQUIRE(m["type"] == "signal");
      REQUIRE(m["data"]["n"] == n);
    }
  };
  for (int i = 0; i < pairs; ++i) {
    expect_in_order(*guests[i]);
    expect_in_order(*hosts[i]);
  }
  CHECK(moves() - before >= 1);
  // Relays between moved pairs go on both ways.
  for (int i = 0; i < pairs; ++i) {
    const auto& room = rooms[(i + 1) % pairs];
    guests[i]->send(frame(room, 1000));
    CHECK(read_json(*hosts[(i + 1) % pairs])["data"]["n"] == 1000);
    hosts[(i + 1) % pairs]->send(frame(room, 2000));
    CHECK(read_json(*guests[i])["data"]["n"] == 2000);
  }
}

TEST_CASE("through the load balancer, host and guest land on different nodes and still share a room") {
  local_cluster lc;
  auto p = pair_in_room{lc.lb_port(), lc.lb_port()};
  // Which node holds which connection: ask each node directly.
  std::vector<std::string> holders;
  REQUIRE(eventually([&] {
    holders.clear();
    for (auto& [name, node] : lc.nodes())
      if (ping(node.second)["nodeClientsConnected"] == 1)
        holders.push_back(name);
    return holders.size() == 2;
  }));
  MESSAGE("host and guest are on " << holders[0] << " and " << holders[1]);
  std::string s = json{{"type", "signal"}, {"roomId", p.room}, {"sdp", "via haproxy"}}.dump();
  p.host.send(s);
  CHECK(p.guest.read_text() == s);
  auto pids = lc.pids();
  p.host.close();
  p.guest.close();
  auto out = lc.down();
  CHECK(out.find("local cluster: down") != std::string::npos);
  for (int pid : pids) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_s, comm, state;
    bool running = static_cast<bool>(stat >> pid_s >> comm >> state) && state != "Z";
    CHECK_MESSAGE(!running, "process " << pid << " (" << comm << ") is still running after down");
  }
}

// Issue 17: the per-address join-miss budget behind the balancer. HAProxy
// (deploy/haproxy) sends X-Forwarded-For and deploy/local-cluster.sh sets
// TRUSTED_PROXIES to it, so every node counts the client's own loopback
// address (127.0.0.2, 127.0.0.3, ...), not the balancer's. One node's budget
// is JOIN_MISSES_PER_IP; the scanner sends four times that, on connections
// the balancer spreads over both nodes.
namespace {

constexpr int miss_budget = 10; // JOIN_MISSES_PER_IP in these tests: one node's budget

struct scan_result {
  int misses = 0;  // room-unavailable: a lookup the scanner got
  int limited = 0; // rate-limited: refused without a lookup
  std::map<std::string, double> answered; // node -> room-unavailable + rate-limited it sent
  bool throttled_everywhere = false;      // a last guess on every connection: rate-limited
};

double guess_answers(std::uint16_t node_port) {
  auto m = parse_prometheus(http_request(node_port, "GET", "/metrics").body);
  return m["signal_errors_total{code=\"room-unavailable\"}"] + m["signal_errors_total{code=\"rate-limited\"}"];
}

// `guesses` join-room with random six-digit codes from `address`, in turn on
// four connections through the balancer, each guess answered before the next.
// Each connection also sends an X-Forwarded-For of its own choosing: the
// balancer's entry, appended to its right, is the one a node believes.
scan_result scan(local_cluster& lc, const std::string& address, int guesses) {
  scan_result r;
  std::map<std::string, double> before;
  for (auto& [name, node] : lc.nodes())
    before[name] = guess_answers(node.second);
  std::vector<ws_client> conns(4);
  for (std::size_t i = 0; i < conns.size(); ++i)
    conns[i].from(address).connect(lc.lb_port(), {{"X-Forwarded-For", "203.0.113." + std::to_string(i + 1)}});
  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> code{100000, 999999};
  auto guess = [&](ws_client& c) {
    join(c, std::to_string(code(rng)));
    auto m = read_json(c);
    REQUIRE(m["type"] == "error");
    return m["code"].get<std::string>();
  };
  for (int g = 0; g < guesses; ++g) {
    auto answer = guess(conns[static_cast<std::size_t>(g) % conns.size()]);
    CHECK_MESSAGE((answer == "room-unavailable" || answer == "rate-limited"), "answer: " << answer);
    (answer == "room-unavailable" ? r.misses : r.limited) += 1;
  }
  r.throttled_everywhere = true;
  for (auto& c : conns)
    r.throttled_everywhere = guess(c) == "rate-limited" && r.throttled_everywhere;
  for (auto& [name, node] : lc.nodes())
    r.answered[name] = guess_answers(node.second) - before[name];
  MESSAGE(address << ": " << r.misses << " room-unavailable, " << r.limited << " rate-limited; answered by node: "
                  << r.answered.begin()->first << " " << r.answered.begin()->second << ", "
                  << r.answered.rbegin()->first << " " << r.answered.rbegin()->second);
  return r;
}

env_map scan_settings() {
  // No delay between one connection's misses: the scan takes a second, not minutes.
  return {{"JOIN_MISSES_PER_IP", std::to_string(miss_budget)}, {"JOIN_MISS_DELAY_MS", "0"}};
}

} // namespace

TEST_CASE("through the balancer, one address guessing room codes is throttled on every node while other addresses keep creating and joining rooms") {
  local_cluster lc{scan_settings(), 2};
  auto r = scan(lc, "127.0.0.2", 4 * miss_budget);
  for (auto& [name, answered] : r.answered)
    REQUIRE_MESSAGE(answered > 0, name << " answered none of the guesses: the balancer did not spread them");
  CHECK(r.misses >= miss_budget);
  // At most one budget per node (+ 1 each: the refill, a budget a minute, during the scan).
  CHECK(r.misses <= 2 * (miss_budget + 1));
  CHECK(r.throttled_everywhere);

  // Other addresses, through the same balancer, meanwhile: rooms are created
  // and joined, on both nodes, and a mistyped code is an honest miss.
  REQUIRE(eventually([&] { // the scanner's connections are gone
    for (auto& [name, node] : lc.nodes())
      if (ping(node.second)["nodeClientsConnected"] != 0)
        return false;
    return true;
  }));
  std::vector<ws_client> clients; // kept open until the nodes have been asked
  for (int i = 0; i < 4; ++i) {
    ws_client host, guest;
    host.from("127.0.0." + std::to_string(3 + i)).connect(lc.lb_port());
    guest.from("127.0.0." + std::to_string(13 + i)).connect(lc.lb_port());
    auto room = create_room(host);
    join(guest, room);
    CHECK(read_json(guest)["type"] == "peer-joined");
    CHECK(read_json(host)["type"] == "peer-joined");
    std::string s = json{{"type", "signal"}, {"roomId", room}, {"sdp", "from " + std::to_string(i)}}.dump();
    host.send(s);
    CHECK(guest.read_text() == s);
    clients.push_back(std::move(host));
    clients.push_back(std::move(guest));
  }
  for (auto& [name, node] : lc.nodes())
    CHECK_MESSAGE(ping(node.second)["nodeClientsConnected"].get<int>() > 0, name << " took none of the other addresses' clients");
  ws_client typo;
  typo.from("127.0.0.30").connect(lc.lb_port());
  join(typo, "100000");
  expect_error(typo, "room-unavailable");
  // The scanner's address is refused even the right code: the budget is the address's.
  ws_client host, scanner;
  host.from("127.0.0.31").connect(lc.lb_port());
  auto room = create_room(host);
  scanner.from("127.0.0.2").connect(lc.lb_port());
  join(scanner, room);
  expect_error(scanner, "rate-limited");
}

// One budget for the whole cluster: kept in Redis (cluster/scripts/
// addr_misses.lua), read before every join and resume, spent on every miss.
// With a budget per node the scanner would get up to one per node.
TEST_CASE("through the balancer, an address's join misses are one budget for the whole cluster, not one per node") {
  local_cluster lc{scan_settings(), 2};
  auto r = scan(lc, "127.0.0.2", 4 * miss_budget);
  for (auto& [name, answered] : r.answered)
    REQUIRE(answered > 0);
  CHECK(r.throttled_everywhere);
  CHECK(r.misses >= miss_budget);
  CHECK(r.misses <= miss_budget + 1); // + 1: a refill during the scan
}

namespace {

// How many of `n` upgrades from `address` through the balancer are let in
// (the rest must be refused 429); the open ones are added to `open`.
int connect_from(local_cluster& lc, const std::string& address, int n, std::vector<ws_client>& open) {
  int in = 0;
  for (int i = 0; i < n; ++i) {
    ws_client c;
    c.from(address);
    auto status = c.try_connect(lc.lb_port());
    if (status == 101) {
      ++in;
      open.push_back(std::move(c));
    } else {
      CHECK(status == 429);
    }
  }
  return in;
}

} // namespace

TEST_CASE("through the balancer, MAX_CONNECTIONS_PER_IP holds for the whole cluster, and a dead node's part is given back") {
  constexpr int cap = 4;
  local_cluster lc{{{"MAX_CONNECTIONS_PER_IP", std::to_string(cap)}}, 2};
  std::vector<ws_client> open;
  // leastconn spreads them over both nodes; the cluster lets in `cap`, not `cap` per node.
  CHECK(connect_from(lc, "127.0.0.2", 3 * cap, open) == cap);
  std::map<std::string, int> held;
  CHECK_MESSAGE(eventually([&] {
    int all = 0;
    for (auto& [name, node] : lc.nodes())
      all += held[name] = ping(node.second)["nodeClientsConnected"].get<int>();
    return all == cap;
  }), "the nodes never reported the address's connections");
  for (auto& [name, n] : held)
    CHECK_MESSAGE(n > 0, name << " holds none of the address's connections: the test would not show a cluster-wide count");
  // Another address is not affected.
  std::vector<ws_client> others;
  CHECK(connect_from(lc, "127.0.0.3", cap, others) == cap);
  others.clear();
  // A closed connection is given back, cluster-wide.
  open.pop_back();
  CHECK(eventually([&] { return connect_from(lc, "127.0.0.2", 1, open) == 1; }));
  CHECK(connect_from(lc, "127.0.0.2", 1, open) == 0);
  // A node killed with some of them: once it is reaped its part is given back.
  auto victim = lc.nodes().begin();
  auto survivor = std::next(lc.nodes().begin());
  REQUIRE(eventually([&] { // only the scanner's address is left
    int all = 0;
    for (auto& [name, node] : lc.nodes())
      all += ping(node.second)["nodeClientsConnected"].get<int>();
    return all == static_cast<int>(open.size());
  }));
  int victim_held = ping(victim->second.second)["nodeClientsConnected"].get<int>();
  REQUIRE(victim_held > 0);
  ::kill(victim->second.first, SIGKILL);
  std::vector<ws_client> after;
  CHECK(eventually(
    [&] {
      ws_client c; // refused 429 until the reap, or by the balancer while it still tries the dead node
      if (c.from("127.0.0.2").try_connect(lc.lb_port()) == 101)
        after.push_back(std::move(c));
      return static_cast<int>(after.size()) >= victim_held;
    },
    30s));
  // ... and no more: the survivor's part still counts.
  CHECK(eventually([&] { return ping(survivor->second.second)["nodeClientsConnected"].get<int>() == cap; }));
  CHECK(connect_from(lc, "127.0.0.2", 1, after) == 0);
}

TEST_CASE("MAX_CONNECTIONS_PER_IP falls back to each node's own count while Redis is away") {
  constexpr int cap = 3;
  redis_process redis;
  node_process a{redis, "node-a", {{"MAX_CONNECTIONS_PER_IP", std::to_string(cap)}}};
  node_process b{redis, "node-b", {{"MAX_CONNECTIONS_PER_IP", std::to_string(cap)}}};
  auto count_in = [](std::uint16_t port, int n, std::vector<ws_client>& open) {
    int in = 0;
    for (int i = 0; i < n; ++i) {
      ws_client c;
      if (c.try_connect(port) == 101) {
        ++in;
        open.push_back(std::move(c));
      }
    }
    return in;
  };
  std::vector<ws_client> open;
  CHECK(count_in(a.port(), 2, open) == 2);
  CHECK(count_in(b.port(), cap, open) == 1); // the cluster's count: 2 on a, 1 more on b
  open.clear();
  REQUIRE(eventually([&] { // given back
    std::vector<ws_client> again; // closed at once if not all got in: they would be counted next time
    return count_in(b.port(), cap, again) == cap;
  }));
  REQUIRE(eventually([&] { // and closed on both nodes, so each node's own count starts from 0
    return ping(a.port())["nodeClientsConnected"] == 0 && ping(b.port())["nodeClientsConnected"] == 0;
  }));
  redis.stop();
  REQUIRE(eventually([&] { return ping(a.port())["redis"] == "down" && ping(b.port())["redis"] == "down"; }));
  // Each node admits up to its own cap: the fallback never lets one address past it.
  CHECK(count_in(a.port(), cap + 2, open) == cap);
  CHECK(count_in(b.port(), cap + 2, open) == cap);
}

TEST_CASE("the demo client is served at / and can be turned off, /api/ice-servers answers with CORS") {
  single_node net{{{"WEB_DIR", SIGNAL_SOURCE_DIR "/web"}, {"FRONTEND_URL", "https://app.example"},
                   {"STUN_URLS", "stun:127.0.0.1:3478"}}};
  auto index = http_request(net.host_port(), "GET", "/");
  CHECK(index.status == 200);
  CHECK(index.header("content-type") == "text/html; charset=utf-8");
  CHECK(index.body.find("<script src=\"app.js\">") != std::string::npos);
  auto js = http_request(net.host_port(), "GET", "/app.js");
  CHECK(js.status == 200);
  CHECK(js.header("content-type") == "text/javascript; charset=utf-8");
  CHECK(http_request(net.host_port(), "GET", "/../CMakeLists.txt").status == 404);
  CHECK(http_request(net.host_port(), "GET", "/nothing.js").status == 404);

  auto ice = http_request(net.host_port(), "GET", "/api/ice-servers", {{"Origin", "https://app.example"}});
  CHECK(ice.status == 200);
  CHECK(ice.header("access-control-allow-origin") == "https://app.example");
  CHECK(ice.header("cache-control") == "no-store");
  CHECK(json::parse(ice.body)["iceServers"][0]["urls"][0] == "stun:127.0.0.1:3478");

  single_node off{{{"WEB_DIR", ""}}};
  CHECK(http_request(off.host_port(), "GET", "/").status == 404);
}

TEST_CASE("AUTH_MODE=jwt: a valid token connects, missing, expired, early, forged, wrong-audience and alg-none get 401") {
  const std::string secret = "backend-secret-0123456789";
  single_node net{{{"AUTH_MODE", "jwt"}, {"AUTH_JWT_SECRET", secret}, {"AUTH_JWT_AUDIENCE", "signal"}}};
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto token = [&](const std::string& extra, const std::string& key) {
    return signaling::jwt::sign(R"({"aud":"signal","exp":)" + std::to_string(now + 600) + extra + "}", key);
  };
  auto port = net.host_port();
  auto with_query = [&](const std::string& t) {
    // The token in the query, as browsers must send it.
    ws_client c;
    return c.try_connect(port, {}, "/?token=" + t);
  };
  CHECK(with_query(token("", secret)) == 101);
  CHECK(ws_client{}.try_connect(port, {{"Authorization", "Bearer " + token("", secret)}}) == 101);
  CHECK(ws_client{}.try_connect(port) == 401);
  CHECK(with_query(token("", "not-the-backend-secret")) == 401);
  CHECK(with_query(signaling::jwt::sign(R"({"aud":"signal","exp":)" + std::to_string(now - 600) + "}", secret)) == 401);
  CHECK(with_query(token(R"(,"nbf":)" + std::to_string(now + 600), secret)) == 401);
  CHECK(with_query(signaling::jwt::sign(R"({"aud":"other","exp":)" + std::to_string(now + 600) + "}", secret)) == 401);
  CHECK(with_query("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJzaWduYWwiLCJleHAiOjQxMDI0NDQ4MDB9.") == 401);
  // The refusal carries the standard header and a reason, never the token.
  auto r = http_request(port, "GET", "/", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"},
                                          {"Sec-WebSocket-Version", "13"}, {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate").rfind("Bearer", 0) == 0);
  // Health and ping stay open.
  CHECK(http_request(port, "GET", "/api/ping").status == 200);
}

TEST_CASE("AUTH_MODE=jwt: a token bound to a room may join only that room and may not create") {
  const std::string secret = "backend-secret-0123456789";
  single_node net{{{"AUTH_MODE", "jwt"}, {"AUTH_JWT_SECRET", secret}}};
  auto exp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count() + 600);
  ws_client host;
  host.connect(net.host_port(), {{"Authorization", "Bearer " + signaling::jwt::sign(R"({"exp":)" + exp + R"(,"create":true})", secret)}});
  auto room = create_room(host);
  ws_client other_host;
  other_host.connect(net.host_port(), {{"Authorization", "Bearer " + signaling::jwt::sign(R"({"exp":)" + exp + "}", secret)}});
  auto other_room = create_room(other_host);

  ws_client guest;
  guest.connect(net.host_port(),
                {{"Authorization", "Bearer " + signaling::jwt::sign(R"({"exp":)" + exp + R"(,"roomId":")" + room + "\"}", secret)}});
  guest.send(R"({"type":"create-room"})");
  expect_error(guest, "forbidden");
  join(guest, other_room);
  expect_error(guest, "forbidden");
  join(guest, room);
  CHECK(read_json(guest)["type"] == "peer-joined");
  CHECK(read_json(host)["type"] == "peer-joined");
}

TEST_CASE("TLS at the load balancer: wss:// clients share a room across nodes, plaintext to the TLS port fails cleanly") {
  local_cluster lc{{{"LB_TLS", "1"}}};
  auto ca = lc.dir() + "/tls/cert.pem";
  tls_ws_client host, guest;
  host.connect(lc.lb_port(), ca);
  guest.connect(lc.lb_port(), ca);
  MESSAGE("negotiated " << host.tls_version());
  host.send(R"({"type":"create-room"})");
  auto room = json::parse(host.read_text())["roomId"].get<std::string>();
  guest.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
  CHECK(json::parse(guest.read_text())["type"] == "peer-joined");
  CHECK(json::parse(host.read_text())["type"] == "peer-joined");
  std::string s = json{{"type", "signal"}, {"roomId", room}, {"sdp", "over TLS"}}.dump();
  host.send(s);
  CHECK(guest.read_text() == s);
  // A plaintext WebSocket to the TLS port is not answered as WebSocket.
  ws_client plain;
  int status = 0;
  try {
    status = plain.try_connect(lc.lb_port());
  } catch (const std::exception&) {
    status = -1;
  }
  CHECK(status != 101);
}

// Issue #9, acceptance 2. Every member sends numbered signals all along; a
// member whose node drains sees 1012, comes back through the balancer with
// its resume token, sends again what the server had not taken (`acked`), and
// at the end each member must have received exactly what its peer sent, in
// order: through the old connection before the close, kept while it moved,
// and through the new one.
TEST_CASE("drain through the load balancer: every client of the drained node resumes on another node, no signal lost") {
  local_cluster lc{{{"DRAIN_DELAY_MS", "3000"}}};
  struct member {
    ws_client c;
    std::string room, token;
    int peer = 0;         // index of its peer in `members`
    int sent = 0;         // signals sent (numbered 0..sent-1)
    std::vector<int> got; // numbers received from the peer, in order
    bool open = true;
    bool moved = false;   // closed 1012 and resumed
  };
  std::vector<member> members(8);
  for (std::size_t i = 0; i < members.size(); i += 2) {
    resumable_pair p{lc.lb_port(), lc.lb_port()};
    members[i].c = std::move(p.host);
    members[i].token = p.host_token;
    members[i + 1].c = std::move(p.guest);
    members[i + 1].token = p.guest_token;
    members[i].room = members[i + 1].room = p.room;
    members[i].peer = static_cast<int>(i + 1);
    members[i + 1].peer = static_cast<int>(i);
  }
  // Drain the node holding the most of them.
  std::string victim;
  int most = 0;
  for (auto& [name, node] : lc.nodes()) {
    int n = ping(node.second)["nodeClientsConnected"].get<int>();
    if (n > most) {
      most = n;
      victim = name;
    }
  }
  REQUIRE(most > 0);
  MESSAGE("draining " << victim << ", which holds " << most << " of the 8 clients");
  REQUIRE(::kill(lc.nodes().at(victim).first, SIGTERM) == 0);

  auto handle = [&](member& m, const json& f) {
    auto type = f["type"].get<std::string>();
    if (type == "signal")
      m.got.push_back(f["n"].get<int>());
    else
      CHECK_MESSAGE((type == "peer-disconnected" || type == "peer-resumed"), "unexpected: " << f.dump());
  };
  auto send_one = [&](member& m) {
    try {
      m.c.send(json{{"type", "signal"}, {"roomId", m.room}, {"n", m.sent}}.dump());
      ++m.sent;
    } catch (const std::exception&) {
      // The socket was already gone: not sent, not counted.
    }
  };
  int closed = 0;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  bool settled = false; // every drained client is back
  auto quiet_after = deadline;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& m : members) {
      if (m.open && std::chrono::steady_clock::now() < quiet_after)
        send_one(m);
      for (;;) {
        auto ev = m.c.read(m.open ? 20ms : 1ms);
        if (ev.kind == ws_event::text) {
          handle(m, json::parse(ev.data));
          continue;
        }
        CHECK_MESSAGE((ev.kind != ws_event::error || !m.open), "read failed: " << ev.data);
        if (ev.kind == ws_event::closed && m.open) {
          CHECK(ev.code == 1012);
          m.open = false;
          ++closed;
        }
        break;
      }
      if (m.open || m.moved)
        continue;
      // Back through the balancer (which may still answer 503 for a moment).
      ws_client back;
      json r;
      bool ok = eventually([&] {
        try {
          back = ws_client{};
          back.connect(lc.lb_port());
          back.send(resume_msg(m.room, m.token));
          r = read_json(back);
          return r["type"] == "resumed";
        } catch (const std::exception&) {
          return false;
        }
      }, 10s);
      REQUIRE_MESSAGE(ok, "could not resume: " << r.dump());
      m.c = std::move(back);
      m.token = r["resumeToken"].get<std::string>();
      // What the server took before the move; the rest is sent again.
      REQUIRE(r.contains("acked"));
      CHECK(r["acked"].get<int>() <= m.sent);
      m.sent = r["acked"].get<int>();
      m.open = true;
      m.moved = true;
      for (int k = 0; k < r["pending"].get<int>(); ++k)
        handle(m, read_json(m.c));
    }
    bool all_moved = closed == most && std::all_of(members.begin(), members.end(),
                                                   [](const member& m) { return m.open; });
    if (all_moved && !settled) {
      settled = true;
      quiet_after = std::chrono::steady_clock::now() + 500ms; // a few more rounds, then stop sending
    }
    // Sending has stopped: done once every member holds all its peer sent.
    if (settled && std::chrono::steady_clock::now() >= quiet_after &&
        std::all_of(members.begin(), members.end(),
                    [&](const member& m) { return m.got.size() >= static_cast<std::size_t>(members[m.peer].sent); }))
      break;
  }
  CHECK(closed == most);
  int pid = lc.nodes().at(victim).first;
  CHECK(eventually([&] { return !process_running(pid); }, 15s));
  for (auto& m : members) {
    auto& p = members[m.peer];
    std::vector<int> want(p.sent);
    std::iota(want.begin(), want.end(), 0);
    std::string got;
    for (int n : m.got)
      got += std::to_string(n) + " ";
    CHECK_MESSAGE(m.got == want, "room " << m.room << ": peer sent " << p.sent << ", received " << got
                                         << std::string(m.moved ? " (moved)" : "")
                                         << std::string(p.moved ? " (peer moved)" : ""));
  }
  int moved = static_cast<int>(std::count_if(members.begin(), members.end(), [](const member& m) { return m.moved; }));
  MESSAGE(moved << " clients moved; signals per member: " << members[0].sent << ", " << members[1].sent << ", ...");
}
