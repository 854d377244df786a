// Hardening units: who a connection speaks for (TRUSTED_PROXIES,
// X-Forwarded-For), the per-address connection count, the hardening
// settings, and regressions found by the fuzzers.
#include "actors/join_miss_budget.hpp"
#include "actors/protocol.hpp"
#include "node/config.hpp"
#include "transport/client_address.hpp"

#include <doctest/doctest.h>

using namespace signaling;
using namespace signaling::transport;
namespace ip = boost::asio::ip;

namespace {

ip::address addr(const char* s) {
  return ip::make_address(s);
}

config load(std::vector<std::string> env) {
  env.push_back("ENV_FILE=/nonexistent");
  std::vector<const char*> envp;
  for (auto& s : env)
    envp.push_back(s.c_str());
  envp.push_back(nullptr);
  const char* argv[] = {"signal-node"};
  return load_config(1, argv, envp.data()).cfg;
}

} // namespace

TEST_CASE("CIDR blocks match their addresses only") {
  auto blocks = parse_cidr_list({"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "0.0.0.0/0"});
  REQUIRE(blocks.size() == 4);
  CHECK(blocks[0].contains(addr("10.255.3.4")));
  CHECK_FALSE(blocks[0].contains(addr("11.0.0.1")));
  CHECK(blocks[1].contains(addr("192.168.1.7")));
  CHECK_FALSE(blocks[1].contains(addr("192.168.1.8")));
  CHECK(blocks[2].contains(addr("2001:db8:ffff::1")));
  CHECK_FALSE(blocks[2].contains(addr("2001:db9::1")));
  CHECK_FALSE(blocks[2].contains(addr("10.0.0.1")));
  CHECK(blocks[3].contains(addr("203.0.113.9")));
  // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
  CHECK(blocks[0].contains(addr("::ffff:10.1.1.1")));
  auto odd = parse_cidr_list({"10.1.2.3/13"});
  CHECK(odd[0].contains(addr("10.7.255.255")));
  CHECK_FALSE(odd[0].contains(addr("10.8.0.0")));
}

TEST_CASE("a bad TRUSTED_PROXIES item is refused at start, naming it") {
  CHECK_THROWS_AS(parse_cidr_list({"10.0.0.0/33"}), std::invalid_argument);
  CHECK_THROWS_AS(parse_cidr_list({"not-a-net"}), std::invalid_argument);
  CHECK_THROWS_AS(parse_cidr_list({"10.0.0.0/"}), std::invalid_argument);
  CHECK_THROWS_AS(parse_cidr_list({"::1/129"}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(load({"TRUSTED_PROXIES=10.0.0.0/8, 300.1.1.1"}), doctest::Contains("300.1.1.1"), config_error);
  auto c = load({"TRUSTED_PROXIES=10.0.0.0/8, ::1", "MAX_CONNECTIONS_PER_IP=50"});
  CHECK(c.lim.trusted_proxies == std::vector<std::string>{"10.0.0.0/8", "::1"});
  CHECK(c.lim.max_connections_per_ip == 50);
}

TEST_CASE("the hardening limits have their documented defaults and settings") {
  auto d = load({});
  CHECK(d.lim.join_timeout == std::chrono::milliseconds(300000));
  CHECK(d.lim.join_misses_before_close == 20);
  CHECK(d.lim.join_miss_delay == std::chrono::milliseconds(1000));
  CHECK(d.lim.max_connections_per_ip == 0);
  CHECK(d.lim.join_misses_per_ip == 60);
  CHECK(d.lim.trusted_proxies.empty());
  auto c = load({"JOIN_TIMEOUT_MS=1500", "JOIN_MISSES_BEFORE_CLOSE=7", "JOIN_MISS_DELAY_MS=0"});
  CHECK(c.lim.join_timeout == std::chrono::milliseconds(1500));
  CHECK(c.lim.join_misses_before_close == 7);
  CHECK(c.lim.join_miss_delay == std::chrono::milliseconds(0));
  CHECK_THROWS_AS(load({"JOIN_MISSES_BEFORE_CLOSE=0"}), config_error);
  CHECK_THROWS_AS(load({"JOIN_TIMEOUT_MS=0"}), config_error);
  CHECK_THROWS_AS(load({"JOIN_MISS_DELAY_MS=60001"}), config_error);
}

TEST_CASE("X-Forwarded-For is believed only from trusted proxies, read from the right") {
  client_address_policy none{{}};
  CHECK(none.client(addr("203.0.113.1"), "198.51.100.9") == addr("203.0.113.1"));

  client_address_policy lb{parse_cidr_list({"10.0.0.0/8"})};
  // From an untrusted peer the header means nothing.
  CHECK(lb.client(addr("203.0.113.1"), "198.51.100.9") == addr("203.0.113.1"));
  // From the balancer: the address it appended.
  CHECK(lb.client(addr("10.0.0.2"), "198.51.100.9") == addr("198.51.100.9"));
  // What the client wrote itself stays to the left and is ignored.
  CHECK(lb.client(addr("10.0.0.2"), "1.2.3.4, 198.51.100.9") == addr("198.51.100.9"));
  // Chains of trusted proxies are walked through.
  CHECK(lb.client(addr("10.0.0.2"), "198.51.100.9, 10.9.9.9") == addr("198.51.100.9"));
  // All trusted: the leftmost.
  CHECK(lb.client(addr("10.0.0.2"), "10.3.3.3, 10.9.9.9") == addr("10.3.3.3"));
  // No header: the proxy itself.
  CHECK(lb.client(addr("10.0.0.2"), "") == addr("10.0.0.2"));
  // Garbage where the client should be: the hop that reported it.
  CHECK(lb.client(addr("10.0.0.2"), "junk, 10.9.9.9") == addr("10.9.9.9"));
  CHECK(lb.client(addr("10.0.0.2"), "unknown") == addr("10.0.0.2"));
  // Ports and brackets some proxies add; spaces and empty items.
  CHECK(lb.client(addr("10.0.0.2"), "198.51.100.9:4711") == addr("198.51.100.9"));
  CHECK(lb.client(addr("10.0.0.2"), " [2001:db8::5]:443 ,, ") == addr("2001:db8::5"));
  CHECK(lb.client(addr("10.0.0.2"), "::ffff:198.51.100.9") == addr("198.51.100.9"));
}

TEST_CASE("clients are counted per address, IPv6 per /64, and a slot comes back when dropped") {
  CHECK(address_key(addr("198.51.100.9")) == "198.51.100.9");
  CHECK(address_key(addr("::ffff:198.51.100.9")) == "198.51.100.9");
  CHECK(address_key(addr("2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::/64");
  CHECK(address_key(addr("2001:db8:1:2::ffff")) == address_key(addr("2001:db8:1:2:aaaa::1")));

  auto counter = std::make_shared<per_address_counter>();
  auto a = counter->acquire("x", 2);
  auto b = counter->acquire("x", 2);
  CHECK(a);
  CHECK(b);
  CHECK_FALSE(counter->acquire("x", 2));
  CHECK(counter->acquire("y", 2));
  CHECK(counter->count("x") == 2);
  a.reset();
  CHECK(counter->count("x") == 1);
  CHECK(counter->acquire("x", 2));
  // No cap: always a slot, nothing counted.
  CHECK(counter->acquire("z", 0));
  CHECK(counter->count("z") == 0);
}

// Found by fuzz/protocol_fuzzer (fuzz/regressions/protocol/nul-after-object):
// the parser of commit f67135d (nlohmann's SAX over iterators) stopped at a
// NUL byte as if the input ended there, so a valid object followed by NUL and
// anything else was accepted, and a signal relayed byte for byte carried the
// garbage to the peer.
TEST_CASE("a frame with bytes after a NUL is not JSON") {
  using signaling::protocol::error_code;
  const std::string frames[] = {std::string("{\"type\":\"create-room\"}\0garbage", 30),
                                std::string("{\"type\":\"signal\",\"roomId\":\"1\"}\0", 31),
                                std::string("\0{\"type\":\"create-room\"}", 23)};
  for (const auto& f : frames) {
    auto r = signaling::protocol::parse(f, 32);
    CHECK_FALSE(r.ok);
    CHECK(r.error == error_code::bad_json);
  }
}

TEST_CASE("an address's join-miss budget is spent by misses and earned back over a minute") {
  using clock = join_miss_budget::clock;
  auto t0 = clock::now();
  join_miss_budget budget{6}; // six a minute: one every ten seconds
  for (int i = 0; i < 6; ++i) {
    CHECK(budget.allow("a", t0));
    budget.charge("a", t0);
  }
  CHECK_FALSE(budget.allow("a", t0));
  CHECK(budget.allow("b", t0)); // another address is not affected
  CHECK_FALSE(budget.allow("a", t0 + std::chrono::seconds(9)));
  CHECK(budget.allow("a", t0 + std::chrono::seconds(10)));
  budget.charge("a", t0 + std::chrono::seconds(10));
  CHECK_FALSE(budget.allow("a", t0 + std::chrono::seconds(15)));
  // Never below empty: more misses do not dig a deeper hole.
  for (int i = 0; i < 100; ++i)
    budget.charge("a", t0 + std::chrono::seconds(15));
  CHECK(budget.allow("a", t0 + std::chrono::seconds(25)));
  // No budget at all: always allowed, nothing kept.
  join_miss_budget off{0};
  off.charge("a", t0);
  CHECK(off.allow("a", t0));
  CHECK(off.tracked() == 0);
}

TEST_CASE("in cluster mode every join miss is also spent from the address's shared budget, with none when off") {
  std::vector<std::string> shared;
  join_miss_budget budget{6};
  budget.share_with([&](const std::string& address) { shared.push_back(address); });
  budget.charge("a");
  budget.charge("b");
  budget.charge("a");
  CHECK(shared == std::vector<std::string>{"a", "b", "a"});
  join_miss_budget off{0};
  off.share_with([&](const std::string& address) { shared.push_back(address); });
  off.charge("c");
  CHECK(shared.size() == 3);
}

TEST_CASE("the join-miss budget forgets addresses whose budget is full again") {
  using clock = join_miss_budget::clock;
  auto t0 = clock::now();
  join_miss_budget budget{60};
  for (int i = 0; i < 1000; ++i)
    budget.charge("10.0.0." + std::to_string(i), t0);
  CHECK(budget.tracked() == 1000);
  // A minute later every one of them has refilled; the next growth past the
  // threshold sweeps them away.
  auto later = t0 + std::chrono::minutes(1);
  for (int i = 0; i < 100; ++i)
    budget.charge("192.0.2." + std::to_string(i), later);
  CHECK(budget.tracked() < 200);
}
