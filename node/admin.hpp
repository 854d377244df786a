// The admin port of a node: its inspector actor (actors/inspector.hpp),
// published with CAF's middleman on ADMIN_BIND:ADMIN_PORT for signal-console.
// Loopback by default: whoever reaches the port can kick clients, close rooms
// and drain the node, and CAF's protocol has no authentication. A port that
// cannot be bound is logged and the node serves on without it.
#pragma once

#include "node/config.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace signaling {

struct node_context;
class cluster_view;

class admin_server {
public:
  explicit admin_server(const config& cfg);

  // Loads CAF's middleman when the admin port is on; before the actor system is built.
  void prepare(caf::actor_system_config& caf_cfg) const;
  // Spawns the inspector and publishes it; logs `event=admin_listening port=N`.
  void start(caf::actor_system& sys, node_context& ctx, const cluster_view* cluster, std::function<bool()> ready,
             std::function<bool()> draining, std::function<void()> drain);
  // Stops the inspector (and waits for it, bounded) before the actor system goes.
  void stop();
  // The bound port; 0 while not listening.
  std::uint16_t port() const;
  // What this node writes to Redis for `nodes` (admin address, start); thread-safe.
  std::string info() const;

private:
  std::string address() const;

  const config& cfg_;
  std::atomic<std::uint16_t> port_{0};
  std::int64_t started_ms_;
  caf::actor_system* sys_ = nullptr;
  caf::actor inspector_;
};

} // namespace signaling
