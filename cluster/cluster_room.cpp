#include "cluster/cluster_room.hpp"

#include "actors/connection_actor.hpp"
#include "actors/remote.hpp"
#include "actors/room_id.hpp"
#include "actors/tsan_handoff.hpp"
#include "cluster/direct_route.hpp"
#include "cluster/redis_bridge.hpp"
#include "cluster/room_registry.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace signaling::cluster {

namespace {

// Envelope buffers of frames whose PUBLISH was heard, kept for the next
// frames made on the same thread: a frame's envelope would otherwise be
// allocated and freed once each. Few and small, so an idle thread keeps
// little (a larger one is freed). The answers come on the Redis link's
// thread (loop 0), so with one I/O thread, the default on two CPUs, every
// frame's buffer comes back; with more, only loop 0's connections reuse.
class envelope_spares {
public:
  std::string take() {
    if (spare_.empty())
      return {};
    auto s = std::move(spare_.back());
    spare_.pop_back();
    s.clear();
    return s;
  }
  void give(std::string s) {
    if (spare_.size() < max_count && s.capacity() <= max_capacity)
      spare_.push_back(std::move(s));
  }

private:
  // (16 KiB: an SDP offer of a few KiB is kept too; at most 512 KiB a thread.)
  static constexpr std::size_t max_count = 32, max_capacity = 16384;
  std::vector<std::string> spare_;
};

thread_local envelope_spares spare_envelopes;

// The relay port of one seat of one room: what a member here gets for the
// other seat when that seat is on another node or parked. Every frame is one
// F envelope: a plain PUBLISH to the seat's own channel while its member's
// node listens there, else through SEAT_FRAMES (published to the seat's
// node, or kept while it is parked); direct_route keeps them in order across
// the switch. Scripted calls from one member queued back to back share one
// script call.
class seat_port final : public remote_relay {
public:
  seat_port(redis_bridge* bridge, node_stats* stats, std::string room_id, const std::string& gen,
            const std::string& node_id, seat_role role)
    : bridge_(bridge), header_(envelope::frame_header(room_id, gen, node_id, role_name(role))) {
    // What the route sends through may outlive this port (a Redis answer
    // still on its way): it holds its own copies.
    auto out = std::make_shared<outlet>(outlet{bridge, stats, std::move(room_id), nullptr, {}});
    out->seat = bridge->seat_frames_args(out->room_id, gen, role_name(role));
    route_ = std::make_shared<answered_route>(
      [out](const route::channel& ch, std::string env) { out->direct(ch, std::move(env)); },
      [out](std::string env, const caf::actor& sender, bool resent) { out->scripted(std::move(env), sender, resent); },
      [out](const caf::actor& sender) { out->failed(sender); });
    out->self = route_;
  }

  void relay(std::string_view frame, const caf::actor& sender) override {
    std::string env = spare_envelopes.take();
    env.reserve(header_.size() + frame.size());
    env += header_;
    env += frame;
    route_->frame(std::move(env), sender);
  }

  // The seat's member listens on `channel` (its node said so: a C envelope).
  void open(const std::string& channel) { route_->open(bridge_->seat_publish_args(channel)); }
  // The seat is parked or gone.
  void close() { route_->close(); }

private:
  using route = direct_route<caf::actor>;

  // The route, hearing its direct sends' answers. Each send holds it until
  // its answer, so an unheard frame is still sent again if the port went
  // meanwhile (no cycle: the route holds the outlet, the outlet only a weak
  // reference, a send in flight the route).
  struct answered_route final : route, redis_bridge::publish_sink {
    using route::route;
    void published(redis_bridge::publish_answer a, std::string env) override {
      if (a == redis_bridge::publish_answer::heard) {
        heard(answer::heard, {}); // (a heard frame's envelope is not needed again)
        return spare_envelopes.give(std::move(env));
      }
      heard(a == redis_bridge::publish_answer::unheard ? answer::unheard : answer::failed, std::move(env));
    }
  };

  struct outlet {
    redis_bridge* bridge;
    node_stats* stats;
    std::string room_id;
    std::shared_ptr<const redis_bridge::args> seat;
    std::weak_ptr<answered_route> self;

    // These run with the route's lock held: they only queue.
    void direct(const route::channel& ch, std::string env) {
      stats->cross_direct.fetch_add(1, std::memory_order_relaxed);
      bridge->relay_direct(ch, std::move(env), self.lock());
    }

    void failed(const caf::actor& sender) {
      stats->relay_failed.fetch_add(1, std::memory_order_relaxed);
      caf::anon_send(sender, relay_failed{room_id});
    }

