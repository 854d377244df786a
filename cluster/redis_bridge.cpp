#include "cluster/redis_bridge.hpp"

#include "cluster/envelope.hpp"

#include "telemetry/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace signaling::cluster {

namespace net = boost::asio;

namespace {

// Keys (prefix "sig:" by default):
//   room:{id}          hash gen (the host's first connection: tells a room from
//                      a later one with the same id), and per seat R (host,
//                      guest): R_node, R_conn (where it is; both '' while
//                      parked), R_tok (its resume token), R_due (unix ms the
//                      grace of a parked seat ends; absent while seated),
//                      R_qb, R_drop, R_acked (bytes kept, frames dropped,
//                      messages it had relayed, while parked)
//   room:{id}:q:{R}    list of frames kept for parked seat R, oldest first
//   node:{node}:rooms  set of room ids with a seated member on that node
//   node:{node}:alive  "rooms conns", expires after NODE_TTL_MS unless refreshed
//   node:{node}:info   the node's node_info (admin address, start), same TTL
//   node:{node}:reaped set when other nodes reaped it while it was cut off
//   nodes              set of node ids seen
//   shards             the cluster's shard list (SHARDS checks it, TICK restores it)
// Channels: chan:{node}, one per node, carrying envelopes (cluster/envelope.hpp).
// Scripts publish the envelopes whose order matters (D, R, X, and frames to a
// seat) themselves, so their order on every channel is the order the scripts
// ran in.

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

struct redis_bridge::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, options o, handlers h)
    : opts(std::move(o)), on(std::move(h)), commands(ioc, client_options("commands", true)),
      subscriber(ioc, client_options("subscriber", false)), timer(net::make_strand(ioc)) {}

  redis_client::options client_options(const char* name, bool with_scripts) const {
    redis_client::options c;
    c.endpoint = opts.endpoint;
    c.name = opts.shard.empty() ? std::string(name) : std::string(name) + " " + opts.shard;
    c.command_timeout = opts.command_timeout;
    c.connect_timeout = opts.command_timeout;
    c.locate = opts.locate;
    c.require_primary = opts.require_primary;
    if (with_scripts) {
      c.scripts = scripts::all();
      c.batch_delay = opts.batch_delay;
    }
    return c;
  }

  options opts;
  handlers on;
  redis_client commands;
  redis_client subscriber;
  net::steady_timer timer;
  std::atomic<bool> stopped{false};
  std::atomic<bool> leaving{false};
  std::chrono::steady_clock::time_point link_up_since; // on the commands strand
  bool took_over = false;
  std::string last_primary; // on the commands strand: where the command link was last up
  // The shard list was agreed on the command link's current connection.
  std::atomic<bool> verified{false};
  std::atomic<bool> is_settled{false};
  std::atomic<std::uint64_t> failovers{0};
  mutable std::mutex refusal_mutex;
  std::string refusal;  // why Redis refuses this node; empty: it does not
  bool mismatch = false; // the refusal is another shard list (SHARDS is asked again every heartbeat)
  std::atomic<bool> reported_up{false};
  std::mutex state_mutex;
  std::atomic<std::int64_t> local_rooms{0}, local_conns{0};
  // ADDR_CONNS gives that could not reach Redis: sent again when the shard
  // is usable again (check_shards).
  std::mutex gives_mutex;
  std::vector<std::string> unsent_gives;
  mutable std::mutex totals_mutex;
  cluster_view::totals last_totals;
  bool have_totals = false;

  // ARGV of a script call: the key prefix, then `a`.
  args argv(std::initializer_list<std::string> a) const {
    args out{opts.prefix};
    out.insert(out.end(), a);
    return out;
  }

  // The fixed ARGV of SEAT_FRAMES for seat `role` of room `id` (see
  // cluster/scripts/seat_frames.lua): frames appended ("tail") or put first
  // ("head") while the seat is parked, each after a header of our F envelope.
  args seat_frames_argv(const std::string& id, const std::string& gen, const std::string& role,
                        const char* where) const {
    return argv({id, gen, role, where, std::to_string(opts.resume_frames), std::to_string(opts.resume_bytes),
                 std::to_string(opts.resume_grace.count() + 60000),
                 std::to_string(envelope::frame_header(id, gen, opts.node_id, role).size())});
  }

  // Called from both links' strands: read both states and publish the result
  // under one lock, or a stale "down" computed on one strand could land after
  // a fresh "up" from the other and leave the node unready for good.
  void link_state_changed() {
    std::lock_guard<std::mutex> g{state_mutex};
    bool now = commands.up() && subscriber.up() && verified;
    if (now != reported_up.exchange(now) && on.on_state)
      on.on_state(now);
  }

  void set_refusal(const std::string& why, bool is_mismatch) {
    bool changed = false;
    {
      std::lock_guard<std::mutex> g{refusal_mutex};
      changed = refusal != why;
      refusal = why;
      mismatch = is_mismatch;
    }
    is_settled = true;
    if (changed)
      log::error("event=redis_refused shard={} reason={}", opts.shard, log::q(why));
    if (on.on_refused)
      on.on_refused(why);
  }

  void clear_refusal() {
    std::lock_guard<std::mutex> g{refusal_mutex};
    refusal.clear();
    mismatch = false;
  }

  bool refused_by_mismatch() const {
    std::lock_guard<std::mutex> g{refusal_mutex};
    return mismatch;
  }

  void start() {
    auto self = shared_from_this();
    commands.on_state([self](bool up) {
      self->verified = false;
      // Redis hung or gone for commands: the subscriber cannot be trusted either.
      if (!up)
        self->subscriber.reset("command link down");
      self->link_state_changed();
      if (!up)
        return;
      self->link_up_since = std::chrono::steady_clock::now();
      self->check_shards();
    });
    auto refused = [self](const std::string& why) { self->set_refusal(why, false); };
    commands.on_refused(refused);
    subscriber.on_refused(refused);
    subscriber.on_state([self](bool) { self->link_state_changed(); });
    subscriber.on_message([self](std::string_view, std::string_view payload) {
      if (self->on.on_message)
        self->on.on_message(payload);
    });
    subscriber.subscribe(opts.prefix + "chan:" + opts.node_id);
    commands.start();
    subscriber.start();
    schedule_tick();
  }

  // Before this node heartbeats on the shard (each time the command link
  // comes up): is its shard list the cluster's? If not it is refused here
  // and asks again every heartbeat, in case the cluster it disagreed with
  // has gone. If so, the shard is usable; on a new primary (a failover) the
  // rooms we host are written back, in case the last writes were lost.
  void check_shards() {
    auto self = shared_from_this();
    commands.eval(scripts::shards, argv({opts.node_id, opts.shard_list}), [self](redis_result r) {
      auto c = shards_reply::decode(r);
      if (!c.ok || !self->commands.up())
        return; // the link failed meanwhile: its next connection asks again
      if (!c.match) {
        if (!self->refused_by_mismatch())
          log::error("event=shard_list_mismatch shard={} ours={} cluster={}", self->opts.shard,
                     log::q(self->opts.shard_list), log::q(c.stored));
        self->set_refusal("this node's shard list \"" + self->opts.shard_list + "\" differs from the cluster's \"" +
                            c.stored + "\" (on shard " + self->opts.shard + ")",
                          true);
        return;
      }
      self->clear_refusal();
      auto primary = self->commands.address();
      if (!self->last_primary.empty() && primary != self->last_primary) {
        self->failovers.fetch_add(1, std::memory_order_relaxed);
        log::warn("event=redis_failover shard={} from={} to={}", self->opts.shard, self->last_primary, primary);
        if (self->on.on_failover)
          self->on.on_failover(self->last_primary, primary);
      }
      self->last_primary = primary;
      self->verified = true;
      self->resend_gives();
      self->is_settled = true;
      self->link_state_changed();
      if (!self->took_over) {
        // Rooms an earlier process with our NODE_ID left behind (it crashed
        // and we restarted within its TTL) are gone: release them now.
        self->took_over = true;
        self->reap(self->opts.node_id, [self] { self->tick(); });
      } else {
        self->tick();
      }
    });
  }

  void give(std::string address) {
    auto a = argv({address, opts.node_id, "0", "give"});
    commands.eval(scripts::addr_conns, std::move(a), [self = shared_from_this(), address](redis_result r) mutable {
      if (r.ok)
        return;
      std::lock_guard<std::mutex> g{self->gives_mutex};
      if (self->unsent_gives.size() < 65536)
        self->unsent_gives.push_back(std::move(address));
    });
  }

  void resend_gives() {
    std::vector<std::string> again;
    {
      std::lock_guard<std::mutex> g{gives_mutex};
      again.swap(unsent_gives);
    }
    for (auto& a : again)
      give(std::move(a));
  }

  void schedule_tick() {
    timer.expires_after(opts.heartbeat);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped || self->leaving)
        return;
      if (self->verified)
        self->tick();
      else if (self->refused_by_mismatch() && self->commands.up())
        self->check_shards();
      self->schedule_tick();
    });
  }

  void tick() {
    if (on.local_counts) {
      auto [rooms, conns] = on.local_counts();
      local_rooms = rooms;
      local_conns = conns;
    }
    auto a = argv({opts.node_id, std::to_string(opts.node_ttl.count()), std::to_string(local_rooms.load()),
                   std::to_string(local_conns.load()), opts.node_info ? opts.node_info() : std::string{},
                   opts.shard_list});
    auto sent = std::chrono::steady_clock::now();
    commands.eval(scripts::tick, std::move(a), [self = shared_from_this(), sent](redis_result r) {
      auto t = tick_reply::decode(r);
      if (!t.ok)
        return;
      if (self->on.on_heartbeat)
        self->on.on_heartbeat(std::chrono::steady_clock::now() - sent);
      {
        std::lock_guard<std::mutex> g{self->totals_mutex};
        self->last_totals = t.totals;
        self->have_totals = true;
      }
      if (t.was_reaped) {
        log::warn("event=node_was_reaped node={}", self->opts.node_id);
        if (self->on.on_reaped_self)
          self->on.on_reaped_self();
      } else if (!t.had_alive && self->on.on_registry_lost) {
        self->on.on_registry_lost();
      }
      // Right after (re)connecting, every node's key may have lapsed while
      // Redis was away: give live nodes one TTL to tick before reaping any.
      if (std::chrono::steady_clock::now() - self->link_up_since < self->opts.node_ttl)
        return;
      for (auto& dead : t.dead)
        self->reap(dead);
    });
  }

  // Removes `dead`'s rooms and tells their survivors. With `done` this is
  // our own graceful exit (or the takeover of a crashed earlier process of
  // ours): `done` runs once the survivors' envelopes have been answered by
  // Redis (one connection, FIFO: a PING after them proves it).
  void reap(const std::string& dead, std::function<void()> done = nullptr) {
    auto a = argv({dead, done ? "leaving" : "", std::to_string(opts.resume_grace.count()), std::to_string(unix_ms())});
    commands.eval(scripts::reap, std::move(a), [self = shared_from_this(), dead, done](redis_result r) {
      auto rr = reap_reply::decode(r);
      if (rr.ok) {
        if (!rr.survivors.empty() || !done)
          log::warn("event=node_reaped node={} shard={} rooms_with_survivors={}", dead, self->opts.shard,
                    rr.survivors.size());
        for (auto& s : rr.survivors)
          if (self->on.on_room_reaped)
            self->on.on_room_reaped(s.room, s.gen, s.node, dead);
      }
      if (done)
        self->commands.command({"PING"}, [done](redis_result) { done(); });
    });
  }
};

