#include "actors/room_actor.hpp"

#include "actors/envelope.hpp"
#include "actors/messages.hpp"
#include "actors/protocol.hpp"
#include "cluster/redis_bridge.hpp"
#include "common/log.hpp"
#include "common/stats.hpp"

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

// The room as the operator console shows it. Members on this node carry their
// actor id (the inspector adds their connection's figures); a member on
// another node carries its node, connection name and the frames it sent here.
std::string describe(room_ptr self) {
  auto& st = self->state;
  using json = nlohmann::ordered_json;
  const auto& here = st.links->node_id;
  auto member = [&](const char* role, const caf::actor& local, const std::string& node, const std::string& conn,
                    std::int64_t joined) {
    json m{{"role", role}};
    if (local) {
      m["node"] = here;
      m["actor"] = local.id();
    } else {
      m["node"] = node;
      m["actor"] = actor_of(conn);
      m["conn"] = conn;
      m["relayed"] = st.remote_frames;
    }
    m["joined_at_ms"] = joined > 0 ? json(joined) : json(nullptr);
    return m;
  };
  json members = json::array();
  bool remote_host = !st.host && st.host_node != here;
  if (st.host)
    members.push_back(member("host", st.host, {}, {}, st.host_joined_ms));
  else if (remote_host)
    members.push_back(member("host", nullptr, st.host_node, st.host_conn, 0));
  if (st.guest)
    members.push_back(member("guest", st.guest, {}, {}, st.guest_joined_ms));
  else if (!remote_host && !st.remote_node.empty())
    members.push_back(member("guest", nullptr, st.remote_node, st.remote_conn, st.guest_joined_ms));
  const char* state = st.ended ? "ended" : !st.confirmed ? "joining" : members.size() == 2 ? "paired" : "waiting";
  json j{{"id", st.id},          {"node", here},    {"hosted", st.host_node == here},
         {"state", state},       {"opened_at_ms", st.opened_ms},
         {"cross_node", !st.remote_node.empty()}, {"members", std::move(members)}};
  return j.dump();
}

// Ends the room once: local members still present hear `peer-left`, the
// member on another node is told, and Redis forgets the room.
void end_room(room_ptr self, const caf::actor& leaving, bool tell_remote, const char* why) {
  auto& st = self->state;
  if (st.ended)
    return;
  st.ended = true;
  if (st.links->registry) // no envelope may reach us once we stop
    st.links->registry->erase(st.id, self->address());
  if (!st.confirmed && st.guest) {
    // The guest is still waiting for its join: that is a refusal, not a leave.
    self->send(st.guest, refused_atom_v, code(protocol::error_code::room_unavailable));
    st.guest = nullptr;
  }
  for (const auto& m : {st.host, st.guest})
    if (m && m != leaving)
      self->send(m, peer_left_atom_v, me(self));
  if (auto* bridge = st.links->bridge) {
    if (tell_remote && !st.remote_node.empty())
      bridge->publish(st.remote_node, envelope::make(envelope::kind::left, st.id, st.links->node_id), nullptr);
    bridge->end_room(st.id, st.host_node, st.host_conn);
  }
  log::info("event=room_closed room={} reason={}", st.id, why);
  st.host = nullptr;
  st.guest = nullptr;
  self->quit();
}

// The member on this node, when the other one is remote.
const caf::actor& local_member(room_ptr self) {
  auto& st = self->state;
  return st.host ? st.host : st.guest;
}