    void scripted(std::string env, const caf::actor& sender, bool resent) {
      stats->cross_scripted.fetch_add(1, std::memory_order_relaxed);
      if (resent)
        stats->cross_resent.fetch_add(1, std::memory_order_relaxed);
      bridge->relay(seat, std::move(env), [stats = stats, sender, id = room_id](seat_frames_reply r) {
        // `gone`: the room ended or the seat was given up (its member left,
        // or was cut off as a slow reader) while the frame was on its way.
        // Like a frame to a member leaving on this node, it is dropped
        // silently: the sender is about to get peer-left (docs/protocol.md,
        // Relaying).
        if (r.result == seat_frames_reply::delivered || r.result == seat_frames_reply::kept ||
            r.result == seat_frames_reply::gone)
          return;
        stats->relay_failed.fetch_add(1, std::memory_order_relaxed);
        caf::anon_send(sender, relay_failed{id});
      });
    }
  };

  redis_bridge* bridge_;
  std::string header_;
  std::shared_ptr<answered_route> route_;
};

struct room_state {
  std::string id;
  std::string gen; // the room's generation in Redis (its first host connection); empty while resuming
  const cluster_room_settings* settings = nullptr;
  redis_bridge* bridge = nullptr; // of the shard the room's id hashes to
  room_seats<caf::actor> seats;
  parked_share parked; // this room's part of /metrics' signal_parked_seats
  std::shared_ptr<seat_port> ports[2];      // made on first use, once gen is known
  // The seat channel of each member here with a peer on another node
  // (redis_bridge::seat_channel): its name from the subscribe on, and
  // whether Redis confirmed it.
  std::string channel[2];
  bool listening[2] = {false, false};
  unsigned channel_epoch[2] = {0, 0}; // a new name after each lost one
  // Parks waiting for their channel's UNSUBSCRIBE to be confirmed, and the
  // resumes that came meanwhile: sent once the parks are, so that a resume
  // right after a loss finds the seat parked.
  int parks_waiting = 0;
  // Held resumes: the resumer (monitored while held: one that goes meanwhile
  // is refused and never sent, so its token stays good) and how to send it.
  // They are the last resumes_waiting.size() of pending_resumes, in order.
  struct held_resume {
    caf::actor conn;
    std::function<void()> send;
  };
  std::vector<held_resume> resumes_waiting;
  // A resume came for a seat still here (room_seats::here_with_token): it,
  // and every resume after it, waits for that seat's loss to park it, at
  // most loss_wait (the timer of its grace_over; 0: not waiting).
  std::uint64_t awaiting_loss[2] = {0, 0};
  std::vector<std::string> in_flight[2];     // frames for a just-parked seat, before our fence
  std::string joining_token;                 // the guest's token while its join is announced
  // park_all (node drain): answered once every park's fence is back.
  std::vector<caf::typed_response_promise<std::uint64_t>> parked_waiters;
  // Resumes sent to Redis, answered in order.
  std::deque<caf::typed_response_promise<bool>> pending_resumes;
  // Envelopes that arrived while resuming, or while the guest here waits for
  // its join to be announced: handled once it is.
  std::vector<room_envelope> early;
  std::int64_t opened_ms = 0;
  std::uint64_t slow_frames = 0; // frames from the other node handed on by this actor
  static inline const char* name = "cluster-room";
};

using room_ptr = cluster_room_actor::stateful_pointer<room_state>;

caf::actor me(room_ptr self) {
  return caf::actor_cast<caf::actor>(self);
}

const cluster_room_settings& settings(room_ptr self) {
  return *self->state.settings;
}

// This room's part of signal_parked_seats, brought up to date.
void count_parked(room_ptr self) {
  auto* stats = settings(self).stats;
  self->state.parked.update(self->state.seats, stats ? &stats->parked_seats : nullptr);
}

// The room's shard: where its record is and its cross-node frames go.
redis_bridge& room_bridge(room_ptr self) {
  return *self->state.bridge;
}

seat_role role_from(std::string_view name) {
  return name == "host" ? seat_role::host : seat_role::guest;
}

std::shared_ptr<seat_port> port(room_ptr self, seat_role r) {
  auto& st = self->state;
  auto& p = st.ports[static_cast<int>(r)];
  if (!p)
    p = std::make_shared<seat_port>(&room_bridge(self), settings(self).stats, st.id, st.gen,
                                    settings(self).node_id, r);
  return p;
}

// What the member of seat `r` sends its frames to: the other member here, or
// the other seat's relay port.
peer_ref peer_for(room_ptr self, seat_role r) {
  auto& st = self->state;
  switch (st.seats.peer_of(r)) {
    case peer_kind::member: return peer_ref{st.seats.at(other(r)).member, nullptr};
    case peer_kind::stand_in: return peer_ref{nullptr, port(self, other(r))};
    case peer_kind::none: break;
  }
  return {};
}

void unregister(room_ptr self) {
  settings(self).registry->erase(self->state.id, self->address());
}

// The room is going: nobody here listens on a seat channel any more.
void stop_listening(room_ptr self) {
  auto& st = self->state;
  for (int i = 0; i < 2; ++i) {
    if (!st.channel[i].empty())
      room_bridge(self).unsubscribe_seat(std::exchange(st.channel[i], {}), [] {});
    st.listening[i] = false;
  }
}

// Leaves without touching the room: its members are elsewhere or parked, and
// Redis keeps the room. No envelope may reach us any more.
void step_aside(room_ptr self, const char* why) {
  auto& st = self->state;
  if (st.seats.ended())
    return;
  st.seats.end();
  count_parked(self);
  unregister(self);
  stop_listening(self);
  for (auto& p : st.parked_waiters)
    p.deliver(std::uint64_t{0});
  st.parked_waiters.clear();
  log::debug("event=room_step_aside room={} reason={}", st.id, why);
  self->quit();
}

// Ends the room once: members still here (but `leaving`) hear peer-left,
// members on other nodes are told (`tell_remote`), and Redis forgets the room.
void end_room(room_ptr self, const caf::actor& leaving, bool tell_remote, const char* why) {
  auto& st = self->state;
  if (st.seats.ended())
    return;
  bool joining = st.seats.phase() == room_phase::joining;
  st.seats.end();
  count_parked(self);
  unregister(self);
  stop_listening(self);
  auto& bridge = room_bridge(self);
  for (auto r : {seat_role::host, seat_role::guest}) {
    auto& s = st.seats.at(r);
    if (s.state == seat_state::here && s.member != leaving) {
      if (joining) // still waiting for its join: that is a refusal, not a leave
        caf::anon_send(s.member, refused{protocol::error_code::room_unavailable});
      else
        caf::anon_send(s.member, peer_left{me(self)});
    }
    if (tell_remote && s.state == seat_state::away && s.node != settings(self).node_id)
      bridge.publish(s.node, envelope::make(envelope::kind::left, st.id, st.gen, settings(self).node_id, ""), nullptr);
  }
  if (!st.gen.empty())
    bridge.end_room(st.id, st.gen);
  for (auto& p : st.parked_waiters)
    p.deliver(std::uint64_t{0});
  st.parked_waiters.clear();
  // Resumes not answered yet (waiting for a loss or a park, or on their way
  // to Redis) are refused: the room they were for is gone.
  for (auto& p : st.pending_resumes)
    p.deliver(false);
  st.pending_resumes.clear();
  st.resumes_waiting.clear();
  log::debug("event=room_closed room={} reason={}", st.id, why);
  self->quit();
}

// Timers of rooms (grace_over): a parked seat's grace, or how long resumes
// wait for a loss. Only compared for equality.
std::atomic<std::uint64_t> next_timer{0};

void watch_grace(room_ptr self, seat_role r) {
  auto& s = self->state.seats.at(r);
  s.grace = ++next_timer;
  self->delayed_send(self, settings(self).resume_grace, grace_over{r, s.grace});
}

// After a park: answer a drain waiting for it, and leave once nobody is here.
void after_parks(room_ptr self) {
  auto& st = self->state;
  if (st.seats.ended() || !st.seats.settled())
    return;
  for (auto& p : st.parked_waiters)
    p.deliver(std::uint64_t{1});
  st.parked_waiters.clear();
  if (!st.seats.anyone_here() && st.pending_resumes.empty() && st.resumes_waiting.empty())
    step_aside(self, "members_parked");
}

// What names member `r`'s seat channel after the room and generation: its
// connection and how many channels it lost before (redis_bridge::seat_channel).
std::string channel_name(room_ptr self, seat_role r) {
  auto& st = self->state;
  return conn_name(st.seats.at(r).member) + ":" + std::to_string(st.channel_epoch[static_cast<int>(r)]);
}

void park_in_redis(room_ptr self, seat_role r, const std::string& conn, std::uint64_t acked) {
  auto& st = self->state;
  auto room = caf::actor_cast<cluster_room_actor>(self);
  room_bridge(self).park_seat(st.id, st.gen, role_name(r), conn, acked,
                               [room, r](park_reply p) { caf::anon_send(room, park_done{r, std::move(p)}); });
}

// Member `r` here has its peer on another node: tell that node it listens
// on its seat channel (C), so frames for it become one PUBLISH each.
void announce_channel(room_ptr self, seat_role r) {
  auto& st = self->state;
  auto& s = st.seats.at(r);
  auto& o = st.seats.at(other(r));
  if (s.state != seat_state::here || o.state != seat_state::away || o.node == settings(self).node_id)
    return;
  room_bridge(self).publish(o.node,
                            envelope::make(envelope::kind::listening, st.id, st.gen, settings(self).node_id,
                                           role_name(r), channel_name(self, r)),
                            nullptr);
}

// Member `r` here listens on its seat channel from now on, if its peer is on
// another node; that node hears so once Redis confirms (channel_ready).
void listen(room_ptr self, seat_role r) {
  auto& st = self->state;
  auto i = static_cast<int>(r);
  if (st.gen.empty() || st.seats.ended() || st.seats.at(r).state != seat_state::here ||
      st.seats.at(other(r)).state != seat_state::away)
    return;
  if (!st.channel[i].empty()) {
    if (st.listening[i]) // the peer moved: its new node needs to know
      announce_channel(self, r);
    return;
  }
  st.channel[i] = room_bridge(self).seat_channel(st.id, st.gen, channel_name(self, r));
  auto room = caf::actor_cast<cluster_room_actor>(self);
  room_bridge(self).subscribe_seat(
    st.channel[i], [room, r, ch = st.channel[i]](bool ok) { caf::anon_send(room, channel_ready{r, ch, ok}); },
    [room, r, ch = st.channel[i]] { caf::anon_send(room, channel_lost{r, ch}); });
}

// The channel of member `r` is gone (lost with the subscriber link) or could
// not be had: listen again under a new name a little later.
void relisten_later(room_ptr self, seat_role r) {
  auto& st = self->state;
  auto i = static_cast<int>(r);
  st.channel[i].clear();
  st.listening[i] = false;
  ++st.channel_epoch[i];
  self->delayed_send(self, std::chrono::seconds(1), channel_retry{r});
}

// Resumes are held back while a park waits for its UNSUBSCRIBE or a seat
// still here is waited for.
bool resumes_held(const room_state& st) {
  return st.parks_waiting > 0 || st.awaiting_loss[0] || st.awaiting_loss[1];
}

// Held resumes go to Redis once nothing holds them: in the order they came.
void release_resumes(room_ptr self) {
  auto& st = self->state;
  if (resumes_held(st))
    return;
  auto resumes = std::move(st.resumes_waiting);
  st.resumes_waiting.clear();
  for (auto& h : resumes) {
    self->demonitor(h.conn);
    h.send();
  }
}

// Member `r` here lost its connection (or the node is draining) after
// relaying `acked` messages: its seat is kept for the grace, in Redis.
void park_seat(room_ptr self, seat_role r, std::uint64_t acked) {
  auto& st = self->state;
  auto& s = st.seats.at(r);
  auto conn = conn_name(s.member);
  // From now on frames for it reach this room (and wait for the fence).
  settings(self).registry->set_member(st.id, self->address(), r, nullptr);
  self->demonitor(s.member);
  st.seats.park(r, acked);
  count_parked(self);
  s.fencing = true;
  log::debug("event=seat_parked room={} role={}", st.id, role_name(r));
  // The other member here hears peer-disconnected once Redis has the seat
  // parked (park_done): a resume it prompts, on any node, finds it parked.
  // (Its member on another node hears it from the PARK script itself.)
  if (st.seats.at(other(r)).state == seat_state::here)
    watch_grace(self, r);
  // Frames sent to its channel reach us until Redis confirms we stopped
  // listening there; only then is the seat parked, so every one of them
  // comes before the fence. Later ones find nobody and take SEAT_FRAMES.
  auto i = static_cast<int>(r);
  if (st.channel[i].empty())
    return park_in_redis(self, r, conn, acked);
  auto room = caf::actor_cast<cluster_room_actor>(self);
  room_bridge(self).unsubscribe_seat(std::exchange(st.channel[i], {}), [room, r, conn, acked] {
    caf::anon_send(room, channel_closed{r, conn, acked});
  });
  st.listening[i] = false;
  ++st.parks_waiting;
}

// The same, and then the resumes that waited for that loss.
void park(room_ptr self, seat_role r, std::uint64_t acked) {
  self->state.awaiting_loss[static_cast<int>(r)] = 0;
  park_seat(self, r, acked);
  release_resumes(self);
}

// A member here gets its seat; frames for it may go straight to it from now on.
void announce_member(room_ptr self, seat_role r) {
  auto& st = self->state;
  settings(self).registry->set_member(st.id, self->address(), r, st.seats.at(r).member);
}

// An envelope from another node (the registry routed it here).
void on_envelope(room_ptr self, room_envelope& e) {
  auto& st = self->state;
  if (st.seats.ended())
    return;
  auto r = role_from(e.role);
  auto& s = st.seats.at(r);
  switch (e.k) {
    case envelope::kind::frame:
      if (s.state == seat_state::here) {
        ++st.slow_frames;
        settings(self).stats->relayed_in.fetch_add(1, std::memory_order_relaxed);
        deliver_to_connection(s.member, st.id, std::move(e.frame), e.received);
      } else if (s.state == seat_state::parked && s.fencing) {
        // Lost a moment ago: older than anything Redis keeps for it.
        st.in_flight[static_cast<int>(r)].push_back(*e.frame);
      }
      return;
    case envelope::kind::listening: // body: the member's connection, ':', the channel's epoch
      if (s.state == seat_state::away && s.node == e.node && !st.gen.empty() &&
          e.body.substr(0, e.body.rfind(':')) == s.conn)
        port(self, r)->open(room_bridge(self).seat_channel(st.id, st.gen, e.body));
      return;
    case envelope::kind::fence:
      if (!s.fencing)
        return;
      s.fencing = false;
      if (auto& f = st.in_flight[static_cast<int>(r)]; !f.empty()) {
        room_bridge(self).prepend(st.id, st.gen, role_name(r), f);
        f.clear();
      }
      return after_parks(self);
    case envelope::kind::joined: {
      auto& host = st.seats.at(seat_role::host);
      if (!st.seats.may_seat_guest(nullptr))
        return;
      st.seats.seat_away(seat_role::guest, e.node, e.body, unix_ms());
      caf::anon_send(host.member, peer_joined{me(self), peer_for(self, seat_role::host)});
      listen(self, seat_role::host);
      log::debug("event=room_joined room={} guest_node={}", st.id, e.node);
      return;
    }
    case envelope::kind::left:
      for (auto role : {seat_role::host, seat_role::guest})
        if (st.seats.at(role).state == seat_state::away && st.seats.at(role).node == e.node)
          return end_room(self, nullptr, false, "remote_left");
      return;
    case envelope::kind::parked:
      if (!st.seats.park_away(r, e.node))
        return;
      if (auto& p = st.ports[static_cast<int>(r)])
        p->close();
      count_parked(self);
      if (auto& o = st.seats.at(other(r)); o.state == seat_state::here) {
        caf::anon_send(o.member, peer_gone{me(self), peer_for(self, other(r))});
        watch_grace(self, r);
      }
      return;
    case envelope::kind::resumed:
      if (s.state != seat_state::parked)
        return;
      st.seats.seat_away(r, e.node, e.body, unix_ms());
      if (auto& p = st.ports[static_cast<int>(r)])
        p->close(); // until its new node says it listens
      count_parked(self);
      st.in_flight[static_cast<int>(r)].clear();
      if (auto& o = st.seats.at(other(r)); o.state == seat_state::here)
        caf::anon_send(o.member, peer_back{me(self), peer_for(self, other(r))});
      listen(self, other(r));
      log::debug("event=seat_resumed room={} role={} node={}", st.id, role_name(r), e.node);
      return;
  }
}

// Envelopes held while the room was not open yet, in their order.
void replay_early(room_ptr self) {
  auto early = std::move(self->state.early);
  for (auto& e : early)
    on_envelope(self, e);
}

// Redis's answer to a resume through this room.
void on_resumed(room_ptr self, resume_done& d) {
  auto& st = self->state;
  auto rp = st.pending_resumes.front();
  st.pending_resumes.pop_front();
  auto& rr = d.reply;
  if (rr.result != outcome::ok || st.seats.ended() || (!st.gen.empty() && rr.gen != st.gen)) {
    rp.deliver(false);
    if (st.seats.phase() != room_phase::resuming)
      after_parks(self); // it may have been all that kept the room here
    else if (st.pending_resumes.empty())
      step_aside(self, "resume_refused");
    // (else resumes made behind it are on their way to Redis: their answers
    // come here, and one of them may open the room.)
    return;
  }
  if (st.gen.empty()) {
    st.gen = rr.gen;
    settings(self).registry->set_gen(st.id, self->address(), st.gen);
  }
  auto r = role_from(rr.role);
  auto& o = st.seats.at(other(r));
  if (rr.other_node != settings(self).node_id) { // else: the other member is here, we know it
    if (rr.other_parked) {
      o = seat<caf::actor>{};
      o.state = seat_state::parked;
    } else if (!rr.other_node.empty()) {
      st.seats.seat_away(other(r), rr.other_node, rr.other_conn, unix_ms());
    } else {
      o = seat<caf::actor>{};
    }
  }
  if (o.state == seat_state::parked && o.grace == 0)
    watch_grace(self, other(r));
  st.in_flight[static_cast<int>(r)].clear();
  st.seats.resume_here(r, d.conn, d.token, unix_ms());
  count_parked(self);
  self->monitor(d.conn);
  if (o.state == seat_state::here)
    caf::anon_send(o.member, peer_back{me(self), peer_ref{d.conn, nullptr}});
  log::debug("event=seat_resumed room={} role={} kept={} dropped={}", st.id, role_name(r), rr.frames.size(),
            rr.dropped);
  auto frames = std::move(rr.frames);
  caf::anon_send(d.conn, seat_resumed{st.id, me(self), peer_for(self, r), r, d.token, std::move(frames), rr.dropped,
                                  st.seats.peer_connected(r), rr.acked});
  if (st.seats.phase() == room_phase::resuming) {
    st.seats.open();
    replay_early(self);
  }
  // Only now may frames bypass this actor: everything before is handed on.
  if (!st.seats.ended())
    announce_member(self, r);
  listen(self, r);
  rp.deliver(true);
}

cluster_room_actor::behavior_type room_behavior(room_ptr self) {
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    // A held resumer went: refused, not sent.
    auto& held = st.resumes_waiting;
    for (std::size_t i = 0; i < held.size(); ++i)
      if (held[i].conn.address() == dm.source) {
        auto at = st.pending_resumes.size() - held.size() + i;
        st.pending_resumes[at].deliver(false);
        st.pending_resumes.erase(st.pending_resumes.begin() + static_cast<std::ptrdiff_t>(at));
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        return after_parks(self);
      }
    for (auto r : {seat_role::host, seat_role::guest}) {
      auto& s = st.seats.at(r);
      if (s.state == seat_state::here && s.member.address() == dm.source)
        return end_room(self, s.member, true, r == seat_role::host ? "host_disconnected" : "guest_disconnected");
    }
  });
  return {
    // A guest on this node joins the room hosted here (the directory seated
    // it in Redis already).
    [self](seat_guest& g) -> bool {
      auto& st = self->state;
      if (!st.seats.may_seat_guest(&g.conn)) {
        room_bridge(self).unseat_guest(st.id, conn_name(g.conn));
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
        end_room(self, m.conn, true, "left");
    },
    [self](const member_lost& m) {
      auto& st = self->state;
      auto r = st.seats.role_of(m.conn);
      switch (st.seats.on_lost(m.conn, settings(self).resume_grace.count() > 0)) {
        case lost_effect::ignore: return;
        case lost_effect::end_room:
          return end_room(self, m.conn, true, *r == seat_role::host ? "host_disconnected" : "guest_disconnected");
        case lost_effect::park: return park(self, *r, m.acked);
      }
    },
    // Members here send to a relay port, never to the room: only a frame
    // queued before a change of peer lands here. Hand it on.
    [self](deliver_frame& f) {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      auto r = st.seats.role_of(sender);
      if (st.seats.ended() || !r)
        return;
      auto& o = st.seats.at(other(*r));
      if (o.state == seat_state::here)
        caf::anon_send(o.member, std::move(f));
      else if (o.taken())
        port(self, other(*r))->relay(*f.frame, sender);
    },
    [self](park_done& p) {
      auto& st = self->state;
      if (st.seats.ended())
        return;
      if (p.reply.result == outcome::ok) {
        auto& o = st.seats.at(other(p.role));
        if (st.seats.at(p.role).state == seat_state::parked && o.state == seat_state::here)
          caf::anon_send(o.member, peer_gone{me(self), peer_for(self, other(p.role))});
        return;
      }
      // Not parked (Redis away, or the seat is no longer ours): the room
      // cannot wait for a resume.
      st.seats.at(p.role).fencing = false;
      end_room(self, nullptr, true, "park_failed");
    },
    [self](room_envelope& e) {
      if (e.frame)
        tsan::taken_over(e.frame.get());
      auto& st = self->state;
      auto phase = st.seats.phase();
      if (phase == room_phase::resuming || phase == room_phase::joining) {
        st.early.push_back(std::move(e));
      } else {
        on_envelope(self, e);
      }
      settings(self).registry->handled(st.id, self->address());
    },
    // Our J envelope reached the host's node (or could not).
    [self](const join_announced& j) {
      auto& st = self->state;
      auto& guest = st.seats.at(seat_role::guest);
      if (st.seats.phase() != room_phase::joining || guest.state != seat_state::here)
        return;
      if (j.delivered) {
        st.seats.open();
        caf::anon_send(guest.member, room_joined{st.id, me(self), peer_for(self, seat_role::guest), st.joining_token});
        replay_early(self);
        if (st.seats.ended())
          return;
        announce_member(self, seat_role::guest);
        listen(self, seat_role::guest);
        log::debug("event=room_joined room={} host_node={}", st.id, st.seats.at(seat_role::host).node);
        return;
      }
      // The host's node is unreachable right now: give the seat back (the
      // host's room stays joinable) and let the guest retry.
      auto conn = guest.member;
      room_bridge(self).unseat_guest(st.id, conn_name(conn));
      caf::anon_send(conn, refused{protocol::error_code::unavailable});
      if (st.pending_resumes.empty())
        return step_aside(self, "join_unconfirmed");
      // A resume came meanwhile (the host's, from its node's crash): its
      // answer comes here, so wait for it instead of leaving it unanswered.
      self->demonitor(conn);
      st.seats.join_failed();
    },
    [self](const grace_over& g) {
      auto& st = self->state;
      auto& waiting = st.awaiting_loss[static_cast<int>(g.role)];
      if (waiting != 0 && waiting == g.timer) {
        // No loss came: the seat's connection is alive. The resumes go to
        // Redis, which refuses one for a seat that is not parked.
        waiting = 0;
        return release_resumes(self);
      }
      auto& s = st.seats.at(g.role);
      if (st.seats.ended() || s.state != seat_state::parked || s.grace != g.timer)
        return;
      auto room = caf::actor_cast<cluster_room_actor>(self);
      room_bridge(self).expire_seat(st.id, st.gen, role_name(g.role), [room, g](expire_reply e) {
        caf::anon_send(room, grace_checked{g.role, g.timer, e.ended});
      });
    },
    [self](const grace_checked& g) {
      auto& s = self->state.seats.at(g.role);
      if (g.ended && s.state == seat_state::parked && s.grace == g.timer)
        end_room(self, nullptr, false, "resume_grace_over");
    },
    // A resume of one of our seats, on this node.
    [self](resume_seat& rs) -> caf::result<bool> {
      auto& st = self->state;
      if (st.seats.ended())
        return false;
      // Redis answers in order on one connection: the promises wait in order.
      auto rp = self->make_response_promise<bool>();
      st.pending_resumes.push_back(rp);
      auto room = caf::actor_cast<cluster_room_actor>(self);
      auto token = make_resume_token();
      auto send = [bridge = &room_bridge(self), id = st.id, old = rs.token, room, conn = rs.conn, token] {
        bridge->resume(id, old, conn_name(conn), token, [room, conn, token](resume_reply r) {
          caf::anon_send(room, resume_done{conn, token, std::move(r)});
        });
      };
      // The seat may still be here, its loss on the way: wait for it.
      if (auto r = st.seats.here_with_token(rs.token, rs.conn)) {
        auto& timer = st.awaiting_loss[static_cast<int>(*r)];
        if (timer == 0) {
          timer = ++next_timer;
          self->delayed_send(self, room_seats<caf::actor>::loss_wait, grace_over{*r, timer});
        }
      }
      if (!resumes_held(st)) {
        send();
        return rp;
      }
      self->monitor(rs.conn);
      st.resumes_waiting.push_back({rs.conn, std::move(send)}); // after the park it may be for
      return rp;
    },
    [self](resume_done& d) { on_resumed(self, d); },
    // Node drain: park every member here (their connections close next,
    // with 1012); answered once Redis has them all.
    [self](park_all_atom) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (st.seats.ended() || settings(self).resume_grace.count() == 0 || st.seats.phase() != room_phase::open)
        return std::uint64_t{0};
      // Each connection first stops relaying and says how much it relayed;
      // then its seat is parked with that count.
      for (auto r : {seat_role::host, seat_role::guest}) {
        auto& s = st.seats.at(r);
        if (s.state != seat_state::here)
          continue;
        s.freezing = true;
        self->request(s.member, std::chrono::seconds(2), park_all_atom_v)
          .then(
            [self, r, conn = s.member](std::uint64_t acked) {
              auto& s = self->state.seats.at(r);
              s.freezing = false;
              if (!self->state.seats.ended() && s.state == seat_state::here && s.member == conn)
                park(self, r, acked);
              after_parks(self);
            },
            [self, r](const caf::error&) { // gone meanwhile: its loss parked it (member_lost), or it left
              self->state.seats.at(r).freezing = false;
              after_parks(self);
            });
      }
      if (st.seats.settled()) {
        after_parks(self);
        return std::uint64_t{1};
      }
      auto rp = self->make_response_promise<std::uint64_t>();
      st.parked_waiters.push_back(rp);
      return rp;
    },
    [self](room_atom) {
      auto& st = self->state;
      return describe_room(st.seats, st.id, settings(self).node_id, st.opened_ms,
                           settings(self).registry->direct_frames(st.id) + st.slow_frames);
    },
    // Closed by the operator: members here get `peer-left` and close 1000
    // "room closed by operator"; a member on another node hears `peer-left`
    // (as when its peer leaves) and stays connected.
    [self](close_room_atom) {
      auto& st = self->state;
      std::vector<caf::actor_id> closed;
      std::string remote_node;
      if (st.seats.phase() != room_phase::joining) // else end_room refuses the waiting guest instead
        for (auto r : {seat_role::host, seat_role::guest}) {
          auto& s = st.seats.at(r);
          if (s.state != seat_state::here)
            continue;
          closed.push_back(s.member.id());
          caf::anon_send(s.member, room_closed{me(self)});
          self->demonitor(s.member);
          s.state = seat_state::free;
        }
      for (auto r : {seat_role::host, seat_role::guest})
        if (st.seats.at(r).state == seat_state::away)
          remote_node = st.seats.at(r).node;
      nlohmann::ordered_json j{{"closed", st.id},
                               {"members_closed", closed},
                               {"remote_member_node", remote_node.empty() ? nlohmann::ordered_json(nullptr)
                                                                          : nlohmann::ordered_json(remote_node)}};
      log::warn("event=room_closed_by_operator room={}", st.id);
      end_room(self, nullptr, true, "closed_by_operator");
      return j.dump();
    },
    // Redis lost our record (restart without data, or we were silent past
    // our TTL): write it back with what we know (our members' resume tokens
    // among it; the other member's node adds its own), or end the room if
    // the id went to another. Only while each member is seated somewhere: a
    // parked seat's record is not rebuilt.
    [self](write_back) {
      auto& st = self->state;
      if (st.seats.ended() || st.gen.empty() || !st.seats.anyone_here())
        return;
      redis_bridge::restored_seat seats[2];
      for (auto r : {seat_role::host, seat_role::guest}) {
        auto& s = st.seats.at(r);
        auto& out = seats[static_cast<int>(r)];
        if (s.state == seat_state::here)
          out = {settings(self).node_id, conn_name(s.member), s.token};
        else if (s.state == seat_state::away)
          out = {s.node, s.conn, {}};
        else if (s.state != seat_state::free || r == seat_role::host)
          return;
      }
      auto room = caf::actor_cast<cluster_room_actor>(self);
      room_bridge(self).restore_room(st.id, st.gen, seats[0], seats[1], [room](restore_reply r) {
        if (r.result == outcome::refused)
          caf::anon_send(room, record_lost{});
      });
    },
    [self](record_lost) { end_room(self, nullptr, true, "record_lost"); },
    [self](channel_ready& c) {
      auto& st = self->state;
      auto i = static_cast<int>(c.role);
      if (st.seats.ended() || st.channel[i] != c.channel)
        return; // given up since
      if (!c.ok)
        return relisten_later(self, c.role); // the link is down: again, later
      st.listening[i] = true;
      announce_channel(self, c.role);
    },
    [self](channel_closed& c) {
      auto& st = self->state;
      if (!st.seats.ended())
        park_in_redis(self, c.role, c.conn, c.acked);
      --st.parks_waiting;
      release_resumes(self);
    },
    [self](channel_lost& c) {
      auto& st = self->state;
      if (!st.seats.ended() && st.channel[static_cast<int>(c.role)] == c.channel)
        relisten_later(self, c.role);
    },
    [self](channel_retry& c) { listen(self, c.role); },
    [self](reaped) { end_room(self, nullptr, true, "record_lost"); },
  };
}

