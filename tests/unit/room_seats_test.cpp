// The seat and room rules (actors/room_seats.hpp) on their own: no CAF, no
// actors; an int stands for a member's connection.
#include "actors/room_seats.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>

using namespace signaling;

namespace {

using seats = room_seats<int>;
constexpr int host = 1, guest = 2, stranger = 3;

seats paired() {
  seats s;
  s.seat_here(seat_role::host, host, "host-token", 100);
  s.seat_here(seat_role::guest, guest, "guest-token", 200);
  return s;
}

} // namespace

TEST_CASE("a guest may take the free seat of an open room whose host is here, never the host itself") {
  seats s;
  CHECK_FALSE(s.may_seat_guest(&guest)); // no host yet
  s.seat_here(seat_role::host, host, "t", 1);
  CHECK(s.may_seat_guest(&guest));
  CHECK(s.may_seat_guest(nullptr)); // a guest announced from another node
  CHECK_FALSE(s.may_seat_guest(&host));
  s.seat_here(seat_role::guest, guest, "t", 2);
  CHECK_FALSE(s.may_seat_guest(&stranger)); // full
}

TEST_CASE("no guest is seated while the room is joining, resuming or ended, nor when the host is not here") {
  for (auto phase : {room_phase::joining, room_phase::resuming}) {
    seats s{phase};
    s.seat_here(seat_role::host, host, "t", 1);
    CHECK_FALSE(s.may_seat_guest(&guest));
  }
  seats away;
  away.seat_away(seat_role::host, "node-b", "conn", 1);
  CHECK_FALSE(away.may_seat_guest(&guest));
  auto ended = paired();
  ended.end();
  CHECK(ended.ended());
  ended.at(seat_role::guest) = {};
  CHECK_FALSE(ended.may_seat_guest(&guest));
}

TEST_CASE("a lost member parks its seat when resume is on, else (or before the room is open) the room ends") {
  auto s = paired();
  CHECK(s.on_lost(host, true) == lost_effect::park);
  CHECK(s.on_lost(guest, false) == lost_effect::end_room);
  CHECK(s.on_lost(stranger, true) == lost_effect::ignore);
  seats joining{room_phase::joining};
  joining.seat_here(seat_role::guest, guest, "t", 1);
  CHECK(joining.on_lost(guest, true) == lost_effect::end_room);
  // A drain waits for its connection's count: a loss meanwhile parks the
  // seat with the loss's count, as that answer will not come.
  s.at(seat_role::guest).freezing = true;
  CHECK(s.on_lost(guest, true) == lost_effect::park);
}

TEST_CASE("a parked seat keeps its token and count, and only its token brings it back, here, with a new one") {
  auto s = paired();
  s.park(seat_role::guest, 7);
  auto& g = s.at(seat_role::guest);
  CHECK(g.state == seat_state::parked);
  CHECK(g.acked == 7);
  CHECK_FALSE(s.role_of(guest)); // no longer seated here
  CHECK_FALSE(s.parked_with_token(""));
  CHECK_FALSE(s.parked_with_token("host-token")); // the host is not parked
  CHECK_FALSE(s.parked_with_token("wrong"));
  REQUIRE(s.parked_with_token("guest-token") == seat_role::guest);
  s.resume_here(seat_role::guest, stranger, "new-token", 300);
  CHECK(s.role_of(stranger) == seat_role::guest);
  CHECK(g.token == "new-token");
  CHECK(g.acked == -1);
  CHECK_FALSE(s.parked_with_token("guest-token")); // the old token is spent
}

TEST_CASE("a resume with the token of a seat still here, from another connection, names that seat to wait for") {
  auto s = paired();
  constexpr int fresh = 4;
  CHECK(s.here_with_token("guest-token", fresh) == seat_role::guest);
  CHECK(s.here_with_token("host-token", fresh) == seat_role::host);
  CHECK_FALSE(s.here_with_token("guest-token", guest)); // its own connection: nothing to wait for
  CHECK_FALSE(s.here_with_token("wrong", fresh));
  CHECK_FALSE(s.here_with_token("", fresh));
  s.park(seat_role::guest, 3); // the loss came: now a plain resume of a parked seat
  CHECK_FALSE(s.here_with_token("guest-token", fresh));
  CHECK(s.parked_with_token("guest-token") == seat_role::guest);
  s.end();
  CHECK_FALSE(s.here_with_token("host-token", fresh));
}

TEST_CASE("a member's frames go to the other member here, to a stand-in while it is parked or away, nowhere when free") {
  seats s;
  s.seat_here(seat_role::host, host, "t", 1);
  CHECK(s.peer_of(seat_role::host) == peer_kind::none);
  s.seat_here(seat_role::guest, guest, "t", 2);
  CHECK(s.peer_of(seat_role::host) == peer_kind::member);
  CHECK(s.peer_connected(seat_role::host));
  s.park(seat_role::guest, 0);
  CHECK(s.peer_of(seat_role::host) == peer_kind::stand_in);
  CHECK_FALSE(s.peer_connected(seat_role::host));
  s.seat_away(seat_role::guest, "node-b", "conn-b", 3);
  CHECK(s.peer_of(seat_role::host) == peer_kind::stand_in);
  CHECK(s.peer_connected(seat_role::host));
}

