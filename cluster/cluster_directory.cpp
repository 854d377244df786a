#include "cluster/cluster_directory.hpp"

#include "actors/connection_actor.hpp"
#include "actors/room_id.hpp"
#include "cluster/cluster_room.hpp"
#include "cluster/envelope.hpp"
#include "cluster/messages.hpp"
#include "cluster/room_registry.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <unordered_map>

namespace signaling::cluster {

namespace {

using cluster_directory_actor = room_directory::extend<caf::reacts_to<create_done>, caf::reacts_to<join_done>,
                                                       caf::reacts_to<write_back>, caf::reacts_to<reaped>>;

// What the directory, its rooms and the subscriber share; outlives them all.
struct shared_parts {
  cluster_room_settings settings;
  room_registry registry;
};

struct directory_state {
  struct entry {
    cluster_room_actor room;
    bool hosted; // the host is on this node: counted, written back by us
  };
  std::unordered_map<std::string, entry> rooms;
  std::unordered_map<caf::actor_addr, std::string> ids;
  room_id_generator ids_gen{6};
  std::shared_ptr<shared_parts> parts;
  static inline const char* name = "cluster-room-directory";
};

using directory_ptr = cluster_directory_actor::stateful_pointer<directory_state>;

constexpr int max_draws = 64;

void refuse(const caf::actor& conn, protocol::error_code c) {
  caf::anon_send(conn, refused{c});
}

redis_bridge& bridge(directory_ptr self) {
  return *self->state.parts->settings.bridge;
}

node_stats& stats(directory_ptr self) {
  return *self->state.parts->settings.stats;
}

// Draws an id that no room of this node has and asks Redis to claim it.
void try_create(directory_ptr self, const caf::actor& conn, int attempt) {
  auto& st = self->state;
  std::string id;
  do
    id = st.ids_gen.next();
  while (st.rooms.count(id));
  auto me = caf::actor_cast<cluster_directory_actor>(self);
  auto token = make_resume_token();
  bridge(self).create_room(id, conn_name(conn), token, [me, id, conn, attempt, token](create_reply r) {
    caf::anon_send(me, create_done{id, conn, token, attempt, r});
  });
}

void add_room(directory_ptr self, const std::string& id, const cluster_room_actor& room, bool hosted) {
  auto& st = self->state;
  self->monitor(room);
  st.ids.emplace(room.address(), id);
  st.rooms[id] = directory_state::entry{room, hosted};
  stats(self).room_actors.fetch_add(1, std::memory_order_relaxed);
  if (hosted) {
    stats(self).rooms.fetch_add(1, std::memory_order_relaxed);
    stats(self).rooms_created.fetch_add(1, std::memory_order_relaxed);
  }
}

// Sends the resume to `room` (ours for `id`); if that room ends before it
// answers, a fresh one takes the resume: a member coming back to the node it
// left must not find the stand-in it left behind on its way out.
void resume_through(directory_ptr self, const cluster_room_actor& room, const std::string& id,
                    const std::string& token, const caf::actor& conn, bool fresh) {
  self->request(room, caf::infinite, resume_seat{token, conn})
    .then(
      [self, id, room, conn](bool ok) {
        if (!ok)
          return refuse(conn, protocol::error_code::room_unavailable);
        // A host resuming here makes this node the room's host node.
        auto& st = self->state;
        auto i = st.rooms.find(id);
        if (i != st.rooms.end() && i->second.room == room && !i->second.hosted) {
          i->second.hosted = true;
          stats(self).rooms.fetch_add(1, std::memory_order_relaxed);
        }
      },
      [self, id, token, conn, fresh](const caf::error&) {
        if (fresh)
          return refuse(conn, protocol::error_code::room_unavailable);
        auto room = spawn_resuming_room(self->home_system(), id, &self->state.parts->settings);
        add_room(self, id, room, false);
        resume_through(self, room, id, token, conn, true);
      });
}

cluster_directory_actor::behavior_type cluster_directory(directory_ptr self, std::shared_ptr<shared_parts> parts,
                                                         unsigned digits) {
  auto& st = self->state;
  st.parts = std::move(parts);
  st.ids_gen = room_id_generator{digits};
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.ids.find(dm.source);
    if (i == st.ids.end())
      return;
    auto r = st.rooms.find(i->second);
    if (r != st.rooms.end() && r->second.room.address() == dm.source) {
      if (r->second.hosted)
        stats(self).rooms.fetch_sub(1, std::memory_order_relaxed);
      st.rooms.erase(r);
    }
    stats(self).room_actors.fetch_sub(1, std::memory_order_relaxed);
    st.ids.erase(i);
  });
  self->set_exit_handler([self](const caf::exit_msg& em) {
    for (auto& kv : self->state.rooms)
      self->send_exit(kv.second.room, em.reason);
    self->quit(em.reason);
  });
  return {
    [self](const create_room_request& req) {
      if (!bridge(self).up())
        return refuse(req.conn, protocol::error_code::unavailable);
      try_create(self, req.conn, 0);
    },
    [self](const create_done& d) {
      if (d.reply.result == outcome::refused) { // a room on another node has this id
        if (d.attempt + 1 < max_draws)
          return try_create(self, d.conn, d.attempt + 1);
        log::error("event=room_ids_exhausted");
        return refuse(d.conn, protocol::error_code::unavailable);
      }
      if (d.reply.result == outcome::unavailable)
        return refuse(d.conn, protocol::error_code::unavailable);
      auto room = spawn_hosted_room(self->home_system(), d.room_id, d.conn, d.token, &self->state.parts->settings);
      add_room(self, d.room_id, room, true);
      log::debug("event=room_created room={}", d.room_id);
    },
    [self](const join_room_request& req) {
      if (!bridge(self).up())
        return refuse(req.conn, protocol::error_code::unavailable);
      auto me = caf::actor_cast<cluster_directory_actor>(self);
      auto token = make_resume_token();
      bridge(self).join_room(req.room_id, conn_name(req.conn), token,
                             [me, id = req.room_id, conn = req.conn, token](join_reply r) {
                               caf::anon_send(me, join_done{id, conn, token, std::move(r)});
                             });
    },
    [self](const join_done& d) {
      auto& st = self->state;
      auto& r = d.reply;
      if (r.result == outcome::unavailable)
        return refuse(d.conn, protocol::error_code::unavailable);
      if (r.result == outcome::refused)
        return refuse(d.conn, protocol::error_code::room_unavailable);
      if (r.host_node != st.parts->settings.node_id) {
        auto room = spawn_joined_room(self->home_system(), d.room_id, d.conn, r.host_node, r.host_conn, r.gen,
                                      d.token, &st.parts->settings);
        add_room(self, d.room_id, room, false);
        return;
      }
      // Host on this node: its room actor seats the guest. If that room
      // ended a moment ago, the request bounces and the seat is given back.
      auto i = st.rooms.find(d.room_id);
      if (i == st.rooms.end()) {
        bridge(self).unseat_guest(d.room_id, conn_name(d.conn));
        return refuse(d.conn, protocol::error_code::room_unavailable);
      }
      auto* b = &bridge(self);
      self->request(i->second.room, caf::infinite, seat_guest{d.conn, d.token})
        .then([](bool) {},
              [b, id = d.room_id, conn = d.conn](const caf::error&) {
                b->unseat_guest(id, conn_name(conn));
                refuse(conn, protocol::error_code::room_unavailable);
              });
    },
    // A parked seat comes back here: through our room actor for it if we
    // have one (its other member is here, or it is the one left behind),
    // else through a new one.
    [self](const resume_request& req) {
      auto& st = self->state;
      if (!bridge(self).up())
        return refuse(req.conn, protocol::error_code::unavailable);
      auto i = st.rooms.find(req.room_id);
      if (i != st.rooms.end())
        return resume_through(self, i->second.room, req.room_id, req.token, req.conn, false);
      auto room = spawn_resuming_room(self->home_system(), req.room_id, &st.parts->settings);
      add_room(self, req.room_id, room, false);
      resume_through(self, room, req.room_id, req.token, req.conn, true);
    },
    // Node drain: every room parks its members here; answered when all have.
    [self](park_all_atom) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      auto rp = self->make_response_promise<std::uint64_t>();
      if (st.rooms.empty()) {
        rp.deliver(std::uint64_t{0});
        return rp;
      }
      auto left = std::make_shared<std::size_t>(st.rooms.size());
      auto parked = std::make_shared<std::uint64_t>(0);
      for (auto& kv : st.rooms)
        self->request(kv.second.room, std::chrono::seconds(5), park_all_atom_v)
          .then(
            [rp, left, parked](std::uint64_t n) mutable {
              *parked += n;
              if (--*left == 0)
                rp.deliver(*parked);
            },
            [rp, left, parked](const caf::error&) mutable {
              if (--*left == 0)
                rp.deliver(*parked);
            });
      return rp;
    },
    // Redis lost our records (restart without data, FLUSHALL): write back the rooms we host.
    [self](write_back) {
      std::size_t n = 0;
      for (auto& kv : self->state.rooms)
        if (kv.second.hosted) {
          self->send(kv.second.room, write_back{});
          ++n;
        }
      if (n > 0)
        log::warn("event=rooms_restore count={}", n);
    },
    // Other nodes reaped us (we were cut off past our TTL): every room we had
    // is gone cluster-wide and its other member was told; end ours too.
    [self](reaped) {
      for (auto& kv : self->state.rooms)
        self->send(kv.second.room, reaped{});
      log::warn("event=rooms_ended_after_reap count={}", self->state.rooms.size());
    },
    // Rooms hosted here and rooms joined from here (the guest's stand-in).
    [self](list_rooms_atom) {
      std::map<std::string, caf::actor> sorted;
      std::uint64_t hosted = 0;
      for (auto& kv : self->state.rooms) {
        sorted.emplace(kv.first, caf::actor_cast<caf::actor>(kv.second.room));
        hosted += kv.second.hosted ? 1 : 0;
      }
      std::vector<std::string> ids;
      std::vector<caf::actor> rooms;
      for (auto& kv : sorted) {
        ids.push_back(kv.first);
        rooms.push_back(kv.second);
      }
      return caf::make_result(std::move(ids), std::move(rooms), hosted);
    },
  };
}

