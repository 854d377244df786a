#include "actors/room_actor.hpp"

#include "actors/room_id.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace signaling {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

namespace {

// The connection actor id inside a cluster connection name ("incarnation-id").
nlohmann::ordered_json actor_of(const std::string& conn) {
  auto dash = conn.rfind('-');
  if (dash == std::string::npos || dash + 1 >= conn.size() ||
      conn.find_first_not_of("0123456789", dash + 1) != std::string::npos)
    return nullptr;
  return std::stoull(conn.substr(dash + 1));
}

struct room_state {
  std::string id;
  const room_settings* settings = nullptr;
  room_seats<caf::actor> seats;
  parked_share parked; // this room's part of /metrics' signal_parked_seats
  kept_frames kept[2] = {{0, 0}, {0, 0}};
  // Resumes of a seat whose connection is gone but whose loss has not
  // reached us yet (room_seats::here_with_token): answered once it has.
  struct awaiting_loss {
    resume_seat rs;
    caf::typed_response_promise<bool> rp;
    std::uint64_t timer = 0; // its grace_over: refused if still waiting
  };
  std::vector<awaiting_loss> awaiting;
  std::int64_t opened_ms = 0;
  static inline const char* name = "room";
};

using room_ptr = room_actor::stateful_pointer<room_state>;

caf::actor me(room_ptr self) {
  return caf::actor_cast<caf::actor>(self);
}

// This room's part of /metrics' signal_parked_seats, brought up to date.
void count_parked(room_ptr self) {
  auto& st = self->state;
  st.parked.update(st.seats, st.settings->stats ? &st.settings->stats->parked_seats : nullptr);
}

// What the member of seat `r` sends its frames to: the other member, or this
// room while the other seat is parked.
peer_ref peer_for(room_ptr self, seat_role r) {
  auto& st = self->state;
  switch (st.seats.peer_of(r)) {
    case peer_kind::member: return peer_ref{st.seats.at(other(r)).member, nullptr};
    case peer_kind::stand_in: return peer_ref{me(self), nullptr};
    case peer_kind::none: break;
  }
  return {};
}

// Ends the room once: members still here (but `leaving`) hear peer-left.
void end_room(room_ptr self, const caf::actor& leaving, const char* why) {
  auto& st = self->state;
  if (st.seats.ended())
    return;
  st.seats.end();
  count_parked(self);
  for (auto r : {seat_role::host, seat_role::guest}) {
    auto& s = st.seats.at(r);
    if (s.state == seat_state::here && s.member != leaving)
      caf::anon_send(s.member, peer_left{me(self)});
  }
  for (auto& a : st.awaiting) // the loss they waited for ended the room instead
    a.rp.deliver(false);
  st.awaiting.clear();
  log::debug("event=room_closed room={} reason={}", st.id, why);
  self->quit();
}

// Timers of rooms (grace_over): a parked seat's grace, or how long a resume
// waits for a loss. Only compared for equality.
std::atomic<std::uint64_t> next_timer{0};

void watch_grace(room_ptr self, seat_role r) {
  auto& s = self->state.seats.at(r);
  s.grace = ++next_timer;
  self->delayed_send(self, self->state.settings->resume_grace, grace_over{r, s.grace});
}

// Parked seat with `rs.token` goes to `rs.conn`; false if there is none.
bool resume(room_ptr self, const resume_seat& rs) {
  auto& st = self->state;
  auto r = st.seats.parked_with_token(rs.token);
  if (!r)
    return false;
  auto& k = st.kept[static_cast<int>(*r)];
  auto dropped = k.dropped();
  auto frames = k.take();
  auto acked = st.seats.at(*r).acked;
  auto token = make_resume_token();
  st.seats.resume_here(*r, rs.conn, token, unix_ms());
  count_parked(self);
  self->monitor(rs.conn);
  auto& o = st.seats.at(other(*r));
  if (o.state == seat_state::here)
    caf::anon_send(o.member, peer_back{me(self), peer_ref{rs.conn, nullptr}});
  log::debug("event=seat_resumed room={} role={} kept={} dropped={}", st.id, role_name(*r), frames.size(), dropped);
  caf::anon_send(rs.conn, seat_resumed{st.id, me(self), peer_for(self, *r), *r, std::move(token), std::move(frames),
                                   dropped, st.seats.peer_connected(*r), acked});
  return true;
}

room_actor::behavior_type room_behavior(room_ptr self) {
  self->set_down_handler([self](const caf::down_msg& dm) {
    // A connection actor always says whether it left or was lost before it
    // terminates; this only catches one that could not.
    auto& st = self->state;
    // A resumer waiting for a loss went: refused, its token still good.
    for (auto i = st.awaiting.begin(); i != st.awaiting.end(); ++i)
      if (i->rs.conn.address() == dm.source) {
        i->rp.deliver(false);
        st.awaiting.erase(i);
        return;
      }
    for (auto r : {seat_role::host, seat_role::guest}) {
      auto& s = st.seats.at(r);
      if (s.state == seat_state::here && s.member.address() == dm.source)
        return end_room(self, s.member, r == seat_role::host ? "host_disconnected" : "guest_disconnected");
    }
  });
  return {
    [self](seat_guest& g) -> bool {
      auto& st = self->state;
      if (!st.seats.may_seat_guest(&g.conn)) {
        caf::anon_send(g.conn, refused{protocol::error_code::room_unavailable});
        return false;
      }
      st.seats.seat_here(seat_role::guest, g.conn, g.token, unix_ms());
      self->monitor(g.conn);
      auto& host = st.seats.at(seat_role::host).member;
      caf::anon_send(g.conn, room_joined{st.id, me(self), peer_ref{host, nullptr}, g.token});
      caf::anon_send(host, peer_joined{me(self), peer_ref{g.conn, nullptr}});
      log::debug("event=room_joined room={}", st.id);
      return true;
    },
    [self](const member_left& m) {
      if (self->state.seats.role_of(m.conn))
        end_room(self, m.conn, "left");
    },
    [self](const member_lost& m) {
      auto& st = self->state;
      auto r = st.seats.role_of(m.conn);
      switch (st.seats.on_lost(m.conn, st.settings->resume_grace.count() > 0)) {
        case lost_effect::ignore: return;
        case lost_effect::end_room: return end_room(self, m.conn, *r == seat_role::host ? "host_disconnected" : "guest_disconnected");
        case lost_effect::park: break;
      }
      self->demonitor(m.conn);
      st.seats.park(*r, m.acked);
      count_parked(self);
      st.kept[static_cast<int>(*r)] = kept_frames{st.settings->resume_frames, st.settings->resume_bytes};
      log::debug("event=seat_parked room={} role={}", st.id, role_name(*r));
      auto& o = st.seats.at(other(*r));
      if (o.state == seat_state::here)
        caf::anon_send(o.member, peer_gone{me(self), peer_ref{me(self), nullptr}});
      watch_grace(self, *r);
      auto waiting = std::move(st.awaiting);
      st.awaiting.clear();
      for (auto& a : waiting) {
        if (st.seats.here_with_token(a.rs.token, a.rs.conn)) {
          st.awaiting.push_back(std::move(a)); // for the other seat
        } else {
          self->demonitor(a.rs.conn);
          a.rp.deliver(resume(self, a.rs));
        }
      }
    },
    // From a member whose peer was parked when it sent: kept for the peer,
    // or handed on if the peer is back by now.
    [self](deliver_frame& f) {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      auto r = st.seats.role_of(sender);
      if (st.seats.ended() || !r)
        return;
      auto& o = st.seats.at(other(*r));
      if (o.state == seat_state::here)
        caf::anon_send(o.member, std::move(f));
      else if (o.state == seat_state::parked)
        st.kept[static_cast<int>(other(*r))].push(std::move(f.frame));
    },
    [self](resume_seat& rs) -> caf::result<bool> {
      auto& st = self->state;
      if (auto r = st.seats.here_with_token(rs.token, rs.conn)) {
        auto rp = self->make_response_promise<bool>();
        auto timer = ++next_timer;
        self->monitor(rs.conn);
        st.awaiting.push_back({std::move(rs), rp, timer});
        self->delayed_send(self, room_seats<caf::actor>::loss_wait, grace_over{*r, timer});
        return rp;
      }
      return resume(self, rs);
    },
    [self](const grace_over& g) {
      auto& st = self->state;
      for (auto i = st.awaiting.begin(); i != st.awaiting.end(); ++i)
        if (i->timer == g.timer) { // no loss came: the seat's connection is alive
          self->demonitor(i->rs.conn);
          i->rp.deliver(false);
          st.awaiting.erase(i);
          return;
        }
      auto& s = st.seats.at(g.role);
      if (s.state == seat_state::parked && s.grace == g.timer)
        end_room(self, nullptr, "resume_grace_over");
    },
    // Embedded mode: no other node to resume on; the drain just closes.
    [](park_all_atom) { return std::uint64_t{0}; },
    [self](room_atom) {
      auto& st = self->state;
      return describe_room(st.seats, st.id, st.settings->node_id, st.opened_ms, 0);
    },
    // Closed by the operator: members here get `peer-left` and close 1000
    // "room closed by operator".
    [self](close_room_atom) {
      auto& st = self->state;
      std::vector<caf::actor_id> closed;
      for (auto r : {seat_role::host, seat_role::guest}) {
        auto& s = st.seats.at(r);
        if (s.state != seat_state::here)
          continue;
        closed.push_back(s.member.id());
        caf::anon_send(s.member, room_closed{me(self)});
        self->demonitor(s.member);
        s.state = seat_state::free;
      }
      nlohmann::ordered_json j{{"closed", st.id}, {"members_closed", closed}, {"remote_member_node", nullptr}};
      log::warn("event=room_closed_by_operator room={}", st.id);
      end_room(self, nullptr, "closed_by_operator");
      return j.dump();
    },
  };
}

room_actor::behavior_type embedded_room(room_ptr self, std::string id, caf::actor host, std::string token,
                                        const room_settings* settings) {
  auto& st = self->state;
  st.id = std::move(id);
  st.settings = settings;
  st.opened_ms = unix_ms();
  st.seats.seat_here(seat_role::host, host, std::move(token), st.opened_ms);
  self->monitor(host);
  return room_behavior(self);
}

} // namespace

