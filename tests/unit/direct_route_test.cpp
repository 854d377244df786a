// The order of cross-node frames across the direct path's switches
// (cluster/direct_route.hpp), against a model of Redis: commands run in the
// order they were sent on one connection, a PUBLISH reaches its channel's
// listener if there is one at that moment, SEAT_FRAMES always delivers or
// keeps, answers come back in order, and a seat channel, once given up, is
// never listened on again.
#include "cluster/direct_route.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

using signaling::cluster::direct_route;

namespace {

struct model {
  struct command {
    bool direct;
    std::string channel, envelope;
  };
  std::deque<command> sent;   // on the wire to Redis, in order
  // Direct sends' answers on their way back, each with its envelope (the
  // link gives it back with the answer).
  std::deque<std::pair<bool, std::string>> answers;
  std::set<std::string> listening;
  std::vector<std::string> arrived; // what reached the seat (published or kept), in Redis's order
  std::vector<int> tags;            // the tag of each scripted send, in order
  direct_route<int> route{
    [this](const direct_route<int>::channel& ch, std::string env) { sent.push_back({true, (*ch)[1], std::move(env)}); },
    [this](std::string env, const int& tag, bool) {
      tags.push_back(tag);
      sent.push_back({false, "", std::move(env)});
    }};

  static direct_route<int>::channel chan(const std::string& name) {
    return std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"PUBLISH", name});
  }
  // Redis runs the oldest command sent.
  bool run() {
    if (sent.empty())
      return false;
    auto c = std::move(sent.front());
    sent.pop_front();
    if (!c.direct) {
      arrived.push_back(c.envelope);
      return true;
    }
    bool heard = listening.count(c.channel) > 0;
    if (heard)
      arrived.push_back(c.envelope);
    answers.push_back({heard, c.envelope});
    return true;
  }
  // The oldest answer reaches the route.
  bool answer() {
    if (answers.empty())
      return false;
    auto [heard, env] = std::move(answers.front());
    answers.pop_front();
    route.heard(heard ? direct_route<int>::answer::heard : direct_route<int>::answer::unheard, std::move(env));
    return true;
  }
  void drain() {
    while (run() || answer()) {
    }
  }
};

std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i)
    v.push_back("f" + std::to_string(i));
  return v;
}

} // namespace

TEST_CASE("without a channel every frame takes SEAT_FRAMES, with one it is one PUBLISH") {
  model m;
  for (int i = 0; i < 3; ++i)
    m.route.frame("f" + std::to_string(i), i);
  m.drain();
  m.listening.insert("seat-1");
  m.route.open(model::chan("seat-1"));
  CHECK(m.route.direct());
  for (int i = 3; i < 6; ++i)
    m.route.frame("f" + std::to_string(i), i);
  m.drain();
  CHECK(m.arrived == numbered(0, 6));
  auto t = m.route.totals();
  CHECK(t.scripted == 3);
  CHECK(t.direct == 3);
  CHECK(t.resent == 0);
}

TEST_CASE("a channel that loses its listener with frames in flight: each is sent again, later ones wait behind") {
  model m;
  m.listening.insert("seat-1");
  m.route.open(model::chan("seat-1"));
  for (int i = 0; i < 5; ++i)
    m.route.frame("f" + std::to_string(i), i);
  m.run(); // f0 reaches the member
  m.run(); // f1 too
  m.listening.erase("seat-1"); // its node stopped listening (the member was lost)
  m.run();                     // f2..f4: nobody hears them
  m.run();
  m.run();
  m.answer(); // f0 heard
  m.answer(); // f1 heard
  m.answer(); // f2 not: sent again; the route is off the channel now
  CHECK_FALSE(m.route.direct());
  m.route.frame("f5", 5); // made now: must not overtake f3 and f4
  m.route.frame("f6", 6);
  m.drain();
  CHECK(m.arrived == numbered(0, 7));
  auto t = m.route.totals();
  CHECK(t.direct == 5);
  CHECK(t.resent == 3);
  CHECK(t.scripted == 5); // f2, f3, f4 again, f5, f6
  CHECK(m.tags == std::vector<int>{2, 3, 4, 5, 6});
}