seat_role role_from(std::string_view name) {
  return name == "host" ? seat_role::host : seat_role::guest;
}

// An envelope from another node, on the subscriber's strand: a frame for a
// member here goes straight to its connection; the rest to the room actor.
void route(shared_parts& p, std::string_view payload) {
  envelope::parsed e;
  if (!envelope::parse(payload, e))
    return;
  auto& s = p.settings;
  auto received = now_ns();
  auto no_such_room = [&] {
    // It ended here: say so, so the sender's side ends too instead of
    // relaying into the void. (News about seats concerns rooms that may
    // well have no actor here.)
    if (e.k == envelope::kind::frame || e.k == envelope::kind::joined)
      s.bridge->publish(std::string(e.node), envelope::make(envelope::kind::left, e.room, e.gen, s.node_id, ""),
                        nullptr);
  };
  if (e.k == envelope::kind::frame) {
    auto r = p.registry.frame(e.room, e.gen, role_from(e.role));
    auto frame = std::make_shared<const std::string>(e.body);
    switch (r.to) {
      case room_registry::route::member:
        s.stats->relayed_in.fetch_add(1, std::memory_order_relaxed);
        return deliver_to_connection(r.target, std::string(e.room), std::move(frame), received);
      case room_registry::route::room:
        return caf::anon_send(r.target, room_envelope{e.k, std::string(e.node), std::string(e.role), {},
                                                      std::move(frame), received});
      case room_registry::route::unknown: return no_such_room();
      case room_registry::route::stale: return;
    }
    return;
  }
  auto r = p.registry.other(e.room, e.gen);
  switch (r.to) {
    case room_registry::route::room:
      return caf::anon_send(r.target, room_envelope{e.k, std::string(e.node), std::string(e.role),
                                                    std::string(e.body), nullptr, received});
    case room_registry::route::unknown: return no_such_room();
    default: return;
  }
}

} // namespace

