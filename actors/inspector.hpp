// The inspector: one actor per node that the operator console (signal-console)
// talks to over CAF's middleman. It answers from the actors' own state (the
// directory lists its rooms, each room and connection actor describes itself)
// and acts through the actors (a kick is a message to the connection actor).
// It never keeps counts of its own, and never touches a socket or a room itself.
//
// Messages (console -> inspector; every answer is one JSON string, an object
// with "error" and "code" when the request failed):
//   (stats_atom)                      this node: counts, relays, errors, RSS, Redis
//   (nodes_atom)                      every node of the cluster (Redis registry)
//   (rooms_atom, uint32 limit)        rooms of this node, by id
//   (room_atom, string id)            one room and its members
//   (conns_atom, uint32 limit)        connection actors of this node, by actor id
//   (conn_atom, uint64 actor id)      one connection actor
//   (kick_atom, uint64 actor id)      that connection closes with 1008
//   (close_room_atom, string id)      that room ends ("room closed by operator")
//   (drain_atom)                      the node drains, exactly as on SIGTERM
//   (log_level_atom, string level)    changes the log level
// Only builtin types cross the wire, so no type needs announcing.
#pragma once

#include "actors/messages.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace signaling {

struct node_context;
class cluster_view;

// What the inspector reads and does beyond node_context.
struct inspector_links {
  node_context* ctx = nullptr;
  const cluster_view* cluster = nullptr;      // null in embedded mode
  std::function<std::string()> admin_address; // host:port consoles reach this node at
  std::int64_t started_ms = 0;                // unix ms
  std::function<bool()> ready;                // what /readyz answers
  std::function<bool()> draining;             // a shutdown has started
  std::function<void()> drain;                // the node's SIGTERM path: node::shutdown(DRAIN_DELAY_MS)
};

// Answers to one request wait this long for each actor asked.
constexpr std::chrono::milliseconds inspector_ask_timeout{1000};

caf::actor spawn_inspector(caf::actor_system& sys, std::shared_ptr<const inspector_links> links);

// What a node writes to Redis with each heartbeat for `nodes`: its admin
// address (empty: no admin port), start time and connection limit, as JSON.
std::string inspector_node_info(const std::string& admin_address, std::int64_t started_ms, std::size_t max_connections);

} // namespace signaling
