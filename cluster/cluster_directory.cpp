#include "cluster/cluster_directory.hpp"

#include "actors/connection_actor.hpp"
#include "actors/room_id.hpp"
#include "actors/tsan_handoff.hpp"
#include "cluster/cluster_room.hpp"
#include "cluster/envelope.hpp"
#include "cluster/messages.hpp"
#include "cluster/room_registry.hpp"
#include "cluster/sentinel.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace signaling::cluster {

namespace {

using cluster_directory_actor =
  room_directory::extend<caf::reacts_to<create_done>, caf::reacts_to<join_done>, caf::reacts_to<misses_checked>,
                         caf::reacts_to<write_back>, caf::reacts_to<reaped>>;

// What the directory, its rooms and the subscriber share; outlives them all.
struct shared_parts {
  cluster_room_settings settings;
  room_registry registry;
  shard_set shards;
  std::uint32_t join_misses_per_ip = 0; // the cluster-wide budget (0: none)
};

// The shard whose Redis keeps client address `address`'s budgets.
redis_bridge& bridge_for_address(const shared_parts& p, const std::string& address) {
  return p.shards.for_room(address);
}

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

const shard_set& shards(directory_ptr self) {
  return *self->state.parts->settings.shards;
}

// The shard room `id` lives on.
redis_bridge& bridge_for(directory_ptr self, std::string_view id) {
  return shards(self).for_room(id);
}

// Some shard can take a new room (and no shard says this node's shard list
// differs from the cluster's: then it takes none).
bool any_shard_up(directory_ptr self) {
  bool any = false;
  for (auto* b : shards(self).bridges) {
    if (b->mismatched())
      return false;
    any = any || b->up();
  }
  return any;
}

node_stats& stats(directory_ptr self) {
  return *self->state.parts->settings.stats;
}

// Draws an id that no room of this node has, on a shard that is up (a
// room's shard follows from its id, so creating never fails while any shard
// is up), and asks that shard to claim it. Each draw counts as an attempt.
void try_create(directory_ptr self, const caf::actor& conn, int attempt) {
  auto& st = self->state;
  std::string id;
  for (;;) {
    id = st.ids_gen.next();
    if (st.rooms.count(id))
      continue;
    if (bridge_for(self, id).up())
      break;
    if (++attempt >= max_draws) {
      log::error("event=room_ids_exhausted reason=no_shard_up");
      return refuse(conn, protocol::error_code::unavailable);
    }
  }
  auto me = caf::actor_cast<cluster_directory_actor>(self);
  auto token = make_resume_token();
  bridge_for(self, id).create_room(id, conn_name(conn), token, [me, id, conn, attempt, token](create_reply r) {
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

// Seats the sender of `req` as the guest of its room, if Redis agrees.
void join(directory_ptr self, const join_room_request& req) {
  auto me = caf::actor_cast<cluster_directory_actor>(self);
  auto token = make_resume_token();
  bridge_for(self, req.room_id).join_room(req.room_id, conn_name(req.conn), token,
                                          [me, id = req.room_id, conn = req.conn, token](join_reply r) {
                                            caf::anon_send(me, join_done{id, conn, token, std::move(r)});
                                          });
}

void resume(directory_ptr self, const resume_request& req) {
  auto& st = self->state;
  auto i = st.rooms.find(req.room_id);
  if (i != st.rooms.end())
    return resume_through(self, i->second.room, req.room_id, req.token, req.conn, false);
  auto room = spawn_resuming_room(self->home_system(), req.room_id, &st.parts->settings);
  add_room(self, req.room_id, room, false);
  resume_through(self, room, req.room_id, req.token, req.conn, true);
}

// The connection has passed its node's own budget of join misses
// (actors/join_miss_budget.hpp); the cluster's is read from the shard of its
// address before the join or resume goes on (misses_checked). True: asked,
// the request waits for the answer. A shard that cannot answer lets the
// request through: the node's own budget is the fallback.
bool check_misses(directory_ptr self, const std::string& address, misses_checked::pending req) {
  auto& parts = *self->state.parts;
  if (parts.join_misses_per_ip == 0 || address.empty())
    return false;
  auto& b = bridge_for_address(parts, address);
  if (!b.up())
    return false;
  auto me = caf::actor_cast<cluster_directory_actor>(self);
  b.address_misses(address, parts.join_misses_per_ip, false, [me, req = std::move(req)](budget_reply r) mutable {
    caf::anon_send(me, misses_checked{std::move(req), r.result != outcome::refused});
  });
  return true;
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
      if (!any_shard_up(self))
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
      if (!bridge_for(self, req.room_id).up())
        return refuse(req.conn, protocol::error_code::unavailable);
      if (check_misses(self, req.address, join_room_request{req}))
        return;
      join(self, req);
    },
    [self](misses_checked& c) {
      if (!c.allowed)
        return refuse(c.conn(), protocol::error_code::rate_limited);
      if (auto* j = std::get_if<join_room_request>(&c.request))
        join(self, *j);
      else
        resume(self, std::get<resume_request>(c.request));
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
        bridge_for(self, d.room_id).unseat_guest(d.room_id, conn_name(d.conn));
        return refuse(d.conn, protocol::error_code::room_unavailable);
      }
      auto* b = &bridge_for(self, d.room_id);
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
      if (!bridge_for(self, req.room_id).up())
        return refuse(req.conn, protocol::error_code::unavailable);
      if (check_misses(self, req.address, resume_request{req}))
        return;
      resume(self, req);
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
    // A shard lost our records (restart without data, FLUSHALL, a failover
    // that lost writes): write back the rooms we have a member of on it (the
    // other member's node writes back the same room with its own token).
    [self](write_back wb) {
      std::size_t n = 0;
      for (auto& kv : self->state.rooms)
        if (wb.shard < 0 || shards(self).index_of(kv.first) == static_cast<std::size_t>(wb.shard)) {
          self->send(kv.second.room, write_back{});
          ++n;
        }
      if (n > 0)
        log::warn("event=rooms_restore shard={} count={}", wb.shard, n);
    },
    // Other nodes reaped us on a shard (we were cut off from it past our
    // TTL): every room we had there is gone cluster-wide and its other
    // member was told; end ours too. Rooms on other shards carry on.
    [self](reaped r) {
      std::size_t n = 0;
      for (auto& kv : self->state.rooms)
        if (r.shard < 0 || shards(self).index_of(kv.first) == static_cast<std::size_t>(r.shard)) {
          self->send(kv.second.room, reaped{});
          ++n;
        }
      log::warn("event=rooms_ended_after_reap shard={} count={}", r.shard, n);
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
      s.shards->for_room(e.room).publish(std::string(e.node),
                                         envelope::make(envelope::kind::left, e.room, e.gen, s.node_id, ""), nullptr);
  };
  if (e.k == envelope::kind::frame) {
    auto r = p.registry.frame(e.room, e.gen, role_from(e.role));
    switch (r.to) {
      case room_registry::route::member:
        s.stats->relayed_in.fetch_add(1, std::memory_order_relaxed);
        return deliver_to_connection(r.target, e.room, e.body, received);
      case room_registry::route::room: {
        auto frame = std::make_shared<const std::string>(e.body);
        tsan::handed_over(frame.get()); // the room may pass it on to another I/O thread
        return caf::anon_send(r.target, room_envelope{e.k, std::string(e.node), std::string(e.role), {},
                                                      std::move(frame), received});
      }
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
  std::unique_ptr<sentinel_set> sentinels;
  std::vector<std::unique_ptr<redis_bridge>> bridges; // one per shard, in the order configured
  room_directory directory;
  mutable std::mutex refusal_mutex;
  std::string sentinel_refusal; // a sentinel refused REDIS_SENTINEL_PASSWORD
};

cluster_runtime::cluster_runtime(caf::actor_system& sys, boost::asio::io_context& ioc, redis_plan plan,
                                 redis_bridge::options opts, node_stats& stats, unsigned room_id_digits,
                                 std::uint32_t join_misses_per_ip)
  : impl_(std::make_shared<impl>()) {
  auto parts = impl_->parts;
  parts->join_misses_per_ip = join_misses_per_ip;
  auto& s = parts->settings;
  s.node_id = opts.node_id;
  s.stats = &stats;
  s.registry = &parts->registry;
  s.shards = &parts->shards;
  s.resume_grace = opts.resume_grace;
  s.resume_frames = opts.resume_frames;
  s.resume_bytes = opts.resume_bytes;
  std::weak_ptr<shared_parts> weak = parts;
  auto dir_cell = std::make_shared<caf::actor>(); // set once spawned below

  if (!plan.sentinels.empty()) {
    sentinel_set::options so;
    so.addresses = plan.sentinels;
    so.password = plan.sentinel_password;
    so.timeout = opts.command_timeout;
    impl_->sentinels = std::make_unique<sentinel_set>(ioc, so);
    std::weak_ptr<impl> me = impl_;
    impl_->sentinels->on_refused([me](const std::string& why) {
      if (auto m = me.lock()) {
        std::lock_guard<std::mutex> g{m->refusal_mutex};
        if (m->sentinel_refusal.empty())
          log::error("event=sentinel_refused reason={}", log::q(why));
        m->sentinel_refusal = "a sentinel refused REDIS_SENTINEL_PASSWORD: " + why;
      }
    });
  }

  std::vector<std::string> names;
  for (auto& spec : plan.shards)
    names.push_back(spec.name);
  parts->shards.map = shard_map{names};
  auto list = shard_list(plan.shards);
  for (std::size_t i = 0; i < plan.shards.size(); ++i) {
    auto& spec = plan.shards[i];
    auto shard = static_cast<std::int32_t>(i);
    redis_bridge::options o = opts;
    o.endpoint = spec.endpoint;
    o.shard = spec.name;
    o.shard_list = list;
    if (!spec.master.empty()) {
      sentinel_set* set = impl_->sentinels.get();
      o.locate = [set, master = spec.master](const std::string& avoid, redis_client::locate_callback cb) {
        set->locate(master, avoid, std::move(cb));
      };
      o.require_primary = true;
    }
    redis_bridge::handlers h;
    // Envelopes from other nodes, in the order that node published them
    // (a room's envelopes all travel on its shard).
    h.on_message = [weak](std::string_view payload) {
      if (auto p = weak.lock())
        route(*p, payload);
    };
    h.on_state = [name = spec.name](bool up) { log::info("event=cluster_link shard={} up={}", name, up); };
    h.on_registry_lost = [dir_cell, shard] {
      if (*dir_cell)
        caf::anon_send(*dir_cell, write_back{shard});
    };
    h.on_failover = [dir_cell, shard](const std::string&, const std::string&) {
      if (*dir_cell)
        caf::anon_send(*dir_cell, write_back{shard});
    };
    h.on_reaped_self = [dir_cell, shard] {
      if (*dir_cell)
        caf::anon_send(*dir_cell, reaped{shard});
    };
    h.on_room_reaped = [weak, i](const std::string& room_id, const std::string& gen, const std::string& member_node,
                                 const std::string& dead) {
      auto p = weak.lock();
      if (!p)
        return;
      auto left = envelope::make(envelope::kind::left, room_id, gen, dead, "");
      if (member_node == p->settings.node_id)
        route(*p, left); // as if the dead node had said it
      else             // the survivor is on a third node: tell it
        p->shards.bridges[i]->publish(member_node, std::move(left), nullptr);
    };
    h.on_heartbeat = [&stats](std::chrono::nanoseconds round_trip) { stats.redis_heartbeat.observe(round_trip); };
    h.local_counts = [&stats] {
      return std::pair<std::int64_t, std::int64_t>{stats.rooms.load(), stats.connections.load()};
    };
    impl_->bridges.push_back(std::make_unique<redis_bridge>(ioc, std::move(o), std::move(h)));
    parts->shards.bridges.push_back(impl_->bridges.back().get());
  }
  if (impl_->sentinels) {
    // +switch-master: the group's links move now instead of at their next
    // failed attempt (a replica's READONLY, or the old primary gone).
    std::vector<std::pair<std::string, redis_bridge*>> by_master;
    for (std::size_t i = 0; i < plan.shards.size(); ++i)
      if (!plan.shards[i].master.empty())
        by_master.emplace_back(plan.shards[i].master, impl_->bridges[i].get());
    impl_->sentinels->on_switch([by_master](const std::string& master, const std::string& address) {
      for (auto& [name, bridge] : by_master)
        if (name == master)
          bridge->primary_moved(address);
    });
  }
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
  if (impl_->sentinels)
    impl_->sentinels->start();
  for (auto& b : impl_->bridges)
    b->start();
}

std::optional<std::string> cluster_runtime::await_settled(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto all_settled = [this] {
    for (auto& b : impl_->bridges)
      if (!b->settled())
        return false;
    return true;
  };
  while (!all_settled() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& b : impl_->bridges)
    if (auto why = b->refusal(); !why.empty())
      return "Redis shard " + b->state().name + " refused this node: " + why;
  std::lock_guard<std::mutex> g{impl_->refusal_mutex};
  if (!impl_->sentinel_refusal.empty())
    return impl_->sentinel_refusal;
  return std::nullopt;
}

void cluster_runtime::leave(std::function<void()> done) {
  auto left = std::make_shared<std::atomic<std::size_t>>(impl_->bridges.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& b : impl_->bridges)
    b->leave([left, finish] {
      if (left->fetch_sub(1) == 1)
        (*finish)();
    });
}

void cluster_runtime::stop() {
  for (auto& b : impl_->bridges)
    b->stop();
  if (impl_->sentinels)
    impl_->sentinels->stop();
}

std::uint64_t cluster_runtime::reconnects() const {
  std::uint64_t n = 0;
  for (auto& b : impl_->bridges)
    n += b->reconnects();
  return n;
}

void cluster_runtime::charge_join_miss(const std::string& address) const {
  auto& b = bridge_for_address(*impl_->parts, address);
  if (impl_->parts->join_misses_per_ip > 0 && b.up())
    b.address_misses(address, impl_->parts->join_misses_per_ip, true, nullptr);
}

void cluster_runtime::take_address_slot(const std::string& address, std::size_t cap,
                                        std::function<void(outcome)> cb) const {
  auto& b = bridge_for_address(*impl_->parts, address);
  if (!b.up())
    return cb(outcome::unavailable);
  b.take_address_slot(address, cap, [cb = std::move(cb)](budget_reply r) { cb(r.result); });
}

void cluster_runtime::give_address_slot(const std::string& address) const {
  bridge_for_address(*impl_->parts, address).give_address_slot(address);
}

bool cluster_runtime::up() const {
  // Ready while one shard is usable; but never with a shard list that
  // differs from the cluster's, even if only one shard could tell.
  bool any = false;
  for (auto& b : impl_->bridges) {
    if (b->mismatched())
      return false;
    any = any || b->up();
  }
  return any;
}

std::vector<cluster_view::shard_state> cluster_runtime::shards() const {
  std::vector<shard_state> out;
  for (auto& b : impl_->bridges)
    out.push_back(b->state());
  return out;
}

cluster_view::totals cluster_runtime::cluster_totals() const {
  // Every node heartbeats on every shard with the same counts: any usable
  // shard's sums will do; the first in the configured order, for stable figures.
  totals t;
  for (auto& b : impl_->bridges)
    if (b->up() && b->cluster_totals(t))
      return t;
  for (auto& b : impl_->bridges)
    if (b->cluster_totals(t))
      return t;
  auto& st = *impl_->parts->settings.stats;
  return totals{st.rooms.load(), st.connections.load(), 1};
}

void cluster_runtime::list_nodes(std::function<void(bool, std::vector<node_entry>)> cb) const {
  // Each shard's registry, merged by node id once all have answered.
  struct merge {
    std::mutex mutex;
    std::size_t waiting = 0;
    bool any_ok = false;
    std::map<std::string, node_entry> nodes;
    std::function<void(bool, std::vector<node_entry>)> cb;
  };
  auto m = std::make_shared<merge>();
  m->waiting = impl_->bridges.size();
  m->cb = std::move(cb);
  for (auto& b : impl_->bridges)
    b->list_nodes([m](list_nodes_reply r) {
      std::unique_lock<std::mutex> g{m->mutex};
      if (r.ok) {
        m->any_ok = true;
        for (auto& n : r.nodes) {
          auto& e = m->nodes[n.id];
          if (e.id.empty())
            e.id = n.id;
          if (n.alive && !e.alive) {
            e.alive = true;
            e.rooms = n.rooms;
            e.connections = n.connections;
          }
          if (e.info.empty())
            e.info = n.info;
          e.shards_alive += n.alive ? 1 : 0;
        }
      }
      if (--m->waiting > 0)
        return;
      std::vector<node_entry> out;
      for (auto& kv : m->nodes)
        out.push_back(std::move(kv.second));
      g.unlock();
      m->cb(m->any_ok, std::move(out));
    });
}

} // namespace signaling::cluster