TEST_CASE("a channel that went unheard is not taken again, even if its node announces it late") {
  model m;
  m.listening.insert("seat-1");
  m.route.open(model::chan("seat-1"));
  m.listening.erase("seat-1");
  m.route.frame("f0", 0);
  m.drain();
  m.route.open(model::chan("seat-1"));
  CHECK_FALSE(m.route.direct());
  m.route.frame("f1", 1);
  m.drain();
  CHECK(m.arrived == numbered(0, 2));
  CHECK(m.route.totals().direct == 1);
}

TEST_CASE("the seat moves to a new channel while frames are in flight to the old one: the new one waits for them") {
  model m;
  m.listening.insert("seat-1");
  m.route.open(model::chan("seat-1"));
  m.route.frame("f0", 0);
  m.route.frame("f1", 1);
  // The member is lost (its node stops listening, parks) and resumes on
  // another node, which listens on its new channel and says so, before the
  // answers to f0 and f1 are back.
  m.listening.erase("seat-1");
  m.listening.insert("seat-2");
  m.route.close();
  m.route.open(model::chan("seat-2"));
  CHECK_FALSE(m.route.direct()); // not while f0, f1 are unanswered
  m.route.frame("f2", 2);        // waits
  m.drain();
  CHECK(m.route.direct());
  m.route.frame("f3", 3);
  m.drain();
  CHECK(m.arrived == numbered(0, 4));
  auto t = m.route.totals();
  CHECK(t.resent == 2);
  CHECK(t.direct == 3); // f0, f1 to the old channel, f3 to the new one
}

TEST_CASE("a direct send without an answer is reported failed, not sent again, and the channel is not taken again") {
  std::vector<int> failed;
  std::vector<std::string> scripted;
  int direct = 0;
  direct_route<int> route{[&](const direct_route<int>::channel&, std::string) { ++direct; },
                          [&](std::string env, const int&, bool) { scripted.push_back(env); },
                          [&](const int& tag) { failed.push_back(tag); }};
  route.open(model::chan("seat-1"));
  route.frame("f0", 0);
  route.frame("f1", 1);
  route.frame("f2", 2);
  route.heard(direct_route<int>::answer::heard, "f0");
  route.heard(direct_route<int>::answer::failed, ""); // the link dropped: it may have run
  CHECK_FALSE(route.direct());
  route.frame("f3", 3); // waits behind f2
  CHECK(scripted.empty());
  route.heard(direct_route<int>::answer::failed, "");
  CHECK(failed == std::vector<int>{1, 2});
  CHECK(scripted == std::vector<std::string>{"f3"});
  route.open(model::chan("seat-1"));
  CHECK_FALSE(route.direct());
  CHECK(direct == 3);
  CHECK(route.totals().failed == 2);
  CHECK(route.totals().resent == 0);
}

TEST_CASE("close: frames go through SEAT_FRAMES from then on, those in flight are answered as they come") {
  model m;
  m.listening.insert("seat-1");
  m.route.open(model::chan("seat-1"));
  m.route.frame("f0", 0);
  m.route.close(); // its node said the seat is parked
  m.route.frame("f1", 1);
  m.drain(); // f0 was still heard: its node stopped listening only later
  CHECK(m.arrived == numbered(0, 2));
  CHECK(m.route.totals().direct == 1);
  CHECK(m.route.totals().scripted == 1);
}

TEST_CASE("any interleaving of frames, Redis's steps, answers, lost listeners and new channels keeps the order") {
  for (unsigned seed = 1; seed <= 2000; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng{seed};
    model m;
    int made = 0, next_channel = 0;
    std::string current; // the channel the seat's node listens on now, if any
    for (int step = 0; step < 80; ++step) {
      switch (rng() % 8) {
        case 0:
        case 1:
        case 2: m.route.frame("f" + std::to_string(made), made), ++made; break;
        case 3: m.run(); break;
        case 4: m.answer(); break;
        case 5: // the member is lost: its node stops listening (then parks)
          if (!current.empty()) {
            m.listening.erase(current);
            current.clear();
            if (rng() % 2)
              m.route.close(); // ...and the park's D reached us
          }
          break;
        case 6: // it listens on a new channel (joined, resumed) and says so
          if (current.empty()) {
            current = "seat-" + std::to_string(++next_channel);
            m.listening.insert(current);
            m.route.open(model::chan(current));
          }
          break;
        case 7: // a late or repeated announcement of a channel seen before
          if (next_channel > 0)
            m.route.open(model::chan("seat-" + std::to_string(1 + rng() % next_channel)));
          break;
      }
    }
    m.drain();
    REQUIRE(m.arrived == numbered(0, made));
  }
}
