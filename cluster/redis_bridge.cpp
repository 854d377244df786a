#include "cluster/redis_bridge.hpp"

#include "common/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <cstdio>
#include <mutex>

namespace signaling::cluster {

namespace net = boost::asio;

namespace {

// Keys (prefix "sig:" by default):
//   room:{id}          hash host_node, host_conn[, guest_node, guest_conn]
//   node:{node}:rooms  set of room ids with a member on that node
//   node:{node}:alive  "rooms conns", expires after NODE_TTL_MS unless refreshed
//   node:{node}:info   the node's node_info (admin address, start), same TTL
//   nodes              set of node ids seen
// Channels: chan:{node}, one per node.
// Scripts build the keys they touch from the prefix: this targets one Redis
// server (or a primary with replicas), not Redis Cluster.

// Claims a free id: the same effect as SET NX, plus the node's room set.
constexpr const char* create_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'host_node', ARGV[3], 'host_conn', ARGV[4])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return 1
)lua";

// Atomic seat: only one guest ever, never the host's own connection.
constexpr const char* join_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'host_node', 'host_conn', 'guest_node')
if not h[1] or h[3] then return {0} end
if h[1] == ARGV[3] and h[2] == ARGV[4] then return {0} end
redis.call('HSET', key, 'guest_node', ARGV[3], 'guest_conn', ARGV[4])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return {1, h[1], h[2]}
)lua";

// Ends a room only if it is still the same room (ids are reused later).
constexpr const char* end_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'host_node', 'host_conn', 'guest_node')
if not h[1] or h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return 0 end
redis.call('SREM', ARGV[1] .. 'node:' .. h[1] .. ':rooms', ARGV[2])
if h[3] then redis.call('SREM', ARGV[1] .. 'node:' .. h[3] .. ':rooms', ARGV[2]) end
redis.call('DEL', key)
return 1
)lua";

constexpr const char* unseat_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'guest_node', 'guest_conn')
if h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return 0 end
redis.call('HDEL', key, 'guest_node', 'guest_conn')
redis.call('SREM', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return 1
)lua";

constexpr const char* restore_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'host_node', 'host_conn')
if h[1] then
  if h[1] == ARGV[3] and h[2] == ARGV[4] then return 1 end
  return 0
end
redis.call('HSET', key, 'host_node', ARGV[3], 'host_conn', ARGV[4])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
if ARGV[5] ~= '' then
  redis.call('HSET', key, 'guest_node', ARGV[5], 'guest_conn', ARGV[6])
  redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[5] .. ':rooms', ARGV[2])
end
return 1
)lua";

// Heartbeat: refresh this node, sum the live nodes' numbers, name the dead.
// Returns {had_alive_key, was_reaped, rooms, conns, live_nodes, dead...}.
constexpr const char* tick_script = R"lua(
local p, node = ARGV[1], ARGV[2]
local alive = p .. 'node:' .. node .. ':alive'
local had = redis.call('EXISTS', alive)
local reaped = redis.call('DEL', p .. 'node:' .. node .. ':reaped')
redis.call('SET', alive, ARGV[4] .. ' ' .. ARGV[5], 'PX', ARGV[3])
if ARGV[6] ~= '' then redis.call('SET', p .. 'node:' .. node .. ':info', ARGV[6], 'PX', ARGV[3]) end
redis.call('SADD', p .. 'nodes', node)
local rooms, conns, live, dead = 0, 0, 0, {}
for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  local v = redis.call('GET', p .. 'node:' .. n .. ':alive')
  if v then
    local r, c = string.match(v, '^(%d+) (%d+)$')
    rooms = rooms + tonumber(r)
    conns = conns + tonumber(c)
    live = live + 1
  else
    table.insert(dead, n)
  end
end
local out = {had, reaped, rooms, conns, live}
for _, n in ipairs(dead) do table.insert(out, n) end
return out
)lua";

// Removes a dead node's rooms; returns {room, surviving member's node}... so
// the survivors can be told. A node that came back in the meantime is spared.
constexpr const char* reap_script = R"lua(
local p, dead = ARGV[1], ARGV[2]
if ARGV[3] == 'leaving' then
  redis.call('DEL', p .. 'node:' .. dead .. ':alive')
elseif redis.call('EXISTS', p .. 'node:' .. dead .. ':alive') == 1 then
  return {}
end
local set = p .. 'node:' .. dead .. ':rooms'
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local key = p .. 'room:' .. id
  local h = redis.call('HMGET', key, 'host_node', 'guest_node')
  if h[1] then
    local other = h[1]
    if other == dead then other = h[2] end
    if other and other ~= dead then
      redis.call('SREM', p .. 'node:' .. other .. ':rooms', id)
      table.insert(out, id)
      table.insert(out, other)
    end
    redis.call('DEL', key)
  end
