#include "actors/cluster_directory.hpp"

#include "actors/envelope.hpp"
#include "actors/protocol.hpp"
#include "actors/room_actor.hpp"
#include "actors/room_id.hpp"
#include "actors/messages.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <mutex>
#include <unordered_map>

namespace signaling {

namespace {

using outcome = cluster::redis_bridge::outcome;

using cluster_directory_actor = room_directory::extend<
  caf::reacts_to<create_done_atom, std::string, caf::actor, int, int, std::string>,
  caf::reacts_to<join_done_atom, std::string, caf::actor, int, std::string, std::string, std::string, std::string>,
  caf::reacts_to<registry_lost_atom>,
  caf::reacts_to<registry_lost_atom, bool>>;

struct shared_parts {
  room_links links;
  room_registry registry;
  node_stats* stats = nullptr;
};

struct directory_state {
  struct entry {
    caf::actor room;
    bool hosted; // the host is on this node: counted, restored by us
  };
  std::unordered_map<std::string, entry> rooms;
  std::unordered_map<caf::actor_addr, std::string> ids;
  room_id_generator ids_gen{6};
  std::shared_ptr<shared_parts> parts;
  static inline const char* name = "cluster-room-directory";
};

using directory_ptr = cluster_directory_actor::stateful_pointer<directory_state>;

constexpr int max_draws = 64;

std::string code(protocol::error_code c) {
  return std::string(protocol::code_name(c));
}

void refuse(const caf::actor& who, protocol::error_code c) {
  caf::anon_send(who, refused_atom_v, code(c));
}

// Draws an id that no room of this node has and asks Redis to claim it.
void try_create(directory_ptr self, const caf::actor& host, int attempt) {
  auto& st = self->state;
  std::string id;
  do
    id = st.ids_gen.next();
  while (st.rooms.count(id));
  auto me = caf::actor_cast<cluster_directory_actor>(self);
  auto token = make_resume_token();
  st.parts->links.bridge->create_room(id, conn_name(host), token, [me, id, host, attempt, token](outcome o) {
    caf::anon_send(me, create_done_atom_v, id, host, static_cast<int>(o), attempt, token);
  });
}

void add_room(directory_ptr self, const std::string& id, const caf::actor& room, bool hosted);

// Sends the resume to `room` (ours for `id`); if that room ends before it
// answers, a fresh one takes the resume: a member coming back to the node it
// left must not find the stand-in it left behind on its way out.
void resume_through(directory_ptr self, const caf::actor& room, const std::string& id, const std::string& token,
                    const caf::actor& conn, bool fresh) {
  self->request(room, caf::infinite, resume_atom_v, token, conn)
    .then(
      [self, id, room, conn](const std::string& role) {
        if (role.empty())
          return refuse(conn, protocol::error_code::room_unavailable);
        auto& st = self->state;
        auto i = st.rooms.find(id);
        if (role == "host" && i != st.rooms.end() && i->second.room == room && !i->second.hosted) {
          i->second.hosted = true;
          st.parts->stats->rooms.fetch_add(1, std::memory_order_relaxed);
        }
      },
      [self, id, token, conn, fresh](const caf::error&) {
        if (fresh)
          return refuse(conn, protocol::error_code::room_unavailable);
        auto room = self->spawn(resuming_room_actor, id, &self->state.parts->links);
        add_room(self, id, room, false);
        resume_through(self, room, id, token, conn, true);
      });
}

void add_room(directory_ptr self, const std::string& id, const caf::actor& room, bool hosted) {
  auto& st = self->state;
  self->monitor(room);
  st.ids.emplace(room.address(), id);
  st.rooms[id] = directory_state::entry{room, hosted};
  st.parts->registry.put(id, room);
  st.parts->stats->room_actors.fetch_add(1, std::memory_order_relaxed);
  if (hosted) {
    st.parts->stats->rooms.fetch_add(1, std::memory_order_relaxed);
    st.parts->stats->rooms_created.fetch_add(1, std::memory_order_relaxed);
  }
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
        st.parts->stats->rooms.fetch_sub(1, std::memory_order_relaxed);
      st.rooms.erase(r);
    }
    st.parts->registry.erase(i->second, dm.source);
    st.parts->stats->room_actors.fetch_sub(1, std::memory_order_relaxed);
    st.ids.erase(i);
  });
  self->set_exit_handler([self](const caf::exit_msg& em) {
    for (auto& kv : self->state.rooms)
      self->send_exit(kv.second.room, em.reason);
    self->quit(em.reason);
  });
  return {
    [self](create_atom, const caf::actor& host) {
      if (!self->state.parts->links.bridge->up())
        return refuse(host, protocol::error_code::unavailable);
      try_create(self, host, 0);
    },
    [self](create_done_atom, const std::string& id, const caf::actor& host, int result, int attempt,
           const std::string& token) {
      auto o = static_cast<outcome>(result);
      if (o == outcome::refused) { // a room on another node has this id
        if (attempt + 1 < max_draws)
          return try_create(self, host, attempt + 1);
        log::error("event=room_ids_exhausted");
        return refuse(host, protocol::error_code::unavailable);
      }
      if (o == outcome::unavailable)
        return refuse(host, protocol::error_code::unavailable);
      auto room = self->spawn(room_actor, id, host, token, &self->state.parts->links);
      add_room(self, id, room, true);
      log::info("event=room_created room={}", id);
      caf::anon_send(host, created_atom_v, id, room, token);
    },
    [self](join_room_atom, const std::string& id, const caf::actor& guest) {
      auto* bridge = self->state.parts->links.bridge;
      if (!bridge->up())
        return refuse(guest, protocol::error_code::unavailable);
      auto me = caf::actor_cast<cluster_directory_actor>(self);
      auto token = make_resume_token();
      bridge->join_room(id, conn_name(guest), token, [me, id, guest, token](cluster::redis_bridge::join_result r) {
        caf::anon_send(me, join_done_atom_v, id, guest, static_cast<int>(r.result), r.host_node, r.host_conn, r.gen,
                       token);
      });
    },
    [self](join_done_atom, const std::string& id, const caf::actor& guest, int result, const std::string& host_node,
           const std::string& host_conn, const std::string& gen, const std::string& token) {
      auto& st = self->state;
      auto o = static_cast<outcome>(result);
      if (o == outcome::unavailable)
        return refuse(guest, protocol::error_code::unavailable);
      if (o == outcome::refused)
        return refuse(guest, protocol::error_code::room_unavailable);
      auto* bridge = st.parts->links.bridge;
      if (host_node != st.parts->links.node_id) {
        auto room = self->spawn(joined_room_actor, id, guest, host_node, host_conn, gen, token, &st.parts->links);
        add_room(self, id, room, false);
        return;
      }
      // Host on this node: its room actor seats the guest. If that room
      // ended a moment ago, the request bounces and the seat is given back.
      auto i = st.rooms.find(id);
      if (i == st.rooms.end()) {
        bridge->unseat_guest(id, conn_name(guest));
        return refuse(guest, protocol::error_code::room_unavailable);
      }
      self->request(i->second.room, caf::infinite, join_room_atom_v, guest, token)
        .then([](bool) {},
              [bridge, id, guest](const caf::error&) {
                bridge->unseat_guest(id, conn_name(guest));
                refuse(guest, protocol::error_code::room_unavailable);
              });
    },
    // A parked seat comes back here: through our room actor for it if we
    // have one (its other member is here, or it is the one left behind),
    // else through a new one.
    [self](resume_atom, const std::string& id, const std::string& token, const caf::actor& conn) {
      auto& st = self->state;
      if (!st.parts->links.bridge->up())
        return refuse(conn, protocol::error_code::unavailable);
      auto i = st.rooms.find(id);
      if (i != st.rooms.end())
        return resume_through(self, i->second.room, id, token, conn, false);
      auto room = self->spawn(resuming_room_actor, id, &st.parts->links);
      add_room(self, id, room, false);
      resume_through(self, room, id, token, conn, true);
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
    [self](registry_lost_atom) {
      std::size_t n = 0;
      for (auto& kv : self->state.rooms)
        if (kv.second.hosted) {
          caf::anon_send(kv.second.room, restore_atom_v);
          ++n;
        }
      if (n > 0)
        log::warn("event=rooms_restore count={}", n);
    },
    // Other nodes reaped us (we were cut off past our TTL): every room we had
    // is gone cluster-wide and its other member was told; end ours too.
    [self](registry_lost_atom, bool) {
      for (auto& kv : self->state.rooms)
        caf::anon_send(kv.second.room, leave_room_atom_v, caf::actor{});
      log::warn("event=rooms_ended_after_reap count={}", self->state.rooms.size());
    },
    // Rooms hosted here and rooms joined from here (the guest's stand-in).
    [self](list_rooms_atom) {
      std::map<std::string, caf::actor> sorted;
      std::uint64_t hosted = 0;
      for (auto& kv : self->state.rooms) {
        sorted.emplace(kv.first, kv.second.room);
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

} // namespace

struct cluster_runtime::impl {
  std::shared_ptr<shared_parts> parts = std::make_shared<shared_parts>();
  std::unique_ptr<cluster::redis_bridge> bridge;
  room_directory directory;
};

cluster_runtime::cluster_runtime(caf::actor_system& sys, boost::asio::io_context& ioc,
                                 cluster::redis_bridge::options opts, node_stats& stats, unsigned room_id_digits)
  : impl_(std::make_shared<impl>()) {
  auto parts = impl_->parts;
  parts->stats = &stats;
  parts->links.node_id = opts.node_id;
  parts->links.stats = &stats;
  parts->links.registry = &parts->registry;
  parts->links.resume_grace = opts.resume_grace;
  parts->links.resume_frames = opts.resume_frames;
  parts->links.resume_bytes = opts.resume_bytes;
  std::weak_ptr<shared_parts> weak = parts;
  auto dir_cell = std::make_shared<caf::actor>(); // set once spawned below

  cluster::redis_bridge::handlers h;
  // Envelopes from other nodes, in the order that node published them.
  h.on_message = [weak](std::string payload) {
    auto p = weak.lock();
    envelope::parsed e;
    if (!p || !envelope::parse(payload, e))
      return;
    auto room = p->registry.find(e.room);
    std::string from{e.from_node};
    if (!room) {
      // No such room here (it ended): say so, so the sender's side ends too
      // instead of relaying into the void. (News about seats concerns rooms
      // that may well have no actor here.)
      if (e.k == envelope::kind::frame || e.k == envelope::kind::joined)
        p->links.bridge->publish(from, envelope::make(envelope::kind::left, e.room, p->links.node_id), nullptr);
      return;
    }
    switch (e.k) {
      case envelope::kind::frame:
        caf::anon_send(room, remote_frame_atom_v, from, std::make_shared<const std::string>(e.body), now_ns());
        break;
      case envelope::kind::joined:
        caf::anon_send(room, remote_joined_atom_v, from, std::string(e.body));
        break;
      case envelope::kind::left: caf::anon_send(room, remote_left_atom_v, from); break;
      case envelope::kind::parked: caf::anon_send(room, remote_parked_atom_v, from, std::string(e.body)); break;
      case envelope::kind::resumed: caf::anon_send(room, remote_resumed_atom_v, from, std::string(e.body)); break;
      case envelope::kind::fence: caf::anon_send(room, fence_atom_v, std::string(e.body)); break;
    }
  };
  h.on_state = [](bool up) { log::info("event=cluster_link up={}", up); };
  h.on_registry_lost = [dir_cell] {
    if (*dir_cell)
      caf::anon_send(*dir_cell, registry_lost_atom_v);
  };
  h.on_reaped_self = [dir_cell] {
    if (*dir_cell)
      caf::anon_send(*dir_cell, registry_lost_atom_v, true);
  };
  h.on_room_reaped = [weak](const std::string& room_id, const std::string& member_node, const std::string& dead) {
    auto p = weak.lock();
    if (!p)
      return;
    if (member_node == p->links.node_id) {
      if (auto room = p->registry.find(room_id))
        caf::anon_send(room, remote_left_atom_v, dead);
    } else {
      // The survivor is on a third node: tell it as if the dead node had.
      p->links.bridge->publish(member_node, envelope::make(envelope::kind::left, room_id, dead), nullptr);
    }
  };
  h.local_counts = [&stats] {
    return std::pair<std::int64_t, std::int64_t>{stats.rooms.load(), stats.connections.load()};
  };
  impl_->bridge = std::make_unique<cluster::redis_bridge>(ioc, std::move(opts), std::move(h));
  parts->links.bridge = impl_->bridge.get();
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

cluster::redis_bridge::totals cluster_runtime::totals() const {
  return impl_->bridge->cluster_totals();
}

void cluster_runtime::list_nodes(std::function<void(bool, std::vector<cluster::redis_bridge::node_entry>)> cb) const {
  impl_->bridge->list_nodes(std::move(cb));
}

} // namespace signaling
