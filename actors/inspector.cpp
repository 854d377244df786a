#include "actors/inspector.hpp"

#include "actors/remote.hpp"
#include "actors/node_context.hpp"
#include "actors/protocol.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <optional>
#include <unistd.h>
#include <unordered_map>

namespace signaling {

namespace {

using json = nlohmann::ordered_json;
using answers = std::vector<std::optional<std::string>>;

// Console requests never ask for more than this many rooms or connections.
constexpr std::uint32_t max_limit = 10000;

struct inspector_state {
  std::shared_ptr<const inspector_links> links;
  // `nodes` in cluster mode: promises waiting for Redis, by token.
  std::unordered_map<std::uint64_t, caf::typed_response_promise<std::string>> pending_nodes;
  std::uint64_t next_token = 0;
  static inline const char* name = "inspector";
};

using inspector_ptr = caf::stateful_actor<inspector_state>*;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string level_name() {
  auto v = spdlog::level::to_string_view(spdlog::get_level());
  return std::string(v.data(), v.size());
}

std::string failure(const std::string& code, const std::string& message) {
  return json{{"error", message}, {"code", code}}.dump();
}

long resident_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return pages_resident * sysconf(_SC_PAGESIZE);
}

// Asks every actor in `targets` one question; `done` gets their answers in
// the same order (empty for an actor that is gone or did not answer in time).
template <class... Ts>
void ask_all(inspector_ptr self, const std::vector<caf::actor>& targets, std::function<void(answers&)> done,
             Ts... question) {
  auto results = std::make_shared<answers>(targets.size());
  auto left = std::make_shared<std::size_t>(targets.size());
  auto finish = std::make_shared<std::function<void(answers&)>>(std::move(done));
  if (targets.empty())
    return (*finish)(*results);
  for (std::size_t i = 0; i < targets.size(); ++i)
    self->request(targets[i], inspector_ask_timeout, question...)
        .then(
            [=](std::string& s) {
              (*results)[i] = std::move(s);
              if (--*left == 0)
                (*finish)(*results);
            },
            [=](caf::error&) {
              if (--*left == 0)
                (*finish)(*results);
            });
}

// The directory's rooms: ids (sorted), room actors, and how many are hosted here.
using room_list = std::function<void(std::vector<std::string>&, std::vector<caf::actor>&, std::uint64_t)>;

void list_rooms(inspector_ptr self, room_list then, std::function<void(const caf::error&)> fail) {
  self->request(self->state.links->ctx->directory, inspector_ask_timeout, list_rooms_atom_v)
      .then([then](std::vector<std::string>& ids, std::vector<caf::actor>& rooms,
                   std::uint64_t hosted) { then(ids, rooms, hosted); },
            [fail](caf::error& e) { fail(e); });
}

std::string directory_failed(inspector_ptr self, const caf::error& e) {
  return failure("unavailable", "the room directory did not answer: " + self->system().render(e));
}

// This node's view of each Redis shard.
json shard_rows(const cluster_view& c) {
  json rows = json::array();
  for (auto& s : c.shards())
    rows.push_back(json{{"name", s.name},
                        {"state", s.state},
                        {"primary", s.primary.empty() ? json(nullptr) : json(s.primary)},
                        {"problem", s.problem.empty() ? json(nullptr) : json(s.problem)},
                        {"reconnects", s.reconnects},
                        {"failovers", s.failovers}});
  return rows;
}

std::string stats(inspector_ptr self, std::optional<std::pair<std::size_t, std::uint64_t>> rooms) {
  const auto& l = *self->state.links;
  const auto& st = l.ctx->stats;
  json errors = json::object();
  for (std::size_t i = 0; i <= static_cast<std::size_t>(protocol::error_code::forbidden); ++i)
    errors[std::string(protocol::code_name(static_cast<protocol::error_code>(i)))] = st.errors[i].load();
  json j;
  j["node"] = l.ctx->node_id;
  j["mode"] = l.cluster ? "cluster" : "embedded";
  j["admin"] = l.admin_address();
  j["started_at_ms"] = l.started_ms;
  j["uptime_s"] = static_cast<std::int64_t>(st.uptime_seconds());
  j["ready"] = l.ready ? l.ready() : true;
  j["draining"] = l.draining ? l.draining() : false;
  j["log_level"] = level_name();
  j["connections"] = l.ctx->conns->size();
  j["rooms"] = rooms ? json(rooms->second) : json(nullptr);
  j["room_actors"] = rooms ? json(rooms->first) : json(nullptr);
  j["actors"] = self->system().registry().running();
  j["messages"] = {{"in", st.messages_in.load()}, {"out", st.messages_out.load()}};
  j["relays"] = {{"local", st.relayed_local.load()},
                 {"cross_node_out", st.relayed_out.load()},
                 {"cross_node_in", st.relayed_in.load()},
                 {"resumed", st.relayed_resumed.load()},
                 {"failed", st.relay_failed.load()}};
  j["errors"] = std::move(errors);
  j["send_queue_cutoffs"] = st.slow_closed.load();
  j["thread_moves"] = st.thread_moves.load();
  j["rss_bytes"] = resident_bytes();
  j["redis"] = l.cluster ? json(l.cluster->up() ? "up" : "down") : json(nullptr);
  j["shards"] = l.cluster ? shard_rows(*l.cluster) : json(nullptr);
  return j.dump();
}

// One entry of `nodes`, from a node's heartbeat values and its info text.
json node_row(const inspector_links& l, const std::string& id, bool alive, std::int64_t rooms, std::int64_t conns,
              const std::string& info, std::uint32_t shards_alive = 1) {
  json row{{"id", id}, {"self", id == l.ctx->node_id}, {"alive", alive}, {"shards_alive", shards_alive}};
  auto meta = json::parse(info, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    meta = json::object();
  row["admin"] = meta.value("admin", json(nullptr));
  auto started = meta.value("started_ms", std::int64_t{0});
  row["uptime_s"] = started > 0 ? json((unix_ms() - started) / 1000) : json(nullptr);
  row["connections"] = conns;
  row["rooms"] = rooms;
  auto max = meta.value("max_connections", std::int64_t{0});
  row["max_connections"] = max > 0 ? json(max) : json(nullptr);
  row["load"] = max > 0 ? json(static_cast<double>(conns) / static_cast<double>(max)) : json(nullptr);
  return row;
}

caf::typed_response_promise<std::string> nodes(inspector_ptr self) {
  auto rp = self->make_response_promise<std::string>();
  auto& l = *self->state.links;
  if (!l.cluster) {
    // Embedded: this node alone, from its actors.
    auto links = self->state.links;
    list_rooms(
        self,
        [rp, links](std::vector<std::string>&, std::vector<caf::actor>&, std::uint64_t hosted) mutable {
          auto conns = static_cast<std::int64_t>(links->ctx->conns->size());
          json j{{"mode", "embedded"},
                 {"nodes",
                  json::array({node_row(*links, links->ctx->node_id, true, static_cast<std::int64_t>(hosted), conns,
                                        inspector_node_info(links->admin_address(), links->started_ms,
                                                            links->ctx->lim.max_connections))})}};
          rp.deliver(j.dump());
        },
        [self, rp](const caf::error& e) mutable { rp.deliver(directory_failed(self, e)); });
    return rp;
  }
  // Cluster: the Redis registry. Its answer comes on a Redis strand and
  // returns to this actor as a message.
  auto token = self->state.next_token++;
  self->state.pending_nodes.emplace(token, rp);
  auto me = caf::actor_cast<caf::actor>(self);
  l.cluster->list_nodes([me, token](bool ok, std::vector<cluster_view::node_entry> entries) {
    json rows = json::array();
    for (auto& e : entries)
      rows.push_back(json{{"id", e.id},
                          {"alive", e.alive},
                          {"rooms", e.rooms},
                          {"conns", e.connections},
                          {"info", e.info},
                          {"shards_alive", e.shards_alive}});
    caf::anon_send(me, nodes_atom_v, token, ok, rows.dump());
  });
  return rp;
}

void nodes_answered(inspector_ptr self, std::uint64_t token, bool ok, const std::string& rows_text) {
  auto& st = self->state;
  auto i = st.pending_nodes.find(token);
  if (i == st.pending_nodes.end())
    return;
  auto rp = i->second;
  st.pending_nodes.erase(i);
  if (!ok) {
    rp.deliver(failure("unavailable", "Redis did not answer; the node registry cannot be read"));
    return;
  }
  json out = json::array();
  for (auto& r : json::parse(rows_text))
    out.push_back(node_row(*st.links, r["id"].get<std::string>(), r["alive"].get<bool>(),
                           r["rooms"].get<std::int64_t>(), r["conns"].get<std::int64_t>(),
                           r["info"].get<std::string>(), r["shards_alive"].get<std::uint32_t>()));
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) { return a["id"] < b["id"]; });
  rp.deliver(json{{"mode", "cluster"}, {"nodes", std::move(out)}, {"shards", shard_rows(*st.links->cluster)}}.dump());
}

