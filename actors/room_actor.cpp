#include "actors/room_actor.hpp"

#include "actors/envelope.hpp"
#include "actors/messages.hpp"
#include "actors/protocol.hpp"
#include "actors/room_id.hpp"
#include "cluster/redis_bridge.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <random>

namespace signaling {

namespace {

using room_ptr = caf::stateful_actor<room_state>*;

std::string code(protocol::error_code c) {
  return std::string(protocol::code_name(c));
}

caf::actor me(room_ptr self) {
  return caf::actor_cast<caf::actor>(self);
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// The connection actor id inside a Redis connection name ("incarnation-id").
nlohmann::ordered_json actor_of(const std::string& conn) {
  auto dash = conn.rfind('-');
  if (dash == std::string::npos || dash + 1 >= conn.size() ||
      conn.find_first_not_of("0123456789", dash + 1) != std::string::npos)
    return nullptr;
  return std::stoull(conn.substr(dash + 1));
}

constexpr int host_seat = 0;
constexpr int guest_seat = 1;

int other(int r) {
  return 1 - r;
}

const char* role_name(int r) {
  return r == host_seat ? "host" : "guest";
}

int role_index(const std::string& name) {
  return name == "host" ? host_seat : guest_seat;
}

int role_of(room_ptr self, const caf::actor& who) {
  auto& st = self->state;
  for (int r : {host_seat, guest_seat})
    if (who && st.seats[r].local == who)
      return r;
  return -1;
}


bool any_local(room_ptr self) {
  auto& st = self->state;
  return st.seats[host_seat].local || st.seats[guest_seat].local;
}

// What member `r` sends its frames to: the other member's connection when it
// is here, else this actor (standing in for it, remote or parked).
caf::actor peer_of(room_ptr self, int r) {
  auto& o = self->state.seats[other(r)];
  if (o.local)
    return o.local;
  return o.taken() ? me(self) : caf::actor{};
}

// The room as the operator console shows it. Members on this node carry their
// actor id (the inspector adds their connection's figures); a member on
// another node carries its node, connection name and the frames it sent here;
// a parked member (connection lost, within its resume grace) says so.
std::string describe(room_ptr self) {
  auto& st = self->state;
  using json = nlohmann::ordered_json;
  const auto& here = st.links->node_id;
  json members = json::array();
  for (int r : {host_seat, guest_seat}) {
    auto& s = st.seats[r];
    if (!s.taken())
      continue;
    json m{{"role", role_name(r)}};
    if (s.local) {
      m["node"] = here;
      m["actor"] = s.local.id();
    } else if (s.parked) {
      m["node"] = nullptr;
      m["actor"] = nullptr;
      m["parked"] = true;
    } else {
      m["node"] = s.node;
      m["actor"] = actor_of(s.conn);
      m["conn"] = s.conn;
      m["relayed"] = st.remote_frames;
    }
    m["joined_at_ms"] = s.joined_ms > 0 ? json(s.joined_ms) : json(nullptr);
    members.push_back(std::move(m));
  }
  bool parked = st.seats[0].parked || st.seats[1].parked;
  const char* state = st.ended        ? "ended"
                      : !st.confirmed ? "joining"
                      : st.resuming   ? "resuming"
                      : parked        ? "parked"
                      : members.size() == 2 ? "paired"
                                            : "waiting";
  bool remote = !st.seats[0].node.empty() || !st.seats[1].node.empty();
  json j{{"id", st.id},
         {"node", here},
         {"hosted", static_cast<bool>(st.seats[host_seat].local)},
         {"state", state},
         {"opened_at_ms", st.opened_ms},
         {"cross_node", remote},
         {"members", std::move(members)}};
  return j.dump();
}

// Leaves without touching the room: its members are elsewhere or parked, and
// Redis keeps the room (cluster mode). No envelope may reach us any more.
void step_aside(room_ptr self, const char* why) {
  auto& st = self->state;
  if (st.ended)
    return;
  st.ended = true;
  if (st.links->registry)
    st.links->registry->erase(st.id, self->address());
  for (auto& p : st.parked_waiters)
    p.deliver(std::uint64_t{0});
  st.parked_waiters.clear();
  log::debug("event=room_step_aside room={} reason={}", st.id, why);
  self->quit();
}

// Ends the room once: local members still present hear `peer-left`, members
// on other nodes are told, and Redis forgets the room.
void end_room(room_ptr self, const caf::actor& leaving, bool tell_remote, const char* why) {
  auto& st = self->state;
  if (st.ended)
    return;
  st.ended = true;
  if (st.links->registry) // no envelope may reach us once we stop
    st.links->registry->erase(st.id, self->address());
  auto& guest = st.seats[guest_seat].local;
  if (!st.confirmed && guest) {
    // The guest is still waiting for its join: that is a refusal, not a leave.
    self->send(guest, refused_atom_v, code(protocol::error_code::room_unavailable));
    guest = nullptr;
  }
  for (auto& s : st.seats)
    if (s.local && s.local != leaving)
      self->send(s.local, peer_left_atom_v, me(self));
  if (auto* bridge = st.links->bridge) {
    for (auto& s : st.seats)
      if (tell_remote && !s.local && !s.node.empty() && s.node != st.links->node_id)
        bridge->publish(s.node, envelope::make(envelope::kind::left, st.id, st.links->node_id), nullptr);
    bridge->end_room(st.id, st.gen);
  }
  for (auto& p : st.parked_waiters)
    p.deliver(std::uint64_t{0});
  st.parked_waiters.clear();
  log::info("event=room_closed room={} reason={}", st.id, why);
  for (auto& s : st.seats)
    s.local = nullptr;
  self->quit();
}

// We watch seat `r`'s grace (its other member is here): end the room when it
// is over, unless the seat resumed by then.
void watch_grace(room_ptr self, int r, std::chrono::milliseconds left) {
  auto& s = self->state.seats[r];
  static std::uint64_t next_timer = 0; // per process; only compared for equality
  s.timer = ++next_timer;
  self->delayed_send(self, std::max(left, std::chrono::milliseconds(0)), grace_over_atom_v, r, s.timer);
}

// Keeps `frame` for parked seat `r` here (embedded mode), oldest dropped past the bounds.
void keep_here(room_ptr self, int r, const frame_ptr& frame) {
  auto& s = self->state.seats[r];
  auto* links = self->state.links;
  s.kept.push_back(frame);
  s.kept_bytes += frame->size();
  while (!s.kept.empty() && (s.kept.size() > links->resume_frames || s.kept_bytes > links->resume_bytes)) {
    s.kept_bytes -= s.kept.front()->size();
    s.kept.pop_front();
    ++s.dropped;
  }
}

bool all_fenced(room_ptr self) {
  for (auto& s : self->state.seats)
    if (s.fencing || s.freezing)
      return false;
  return true;
}

// After a park: answer a drain waiting for it, and leave once nobody is here.
void after_parks(room_ptr self) {
  auto& st = self->state;
  if (st.ended || !all_fenced(self))
    return;
  for (auto& p : st.parked_waiters)
    p.deliver(std::uint64_t{1});
  st.parked_waiters.clear();
  if (!any_local(self) && st.links->bridge)
    step_aside(self, "members_parked");
}

// Member `r` here lost its connection (or the node is draining) after
// relaying `acked` messages: its seat is kept for the grace. The other member
// hears `peer-disconnected`.
void park(room_ptr self, int r, std::uint64_t acked) {
  auto& st = self->state;
  auto& s = st.seats[r];
  auto& o = st.seats[other(r)];
  auto conn = conn_name(s.local);
  self->demonitor(s.local);
  s.local = nullptr;
  s.parked = true;
  s.acked = static_cast<std::int64_t>(acked);
  s.timer = 0;
  log::info("event=seat_parked room={} role={}", st.id, role_name(r));
  if (o.local)
    self->send(o.local, peer_gone_atom_v, me(self));
  if (!st.links->bridge) {
    watch_grace(self, r, st.links->resume_grace);
    return;
  }
  if (o.local)
    watch_grace(self, r, st.links->resume_grace);
  s.fencing = true;
  auto room = me(self);
  st.links->bridge->park_seat(st.id, st.gen, role_name(r), conn, acked, [room, r](cluster::redis_bridge::park_result pr) {
    caf::anon_send(room, park_atom_v, r, static_cast<int>(pr.result));
  });
}

// A resume of seat `r` went through (Redis's answer, or our own check in
// embedded mode): seat `conn` and hand it the frames kept for it.
void seat_resumed(room_ptr self, int r, const caf::actor& conn, const std::string& token,
                  std::vector<std::string> frames, std::uint64_t dropped, std::int64_t acked) {
  auto& st = self->state;
  auto& s = st.seats[r];
  auto& o = st.seats[other(r)];
  s.local = conn;
  s.node.clear();
  s.conn.clear();
  s.parked = false;
  s.timer = 0;
  s.acked = -1;
  s.joined_ms = unix_ms();
  self->monitor(conn);
  if (o.local)
    self->send(o.local, peer_back_atom_v, me(self), conn);
  bool peer_connected = o.local || (!o.node.empty() && !o.parked);
  log::info("event=seat_resumed room={} role={} kept={} dropped={}", st.id, role_name(r), frames.size(), dropped);
  self->send(conn, resumed_atom_v, st.id, me(self), peer_of(self, r), std::string(role_name(r)), token,
             std::move(frames), dropped, peer_connected, acked);
}

// A frame from node `from` for our member whose peer is seated there.
void from_remote(room_ptr self, const std::string& from, const frame_ptr& frame, std::int64_t received) {
  auto& st = self->state;
  for (int r : {host_seat, guest_seat}) {
    auto& s = st.seats[r];
    if (st.seats[other(r)].node != from)
      continue;
    if (s.local) {
      ++st.remote_frames;
      st.links->stats->relayed_in.fetch_add(1, std::memory_order_relaxed);
      self->send(s.local, deliver_atom_v, st.id, frame, received);
      return;
    }
    if (s.fencing) { // lost a moment ago: older than anything Redis keeps for it
      s.in_flight.push_back(*frame);
      return;
    }
  }
}

caf::behavior room_behavior(room_ptr self) {
  self->set_down_handler([self](const caf::down_msg& dm) {
    for (int r : {host_seat, guest_seat})
      if (dm.source == self->state.seats[r].local)
        return end_room(self, self->state.seats[r].local, true,
                        r == host_seat ? "host_disconnected" : "guest_disconnected");
  });
  return {
    // A guest on this node (the directory has seated it in Redis already).
    [self](join_room_atom, const caf::actor& who, const std::string& token) -> bool {
      auto& st = self->state;
      auto& host = st.seats[host_seat];
      auto& guest = st.seats[guest_seat];
      if (st.ended || st.resuming || guest.taken() || !host.local || who == host.local) {
        self->send(who, refused_atom_v, code(protocol::error_code::room_unavailable));
        return false;
      }
      guest.local = who;
      guest.token = token;
      guest.joined_ms = unix_ms();
      self->monitor(who);
      self->send(who, joined_atom_v, st.id, me(self), host.local, token);
      self->send(host.local, peer_joined_atom_v, me(self), who);
      log::info("event=room_joined room={}", st.id);
      return true;
    },
    [self](leave_room_atom, const caf::actor& who) {
      if (!who) // our Redis record is gone or went to another room: we cannot go on
        end_room(self, nullptr, true, "record_lost");
      else if (role_of(self, who) >= 0)
        end_room(self, who, true, "left");
    },
    // Our member's connection was lost (not closed): keep its seat.
    [self](park_atom, const caf::actor& who, std::uint64_t acked) {
      auto& st = self->state;
      auto r = role_of(self, who);
      if (r < 0 || st.ended || st.seats[r].freezing)
        return;
      if (st.links->resume_grace.count() == 0 || !st.confirmed)
        return end_room(self, who, true, r == host_seat ? "host_disconnected" : "guest_disconnected");
      park(self, r, acked);
    },
    // Redis's answer to our park of seat r.
    [self](park_atom, int r, int result) {
      auto& st = self->state;
      if (st.ended)
        return;
      if (static_cast<cluster::redis_bridge::outcome>(result) != cluster::redis_bridge::outcome::ok) {
        // Not parked (Redis away, or the seat is no longer ours): the room
        // cannot wait for a resume.
        st.seats[r].fencing = false;
        return end_room(self, nullptr, true, "park_failed");
      }
    },
    // Our park's fence: every frame published to us before it has arrived.
    [self](fence_atom, const std::string& role) {
      auto& st = self->state;
      int r = role_index(role);
      auto& s = st.seats[r];
      if (st.ended || !s.fencing)
        return;
      s.fencing = false;
      if (!s.in_flight.empty()) {
        st.links->bridge->prepend(st.id, st.gen, role_name(r), st.seats[other(r)].node, s.in_flight);
        s.in_flight.clear();
      }
      after_parks(self);
    },
    // From our member, for the other one when it is not here: on another
    // node (one Redis script: published there, or kept if parked meanwhile)
    // or parked (kept).
    [self](deliver_atom, const std::string&, const frame_ptr& frame, std::int64_t) {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      auto r = role_of(self, sender);
      if (st.ended || r < 0)
        return;
      int o = other(r);
      auto& peer = st.seats[o];
      if (peer.local) {
        self->send(peer.local, deliver_atom_v, st.id, frame, now_ns());
        return;
      }
      if (!st.links->bridge) {
        if (peer.parked)
          keep_here(self, o, frame);
        return;
      }
      if (!peer.taken())
        return;
      auto* stats = st.links->stats;
      stats->relayed_out.fetch_add(1, std::memory_order_relaxed);
      st.links->bridge->relay(st.id, st.gen, role_name(o), *frame,
                              [sender, stats, id = st.id](cluster::redis_bridge::relay_outcome res) {
                                using ro = cluster::redis_bridge::relay_outcome;
                                if (res == ro::delivered || res == ro::kept)
                                  return;
                                stats->relay_failed.fetch_add(1, std::memory_order_relaxed);
                                caf::anon_send(sender, relay_failed_atom_v, id);
                              });
    },
    // Only from the node a member's peer is seated on: a late envelope for
    // an earlier room with the same id must not reach this one.
    [self](remote_frame_atom, const std::string& from, const frame_ptr& frame, std::int64_t received) {
      auto& st = self->state;
      if (st.ended)
        return;
      if (st.resuming) {
        st.early.emplace_back(from, frame);
        return;
      }
      from_remote(self, from, frame, received);
    },
    [self](remote_joined_atom, const std::string& node, const std::string& conn) {
      auto& st = self->state;
      auto& guest = st.seats[guest_seat];
      if (st.ended || guest.taken() || !st.seats[host_seat].local)
        return;
      guest.node = node;
      guest.conn = conn;
      guest.joined_ms = unix_ms();
      self->send(st.seats[host_seat].local, peer_joined_atom_v, me(self), me(self));
      log::info("event=room_joined room={} guest_node={}", st.id, node);
    },
    // Our J envelope reached the host's node (or could not).
    [self](join_done_atom, bool delivered) {
      auto& st = self->state;
      auto& guest = st.seats[guest_seat];
      if (st.ended || !guest.local || st.confirmed)
        return;
      if (delivered) {
        st.confirmed = true;
        self->send(guest.local, joined_atom_v, st.id, me(self), me(self), guest.token);
        log::info("event=room_joined room={} host_node={}", st.id, st.seats[host_seat].node);
        return;
      }
      // The host's node is unreachable right now: give the seat back (the
      // host's room stays joinable) and let the guest retry.
      st.links->bridge->unseat_guest(st.id, conn_name(guest.local));
      self->send(guest.local, refused_atom_v, code(protocol::error_code::unavailable));
      guest.local = nullptr;
      step_aside(self, "join_unconfirmed");
    },
    [self](remote_left_atom, const std::string& from) {
      auto& st = self->state;
      for (auto& s : st.seats)
        if (!s.local && !s.node.empty() && s.node == from)
          return end_room(self, nullptr, false, "remote_left");
    },
    // The member on node `from` lost its connection: its seat is parked.
    [self](remote_parked_atom, const std::string& from, const std::string& role) {
      auto& st = self->state;
      int r = role_index(role);
      auto& s = st.seats[r];
      if (st.ended || s.local || s.node != from)
        return;
      s.node.clear();
      s.conn.clear();
      s.parked = true;
      if (auto& o = st.seats[other(r)].local) {
        self->send(o, peer_gone_atom_v, me(self));
        watch_grace(self, r, st.links->resume_grace);
      }
    },
    // A parked member resumed on node `node` (not here).
    [self](remote_resumed_atom, const std::string& node, const std::string& conn) {
      auto& st = self->state;
      if (st.ended)
        return;
      for (int r : {host_seat, guest_seat}) {
        auto& s = st.seats[r];
        if (!s.parked || s.local)
          continue;
        s.parked = false;
        s.fencing = false;
        s.in_flight.clear();
        s.timer = 0;
        s.node = node;
        s.conn = conn;
        s.joined_ms = unix_ms();
        if (auto& o = st.seats[other(r)].local)
          self->send(o, peer_back_atom_v, me(self), me(self));
        log::info("event=seat_resumed room={} role={} node={}", st.id, role_name(r), node);
        return;
      }
    },
    [self](grace_over_atom, int r, std::uint64_t timer) {
      auto& st = self->state;
      auto& s = st.seats[r];
      if (st.ended || !s.parked || s.timer != timer)
        return;
      if (!st.links->bridge)
        return end_room(self, nullptr, false, "resume_grace_over");
      auto room = me(self);
      st.links->bridge->expire_seat(st.id, st.gen, role_name(r), [room, r, timer](bool ended) {
        if (ended)
          caf::anon_send(room, grace_over_atom_v, r, timer, true);
      });
    },
    // Redis ended the room: seat r's grace is over.
    [self](grace_over_atom, int r, std::uint64_t timer, bool) {
      auto& s = self->state.seats[r];
      if (s.parked && s.timer == timer)
        end_room(self, nullptr, false, "resume_grace_over");
    },
    // A resume of one of our seats, on this node.
    [self](resume_atom, const std::string& token, const caf::actor& conn) -> caf::result<std::string> {
      auto& st = self->state;
      if (st.ended)
        return std::string{};
      auto new_token = make_resume_token();
      if (!st.links->bridge) {
        for (int r : {host_seat, guest_seat}) {
          auto& s = st.seats[r];
          if (!s.parked || token.empty() || token != s.token)
            continue;
          std::vector<std::string> frames;
          for (auto& f : s.kept)
            frames.push_back(*f);
          auto dropped = s.dropped;
          s.kept.clear();
          s.kept_bytes = 0;
          s.dropped = 0;
          s.token = new_token;
          seat_resumed(self, r, conn, new_token, std::move(frames), dropped, s.acked);
          return std::string(role_name(r));
        }
        return std::string{};
      }
      // Redis answers in order on one connection: the promises wait in order.
      auto rp = self->make_response_promise<std::string>();
      st.pending_resumes.push_back(rp);
      auto room = me(self);
      st.links->bridge->resume(st.id, token, conn_name(conn), new_token,
                               [room, conn, new_token](cluster::redis_bridge::resume_result rr) {
                                 caf::anon_send(room, resumed_atom_v, conn, new_token, static_cast<int>(rr.result),
                                                rr.role, rr.gen, rr.other_node, rr.other_conn, rr.other_parked,
                                                rr.dropped, std::move(rr.frames), rr.acked);
                               });
      return rp;
    },
    // Redis's answer to a resume through us.
    [self](resumed_atom, const caf::actor& conn, const std::string& new_token, int result, const std::string& role,
           const std::string& gen, const std::string& other_node, const std::string& other_conn, bool other_parked,
           std::uint64_t dropped, std::vector<std::string>& frames, std::int64_t acked) {
      auto& st = self->state;
      auto rp = st.pending_resumes.front();
      st.pending_resumes.pop_front();
      bool ok = static_cast<cluster::redis_bridge::outcome>(result) == cluster::redis_bridge::outcome::ok;
      if (!ok || st.ended || (!st.gen.empty() && gen != st.gen)) {
        rp.deliver(std::string{});
        if (st.resuming)
          step_aside(self, "resume_refused");
        return;
      }
      st.gen = gen;
      int r = role_index(role);
      auto& o = st.seats[other(r)];
      if (other_node != st.links->node_id) { // else: the other member is here, we know it
        o.local = nullptr;
        o.node = other_node;
        o.conn = other_conn;
        o.parked = other_parked;
      }
      if (o.parked && !o.local && o.timer == 0)
        watch_grace(self, other(r), st.links->resume_grace);
      st.seats[r].fencing = false;
      st.seats[r].in_flight.clear();
      seat_resumed(self, r, conn, new_token, std::move(frames), dropped, acked);
      rp.deliver(role);
      if (st.resuming) {
        st.resuming = false;
        auto early = std::move(st.early);
        for (auto& [from, frame] : early)
          from_remote(self, from, frame, now_ns());
      }
    },
    // Node drain: park every member here (their connections close next,
    // with 1012); answered once Redis has them all.
    [self](park_all_atom) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (st.ended || !st.links->bridge || st.links->resume_grace.count() == 0 || !st.confirmed)
        return std::uint64_t{0};
      // Each connection first stops relaying and says how much it relayed;
      // then its seat is parked with that count.
      for (int r : {host_seat, guest_seat}) {
        auto& s = st.seats[r];
        if (!s.local)
          continue;
        s.freezing = true;
        self->request(s.local, std::chrono::seconds(2), park_all_atom_v)
          .then(
            [self, r, conn = s.local](std::uint64_t acked) {
              auto& s = self->state.seats[r];
              s.freezing = false;
              if (!self->state.ended && s.local == conn)
                park(self, r, acked);
              after_parks(self);
            },
            [self, r](const caf::error&) { // gone meanwhile: its own park or leave decides
              self->state.seats[r].freezing = false;
              after_parks(self);
            });
      }
      if (all_fenced(self)) {
        after_parks(self);
        return std::uint64_t{1};
      }
      auto rp = self->make_response_promise<std::uint64_t>();
      st.parked_waiters.push_back(rp);
      return rp;
    },
    // The operator console (through the inspector).
    [self](room_atom) { return describe(self); },
    // Closed by the operator: members here get `peer-left` and close 1000
    // "room closed by operator"; a member on another node hears `peer-left`
    // (as when its peer leaves) and stays connected.
    [self](close_room_atom) {
      auto& st = self->state;
      auto room = me(self);
      std::vector<caf::actor_id> closed;
      std::string remote_node;
      if (st.confirmed) // else end_room refuses the waiting guest's join instead
        for (auto& s : st.seats)
          if (s.local) {
            closed.push_back(s.local.id());
            self->send(s.local, room_closed_atom_v, room);
            self->demonitor(s.local);
            s.local = nullptr;
          }
      for (auto& s : st.seats)
        if (!s.node.empty())
          remote_node = s.node;
      nlohmann::ordered_json j{{"closed", st.id},
                               {"members_closed", closed},
                               {"remote_member_node", remote_node.empty() ? nlohmann::ordered_json(nullptr)
                                                                          : nlohmann::ordered_json(remote_node)}};
      log::warn("event=room_closed_by_operator room={}", st.id);
      end_room(self, nullptr, true, "closed_by_operator");
      return j.dump();
    },
    // Redis lost our record (restart without data, or we were silent past
    // our TTL): write it back, or end the room if the id went to another.
    [self](restore_atom) {
      auto& st = self->state;
      auto& host = st.seats[host_seat];
      auto& guest = st.seats[guest_seat];
      if (st.ended || !host.local || !st.links->bridge)
        return;
      std::string guest_node = guest.local ? st.links->node_id : guest.node;
      std::string guest_conn = guest.local ? conn_name(guest.local) : guest.conn;
      auto room = me(self);
      st.links->bridge->restore_room(st.id, st.gen, conn_name(host.local), guest_node, guest_conn,
                                     [room](cluster::redis_bridge::outcome o) {
                                       if (o == cluster::redis_bridge::outcome::refused)
                                         caf::anon_send(room, leave_room_atom_v, caf::actor{});
                                     });
    },
  };
}

} // namespace

std::string conn_name(const caf::actor& a) {
  // Actor ids restart at 1 in every process: the incarnation keeps a
  // restarted node's connections distinct from its crashed predecessor's.
  static const std::string incarnation = [] {
    std::random_device rd;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    return std::string(buf);
  }();
  return incarnation + "-" + std::to_string(a.id());
}

void room_registry::put(const std::string& id, caf::actor room) {
  std::lock_guard<std::mutex> g{mutex_};
  rooms_[id] = std::move(room);
}

void room_registry::erase(const std::string& id, const caf::actor_addr& room) {
  std::lock_guard<std::mutex> g{mutex_};
  auto i = rooms_.find(id);
  if (i != rooms_.end() && i->second.address() == room)
    rooms_.erase(i);
}

caf::actor room_registry::find(std::string_view id) const {
  std::lock_guard<std::mutex> g{mutex_};
  auto i = rooms_.find(std::string(id));
  return i == rooms_.end() ? caf::actor{} : i->second;
}

caf::behavior room_actor(room_ptr self, std::string id, caf::actor host, std::string token,
                         const room_links* links) {
  auto& st = self->state;
  st.id = std::move(id);
  st.links = links;
  st.gen = conn_name(host);
  auto& s = st.seats[host_seat];
  s.local = host;
  s.token = std::move(token);
  st.opened_ms = s.joined_ms = unix_ms();
  self->monitor(host);
  return room_behavior(self);
}

caf::behavior joined_room_actor(room_ptr self, std::string id, caf::actor guest, std::string host_node,
                                std::string host_conn, std::string gen, std::string token, const room_links* links) {
  auto& st = self->state;
  st.id = std::move(id);
  st.links = links;
  st.gen = std::move(gen);
  auto& g = st.seats[guest_seat];
  g.local = guest;
  g.token = std::move(token);
  auto& h = st.seats[host_seat];
  h.node = std::move(host_node);
  h.conn = std::move(host_conn);
  st.confirmed = false;
  st.opened_ms = g.joined_ms = unix_ms();
  self->monitor(guest);
  // Tell the host's node first; the guest hears `peer-joined` only once the
  // host's node has the news, so the guest's first signal cannot overtake it.
  auto room = me(self);
  links->bridge->publish(h.node, envelope::make(envelope::kind::joined, st.id, links->node_id, conn_name(guest)),
                         [room](bool delivered) { caf::anon_send(room, join_done_atom_v, delivered); });
  return room_behavior(self);
}

caf::behavior resuming_room_actor(room_ptr self, std::string id, const room_links* links) {
  auto& st = self->state;
  st.id = std::move(id);
  st.links = links;
  st.resuming = true;
  st.opened_ms = unix_ms();
  return room_behavior(self);
}

} // namespace signaling
