// The Lua scripts that keep rooms, seats and nodes in Redis
// (cluster/scripts/*.lua, embedded by the build with their SHA-1), and one
// decoder per script for its reply, so no caller reads a reply by position.
// Each script says what it does, what its ARGV are and what it returns, at
// its top. Keys are built inside the scripts from a prefix (ARGV[1]): each
// shard is one Redis server (or a primary with replicas), not Redis Cluster.
#pragma once

#include "actors/remote.hpp"
#include "cluster/redis_client.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace signaling::cluster {

namespace scripts {
extern const lua_script create, join, unseat, end, restore, park, seat_frames, resume, expire, tick, reap, list_nodes,
  shards, addr_misses, addr_conns;
// Every script above: loaded on each connection.
const std::vector<const lua_script*>& all();
} // namespace scripts

enum class outcome { ok, refused, unavailable };

// CREATE: 1 created, 0 taken.
struct create_reply {
  outcome result = outcome::unavailable;
  static create_reply decode(const redis_result& r);
};

// JOIN: {1, host_node, host_conn, gen} or {0}.
struct join_reply {
  outcome result = outcome::unavailable;
  std::string host_node, host_conn, gen;
  static join_reply decode(const redis_result& r);
};

// RESTORE: 1 ours, 0 the id went to another room.
struct restore_reply {
  outcome result = outcome::unavailable;
  static restore_reply decode(const redis_result& r);
};

// PARK: {1, other member's node or ''} or {0}.
struct park_reply {
  outcome result = outcome::unavailable;
  std::string other_node; // where the other member is seated; empty: parked or none
  static park_reply decode(const redis_result& r);
};

// ADDR_MISSES and ADDR_CONNS: 1 the address is within its budget (and
// what was asked was done), 0 it is not.
struct budget_reply {
  outcome result = outcome::unavailable;
  static budget_reply decode(const redis_result& r);
};

// SEAT_FRAMES: 1 published and heard, 3 nobody heard, 2 kept, 0 no such seat.
struct seat_frames_reply {
  enum kind { delivered, kept, unheard, gone, failed } result = failed;
  static seat_frames_reply decode(const redis_result& r);
};

// RESUME: {1, role, gen, other_node, other_conn, other_due, dropped, acked, frames...} or {0}.
struct resume_reply {
  outcome result = outcome::unavailable;
  std::string role, gen;        // the seat reclaimed, and the room's generation
  std::string other_node;       // where the other member is seated; empty: parked or none
  std::string other_conn;
  bool other_parked = false;    // the other seat is parked too
  std::uint64_t dropped = 0;    // frames dropped past the bounds while parked
  std::int64_t acked = -1;      // messages the seat had relayed (-1: not known)
  std::vector<std::string> frames; // kept for the seat, oldest first
  static resume_reply decode(redis_result r);
};

// EXPIRE: 1 ended the room, 2 its record was already gone (or another room's):
// either way the room is over.
struct expire_reply {
  bool ended = false;
  static expire_reply decode(const redis_result& r);
};

// TICK: {had_alive_key, was_reaped, rooms, conns, live_nodes, dead...}.
struct tick_reply {
  bool ok = false;
  bool had_alive = false, was_reaped = false;
  cluster_view::totals totals;
  std::vector<std::string> dead;
  static tick_reply decode(const redis_result& r);
};

// REAP: {room, gen, surviving member's node}... (resume off only).
struct reap_reply {
  struct survivor {
    std::string room, gen, node;
  };
  bool ok = false;
  std::vector<survivor> survivors;
  static reap_reply decode(const redis_result& r);
};

// SHARDS: {1} or {0, the cluster's shard list}.
struct shards_reply {
  bool ok = false;    // false: no answer (the link failed meanwhile)
  bool match = false; // our list is (now) the cluster's
  std::string stored; // the cluster's list, when it is not ours
  static shards_reply decode(const redis_result& r);
};

// LIST_NODES: {node, "rooms conns" or '', info or ''}...
struct list_nodes_reply {
  bool ok = false;
  std::vector<cluster_view::node_entry> nodes;
  static list_nodes_reply decode(const redis_result& r);
};

} // namespace signaling::cluster