redis_bridge::redis_bridge(net::io_context& ioc, options opts, handlers h)
  : impl_(std::make_shared<impl>(ioc, std::move(opts), std::move(h))) {}

redis_bridge::~redis_bridge() {
  stop();
}

void redis_bridge::start() {
  impl_->start();
}

void redis_bridge::leave(std::function<void()> done) {
  impl_->leaving = true; // no more heartbeats
  impl_->timer.cancel();
  impl_->reap(impl_->opts.node_id, std::move(done));
}

void redis_bridge::stop() {
  if (impl_->stopped.exchange(true))
    return;
  impl_->timer.cancel();
  impl_->commands.stop();
  impl_->subscriber.stop();
}

bool redis_bridge::up() const {
  return impl_->reported_up;
}

std::uint64_t redis_bridge::reconnects() const {
  return impl_->commands.reconnects() + impl_->subscriber.reconnects();
}

const std::string& redis_bridge::node_id() const {
  return impl_->opts.node_id;
}

void redis_bridge::create_room(const std::string& id, const std::string& conn, const std::string& token,
                               std::function<void(create_reply)> cb) {
  impl_->commands.eval(scripts::create, impl_->argv({id, impl_->opts.node_id, conn, token}),
                       [cb](redis_result r) { cb(create_reply::decode(r)); });
}