room_actor spawn_room(caf::actor_system& sys, std::string id, caf::actor host, std::string token,
                      const room_settings* settings) {
  return sys.spawn(embedded_room, std::move(id), std::move(host), std::move(token), settings);
}

std::string describe_room(const room_seats<caf::actor>& seats, const std::string& id, const std::string& node_id,
                          std::int64_t opened_ms, std::uint64_t remote_frames) {
  using json = nlohmann::ordered_json;
  json members = json::array();
  bool remote = false;
  for (auto r : {seat_role::host, seat_role::guest}) {
    auto& s = seats.at(r);
    if (!s.taken())
      continue;
    json m{{"role", role_name(r)}};
    switch (s.state) {
      case seat_state::here:
        m["node"] = node_id;
        m["actor"] = s.member.id();
        break;
      case seat_state::parked:
        m["node"] = nullptr;
        m["actor"] = nullptr;
        m["parked"] = true;
        break;
      case seat_state::away:
        remote = true;
        m["node"] = s.node;
        m["actor"] = actor_of(s.conn);
        m["conn"] = s.conn;
        m["relayed"] = remote_frames;
        break;
      case seat_state::free: break;
    }
    m["joined_at_ms"] = s.joined_ms > 0 ? json(s.joined_ms) : json(nullptr);
    members.push_back(std::move(m));
  }
  json j{{"id", id},
         {"node", node_id},
         {"hosted", seats.here(seat_role::host)},
         {"state", seats.state_name()},
         {"opened_at_ms", opened_ms},
         {"cross_node", remote},
         {"members", std::move(members)}};
  return j.dump();
}

} // namespace signaling
