// Everything a node keeps in one Redis shard, behind plain C++ calls: room
// records (unique ids, atomic join), seats parked and resumed with the
// frames kept for them, node liveness (heartbeat keys that expire, and
// reaping of dead nodes' rooms), cluster-wide counts, the shard-list check,
// and one pub/sub channel per node for relaying. A node has one bridge per
// shard. Two connections: commands (every Lua script of cluster/scripts/, by
// SHA) and subscriber, both following the shard's primary (Sentinel) when
// told how. Redis only: payloads are opaque bytes, rooms are ids, members
// are (node, connection) names. Callbacks run on Redis strands.
#pragma once

#include "cluster/redis_client.hpp"
#include "cluster/scripts.hpp"

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
    std::string shard;      // this shard's name (logs)
    std::string shard_list; // every shard's name, sorted: checked against the cluster's (SHARDS)
    // Sentinel: where the primary is now (redis_client::options::locate),
    // and that each connection must land on a primary (ROLE).
    std::function<void(const std::string& avoid, redis_client::locate_callback)> locate;
    bool require_primary = false;
    std::string node_id;
    std::string prefix = "sig:";
    std::chrono::milliseconds node_ttl{5000};  // a node silent this long is dead
    std::chrono::milliseconds heartbeat{1000}; // refresh and reap period
    std::chrono::milliseconds command_timeout{2000};
    // The least time between two writes of relayed frames, which wait for
    // it to share a write (redis_client::options::batch_delay; the commands
    // link only).
    std::chrono::microseconds batch_delay{0};
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
    // An envelope published to this node's channel; valid during the call.
    std::function<void(std::string_view payload)> on_message;
    // Usable (both links up and the shard list agreed) or not.
    std::function<void(bool up)> on_state;
    // Redis refused this node: credentials, permissions, or another shard list.
    std::function<void(const std::string& why)> on_refused;
    // The command link came back on another primary (a failover): Redis may
    // have lost the last writes before it (replication is asynchronous).
    std::function<void(const std::string& from, const std::string& to)> on_failover;
    // This node's liveness key had vanished (Redis lost its data, or this node
    // was silent past its TTL): re-register the rooms it hosts.
    std::function<void()> on_registry_lost;
    // Other nodes took this node for dead (it was cut off past its TTL) and
    // removed its rooms, telling their other members: end them here too.
    std::function<void()> on_reaped_self;
    // A dead node's room (generation `gen`) was removed; `member_node` still
    // has a member in it.
    std::function<void(const std::string& room, const std::string& gen, const std::string& member_node,
                       const std::string& dead_node)>
      on_room_reaped;
    // This node's numbers for the heartbeat: {rooms hosted here, connections}.
    std::function<std::pair<std::int64_t, std::int64_t>()> local_counts;
    // Each heartbeat Redis answered, with its round trip (for /metrics).
    std::function<void(std::chrono::nanoseconds)> on_heartbeat;
  };

  using args = redis_client::args;

  redis_bridge(boost::asio::io_context& ioc, options opts, handlers h);
  ~redis_bridge();

  void start();
  // Graceful exit: stops the heartbeat and removes this node (and any room
  // it still has) from Redis at once, instead of after its TTL; then `done`.
  // Every command issued before has been answered by then (one connection, FIFO).
  void leave(std::function<void()> done);
  void stop();
  // Both links up and the shard list agreed.
  bool up() const;
  std::uint64_t reconnects() const; // both links together
  const std::string& node_id() const;
  // This shard as the node sees it (cluster_view::shard_state).
  cluster_view::shard_state state() const;
  // Redis has refused this node (credentials, permissions, shard list); why.
  std::string refusal() const;
  // The refusal is another shard list: this node must not serve at all.
  bool mismatched() const;
  // The first connection attempt has an outcome: up, or refused.
  bool settled() const;
  // Drops both links unless they are on `address` and reconnects at once.
  void primary_moved(const std::string& address);

  // Records a new room hosted by `conn` on this node, if `id` is free; the
  // room's generation is `conn`, the host's resume token `token`.
  void create_room(const std::string& id, const std::string& conn, const std::string& token,
                   std::function<void(create_reply)> cb);
  // Seats `conn` of this node as the guest, atomically: of two racing
  // guests (on any nodes) exactly one gets ok.
  void join_room(const std::string& id, const std::string& conn, const std::string& token,
                 std::function<void(join_reply)> cb);
  // Gives a guest's seat back (its join could not reach the host's node).
  void unseat_guest(const std::string& id, const std::string& conn);
  // Removes the room, if it is still generation `gen`, with its kept frames.
  void end_room(const std::string& id, const std::string& gen);
  // Re-creates a room record after Redis lost it, as one member's node knows
  // it (each seat's node, connection and, for members here, resume token;
  // empty where not known); refused if the id was taken meanwhile.
  struct restored_seat {
    std::string node, conn, token;
  };
  void restore_room(const std::string& id, const std::string& gen, const restored_seat& host,
                    const restored_seat& guest, std::function<void(restore_reply)> cb);

  // Seat resume. Parks seat `role` ("host"/"guest") held by `conn` of this
  // node for the resume grace: frames for it are kept from now on; the other
  // member's node hears D, this node a fence (X) once every envelope
  // published to it before has been delivered. `acked`: how many messages
  // the seat had relayed, told to the client when it resumes.
  void park_seat(const std::string& id, const std::string& gen, const std::string& role, const std::string& conn,
                 std::uint64_t acked, std::function<void(park_reply)> cb);
  // The fixed part of SEAT_FRAMES for frames to seat `role` of room `id`,
  // made once per seat; relay() calls with the same one are batched.
  std::shared_ptr<const args> seat_frames_args(const std::string& id, const std::string& gen,
                                               const std::string& role) const;
  // A frame for that seat, as an F envelope (envelope::frame_header + the
  // frame): published to its node, or kept while it is parked.
  void relay(const std::shared_ptr<const args>& seat, std::string envelope, std::function<void(seat_frames_reply)> cb);
  // The direct path (docs/architecture.md, "A cross-node signal"): while a
  // member seated here has its peer on another node, it has a channel of its
  // own, subscribed on this node's subscriber link only, and frames for it
  // are one plain PUBLISH there. The channel is never subscribed again once
  // given up (on a park, an end, or a lost link), so a publisher that reads
  // 0 listeners knows the frame, and every later one it sends there, went
  // nowhere, and sends them through SEAT_FRAMES instead, in order.
  std::string seat_channel(const std::string& id, const std::string& gen, const std::string& conn) const;
  // `lost`: the subscriber link dropped after the confirmation, so the
  // channel is gone for good (listen again under a new name).
  void subscribe_seat(const std::string& channel, std::function<void(bool ok)> done, std::function<void()> lost);
  void unsubscribe_seat(const std::string& channel, std::function<void()> done);
  // PUBLISH to a seat channel: the fixed part made once per channel, then
  // each frame's F envelope. Batched like relay(). The answer: heard (its
  // member's node got it), unheard (nobody listens there), or failed (no
  // answer: link down or timed out; it may or may not have run).
  // The answer goes to `sink` with the envelope given back (for a send the
  // scripted way if unheard), so the sender keeps no copy of it.
  enum class publish_answer { heard, unheard, failed };
  class publish_sink : public redis_client::tail_sink {
  public:
    virtual void published(publish_answer a, std::string envelope) = 0;

  private:
    void answered(const redis_result& r, std::string tail) final {
      published(!r.ok || r.reply.kind != redis_reply::integer ? publish_answer::failed
                : r.reply.value > 0                            ? publish_answer::heard
                                                               : publish_answer::unheard,
                std::move(tail));
    }
  };
  std::shared_ptr<const args> seat_publish_args(const std::string& channel) const;
  void relay_direct(const std::shared_ptr<const args>& publish, std::string envelope,
                    std::shared_ptr<publish_sink> sink);
  // Frames that reached this node for a just-lost seat before its park took
  // effect: kept ahead of any kept since.
  void prepend(const std::string& id, const std::string& gen, const std::string& role,
               const std::vector<std::string>& frames);
  // Reclaims the parked seat with resume token `token` for `conn` of this
  // node, which gets `new_token`.
  void resume(const std::string& id, const std::string& token, const std::string& conn, const std::string& new_token,
              std::function<void(resume_reply)> cb);
  // Ends the room if seat `role` is still parked past its grace.
  void expire_seat(const std::string& id, const std::string& gen, const std::string& role,
                   std::function<void(expire_reply)> cb);
  // PUBLISH to `node`'s channel. delivered: a subscriber (that node) got it.
  void publish(const std::string& node, std::string payload, std::function<void(bool delivered)> cb);

  // Per-address budgets for the whole cluster, kept on the shard the address
  // hashes to (docs/security.md, "Per-address budgets"). Join misses
  // (JOIN_MISSES_PER_IP a minute): `charge` spends one, otherwise the budget
  // is only read; ok while the address has one left.
  void address_misses(const std::string& address, std::uint32_t per_minute, bool charge,
                      std::function<void(budget_reply)> cb);
  // Open WebSockets (MAX_CONNECTIONS_PER_IP): takes one for this node if the
  // address holds fewer than `cap` over the cluster (ok), or refuses.
  void take_address_slot(const std::string& address, std::size_t cap, std::function<void(budget_reply)> cb);
  // Gives one back. One that cannot reach Redis now is sent again once the
  // shard is back (at most 65,536 wait; a dead node's part is removed with it).
  void give_address_slot(const std::string& address);

  // Cluster-wide numbers from the last heartbeat; false until one succeeded.
  bool cluster_totals(cluster_view::totals& out) const;
  // Every node in the registry, read from Redis now.
  void list_nodes(std::function<void(list_nodes_reply)> cb);

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::cluster
