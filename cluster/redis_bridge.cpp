#include "cluster/redis_bridge.hpp"

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
//                      R_qb, R_drop (bytes kept, frames dropped while parked)
//   room:{id}:q:{R}    list of frames kept for parked seat R, oldest first
//   node:{node}:rooms  set of room ids with a seated member on that node
//   node:{node}:alive  "rooms conns", expires after NODE_TTL_MS unless refreshed
//   node:{node}:info   the node's node_info (admin address, start), same TTL
//   nodes              set of node ids seen
// Channels: chan:{node}, one per node. Scripts publish the envelopes whose
// order matters (D, R, X, and frames relayed to a seat) themselves, so their
// order on every channel is the order the scripts ran in.
// Scripts build the keys they touch from the prefix: this targets one Redis
// server (or a primary with replicas), not Redis Cluster.

// Claims a free id: the same effect as SET NX, plus the node's room set.
constexpr const char* create_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'gen', ARGV[4], 'host_node', ARGV[3], 'host_conn', ARGV[4], 'host_tok', ARGV[5])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return 1
)lua";

// Atomic seat: only one guest ever, never the host's own connection, and not
// while the host's seat is parked (the guest would wait for nobody).
constexpr const char* join_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'gen', 'host_node', 'host_conn', 'guest_tok', 'guest_node', 'host_due')
if not h[1] or h[4] or h[5] or h[6] then return {0} end
if h[2] == ARGV[3] and h[3] == ARGV[4] then return {0} end
redis.call('HSET', key, 'guest_node', ARGV[3], 'guest_conn', ARGV[4], 'guest_tok', ARGV[5])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return {1, h[2], h[3], h[1]}
)lua";

// Ends a room only if it is still the same room (ids are reused later).
constexpr const char* end_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'gen', 'host_node', 'guest_node')
if not h[1] or h[1] ~= ARGV[3] then return 0 end
if h[2] and h[2] ~= '' then redis.call('SREM', ARGV[1] .. 'node:' .. h[2] .. ':rooms', ARGV[2]) end
if h[3] and h[3] ~= '' then redis.call('SREM', ARGV[1] .. 'node:' .. h[3] .. ':rooms', ARGV[2]) end
redis.call('DEL', key, key .. ':q:host', key .. ':q:guest')
return 1
)lua";

constexpr const char* unseat_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'guest_node', 'guest_conn')
if h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return 0 end
redis.call('HDEL', key, 'guest_node', 'guest_conn', 'guest_tok')
redis.call('SREM', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return 1
)lua";

constexpr const char* restore_script = R"lua(
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'gen')
if h[1] then
  if h[1] == ARGV[4] then return 1 end
  return 0
end
redis.call('HSET', key, 'gen', ARGV[4], 'host_node', ARGV[3], 'host_conn', ARGV[5])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
if ARGV[6] ~= '' then
  redis.call('HSET', key, 'guest_node', ARGV[6], 'guest_conn', ARGV[7])
  redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[6] .. ':rooms', ARGV[2])
end
return 1
)lua";

// Parks seat ARGV[4] of room ARGV[2] (generation ARGV[3]), seated on node
// ARGV[5] as ARGV[6], until unix ms ARGV[7]: frames for it are kept from now
// on. Tells the other member's node (D) and sends our own node a fence (X).
// With nobody seated any more, the record expires after ARGV[8] ms. ARGV[9]:
// how many messages the seat had relayed (for the resumed client).
// Returns {1, other member's node or ''} or {0} (not that seat any more).
constexpr const char* park_script = R"lua(
local p, id, role = ARGV[1], ARGV[2], ARGV[4]
local key = p .. 'room:' .. id
local other = role == 'host' and 'guest' or 'host'
local h = redis.call('HMGET', key, 'gen', role .. '_node', role .. '_conn', other .. '_node')
if h[1] ~= ARGV[3] or h[2] ~= ARGV[5] or h[3] ~= ARGV[6] then return {0} end
redis.call('HSET', key, role .. '_node', '', role .. '_conn', '', role .. '_due', ARGV[7], role .. '_qb', 0, role .. '_drop', 0,
           role .. '_acked', ARGV[9])
redis.call('SREM', p .. 'node:' .. ARGV[5] .. ':rooms', id)
redis.call('DEL', key .. ':q:' .. role)
local other_node = h[4] or ''
if other_node ~= '' and other_node ~= ARGV[5] then
  redis.call('PUBLISH', p .. 'chan:' .. other_node, 'D|' .. id .. '|' .. ARGV[5] .. '|' .. role)
end
redis.call('PUBLISH', p .. 'chan:' .. ARGV[5], 'X|' .. id .. '|' .. ARGV[5] .. '|' .. role)
if other_node == '' then redis.call('PEXPIRE', key, ARGV[8]) end
return {1, other_node}
)lua";