caf::behavior room_behavior(room_ptr self) {
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.host)
      end_room(self, st.host, true, "host_disconnected");
    else if (dm.source == st.guest)
      end_room(self, st.guest, true, "guest_disconnected");
  });
  return {
    // A guest on this node (the directory has seated it in Redis already).
    [self](join_room_atom, const caf::actor& who) -> bool {
      auto& st = self->state;
      if (st.ended || st.guest || !st.remote_node.empty() || !st.host || who == st.host) {
        self->send(who, refused_atom_v, code(protocol::error_code::room_unavailable));
        return false;
      }
      st.guest = who;
      st.guest_joined_ms = unix_ms();
      self->monitor(who);
      self->send(who, joined_atom_v, st.id, me(self), st.host);
      self->send(st.host, peer_joined_atom_v, me(self), who);
      log::info("event=room_joined room={}", st.id);
      return true;
    },
    [self](leave_room_atom, const caf::actor& who) {
      auto& st = self->state;
      if (!who) // our Redis record is gone or went to another room: we cannot go on
        end_room(self, nullptr, true, "record_lost");
      else if (who == st.host || who == st.guest)
        end_room(self, who, true, "left");
    },
    // From our member, for the member on another node: one PUBLISH.
    [self](deliver_atom, const std::string&, const transport::frame_ptr& frame, std::int64_t) {
      auto& st = self->state;
      if (st.ended || st.remote_node.empty() || !st.links->bridge)
        return;
      auto sender = local_member(self);
      auto* stats = st.links->stats;
      stats->relayed_out.fetch_add(1, std::memory_order_relaxed);
      st.links->bridge->publish(st.remote_node, envelope::make(envelope::kind::frame, st.id, st.links->node_id, *frame),
                                [sender, stats, id = st.id](bool delivered) {
                                  if (delivered)
                                    return;
                                  stats->relay_failed.fetch_add(1, std::memory_order_relaxed);
                                  caf::anon_send(sender, relay_failed_atom_v, id);
                                });
    },
    // Only from the node our remote member is on: a late envelope for an
    // earlier room with the same id must not reach this one.
    [self](remote_frame_atom, const std::string& from, const transport::frame_ptr& frame, std::int64_t received) {
      auto& st = self->state;
      if (st.ended || from != st.remote_node || !local_member(self))
        return;
      ++st.remote_frames;
      st.links->stats->relayed_in.fetch_add(1, std::memory_order_relaxed);
      self->send(local_member(self), deliver_atom_v, st.id, frame, received);
    },
    [self](remote_joined_atom, const std::string& node, const std::string& conn) {
      auto& st = self->state;
      if (st.ended || st.guest || !st.remote_node.empty() || !st.host)
        return;
      st.remote_node = node;
      st.remote_conn = conn;
      st.guest_joined_ms = unix_ms();
      self->send(st.host, peer_joined_atom_v, me(self), me(self));
      log::info("event=room_joined room={} guest_node={}", st.id, node);
    },
    // Our J envelope reached the host's node (or could not).
    [self](join_done_atom, bool delivered) {
      auto& st = self->state;
      if (st.ended || !st.guest || st.host || st.remote_node.empty())
        return;
      if (delivered) {
        st.confirmed = true;
        self->send(st.guest, joined_atom_v, st.id, me(self), me(self));
        log::info("event=room_joined room={} host_node={}", st.id, st.remote_node);
        return;
      }
      // The host's node is unreachable right now: give the seat back (the
      // host's room stays joinable) and let the guest retry.
      st.links->bridge->unseat_guest(st.id, conn_name(st.guest));
      self->send(st.guest, refused_atom_v, code(protocol::error_code::unavailable));
      st.ended = true;
      st.guest = nullptr;
      self->quit();
    },
    [self](remote_left_atom, const std::string& from) {
      if (from == self->state.remote_node)
        end_room(self, nullptr, false, "remote_left");
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
      if (st.confirmed) // else end_room refuses the waiting guest's join instead
        for (auto* m : {&st.host, &st.guest})
          if (*m) {
            closed.push_back(m->id());
            self->send(*m, room_closed_atom_v, room);
            *m = nullptr;
          }
      nlohmann::ordered_json j{{"closed", st.id},
                               {"members_closed", closed},
                               {"remote_member_node", st.remote_node.empty() ? nlohmann::ordered_json(nullptr)
                                                                             : nlohmann::ordered_json(st.remote_node)}};
      log::warn("event=room_closed_by_operator room={}", st.id);
      end_room(self, nullptr, true, "closed_by_operator");
      return j.dump();
    },
    // Redis lost our record (restart without data, or we were silent past
    // our TTL): write it back, or end the room if the id went to another.
    [self](restore_atom) {
      auto& st = self->state;
      if (st.ended || !st.host || !st.links->bridge)
        return;
      std::string guest_node = st.guest ? st.links->node_id : st.remote_node;
      std::string guest_conn = st.guest ? conn_name(st.guest) : st.remote_conn;
      auto room = me(self);
      st.links->bridge->restore_room(st.id, st.host_conn, guest_node, guest_conn,
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

caf::behavior room_actor(room_ptr self, std::string id, caf::actor host, const room_links* links) {
  auto& st = self->state;
  st.id = std::move(id);
  st.links = links;
  st.host = host;
  st.host_node = links->node_id;
  st.host_conn = conn_name(host);
  st.opened_ms = st.host_joined_ms = unix_ms();
  self->monitor(host);
  return room_behavior(self);
}

caf::behavior joined_room_actor(room_ptr self, std::string id, caf::actor guest, std::string host_node,
                                std::string host_conn, const room_links* links) {
  auto& st = self->state;
  st.id = std::move(id);
  st.links = links;
  st.guest = guest;
  st.remote_node = host_node;
  st.remote_conn = host_conn;
  st.host_node = std::move(host_node);
  st.host_conn = std::move(host_conn);
  st.confirmed = false;
  st.opened_ms = st.guest_joined_ms = unix_ms();
  self->monitor(guest);
  // Tell the host's node first; the guest hears `peer-joined` only once the
  // host's node has the news, so the guest's first signal cannot overtake it.
  auto room = me(self);
  links->bridge->publish(st.remote_node, envelope::make(envelope::kind::joined, st.id, links->node_id, conn_name(guest)),
                         [room](bool delivered) { caf::anon_send(room, join_done_atom_v, delivered); });
  return room_behavior(self);
}

} // namespace signaling