cluster_room_actor::behavior_type hosted_room(room_ptr self, std::string id, caf::actor host, std::string token,
                                              const cluster_room_settings* s) {
  auto& st = self->state;
  st.id = std::move(id);
  st.settings = s;
  st.bridge = &s->shards->for_room(st.id);
  st.gen = conn_name(host);
  st.opened_ms = unix_ms();
  st.seats.seat_here(seat_role::host, host, token, st.opened_ms);
  self->monitor(host);
  s->registry->put(st.id, st.gen, me(self));
  caf::anon_send(host, room_created{st.id, me(self), std::move(token)});
  announce_member(self, seat_role::host);
  return room_behavior(self);
}

cluster_room_actor::behavior_type joined_room(room_ptr self, std::string id, caf::actor guest, std::string host_node,
                                              std::string host_conn, std::string gen, std::string token,
                                              const cluster_room_settings* s) {
  auto& st = self->state;
  st.id = std::move(id);
  st.settings = s;
  st.bridge = &s->shards->for_room(st.id);
  st.gen = std::move(gen);
  st.seats = room_seats<caf::actor>{room_phase::joining};
  st.opened_ms = unix_ms();
  st.seats.seat_here(seat_role::guest, guest, token, st.opened_ms);
  st.seats.seat_away(seat_role::host, host_node, std::move(host_conn), 0);
  st.joining_token = std::move(token);
  self->monitor(guest);
  s->registry->put(st.id, st.gen, me(self));
  // Tell the host's node first; the guest hears `peer-joined` only once the
  // host's node has the news, so the guest's first signal cannot overtake it.
  auto room = caf::actor_cast<cluster_room_actor>(self);
  st.bridge->publish(host_node,
                     envelope::make(envelope::kind::joined, st.id, st.gen, s->node_id, "guest", conn_name(guest)),
                     [room](bool delivered) { caf::anon_send(room, join_announced{delivered}); });
  return room_behavior(self);
}

