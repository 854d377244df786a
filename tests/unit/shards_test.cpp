// Shards as configured (plan_shards) and the room-to-shard hash: what every
// node of a cluster must compute alike, on any machine, in any version.
#include "cluster/shards.hpp"

#include <doctest/doctest.h>

#include <map>
#include <random>

using namespace signaling::cluster;

namespace {

redis_plan plan(redis_settings in) {
  redis_plan out;
  std::string err;
  REQUIRE_MESSAGE(plan_shards(in, out, err), err);
  return out;
}

std::string six_digits(std::mt19937& rng) {
  return std::to_string(std::uniform_int_distribution<int>(100000, 999999)(rng));
}

} // namespace

TEST_CASE("REDIS_URL with several URLs is that many shards, named without credentials, REDIS_USERNAME and "
          "REDIS_PASSWORD fill in what a URL does not say") {
  redis_settings in;
  in.urls = "redis://alice:pw1@A.example:6379, redis://b.example:6380/2 ,redis://:pw3@[::1]:6381";
  in.username = "svc";
  in.password = "common";
  auto p = plan(in);
  REQUIRE(p.shards.size() == 3);
  CHECK(p.shards[0].name == "a.example:6379");
  CHECK(p.shards[0].endpoint.username == "alice");
  CHECK(p.shards[0].endpoint.password == "pw1");
  CHECK(p.shards[1].name == "b.example:6380/2");
  CHECK(p.shards[1].endpoint.username == "svc");
  CHECK(p.shards[1].endpoint.password == "common");
  CHECK(p.shards[1].endpoint.db == 2);
  CHECK(p.shards[2].name == "[::1]:6381");
  CHECK(p.shards[2].endpoint.host == "::1");
  CHECK(p.shards[2].endpoint.username == "svc"); // AUTH svc pw3
  CHECK(p.shards[2].endpoint.password == "pw3");
  CHECK(shard_list(p.shards) == "[::1]:6381,a.example:6379,b.example:6380/2");
  CHECK(p.sentinels.empty());
}

TEST_CASE("REDIS_SENTINELS with several REDIS_MASTER_NAMEs is one shard per master group, named by the group") {
  redis_settings in;
  in.sentinels = "s1:26379,s2,s3:26381";
  in.master_names = "orders,rooms";
  in.password = "pw";
  in.sentinel_password = "spw";
  auto p = plan(in);
  REQUIRE(p.shards.size() == 2);
  CHECK(p.shards[0].name == "orders");
  CHECK(p.shards[0].master == "orders");
  CHECK(p.shards[1].endpoint.password == "pw");
  REQUIRE(p.sentinels.size() == 3);
  CHECK(p.sentinels[1].second == 26379); // the default sentinel port
  CHECK(p.sentinel_password == "spw");
}

TEST_CASE("a user name in a URL is sent with AUTH (ACL), a bare password stays AUTH password, as before ACLs") {
  redis_endpoint ep;
  std::string err;
  REQUIRE(parse_redis_url("redis://signal:s3:cret@h:1", ep, err));
  CHECK(ep.username == "signal");
  CHECK(ep.password == "s3:cret");
  REQUIRE(parse_redis_url("redis://:only@h:1", ep, err));
  CHECK(ep.username.empty());
  CHECK(ep.password == "only");
  REQUIRE(parse_redis_url("redis://legacy@h", ep, err));
  CHECK(ep.username.empty());
  CHECK(ep.password == "legacy");
  CHECK(ep.port == 6379);
  CHECK_FALSE(parse_redis_url("redis://h:99999", ep, err));
  CHECK_FALSE(parse_redis_url("redis://::1:6379", ep, err)); // IPv6 needs brackets
  CHECK_FALSE(parse_redis_url("redis://", ep, err));
}

TEST_CASE("the room-to-shard hash is pinned: the same ids land on the same shards on every node and version") {
  shard_map m{{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"}};
  // Changing these is changing the cluster's contract: nodes of two versions
  // would disagree about where rooms live.
  CHECK(m.pick("123456") == 1);
  CHECK(m.pick("000001") == 2);
  CHECK(m.pick("987654") == 2);
  CHECK(shard_map{{"only"}}.pick("123456") == 0);
}

TEST_CASE("rendezvous hashing: shares within 3% over 30,000 ids, the list's order does not matter, and removing a "
          "shard moves only its rooms") {
  std::vector<std::string> names{"mymaster", "second", "third"};
  shard_map m{names};
  shard_map reordered{{"third", "mymaster", "second"}};
  shard_map two{{"mymaster", "third"}};
  std::mt19937 rng(16);
  std::map<std::size_t, int> count;
  int moved_wrongly = 0;
  for (int i = 0; i < 30000; ++i) {
    auto id = six_digits(rng);
    auto s = m.pick(id);
    ++count[s];
    CHECK(reordered.pick(id) == (s == 0 ? 1u : s == 1 ? 2u : 0u));
    // Without "second", its rooms go elsewhere; every other room stays.
    if (s != 1 && (s == 0 ? 0u : 1u) != two.pick(id))
      ++moved_wrongly;
  }
  for (auto& [shard, n] : count) {
    MESSAGE("shard " << names[shard] << ": " << n);
    CHECK(n > 9700);
    CHECK(n < 10300);
  }
  CHECK(moved_wrongly == 0);
}
