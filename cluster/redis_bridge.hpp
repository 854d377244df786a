// Everything a node keeps in Redis, behind plain C++ calls: room records
// (unique ids, atomic join), node liveness (heartbeat keys that expire, and
// reaping of dead nodes' rooms), cluster-wide counts, and one pub/sub channel
// per node for relaying. Two connections: commands and subscriber.
// Redis only: payloads are opaque bytes, rooms are ids, members are
// (node, connection) names. Callbacks run on Redis strands (I/O threads).
#pragma once

#include "cluster/redis_client.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace signaling::cluster {

class redis_bridge {
public:
  struct options {
    redis_endpoint endpoint;
    std::string node_id;
    std::string prefix = "sig:";
    std::chrono::milliseconds node_ttl{5000};  // a node silent this long is dead
    std::chrono::milliseconds heartbeat{1000}; // refresh and reap period
    std::chrono::milliseconds command_timeout{2000};
    // Opaque text about this node (admin address, start time), written with
    // every heartbeat to node:{id}:info with the same TTL; read by list_nodes.
    std::function<std::string()> node_info;
  };

  struct handlers {
    // A payload published to this node's channel.
    std::function<void(std::string payload)> on_message;
    // Both links up (true) or either down (false).
    std::function<void(bool up)> on_state;
    // This node's liveness key had vanished (Redis lost its data, or this node
    // was silent past its TTL): re-register the rooms it hosts.
    std::function<void()> on_registry_lost;
    // Other nodes took this node for dead (it was cut off past its TTL) and
    // removed its rooms, telling their other members: end them here too.
    std::function<void()> on_reaped_self;
    // A dead node's room was removed; `member_node` still has a member in it.
    std::function<void(const std::string& room, const std::string& member_node, const std::string& dead_node)>
      on_room_reaped;
    // This node's numbers for the heartbeat: {rooms hosted here, connections}.
    std::function<std::pair<std::int64_t, std::int64_t>()> local_counts;
  };

  enum class outcome { ok, refused, unavailable };
  struct join_result {
    outcome result = outcome::unavailable;
    std::string host_node;
    std::string host_conn;
  };
  struct totals {
    std::int64_t rooms = 0, connections = 0, nodes = 0;
  };
  // One node of the registry: `alive` false once its heartbeat key expired
  // (it is reaped at the next heartbeat of a live node).
  struct node_entry {
    std::string id;
    bool alive = false;
    std::int64_t rooms = 0, connections = 0; // as of its last heartbeat
    std::string info;                        // its node_info, or empty
  };

  redis_bridge(boost::asio::io_context& ioc, options opts, handlers h);
  ~redis_bridge();

  void start();
  // Graceful exit: stops the heartbeat and removes this node (and any room
  // it still has) from Redis at once, instead of after its TTL; then `done`.
  // Every command issued before has been answered by then (one connection, FIFO).
  void leave(std::function<void()> done);
  void stop();
  bool up() const;
  std::uint64_t reconnects() const; // both links together
  const std::string& node_id() const;

  // Records a new room hosted by `conn` on this node, if `id` is free.
  void create_room(const std::string& id, const std::string& conn, std::function<void(outcome)> cb);
  // Seats `conn` of this node as the guest, atomically: of two racing
  // guests (on any nodes) exactly one gets ok.
  void join_room(const std::string& id, const std::string& conn, std::function<void(join_result)> cb);
  // Gives a guest's seat back (its join could not reach the host's node).
  void unseat_guest(const std::string& id, const std::string& conn);
  // Removes the room, if it is still the one hosted by (host_node, host_conn).
  void end_room(const std::string& id, const std::string& host_node, const std::string& host_conn);
  // Re-creates a room record after Redis lost it; refused if the id was taken meanwhile.
  void restore_room(const std::string& id, const std::string& host_conn, const std::string& guest_node,
                    const std::string& guest_conn, std::function<void(outcome)> cb);
  // PUBLISH to `node`'s channel. delivered: a subscriber (that node) got it.
  void publish(const std::string& node, std::string payload, std::function<void(bool delivered)> cb);

  // Cluster-wide numbers from the last heartbeat (this node's own until then).
  totals cluster_totals() const;
  // Every node in the registry, read from Redis now; ok false if Redis failed.
  void list_nodes(std::function<void(bool ok, std::vector<node_entry>)> cb);

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::cluster
