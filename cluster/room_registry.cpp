#include "cluster/room_registry.hpp"

namespace signaling::cluster {

room_registry::entry* room_registry::lookup(std::string_view id, const caf::actor_addr* room) {
  auto i = rooms_.find(std::string(id));
  if (i == rooms_.end() || (room && i->second.room.address() != *room))
    return nullptr;
  return &i->second;
}

void room_registry::put(const std::string& id, const std::string& gen, const caf::actor& room) {
  std::lock_guard<std::mutex> g{mutex_};
  rooms_[id] = entry{room, gen, {}, 0, 0};
}

void room_registry::set_gen(const std::string& id, const caf::actor_addr& room, const std::string& gen) {
  std::lock_guard<std::mutex> g{mutex_};
  if (auto* e = lookup(id, &room))
    e->gen = gen;
}

void room_registry::erase(const std::string& id, const caf::actor_addr& room) {
  std::lock_guard<std::mutex> g{mutex_};
  auto i = rooms_.find(id);
  if (i != rooms_.end() && i->second.room.address() == room)
    rooms_.erase(i);
}

void room_registry::set_member(const std::string& id, const caf::actor_addr& room, seat_role r,
                               const caf::actor& conn) {
  std::lock_guard<std::mutex> g{mutex_};
  if (auto* e = lookup(id, &room))
    e->members[static_cast<int>(r)] = conn;
}

void room_registry::handled(const std::string& id, const caf::actor_addr& room) {
  std::lock_guard<std::mutex> g{mutex_};
  if (auto* e = lookup(id, &room); e && e->at_room > 0)
    --e->at_room;
}

room_registry::route room_registry::frame(std::string_view id, std::string_view gen, seat_role r) {
  std::lock_guard<std::mutex> g{mutex_};
  auto* e = lookup(id, nullptr);
  if (!e)
    return {};
  if (!e->gen.empty() && e->gen != gen)
    return {route::stale, {}};
  auto& m = e->members[static_cast<int>(r)];
  if (m && e->at_room == 0) {
    ++e->direct;
    return {route::member, m};
  }
  ++e->at_room;
  return {route::room, e->room};
}

room_registry::route room_registry::other(std::string_view id, std::string_view gen) {
  std::lock_guard<std::mutex> g{mutex_};
  auto* e = lookup(id, nullptr);
  if (!e)
    return {};
  if (!e->gen.empty() && e->gen != gen)
    return {route::stale, {}};
  ++e->at_room;
  return {route::room, e->room};
}

caf::actor room_registry::find(std::string_view id) const {
  std::lock_guard<std::mutex> g{mutex_};
  auto i = rooms_.find(std::string(id));
  return i == rooms_.end() ? caf::actor{} : i->second.room;
}

std::uint64_t room_registry::direct_frames(const std::string& id) const {
  std::lock_guard<std::mutex> g{mutex_};
  auto i = rooms_.find(id);
  return i == rooms_.end() ? 0 : i->second.direct;
}

} // namespace signaling::cluster