struct cluster_runtime::impl {
  std::shared_ptr<shared_parts> parts = std::make_shared<shared_parts>();
  std::unique_ptr<redis_bridge> bridge;
  room_directory directory;
};

cluster_runtime::cluster_runtime(caf::actor_system& sys, boost::asio::io_context& ioc, redis_bridge::options opts,
                                 node_stats& stats, unsigned room_id_digits)
  : impl_(std::make_shared<impl>()) {
  auto parts = impl_->parts;
  auto& s = parts->settings;
  s.node_id = opts.node_id;
  s.stats = &stats;
  s.registry = &parts->registry;
  s.resume_grace = opts.resume_grace;
  s.resume_frames = opts.resume_frames;
  s.resume_bytes = opts.resume_bytes;
  std::weak_ptr<shared_parts> weak = parts;
  auto dir_cell = std::make_shared<caf::actor>(); // set once spawned below

  redis_bridge::handlers h;
  // Envelopes from other nodes, in the order that node published them.
  h.on_message = [weak](std::string_view payload) {
    if (auto p = weak.lock())
      route(*p, payload);
  };
  h.on_state = [](bool up) { log::info("event=cluster_link up={}", up); };
  h.on_registry_lost = [dir_cell] {
    if (*dir_cell)
      caf::anon_send(*dir_cell, write_back{});
  };
  h.on_reaped_self = [dir_cell] {
    if (*dir_cell)
      caf::anon_send(*dir_cell, reaped{});
  };
  h.on_room_reaped = [weak](const std::string& room_id, const std::string& gen, const std::string& member_node,
                            const std::string& dead) {
    auto p = weak.lock();
    if (!p)
      return;
    auto left = envelope::make(envelope::kind::left, room_id, gen, dead, "");
    if (member_node == p->settings.node_id)
      route(*p, left); // as if the dead node had said it
    else             // the survivor is on a third node: tell it
      p->settings.bridge->publish(member_node, std::move(left), nullptr);
  };
  h.on_heartbeat = [&stats](std::chrono::nanoseconds round_trip) { stats.redis_heartbeat.observe(round_trip); };
  h.local_counts = [&stats] {
    return std::pair<std::int64_t, std::int64_t>{stats.rooms.load(), stats.connections.load()};
  };
  impl_->bridge = std::make_unique<redis_bridge>(ioc, std::move(opts), std::move(h));
  s.bridge = impl_->bridge.get();
  auto dir = sys.spawn(cluster_directory, parts, room_id_digits);
  impl_->directory = dir;
  *dir_cell = caf::actor_cast<caf::actor>(dir);
}

cluster_runtime::~cluster_runtime() {
  stop();
}

room_directory cluster_runtime::directory() const {
  return impl_->directory;
}

void cluster_runtime::start() {
  impl_->bridge->start();
}

void cluster_runtime::leave(std::function<void()> done) {
  impl_->bridge->leave(std::move(done));
}

void cluster_runtime::stop() {
  impl_->bridge->stop();
}

std::uint64_t cluster_runtime::reconnects() const {
  return impl_->bridge->reconnects();
}

bool cluster_runtime::up() const {
  return impl_->bridge->up();
}

cluster_view::totals cluster_runtime::cluster_totals() const {
  return impl_->bridge->cluster_totals();
}

void cluster_runtime::list_nodes(std::function<void(bool, std::vector<node_entry>)> cb) const {
  impl_->bridge->list_nodes([cb](list_nodes_reply r) { cb(r.ok, std::move(r.nodes)); });
}

} // namespace signaling::cluster