cluster_room_actor::behavior_type resuming_room(room_ptr self, std::string id, const cluster_room_settings* s) {
  auto& st = self->state;
  st.id = std::move(id);
  st.settings = s;
  st.bridge = &s->shards->for_room(st.id);
  st.seats = room_seats<caf::actor>{room_phase::resuming};
  st.opened_ms = unix_ms();
  s->registry->put(st.id, "", me(self));
  return room_behavior(self);
}

} // namespace

cluster_room_actor spawn_hosted_room(caf::actor_system& sys, std::string id, caf::actor host, std::string token,
                                     const cluster_room_settings* settings) {
  return sys.spawn(hosted_room, std::move(id), std::move(host), std::move(token), settings);
}

cluster_room_actor spawn_joined_room(caf::actor_system& sys, std::string id, caf::actor guest, std::string host_node,
                                     std::string host_conn, std::string gen, std::string token,
                                     const cluster_room_settings* settings) {
  return sys.spawn(joined_room, std::move(id), std::move(guest), std::move(host_node), std::move(host_conn),
                   std::move(gen), std::move(token), settings);
}

cluster_room_actor spawn_resuming_room(caf::actor_system& sys, std::string id, const cluster_room_settings* settings) {
  return sys.spawn(resuming_room, std::move(id), settings);
}

std::string conn_name(const caf::actor& conn) {
  // Actor ids restart at 1 in every process: the incarnation keeps a
  // restarted node's connections distinct from its crashed predecessor's.
  static const std::string incarnation = [] {
    std::random_device rd;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    return std::string(buf);
  }();
  return incarnation + "-" + std::to_string(conn.id());
}

} // namespace signaling::cluster