// Adds each local member's connection figures to a room's description.
void room_with_members(inspector_ptr self, std::string room_text, caf::typed_response_promise<std::string> rp) {
  auto room = json::parse(room_text);
  const auto& here = self->state.links->ctx->node_id;
  std::vector<caf::actor> conns;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < room["members"].size(); ++i) {
    auto& m = room["members"][i];
    if (m["node"] != here || !m["actor"].is_number())
      continue;
    if (auto c = self->state.links->ctx->conns->find(m["actor"].get<caf::actor_id>())) {
      conns.push_back(c);
      index.push_back(i);
    }
  }
  ask_all(
      self, conns,
      [room, index, rp](answers& got) mutable {
        for (std::size_t k = 0; k < got.size(); ++k) {
          if (!got[k])
            continue;
          auto c = json::parse(*got[k]);
          auto& m = room["members"][index[k]];
          for (const char* key : {"remote", "relayed", "messages_in", "messages_out", "queued_bytes", "idle_ms"})
            m[key] = c[key];
        }
        rp.deliver(room.dump());
      },
      conn_atom_v);
}

// Finds room `id` in the directory and runs `then` with its actor.
void with_room(inspector_ptr self, const std::string& id, caf::typed_response_promise<std::string> rp,
               std::function<void(caf::actor)> then) {
  list_rooms(
      self,
      [self, id, rp, then](std::vector<std::string>& ids, std::vector<caf::actor>& rooms, std::uint64_t) mutable {
        auto i = std::lower_bound(ids.begin(), ids.end(), id);
        if (i == ids.end() || *i != id) {
          rp.deliver(failure("not-found", "no room " + id + " on node " + self->state.links->ctx->node_id));
          return;
        }
        then(rooms[static_cast<std::size_t>(i - ids.begin())]);
      },
      [self, rp](const caf::error& e) mutable { rp.deliver(directory_failed(self, e)); });
}

