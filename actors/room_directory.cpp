#include "actors/room_directory.hpp"

#include "actors/protocol.hpp"
#include "actors/room_actor.hpp"
#include "actors/room_id.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <unordered_map>

namespace signaling {

namespace {

struct directory_state {
  std::unordered_map<std::string, room_actor> rooms;
  std::unordered_map<caf::actor_addr, std::string> ids;
  room_id_generator ids_gen{6};
  node_stats* stats = nullptr;
  const room_settings* settings = nullptr;
  static inline const char* name = "room-directory";
};

// How many draws before giving up: at 90% occupancy of the id space the chance
// that 64 draws all hit live rooms is 0.9^64 ~ 0.1%.
constexpr int max_draws = 64;

using directory_ptr = room_directory::stateful_pointer<directory_state>;

void refuse(const caf::actor& conn, protocol::error_code c) {
  caf::anon_send(conn, refused{c});
}

room_directory::behavior_type local_directory(directory_ptr self, unsigned digits, node_stats* stats,
                                              const room_settings* settings) {
  self->state.ids_gen = room_id_generator{digits};
  self->state.stats = stats;
  self->state.settings = settings;
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.ids.find(dm.source);
    if (i == st.ids.end())
      return;
    st.rooms.erase(i->second);
    st.ids.erase(i);
    st.stats->rooms.fetch_sub(1, std::memory_order_relaxed);
    st.stats->room_actors.fetch_sub(1, std::memory_order_relaxed);
  });
  // On shutdown, take every room down with the directory.
  self->set_exit_handler([self](const caf::exit_msg& em) {
    for (auto& kv : self->state.rooms)
      self->send_exit(kv.second, em.reason);
    self->quit(em.reason);
  });
  return {
    [self](const create_room_request& req) {
      auto& st = self->state;
      for (int i = 0; i < max_draws; ++i) {
        auto id = st.ids_gen.next();
        if (st.rooms.count(id))
          continue;
        auto token = make_resume_token();
        auto room = spawn_room(self->home_system(), id, req.conn, token, st.settings);
        self->monitor(room);
        st.ids.emplace(room.address(), id);
        st.rooms.emplace(id, room);
        st.stats->rooms.fetch_add(1, std::memory_order_relaxed);
        st.stats->room_actors.fetch_add(1, std::memory_order_relaxed);
        st.stats->rooms_created.fetch_add(1, std::memory_order_relaxed);
        log::debug("event=room_created room={}", id);
        caf::anon_send(req.conn, room_created{std::move(id), caf::actor_cast<caf::actor>(room), std::move(token)});
        return;
      }
      log::error("event=room_ids_exhausted live={}", st.rooms.size());
      refuse(req.conn, protocol::error_code::unavailable);
    },
    [self](const join_room_request& req) {
      auto& st = self->state;
      auto i = st.rooms.find(req.room_id);
      if (i == st.rooms.end())
        return refuse(req.conn, protocol::error_code::room_unavailable);
      // A request, not a send: if the room ended a moment ago (its down
      // message still on the way here) the request bounces and the guest is
      // told, instead of the join vanishing.
      auto conn = req.conn;
      self->request(i->second, caf::infinite, seat_guest{conn, make_resume_token()})
        .then([](bool) {}, [conn](const caf::error&) { refuse(conn, protocol::error_code::room_unavailable); });
    },
    [self](const resume_request& req) {
      auto i = self->state.rooms.find(req.room_id);
      if (i == self->state.rooms.end())
        return refuse(req.conn, protocol::error_code::room_unavailable);
      auto conn = req.conn;
      self->request(i->second, caf::infinite, resume_seat{req.token, conn})
        .then(
          [conn](bool ok) {
            if (!ok)
              refuse(conn, protocol::error_code::room_unavailable);
          },
          [conn](const caf::error&) { refuse(conn, protocol::error_code::room_unavailable); });
    },
    // Embedded mode: no other node to resume on.
    [](park_all_atom) { return std::uint64_t{0}; },
    // Every room here is hosted here.
    [self](list_rooms_atom) {
      std::map<std::string, room_actor> sorted(self->state.rooms.begin(), self->state.rooms.end());
      std::vector<std::string> ids;
      std::vector<caf::actor> rooms;
      for (auto& kv : sorted) {
        ids.push_back(kv.first);
        rooms.push_back(caf::actor_cast<caf::actor>(kv.second));
      }
      auto hosted = static_cast<std::uint64_t>(rooms.size());
      return caf::make_result(std::move(ids), std::move(rooms), hosted);
    },
  };
}

} // namespace

room_directory spawn_local_directory(caf::actor_system& sys, unsigned room_id_digits, node_stats& stats,
                                     const room_settings* settings) {
  return sys.spawn(local_directory, room_id_digits, &stats, settings);
}

} // namespace signaling