TEST_CASE("a seat on another node parks only on news from the node that holds it, and resumes away") {
  seats s;
  s.seat_here(seat_role::host, host, "t", 1);
  s.seat_away(seat_role::guest, "node-b", "conn-b", 2);
  CHECK_FALSE(s.park_away(seat_role::guest, "node-c")); // stale news from elsewhere
  CHECK_FALSE(s.park_away(seat_role::host, "node-b"));  // the host is here
  CHECK(s.park_away(seat_role::guest, "node-b"));
  CHECK(s.at(seat_role::guest).state == seat_state::parked);
  CHECK(s.at(seat_role::guest).node.empty());
  auto r = s.resume_away("node-c", "conn-c", 3);
  REQUIRE(r == seat_role::guest);
  CHECK(s.at(seat_role::guest).state == seat_state::away);
  CHECK(s.at(seat_role::guest).node == "node-c");
  CHECK_FALSE(s.resume_away("node-d", "conn-d", 4)); // nothing parked any more
}

TEST_CASE("a join its host's node never heard of frees the guest seat and leaves the room waiting for a resume") {
  seats s{room_phase::joining};
  s.seat_here(seat_role::guest, guest, "guest-token", 1);
  s.seat_away(seat_role::host, "node-a", "conn-a", 0);
  s.join_failed();
  CHECK(s.phase() == room_phase::resuming);
  CHECK_FALSE(s.at(seat_role::guest).taken());
  CHECK_FALSE(s.role_of(guest));
  CHECK(s.on_lost(guest, true) == lost_effect::ignore); // no longer a member
  // The host's resume here opens the room, and then a guest may join it.
  s.resume_here(seat_role::host, host, "new-token", 2);
  s.open();
  CHECK(s.phase() == room_phase::open);
  CHECK(s.may_seat_guest(&stranger));
}

TEST_CASE("the room is settled while no park waits for its fence and no drain for a connection") {
  auto s = paired();
  CHECK(s.settled());
  s.at(seat_role::host).fencing = true;
  CHECK_FALSE(s.settled());
  s.at(seat_role::host).fencing = false;
  s.at(seat_role::guest).freezing = true;
  CHECK_FALSE(s.settled());
}

TEST_CASE("the console names the room's state from its seats and phase") {
  seats s;
  s.seat_here(seat_role::host, host, "t", 1);
  CHECK(std::string(s.state_name()) == "waiting");
  s.seat_here(seat_role::guest, guest, "t", 2);
  CHECK(std::string(s.state_name()) == "paired");
  s.park(seat_role::guest, 0);
  CHECK(std::string(s.state_name()) == "parked");
  CHECK(std::string(seats{room_phase::joining}.state_name()) == "joining");
  CHECK(std::string(seats{room_phase::resuming}.state_name()) == "resuming");
  s.end();
  CHECK(std::string(s.state_name()) == "ended");
}

TEST_CASE("frames kept for a parked seat are bounded by count and bytes, the oldest dropped and counted") {
  kept_frames k{3, 10};
  CHECK(k.size() == 0);
  for (auto text : {"aa", "bb", "cc", "dd"})
    k.push(std::make_shared<const std::string>(text));
  CHECK(k.size() == 3); // "aa" dropped for count
  CHECK(k.dropped() == 1);
  k.push(std::make_shared<const std::string>("eeeeee")); // 2+2+2+6 = 12 > 10: "bb" goes, then 10 fits
  CHECK(k.bytes() == 10);
  CHECK(k.dropped() == 2);
  auto frames = k.take();
  REQUIRE(frames.size() == 3);
  CHECK(frames[0] == "cc");
  CHECK(frames[2] == "eeeeee");
  CHECK(k.size() == 0);
  CHECK(k.dropped() == 0);
}

TEST_CASE("a room's part of the parked-seats gauge follows its seats and goes back with the room") {
  std::atomic<std::int64_t> gauge{5}; // other rooms' parked seats
  {
    auto s = paired();
    parked_share share;
    share.update(s, &gauge);
    CHECK(gauge == 5);
    s.park(seat_role::guest, 0);
    share.update(s, &gauge);
    share.update(s, &gauge); // a call too many changes nothing
    CHECK(gauge == 6);
    s.park(seat_role::host, 0);
    share.update(s, &gauge);
    CHECK(gauge == 7);
    s.resume_here(seat_role::host, host, "new", 300);
    share.update(s, &gauge);
    CHECK(gauge == 6);
    s.park(seat_role::host, 0);
    share.update(s, &gauge);
    CHECK(gauge == 7);
  } // the room goes with two seats parked, never told: its part goes back
  CHECK(gauge == 5);
  auto s = paired();
  parked_share share;
  s.park(seat_role::host, 0);
  share.update(s, &gauge);
  CHECK(gauge == 6);
  s.end(); // an ended room waits for nobody
  share.update(s, &gauge);
  CHECK(gauge == 5);
}