void redis_bridge::join_room(const std::string& id, const std::string& conn, const std::string& token,
                             std::function<void(join_reply)> cb) {
  impl_->commands.eval(scripts::join, impl_->argv({id, impl_->opts.node_id, conn, token}),
                       [cb](redis_result r) { cb(join_reply::decode(r)); });
}

void redis_bridge::unseat_guest(const std::string& id, const std::string& conn) {
  impl_->commands.eval(scripts::unseat, impl_->argv({id, impl_->opts.node_id, conn}), [](redis_result) {});
}

void redis_bridge::end_room(const std::string& id, const std::string& gen) {
  impl_->commands.eval(scripts::end, impl_->argv({id, gen}), [](redis_result) {});
}

void redis_bridge::restore_room(const std::string& id, const std::string& gen, const restored_seat& host,
                                const restored_seat& guest, std::function<void(restore_reply)> cb) {
  impl_->commands.eval(scripts::restore,
                       impl_->argv({id, gen, host.node, host.conn, host.token, guest.node, guest.conn, guest.token}),
                       [cb](redis_result r) { cb(restore_reply::decode(r)); });
}

void redis_bridge::park_seat(const std::string& id, const std::string& gen, const std::string& role,
                             const std::string& conn, std::uint64_t acked, std::function<void(park_reply)> cb) {
  auto due = unix_ms() + impl_->opts.resume_grace.count();
  impl_->commands.eval(scripts::park,
                       impl_->argv({id, gen, role, impl_->opts.node_id, conn, std::to_string(due),
                                    std::to_string(impl_->opts.resume_grace.count() + 60000), std::to_string(acked)}),
                       [cb](redis_result r) { cb(park_reply::decode(r)); });
}