end
redis.call('DEL', set)
redis.call('SREM', p .. 'nodes', dead)
redis.call('DEL', p .. 'node:' .. dead .. ':info')
-- If the node was only cut off, it learns at its next heartbeat that its
-- rooms are gone (and ends them) instead of writing them back.
if ARGV[3] ~= 'leaving' then redis.call('SET', p .. 'node:' .. dead .. ':reaped', '1', 'PX', 600000) end
return out
)lua";

// The registry as it is now: {node, alive value or '', info or ''}...
constexpr const char* list_nodes_script = R"lua(
local p, out = ARGV[1], {}
for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  table.insert(out, n)
  table.insert(out, redis.call('GET', p .. 'node:' .. n .. ':alive') or '')
  table.insert(out, redis.call('GET', p .. 'node:' .. n .. ':info') or '')
end
return out
)lua";

} // namespace

struct redis_bridge::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, options o, handlers h)
    : opts(std::move(o)), on(std::move(h)), commands(ioc, client_options("commands")),
      subscriber(ioc, client_options("subscriber")), timer(net::make_strand(ioc)) {}

  redis_client::options client_options(const char* name) const {
    redis_client::options c;
    c.endpoint = opts.endpoint;
    c.name = name;
    c.command_timeout = opts.command_timeout;
    c.connect_timeout = opts.command_timeout;
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
  std::atomic<bool> reported_up{false};
  std::mutex state_mutex;
  std::atomic<std::int64_t> local_rooms{0}, local_conns{0};
  mutable std::mutex totals_mutex;
  totals last_totals;
  bool have_totals = false;

  std::vector<std::string> eval(const char* script, std::initializer_list<std::string> args) {
    std::vector<std::string> cmd{"EVAL", script, "0", opts.prefix};
    cmd.insert(cmd.end(), args);
    return cmd;
  }

  // Called from both links' strands: read both states and publish the result
  // under one lock, or a stale "down" computed on one strand could land after
  // a fresh "up" from the other and leave the node unready for good.
  void link_state_changed() {
    std::lock_guard<std::mutex> g{state_mutex};
    bool now = commands.up() && subscriber.up();
    if (now != reported_up.exchange(now) && on.on_state)
      on.on_state(now);
  }

  void start() {
    auto self = shared_from_this();
    commands.on_state([self](bool up) {
      // Redis hung or gone for commands: the subscriber cannot be trusted either.
      if (!up)
        self->subscriber.reset("command link down");
      self->link_state_changed();
      if (!up)
        return;
      self->link_up_since = std::chrono::steady_clock::now();
      if (!self->took_over) {
        // Rooms an earlier process with our NODE_ID left behind (it crashed
        // and we restarted within its TTL) are gone: release them now.
        self->took_over = true;
        self->reap(self->opts.node_id, [self] { self->tick(); });
      } else {
        self->tick();
      }
    });
    subscriber.on_state([self](bool) { self->link_state_changed(); });
    subscriber.on_message([self](const std::string&, std::string payload) {
      if (self->on.on_message)
        self->on.on_message(std::move(payload));
    });
    subscriber.subscribe(opts.prefix + "chan:" + opts.node_id);
    commands.start();
    subscriber.start();
    schedule_tick();
  }

  void schedule_tick() {
    timer.expires_after(opts.heartbeat);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped || self->leaving)
        return;
      self->tick();
      self->schedule_tick();
    });
  }

  void tick() {
    if (on.local_counts) {
      auto [rooms, conns] = on.local_counts();
      local_rooms = rooms;
      local_conns = conns;
    }
    auto cmd = eval(tick_script, {opts.node_id, std::to_string(opts.node_ttl.count()),
                                  std::to_string(local_rooms.load()), std::to_string(local_conns.load()),
                                  opts.node_info ? opts.node_info() : std::string{}});
    commands.command(std::move(cmd), [self = shared_from_this()](redis_result r) {
      if (!r.ok || r.reply.kind != redis_reply::array || r.reply.elements.size() < 5)
        return;
      auto& e = r.reply.elements;
      {
        std::lock_guard<std::mutex> g{self->totals_mutex};
        self->last_totals = totals{e[2].value, e[3].value, e[4].value};
        self->have_totals = true;
      }
      if (e[1].value == 1) {
        log::warn("event=node_was_reaped node={}", self->opts.node_id);
        if (self->on.on_reaped_self)
          self->on.on_reaped_self();
      } else if (e[0].value == 0 && self->on.on_registry_lost) {
        self->on.on_registry_lost();
      }
      // Right after (re)connecting, every node's key may have lapsed while
      // Redis was away: give live nodes one TTL to tick before reaping any.
      if (std::chrono::steady_clock::now() - self->link_up_since < self->opts.node_ttl)
        return;
      for (std::size_t i = 5; i < e.size(); ++i)
        self->reap(e[i].str);
    });
  }

  // Removes `dead`'s rooms and tells their survivors. With `done` this is
  // our own graceful exit (or the takeover of a crashed earlier process of
  // ours): `done` runs once the survivors' envelopes have been answered by
  // Redis (one connection, FIFO: a PING after them proves it).
  void reap(const std::string& dead, std::function<void()> done = nullptr) {
    commands.command(eval(reap_script, {dead, done ? "leaving" : ""}), [self = shared_from_this(), dead, done](redis_result r) {
      if (r.ok && r.reply.kind == redis_reply::array) {
        auto& e = r.reply.elements;
        if (!e.empty() || !done)
          log::warn("event=node_reaped node={} rooms_with_survivors={}", dead, e.size() / 2);
        for (std::size_t i = 0; i + 1 < e.size(); i += 2)
          if (self->on.on_room_reaped)
            self->on.on_room_reaped(e[i].str, e[i + 1].str, dead);
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

void redis_bridge::create_room(const std::string& id, const std::string& conn, std::function<void(outcome)> cb) {
  impl_->commands.command(impl_->eval(create_script, {id, impl_->opts.node_id, conn}), [cb](redis_result r) {
    if (!r.ok || r.reply.kind != redis_reply::integer)
      return cb(outcome::unavailable);
    cb(r.reply.value == 1 ? outcome::ok : outcome::refused);
  });
}

void redis_bridge::join_room(const std::string& id, const std::string& conn, std::function<void(join_result)> cb) {
  impl_->commands.command(impl_->eval(join_script, {id, impl_->opts.node_id, conn}), [cb](redis_result r) {
    join_result j;
    if (!r.ok || r.reply.kind != redis_reply::array || r.reply.elements.empty())
      return cb(j);
    auto& e = r.reply.elements;
    if (e[0].value != 1 || e.size() < 3) {
      j.result = outcome::refused;
      return cb(j);
    }
    j.result = outcome::ok;
    j.host_node = e[1].str;
    j.host_conn = e[2].str;
    cb(j);
  });
}

void redis_bridge::unseat_guest(const std::string& id, const std::string& conn) {
  impl_->commands.command(impl_->eval(unseat_script, {id, impl_->opts.node_id, conn}), [](redis_result) {});
}

void redis_bridge::end_room(const std::string& id, const std::string& host_node, const std::string& host_conn) {
  impl_->commands.command(impl_->eval(end_script, {id, host_node, host_conn}), [](redis_result) {});
}

void redis_bridge::restore_room(const std::string& id, const std::string& host_conn, const std::string& guest_node,
                                const std::string& guest_conn, std::function<void(outcome)> cb) {
  impl_->commands.command(
    impl_->eval(restore_script, {id, impl_->opts.node_id, host_conn, guest_node, guest_conn}), [cb](redis_result r) {
      if (!r.ok || r.reply.kind != redis_reply::integer)
        return cb(outcome::unavailable);
      cb(r.reply.value == 1 ? outcome::ok : outcome::refused);
    });
}

void redis_bridge::publish(const std::string& node, std::string payload, std::function<void(bool)> cb) {
  impl_->commands.command({"PUBLISH", impl_->opts.prefix + "chan:" + node, std::move(payload)},
                          [cb](redis_result r) {
                            if (cb)
                              cb(r.ok && r.reply.kind == redis_reply::integer && r.reply.value > 0);
                          });
}

void redis_bridge::list_nodes(std::function<void(bool, std::vector<node_entry>)> cb) {
  impl_->commands.command(impl_->eval(list_nodes_script, {}), [cb](redis_result r) {
    std::vector<node_entry> out;
    if (!r.ok || r.reply.kind != redis_reply::array)
      return cb(false, out);
    auto& e = r.reply.elements;
    for (std::size_t i = 0; i + 2 < e.size(); i += 3) {
      node_entry n;
      n.id = e[i].str;
      n.alive = !e[i + 1].str.empty();
      long long rooms = 0, conns = 0;
      if (n.alive && std::sscanf(e[i + 1].str.c_str(), "%lld %lld", &rooms, &conns) == 2) {
        n.rooms = rooms;
        n.connections = conns;
      }
      n.info = e[i + 2].str;
      out.push_back(std::move(n));
    }
    cb(true, std::move(out));
  });
}

redis_bridge::totals redis_bridge::cluster_totals() const {
  std::lock_guard<std::mutex> g{impl_->totals_mutex};
  if (!impl_->have_totals)
    return totals{impl_->local_rooms.load(), impl_->local_conns.load(), 1};
  return impl_->last_totals;
}

} // namespace signaling::cluster
