// The Redis deployments a cluster's rooms are spread over ("shards"): each
// is one Redis server (a URL) or one Sentinel master group, independent of
// the others (no Redis Cluster). A room's keys and its cross-node frames
// live on the shard its id hashes to; nodes heartbeat on every shard. Here:
// the shards as configured, and the hash. Every node must compute the same
// hash over the same names, so the names and the hash are part of the
// cluster's contract (docs/architecture.md, "Shards").
#pragma once

#include "cluster/redis_client.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace signaling::cluster {

class redis_bridge;

struct shard_spec {
  // What identifies the shard to every node, and what its rooms hash by:
  // host:port (with /db when not 0) for a URL, the master name for a
  // Sentinel group. Never carries credentials.
  std::string name;
  redis_endpoint endpoint; // credentials and db; host and port for a URL shard
  std::string master;      // the Sentinel master name; empty for a URL shard
};

// The Redis settings as configured (node/config.cpp: REDIS_*).
struct redis_settings {
  std::string urls;         // one or more redis:// URLs, comma-separated
  std::string sentinels;    // host:port of each sentinel, comma-separated
  std::string master_names; // one or more Sentinel master names, comma-separated
  std::string username;     // for data servers whose URL names no user
  std::string password;     // for data servers whose URL carries no password
  std::string sentinel_password;
};

struct redis_plan {
  std::vector<shard_spec> shards; // empty: embedded mode (no Redis)
  std::vector<std::pair<std::string, std::uint16_t>> sentinels;
  std::string sentinel_password;
};

// Turns the settings into shards; false with `error` naming the setting at
// fault (a malformed URL or address, a shard named twice, REDIS_URL and
// REDIS_SENTINELS both set).
bool plan_shards(const redis_settings& in, redis_plan& out, std::string& error);

// Every shard's name, sorted, comma-separated: what all nodes must agree on.
std::string shard_list(const std::vector<shard_spec>& shards);

// Rendezvous (highest random weight) hashing over the shard names: a room
// lives on the shard whose name scores highest with its id. The list's
// order does not matter, and removing one shard moves only its rooms.
// Deterministic across builds and machines (FNV-1a and a 64-bit finalizer,
// no std::hash).
class shard_map {
public:
  shard_map() = default;
  explicit shard_map(const std::vector<std::string>& names);
  std::size_t pick(std::string_view room_id) const;
  std::size_t size() const { return seeds_.size(); }

private:
  std::vector<std::uint64_t> seeds_;
};

// This node's shards at run time: the map and one bridge per shard, in the
// order of the configuration. The bridges belong to the cluster runtime.
struct shard_set {
  shard_map map;
  std::vector<redis_bridge*> bridges;
  std::size_t index_of(std::string_view room_id) const { return map.pick(room_id); }
  redis_bridge& for_room(std::string_view room_id) const { return *bridges[map.pick(room_id)]; }
};

} // namespace signaling::cluster