// Frames (ARGV[10]...) for seat ARGV[4] of room ARGV[2] (generation ARGV[3])
// from node ARGV[5]: published to the seat's node, in order, or kept while the
// seat is parked, after those kept before (ARGV[9] 'tail': RELAY) or before
// them (ARGV[9] 'head': PREPEND, for frames older than any kept since), within
// ARGV[6] frames and ARGV[7] bytes, dropping the oldest; kept frames expire
// after ARGV[8] ms. Returns 1 published and heard, 3 published and nobody
// heard, 2 kept, 0 no such room or seat.
constexpr const char* seat_frames_script = R"lua(
local p, id, role = ARGV[1], ARGV[2], ARGV[4]
local key = p .. 'room:' .. id
local h = redis.call('HMGET', key, 'gen', role .. '_node', role .. '_due')
if h[1] ~= ARGV[3] then return 0 end
if h[2] and h[2] ~= '' then
  local heard = 0
  for i = 10, #ARGV do
    heard = redis.call('PUBLISH', p .. 'chan:' .. h[2], 'F|' .. id .. '|' .. ARGV[5] .. '|' .. ARGV[i])
  end
  if heard > 0 then return 1 end
  return 3
end
if not h[3] then return 0 end
local q = key .. ':q:' .. role
local bytes = 0
if ARGV[9] == 'tail' then
  for i = 10, #ARGV do redis.call('RPUSH', q, ARGV[i]); bytes = bytes + #ARGV[i] end
else
  for i = #ARGV, 10, -1 do redis.call('LPUSH', q, ARGV[i]); bytes = bytes + #ARGV[i] end
end
local max_n, max_b = tonumber(ARGV[6]), tonumber(ARGV[7])
local qb = redis.call('HINCRBY', key, role .. '_qb', bytes)
local n = redis.call('LLEN', q)
local dropped = 0
while n > 0 and (n > max_n or qb > max_b) do
  local old = redis.call('LPOP', q)
  qb = redis.call('HINCRBY', key, role .. '_qb', -#old)
  n = n - 1
  dropped = dropped + 1
end
if dropped > 0 then redis.call('HINCRBY', key, role .. '_drop', dropped) end
redis.call('PEXPIRE', q, ARGV[8])
return 2
)lua";

// Reclaims the parked seat whose token is ARGV[3] in room ARGV[2] for
// connection ARGV[5] on node ARGV[4], if its grace (vs ARGV[7], unix ms) has
// not ended; the seat gets token ARGV[6]. Hands over the frames kept for it,
// tells the other member's node (R). Returns {0} or {1, role, gen,
// other_node, other_conn, other_due or '', dropped, acked or -1, frames...}.
constexpr const char* resume_script = R"lua(
local p, id, node, conn = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local key = p .. 'room:' .. id
local h = redis.call('HMGET', key, 'gen', 'host_tok', 'guest_tok', 'host_due', 'guest_due')
if not h[1] or ARGV[3] == '' then return {0} end
local role, due
if h[2] == ARGV[3] then role, due = 'host', h[4] elseif h[3] == ARGV[3] then role, due = 'guest', h[5] else return {0} end
if not due or tonumber(due) < tonumber(ARGV[7]) then return {0} end
local other = role == 'host' and 'guest' or 'host'
local o = redis.call('HMGET', key, other .. '_node', other .. '_conn', other .. '_due', role .. '_drop', role .. '_acked')
redis.call('HSET', key, role .. '_node', node, role .. '_conn', conn, role .. '_tok', ARGV[6])
redis.call('HDEL', key, role .. '_due', role .. '_qb', role .. '_drop', role .. '_acked')
redis.call('PERSIST', key)
redis.call('SADD', p .. 'node:' .. node .. ':rooms', id)
local q = key .. ':q:' .. role
local frames = redis.call('LRANGE', q, 0, -1)
redis.call('DEL', q)
local other_node = o[1] or ''
if other_node ~= '' and other_node ~= node then
  redis.call('PUBLISH', p .. 'chan:' .. other_node, 'R|' .. id .. '|' .. node .. '|' .. conn)
end
local out = {1, role, h[1], other_node, o[2] or '', o[3] or '', o[4] or '0', o[5] or '-1'}
for _, f in ipairs(frames) do table.insert(out, f) end
return out
)lua";

// Ends the room if seat ARGV[4] is still parked and its grace (vs ARGV[5],
// unix ms) is over. Returns 1 if it ended the room.
constexpr const char* expire_script = R"lua(
local p, id, role = ARGV[1], ARGV[2], ARGV[4]
local key = p .. 'room:' .. id
local h = redis.call('HMGET', key, 'gen', role .. '_due', 'host_node', 'guest_node')
if h[1] ~= ARGV[3] or not h[2] or tonumber(h[2]) > tonumber(ARGV[5]) then return 0 end
if h[3] and h[3] ~= '' then redis.call('SREM', p .. 'node:' .. h[3] .. ':rooms', id) end
if h[4] and h[4] ~= '' then redis.call('SREM', p .. 'node:' .. h[4] .. ':rooms', id) end
redis.call('DEL', key, key .. ':q:host', key .. ':q:guest')
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