std::shared_ptr<const redis_bridge::args> redis_bridge::seat_frames_args(const std::string& id, const std::string& gen,
                                                                         const std::string& role) const {
  return std::make_shared<const args>(impl_->seat_frames_argv(id, gen, role, "tail"));
}

void redis_bridge::relay(const std::shared_ptr<const args>& seat, std::string envelope,
                         std::function<void(seat_frames_reply)> cb) {
  impl_->commands.eval_batched(scripts::seat_frames, seat, std::move(envelope),
                               [cb = std::move(cb)](redis_result r) { cb(seat_frames_reply::decode(r)); });
}

std::string redis_bridge::seat_channel(const std::string& id, const std::string& gen, const std::string& conn) const {
  return impl_->opts.prefix + "seat:" + id + ":" + gen + ":" + conn;
}

void redis_bridge::subscribe_seat(const std::string& channel, std::function<void(bool)> done,
                                  std::function<void()> lost) {
  impl_->subscriber.subscribe_once(channel, std::move(done), std::move(lost));
}

void redis_bridge::unsubscribe_seat(const std::string& channel, std::function<void()> done) {
  impl_->subscriber.unsubscribe(channel, std::move(done));
}

std::shared_ptr<const redis_bridge::args> redis_bridge::seat_publish_args(const std::string& channel) const {
  return std::make_shared<const args>(args{"PUBLISH", channel});
}