// Asks one actor one question and delivers its answer, or `gone` if it has none.
template <class... Ts>
void ask_one(inspector_ptr self, const caf::actor& who, caf::typed_response_promise<std::string> rp, std::string gone,
             Ts... question) {
  self->request(who, inspector_ask_timeout, question...)
      .then([rp](std::string& s) mutable { rp.deliver(std::move(s)); },
            [rp, gone](caf::error&) mutable { rp.deliver(failure("not-found", gone)); });
}

caf::behavior inspector(inspector_ptr self, std::shared_ptr<const inspector_links> links) {
  self->state.links = std::move(links);
  return {
      [self](stats_atom) {
        auto rp = self->make_response_promise<std::string>();
        list_rooms(
            self,
            [self, rp](std::vector<std::string>& ids, std::vector<caf::actor>&, std::uint64_t hosted) mutable {
              rp.deliver(stats(self, std::make_pair(ids.size(), hosted)));
            },
            [self, rp](const caf::error&) mutable { rp.deliver(stats(self, std::nullopt)); });
        return rp;
      },
      [self](nodes_atom) { return nodes(self); },
      [self](nodes_atom, std::uint64_t token, bool ok, const std::string& rows) {
        nodes_answered(self, token, ok, rows);
      },
      [self](rooms_atom, std::uint32_t limit) {
        auto rp = self->make_response_promise<std::string>();
        limit = std::min(limit, max_limit);
        list_rooms(
            self,
            [self, rp, limit](std::vector<std::string>& ids, std::vector<caf::actor>& rooms,
                              std::uint64_t hosted) mutable {
              auto total = ids.size();
              if (rooms.size() > limit)
                rooms.resize(limit);
              ask_all(
                  self, rooms,
                  [self, rp, total, hosted](answers& got) mutable {
                    json list = json::array();
                    for (auto& a : got)
                      if (a)
                        list.push_back(json::parse(*a));
                    json j{{"node", self->state.links->ctx->node_id},
                           {"total", total},
                           {"hosted", hosted},
                           {"shown", list.size()},
                           {"rooms", std::move(list)}};
                    rp.deliver(j.dump());
                  },
                  room_atom_v);
            },
            [self, rp](const caf::error& e) mutable { rp.deliver(directory_failed(self, e)); });
        return rp;
      },
      [self](room_atom, const std::string& id) {
        auto rp = self->make_response_promise<std::string>();
        with_room(self, id, rp, [self, id, rp](caf::actor room) mutable {
          self->request(room, inspector_ask_timeout, room_atom_v)
              .then([self, rp](std::string& s) mutable { room_with_members(self, std::move(s), rp); },
                    [rp, id](caf::error&) mutable {
                      rp.deliver(failure("not-found", "room " + id + " has just ended"));
                    });
        });
        return rp;
      },
      [self](conns_atom, std::uint32_t limit) {
        auto rp = self->make_response_promise<std::string>();
        auto& registry = *self->state.links->ctx->conns;
        auto total = registry.size();
        ask_all(
            self, registry.list(std::min(limit, max_limit)),
            [self, rp, total](answers& got) mutable {
              json list = json::array();
              for (auto& a : got)
                if (a)
                  list.push_back(json::parse(*a));
              json j{{"node", self->state.links->ctx->node_id},
                     {"total", total},
                     {"shown", list.size()},
                     {"conns", std::move(list)}};
              rp.deliver(j.dump());
            },
            conn_atom_v);
        return rp;
      },
      [self](conn_atom, std::uint64_t id) {
        auto rp = self->make_response_promise<std::string>();
        auto gone = "no connection actor " + std::to_string(id) + " on node " + self->state.links->ctx->node_id;
        if (auto c = self->state.links->ctx->conns->find(id))
          ask_one(self, c, rp, gone, conn_atom_v);
        else
          rp.deliver(failure("not-found", gone));
        return rp;
      },
      [self](kick_atom, std::uint64_t id) {
        auto rp = self->make_response_promise<std::string>();
        auto gone = "no connection actor " + std::to_string(id) + " on node " + self->state.links->ctx->node_id;
        if (auto c = self->state.links->ctx->conns->find(id))
          ask_one(self, c, rp, gone, kick_atom_v);
        else
          rp.deliver(failure("not-found", gone));
        return rp;
      },
      [self](close_room_atom, const std::string& id) {
        auto rp = self->make_response_promise<std::string>();
        with_room(self, id, rp, [self, id, rp](caf::actor room) mutable {
          ask_one(self, room, rp, "room " + id + " has just ended", close_room_atom_v);
        });
        return rp;
      },
      [self](drain_atom) {
        auto& l = *self->state.links;
        bool already = l.draining && l.draining();
        if (!already) {
          log::warn("event=drain_requested by=console");
          if (l.drain)
            l.drain();
        }
        json j{{"node", l.ctx->node_id},
               {"draining", true},
               {"already", already},
               {"drain_delay_ms", l.ctx->lim.drain_delay.count()},
               {"close_code", l.ctx->lim.shutdown_close_code},
               {"shutdown_timeout_ms", l.ctx->lim.shutdown_timeout.count()}};
        return j.dump();
      },
      [self](log_level_atom, const std::string& level) {
        auto previous = level_name();
        if (!log::set_level(level))
          return failure("bad-level",
                         "unknown log level \"" + level + "\": use trace, debug, info, warn, error or off");
        log::warn("event=log_level level={} previous={} by=console", level, previous);
        return json{{"node", self->state.links->ctx->node_id}, {"log_level", level}, {"previous", previous}}.dump();
      },
  };
}

} // namespace

caf::actor spawn_inspector(caf::actor_system& sys, std::shared_ptr<const inspector_links> links) {
  return sys.spawn(inspector, std::move(links));
}

std::string inspector_node_info(const std::string& admin_address, std::int64_t started_ms,
                                std::size_t max_connections) {
  return json{{"admin", admin_address.empty() ? json(nullptr) : json(admin_address)},
              {"started_ms", started_ms},
              {"max_connections", max_connections}}
      .dump();
}

} // namespace signaling
