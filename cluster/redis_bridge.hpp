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
    // Seat resume: how long a lost member's seat is kept, and the bounds of
    // the frames kept for it meanwhile (oldest dropped first). 0: no resume.
    std::chrono::milliseconds resume_grace{15000};
    std::size_t resume_frames = 256;
    std::size_t resume_bytes = 1 << 20;
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
    std::string gen; // the room's generation (its first host connection)
  };
  struct park_result {
    outcome result = outcome::unavailable;
    std::string other_node; // where the other member is seated; empty: parked or none
  };
  struct resume_result {
    outcome result = outcome::unavailable;
    std::string role, gen;        // the seat reclaimed, and the room's generation
    std::string other_node;       // where the other member is seated; empty: parked or none
    std::string other_conn;
    bool other_parked = false;    // the other seat is parked too
    std::uint64_t dropped = 0;    // frames dropped past the bounds while parked
    std::int64_t acked = -1;      // messages the seat had relayed (-1: not known)
    std::vector<std::string> frames; // kept for the seat, oldest first
  };
  enum class relay_outcome { delivered, kept, failed, gone };
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

  // Records a new room hosted by `conn` on this node, if `id` is free; the
  // room's generation is `conn`, the host's resume token `token`.
  void create_room(const std::string& id, const std::string& conn, const std::string& token,
                   std::function<void(outcome)> cb);
  // Seats `conn` of this node as the guest, atomically: of two racing
  // guests (on any nodes) exactly one gets ok.
  void join_room(const std::string& id, const std::string& conn, const std::string& token,
                 std::function<void(join_result)> cb);
  // Gives a guest's seat back (its join could not reach the host's node).
  void unseat_guest(const std::string& id, const std::string& conn);
  // Removes the room, if it is still generation `gen`, with its kept frames.
  void end_room(const std::string& id, const std::string& gen);
  // Re-creates a room record after Redis lost it; refused if the id was taken meanwhile.
  void restore_room(const std::string& id, const std::string& gen, const std::string& host_conn,
                    const std::string& guest_node, const std::string& guest_conn, std::function<void(outcome)> cb);

  // Seat resume. Parks seat `role` ("host"/"guest") held by `conn` of this
  // node for the resume grace: frames for it are kept from now on; the other
  // member's node hears D, this node a fence (X) once every envelope
  // published to it before has been delivered. `acked`: how many messages
  // the seat had relayed, told to the client when it resumes.
  void park_seat(const std::string& id, const std::string& gen, const std::string& role, const std::string& conn,
                 std::uint64_t acked, std::function<void(park_result)> cb);
  // A frame for seat `to_role`: published to its node, or kept while parked.
  void relay(const std::string& id, const std::string& gen, const std::string& to_role, const std::string& frame,
             std::function<void(relay_outcome)> cb);
  // Frames from `from_node` that reached this node for a just-lost seat
  // before its park took effect: kept ahead of the others.
  void prepend(const std::string& id, const std::string& gen, const std::string& role, const std::string& from_node,
               const std::vector<std::string>& frames);
  // Reclaims the parked seat with resume token `token` for `conn` of this
  // node, which gets `new_token`.
  void resume(const std::string& id, const std::string& token, const std::string& conn, const std::string& new_token,
              std::function<void(resume_result)> cb);
  // Ends the room if seat `role` is still parked past its grace.
  void expire_seat(const std::string& id, const std::string& gen, const std::string& role,
                   std::function<void(bool ended)> cb);
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