void redis_bridge::relay_direct(const std::shared_ptr<const args>& publish, std::string envelope,
                                std::shared_ptr<publish_sink> sink) {
  impl_->commands.command_batched(publish, std::move(envelope), std::move(sink));
}

void redis_bridge::prepend(const std::string& id, const std::string& gen, const std::string& role,
                           const std::vector<std::string>& frames) {
  auto a = impl_->seat_frames_argv(id, gen, role, "head");
  auto header = envelope::frame_header(id, gen, impl_->opts.node_id, role);
  for (const auto& f : frames)
    a.push_back(header + f);
  impl_->commands.eval(scripts::seat_frames, std::move(a), [](redis_result) {});
}

void redis_bridge::resume(const std::string& id, const std::string& token, const std::string& conn,
                          const std::string& new_token, std::function<void(resume_reply)> cb) {
  impl_->commands.eval(scripts::resume,
                       impl_->argv({id, token, impl_->opts.node_id, conn, new_token, std::to_string(unix_ms())}),
                       [cb](redis_result r) { cb(resume_reply::decode(std::move(r))); });
}

void redis_bridge::expire_seat(const std::string& id, const std::string& gen, const std::string& role,
                               std::function<void(expire_reply)> cb) {
  impl_->commands.eval(scripts::expire, impl_->argv({id, gen, role, std::to_string(unix_ms())}),
                       [cb](redis_result r) { cb(expire_reply::decode(r)); });
}

void redis_bridge::publish(const std::string& node, std::string payload, std::function<void(bool)> cb) {
  impl_->commands.command({"PUBLISH", impl_->opts.prefix + "chan:" + node, std::move(payload)},
                          [cb](redis_result r) {
                            if (cb)
                              cb(r.ok && r.reply.kind == redis_reply::integer && r.reply.value > 0);
                          });
}

void redis_bridge::address_misses(const std::string& address, std::uint32_t per_minute, bool charge,
                                  std::function<void(budget_reply)> cb) {
  impl_->commands.eval(scripts::addr_misses,
                       impl_->argv({address, std::to_string(per_minute), charge ? "charge" : "check"}),
                       [cb](redis_result r) {
                         if (cb)
                           cb(budget_reply::decode(r));
                       });
}

void redis_bridge::take_address_slot(const std::string& address, std::size_t cap,
                                     std::function<void(budget_reply)> cb) {
  impl_->commands.eval(scripts::addr_conns, impl_->argv({address, impl_->opts.node_id, std::to_string(cap), "take"}),
                       [cb](redis_result r) { cb(budget_reply::decode(r)); });
}

void redis_bridge::give_address_slot(const std::string& address) {
  impl_->give(address);
}

void redis_bridge::list_nodes(std::function<void(list_nodes_reply)> cb) {
  impl_->commands.eval(scripts::list_nodes, impl_->argv({}), [cb](redis_result r) { cb(list_nodes_reply::decode(r)); });
}

bool redis_bridge::cluster_totals(cluster_view::totals& out) const {
  std::lock_guard<std::mutex> g{impl_->totals_mutex};
  if (!impl_->have_totals)
    return false;
  out = impl_->last_totals;
  return true;
}

cluster_view::shard_state redis_bridge::state() const {
  cluster_view::shard_state s;
  s.name = impl_->opts.shard;
  s.problem = refusal();
  s.state = up() ? "up" : !s.problem.empty() ? "refused" : "down";
  s.primary = impl_->commands.address();
  s.reconnects = reconnects();
  s.failovers = impl_->failovers.load(std::memory_order_relaxed);
  return s;
}

std::string redis_bridge::refusal() const {
  std::lock_guard<std::mutex> g{impl_->refusal_mutex};
  return impl_->refusal;
}

bool redis_bridge::mismatched() const {
  return impl_->refused_by_mismatch();
}

bool redis_bridge::settled() const {
  return impl_->is_settled;
}

void redis_bridge::primary_moved(const std::string& address) {
  impl_->commands.reconnect_now("the primary moved to " + address, address);
  impl_->subscriber.reconnect_now("the primary moved to " + address, address);
}

} // namespace signaling::cluster