// Handles a dead node's rooms (ARGV[2]; ARGV[3] 'leaving' for a node leaving
// on purpose). With resume on (ARGV[4] grace ms > 0) each seat it held is
// parked until ARGV[5] + grace, exactly as if its connection had been lost,
// and the other member's node is told (D); the record expires once nobody is
// seated. With resume off the room is removed, as the seed would, and
// {room, surviving member's node}... is returned so the survivors can be
// told. A node that came back in the meantime is spared.
constexpr const char* reap_script = R"lua(
local p, dead = ARGV[1], ARGV[2]
local grace = tonumber(ARGV[4])
if ARGV[3] == 'leaving' then
  redis.call('DEL', p .. 'node:' .. dead .. ':alive')
elseif redis.call('EXISTS', p .. 'node:' .. dead .. ':alive') == 1 then
  return {}
end
local set = p .. 'node:' .. dead .. ':rooms'
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local key = p .. 'room:' .. id
  local h = redis.call('HMGET', key, 'gen', 'host_node', 'guest_node', 'host_tok', 'guest_tok')
  if h[1] then
    if grace > 0 then
      local seated = {}
      for i, role in ipairs({'host', 'guest'}) do
        local node = h[i + 1]
        if node == dead and h[i + 3] then
          redis.call('HSET', key, role .. '_node', '', role .. '_conn', '', role .. '_due', tonumber(ARGV[5]) + grace,
                     role .. '_qb', 0, role .. '_drop', 0)
          redis.call('HDEL', key, role .. '_acked')
          redis.call('DEL', key .. ':q:' .. role)
          for _, n in ipairs({h[2], h[3]}) do
            if n and n ~= '' and n ~= dead then
              redis.call('PUBLISH', p .. 'chan:' .. n, 'D|' .. id .. '|' .. dead .. '|' .. role)
            end
          end
        elseif node and node ~= '' and node ~= dead then
          seated[#seated + 1] = node
        end
      end
      if #seated == 0 then redis.call('PEXPIRE', key, grace + 60000) end
    else
      local other = h[2]
      if other == dead then other = h[3] end
      if other and other ~= '' and other ~= dead then
        redis.call('SREM', p .. 'node:' .. other .. ':rooms', id)
        table.insert(out, id)
        table.insert(out, other)
      end
      redis.call('DEL', key, key .. ':q:host', key .. ':q:guest')
    end
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

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

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

  // SEAT_FRAMES for seat `role` of room `id`: `frames` from `from_node`,
  // appended ("tail") or put first ("head") while the seat is parked.
  std::vector<std::string> seat_frames(const std::string& id, const std::string& gen, const std::string& role,
                                       const std::string& from_node, const char* where,
                                       std::vector<std::string> frames) const {
    std::vector<std::string> cmd{"EVAL",
                                 seat_frames_script,
                                 "0",
                                 opts.prefix,
                                 id,
                                 gen,
                                 role,
                                 from_node,
                                 std::to_string(opts.resume_frames),
                                 std::to_string(opts.resume_bytes),
                                 std::to_string(opts.resume_grace.count() + 60000),
                                 where};
    cmd.insert(cmd.end(), std::make_move_iterator(frames.begin()), std::make_move_iterator(frames.end()));
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
    commands.command(eval(reap_script, {dead, done ? "leaving" : "", std::to_string(opts.resume_grace.count()),
                                        std::to_string(unix_ms())}), [self = shared_from_this(), dead, done](redis_result r) {
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

void redis_bridge::create_room(const std::string& id, const std::string& conn, const std::string& token,
                               std::function<void(outcome)> cb) {
  impl_->commands.command(impl_->eval(create_script, {id, impl_->opts.node_id, conn, token}), [cb](redis_result r) {
    if (!r.ok || r.reply.kind != redis_reply::integer)
      return cb(outcome::unavailable);
    cb(r.reply.value == 1 ? outcome::ok : outcome::refused);
  });
}

void redis_bridge::join_room(const std::string& id, const std::string& conn, const std::string& token,
                             std::function<void(join_result)> cb) {
  impl_->commands.command(impl_->eval(join_script, {id, impl_->opts.node_id, conn, token}), [cb](redis_result r) {
    join_result j;
    if (!r.ok || r.reply.kind != redis_reply::array || r.reply.elements.empty())
      return cb(j);
    auto& e = r.reply.elements;
    if (e[0].value != 1 || e.size() < 4) {
      j.result = outcome::refused;
      return cb(j);
    }
    j.result = outcome::ok;
    j.host_node = e[1].str;
    j.host_conn = e[2].str;
    j.gen = e[3].str;
    cb(j);
  });
}

void redis_bridge::unseat_guest(const std::string& id, const std::string& conn) {
  impl_->commands.command(impl_->eval(unseat_script, {id, impl_->opts.node_id, conn}), [](redis_result) {});
}

void redis_bridge::end_room(const std::string& id, const std::string& gen) {
  impl_->commands.command(impl_->eval(end_script, {id, gen}), [](redis_result) {});
}

void redis_bridge::restore_room(const std::string& id, const std::string& gen, const std::string& host_conn,
                                const std::string& guest_node, const std::string& guest_conn,
                                std::function<void(outcome)> cb) {
  impl_->commands.command(
    impl_->eval(restore_script, {id, impl_->opts.node_id, gen, host_conn, guest_node, guest_conn}), [cb](redis_result r) {
      if (!r.ok || r.reply.kind != redis_reply::integer)
        return cb(outcome::unavailable);
      cb(r.reply.value == 1 ? outcome::ok : outcome::refused);
    });
}

void redis_bridge::park_seat(const std::string& id, const std::string& gen, const std::string& role,
                             const std::string& conn, std::uint64_t acked, std::function<void(park_result)> cb) {
  auto due = unix_ms() + impl_->opts.resume_grace.count();
  impl_->commands.command(impl_->eval(park_script, {id, gen, role, impl_->opts.node_id, conn, std::to_string(due),
                                                    std::to_string(impl_->opts.resume_grace.count() + 60000),
                                                    std::to_string(acked)}),
                          [cb](redis_result r) {
                            park_result pr;
                            if (!r.ok || r.reply.kind != redis_reply::array || r.reply.elements.empty())
                              return cb(pr);
                            auto& e = r.reply.elements;
                            pr.result = e[0].value == 1 && e.size() >= 2 ? outcome::ok : outcome::refused;
                            if (pr.result == outcome::ok)
                              pr.other_node = e[1].str;
                            cb(pr);
                          });
}

void redis_bridge::relay(const std::string& id, const std::string& gen, const std::string& to_role,
                         const std::string& frame, std::function<void(relay_outcome)> cb) {
  auto cmd = impl_->seat_frames(id, gen, to_role, impl_->opts.node_id, "tail", {frame});
  impl_->commands.command(std::move(cmd), [cb](redis_result r) {
    if (!cb)
      return;
    if (!r.ok || r.reply.kind != redis_reply::integer)
      return cb(relay_outcome::failed);
    switch (r.reply.value) {
      case 1: return cb(relay_outcome::delivered);
      case 2: return cb(relay_outcome::kept);
      case 3: return cb(relay_outcome::failed);
      default: return cb(relay_outcome::gone);
    }
  });
}

void redis_bridge::prepend(const std::string& id, const std::string& gen, const std::string& role,
                           const std::string& from_node, const std::vector<std::string>& frames) {
  impl_->commands.command(impl_->seat_frames(id, gen, role, from_node, "head", frames), [](redis_result) {});
}

void redis_bridge::resume(const std::string& id, const std::string& token, const std::string& conn,
                          const std::string& new_token, std::function<void(resume_result)> cb) {
  impl_->commands.command(
    impl_->eval(resume_script, {id, token, impl_->opts.node_id, conn, new_token, std::to_string(unix_ms())}),
    [cb](redis_result r) {
      resume_result rr;
      if (!r.ok || r.reply.kind != redis_reply::array || r.reply.elements.empty())
        return cb(std::move(rr));
      auto& e = r.reply.elements;
      if (e[0].value != 1 || e.size() < 8) {
        rr.result = outcome::refused;
        return cb(std::move(rr));
      }
      rr.result = outcome::ok;
      rr.role = e[1].str;
      rr.gen = e[2].str;
      rr.other_node = e[3].str;
      rr.other_conn = e[4].str;
      rr.other_parked = !e[5].str.empty();
      rr.dropped = std::strtoull(e[6].str.c_str(), nullptr, 10);
      rr.acked = std::strtoll(e[7].str.c_str(), nullptr, 10);
      for (std::size_t i = 8; i < e.size(); ++i)
        rr.frames.push_back(std::move(e[i].str));
      cb(std::move(rr));
    });
}

void redis_bridge::expire_seat(const std::string& id, const std::string& gen, const std::string& role,
                               std::function<void(bool ended)> cb) {
  impl_->commands.command(impl_->eval(expire_script, {id, gen, role, std::to_string(unix_ms())}),
                          [cb](redis_result r) {
                            cb(r.ok && r.reply.kind == redis_reply::integer && r.reply.value == 1);
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
