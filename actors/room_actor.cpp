#include "actors/room_actor.hpp"

#include "actors/messages.hpp"
#include "actors/protocol.hpp"
#include "common/log.hpp"

namespace signaling {

namespace {

// Ends the room: the member still present (if any) hears `peer-left`.
void end_room(caf::stateful_actor<room_state>* self, const caf::actor& leaving, const char* why) {
  auto& st = self->state;
  const caf::actor& other = leaving == st.host ? st.guest : st.host;
  if (other)
    self->send(other, peer_left_atom_v, caf::actor_cast<caf::actor>(self));
  log::info("event=room_closed room={} reason={}", st.id, why);
  st.host = nullptr;
  st.guest = nullptr;
  self->quit();
}

} // namespace

caf::behavior room_actor(caf::stateful_actor<room_state>* self, std::string id, caf::actor host) {
  self->state.id = std::move(id);
  self->state.host = host;
  self->monitor(host);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.host)
      end_room(self, st.host, "host_disconnected");
    else if (dm.source == st.guest)
      end_room(self, st.guest, "guest_disconnected");
  });
  return {
    [self](join_room_atom, const caf::actor& who) -> bool {
      auto& st = self->state;
      if (st.guest || !st.host || who == st.host) {
        self->send(who, refused_atom_v, std::string(protocol::code_name(protocol::error_code::room_unavailable)));
        return false;
      }
      st.guest = who;
      self->monitor(who);
      auto me = caf::actor_cast<caf::actor>(self);
      self->send(who, joined_atom_v, st.id, me, st.host);
      self->send(st.host, peer_joined_atom_v, me, who);
      log::info("event=room_joined room={}", st.id);
      return true;
    },
    [self](leave_room_atom, const caf::actor& who) {
      auto& st = self->state;
      if (who && (who == st.host || who == st.guest))
        end_room(self, who, "left");
    },
  };
}

} // namespace signaling
