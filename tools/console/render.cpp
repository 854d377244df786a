#include "render.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace console {

namespace {

// Columns padded to their widest cell, two spaces apart.
class table {
public:
  explicit table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str() const {
    std::vector<std::size_t> width;
    for (const auto& r : rows_)
      for (std::size_t i = 0; i < r.size(); ++i) {
        width.resize(std::max(width.size(), r.size()));
        width[i] = std::max(width[i], r[i].size());
      }
    std::string out;
    for (const auto& r : rows_) {
      std::string line;
      for (std::size_t i = 0; i < r.size(); ++i) {
        line += r[i];
        if (i + 1 < r.size())
          line += std::string(width[i] - r[i].size() + 2, ' ');
      }
      out += line + "\n";
    }
    return out;
  }

private:
  std::vector<std::vector<std::string>> rows_;
};

std::string text(const json& v) {
  if (v.is_null())
    return "-";
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_boolean())
    return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

std::string duration(std::int64_t ms) {
  if (ms < 0)
    ms = 0;
  auto s = ms / 1000;
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s / 3600 % 24));
  return buf;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A unix-ms time as "12s ago".
std::string ago(const json& v) {
  if (!v.is_number())
    return "-";
  return duration(now_ms() - v.get<std::int64_t>()) + " ago";
}

std::string bytes(const json& v) {
  if (!v.is_number())
    return "-";
  auto b = v.get<double>();
  char buf[32];
  if (b < 1024)
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  else if (b < 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024 * 1024));
  return buf;
}

std::string member_name(const json& m) {
  return text(m["node"]) + "/" + text(m["actor"]);
}

// A kicked or closed connection stays listed, "closing", until its socket is gone;
// "pending": a create-room or join-room waits for its answer.
std::string conn_state(const json& c) {
  return c["closing"].get<bool>() ? "closing" : c["pending"].get<bool>() ? "pending" : "open";
}

std::string pairs(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::size_t w = 0;
  for (const auto& [k, v] : kv)
    w = std::max(w, k.size());
  std::string out;
  for (const auto& [k, v] : kv)
    out += k + std::string(w - k.size() + 2, ' ') + v + "\n";
  return out;
}

} // namespace

std::string render_stats(const json& j) {
  std::string errors;
  for (auto& [code, n] : j["errors"].items())
    if (n.get<std::uint64_t>() > 0)
      errors += (errors.empty() ? "" : ", ") + code + " " + n.dump();
  auto& r = j["relays"];
  std::string state = text(j["mode"]);
  state += j["draining"].get<bool>() ? ", draining" : j["ready"].get<bool>() ? ", ready" : ", not ready";
  return pairs({
      {"node", text(j["node"]) + " (" + state + ")"},
      {"admin", text(j["admin"])},
      {"uptime", duration(j["uptime_s"].get<std::int64_t>() * 1000)},
      {"connections", text(j["connections"])},
      {"rooms", text(j["rooms"]) + " hosted here, " + text(j["room_actors"]) + " room actors"},
      {"messages", "in " + text(j["messages"]["in"]) + ", out " + text(j["messages"]["out"])},
      {"relays", "local " + text(r["local"]) + ", cross-node out " + text(r["cross_node_out"]) + ", cross-node in " +
                     text(r["cross_node_in"]) + ", failed " + text(r["failed"])},
      {"errors", errors.empty() ? "none" : errors},
      {"queue cut-offs", text(j["send_queue_cutoffs"])},
      {"redis", j["redis"].is_null() ? "- (embedded)" : text(j["redis"])},
      {"rss", bytes(j["rss_bytes"])},
      {"actors", text(j["actors"])},
      {"log level", text(j["log_level"])},
  });
}

std::string render_nodes(const json& j, const std::string& current_node) {
  // Cluster mode: on how many Redis shards each node's heartbeat is alive,
  // then the shards as the current node sees them.
  const auto shards = j.value("shards", json(nullptr));
  const bool sharded = shards.is_array();
  std::vector<std::string> header{"", "NODE", "ADMIN", "UPTIME", "CONNS", "ROOMS", "LOAD", "STATE"};
  if (sharded)
    header.push_back("SHARDS");
  table t{header};
  for (auto& n : j["nodes"]) {
    std::string load = "-";
    if (n["load"].is_number()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f%%", n["load"].get<double>() * 100);
      load = buf;
    }
    std::vector<std::string> row{n["id"] == current_node ? "*" : "", text(n["id"]), text(n["admin"]),
                                 n["uptime_s"].is_number() ? duration(n["uptime_s"].get<std::int64_t>() * 1000) : "-",
                                 text(n["connections"]), text(n["rooms"]), load, n["alive"].get<bool>() ? "alive" : "dead"};
    if (sharded)
      row.push_back(text(n.value("shards_alive", json(0))) + "/" + std::to_string(shards.size()));
    t.add(row);
  }
  auto out = t.str() + std::to_string(j["nodes"].size()) + " node(s), " + text(j["mode"]) + " mode; * = current\n";
  if (sharded) {
    table st{{"SHARD", "STATE", "PRIMARY", "RECONNECTS", "FAILOVERS", "PROBLEM"}};
    for (auto& s : shards)
      st.add({text(s["name"]), text(s["state"]), text(s["primary"]), text(s["reconnects"]), text(s["failovers"]),
              text(s["problem"])});
    out += "\nRedis shards, as " + current_node + " sees them:\n" + st.str();
  }
  return out;
}

std::string render_rooms(const json& j) {
  table t{{"ROOM", "STATE", "HOST", "GUEST", "OPENED"}};
  for (auto& r : j["rooms"]) {
    std::string host = "-", guest = "-";
    for (auto& m : r["members"])
      (m["role"] == "host" ? host : guest) = member_name(m);
    t.add({text(r["id"]), text(r["state"]), host, guest, ago(r["opened_at_ms"])});
  }
  return t.str() + text(j["shown"]) + " of " + text(j["total"]) + " room(s) on " + text(j["node"]) + " (" +
         text(j["hosted"]) + " hosted here)\n";
}

std::string render_room(const json& j) {
  std::string head = "room " + text(j["id"]) + " on " + text(j["node"]) + ": " + text(j["state"]) +
                     (j["cross_node"].get<bool>() ? ", cross-node" : "") + ", opened here " + ago(j["opened_at_ms"]) +
                     "\n";
  table t{{"ROLE", "NODE", "ACTOR", "REMOTE", "JOINED", "RELAYED", "IN", "OUT", "QUEUED"}};
  for (auto& m : j["members"])
    t.add({text(m["role"]), text(m["node"]), text(m["actor"]), text(m.value("remote", json(nullptr))),
           ago(m["joined_at_ms"]), text(m.value("relayed", json(nullptr))), text(m.value("messages_in", json(nullptr))),
           text(m.value("messages_out", json(nullptr))), m.contains("queued_bytes") ? bytes(m["queued_bytes"]) : "-"});
  return head + t.str();
}

std::string render_conns(const json& j) {
  table t{{"ACTOR", "REMOTE", "STATE", "ROOM", "ROLE", "IN", "OUT", "RELAYED", "QUEUED", "IDLE"}};
  for (auto& c : j["conns"])
    t.add({text(c["actor"]), text(c["remote"]), conn_state(c), text(c["room"]), text(c["role"]), text(c["messages_in"]),
           text(c["messages_out"]), text(c["relayed"]), bytes(c["queued_bytes"]),
           duration(c["idle_ms"].get<std::int64_t>())});
  return t.str() + text(j["shown"]) + " of " + text(j["total"]) + " connection(s) on " + text(j["node"]) + "\n";
}

std::string render_conn(const json& j) {
  return pairs({
      {"actor", text(j["actor"]) + " on " + text(j["node"])},
      {"remote", text(j["remote"])},
      {"state", conn_state(j)},
      {"room", j["room"].is_null() ? "-"
                                   : text(j["room"]) + " (" + text(j["role"]) + ", " +
                                         (j["paired"].get<bool>() ? "with a peer" : "alone") + ")"},
      {"messages", "in " + text(j["messages_in"]) + ", out " + text(j["messages_out"])},
      {"relayed", text(j["relayed"]) + " into this room"},
      {"queued", bytes(j["queued_bytes"])},
      {"connected", ago(j["connected_at_ms"])},
      {"last activity", ago(j["last_activity_ms"])},
  });
}

std::string render_kick(const json& j) {
  return "kicked connection actor " + text(j["kicked"]) + " (" + text(j["remote"]) +
         "): it closes with 1008 \"kicked by operator\"\n";
}

std::string render_close_room(const json& j) {
  std::string out = "closed room " + text(j["closed"]) + ": " + std::to_string(j["members_closed"].size()) +
                    " member(s) here got peer-left and close 1000 \"room closed by operator\"\n";
  if (!j["remote_member_node"].is_null())
    out += "the member on " + text(j["remote_member_node"]) + " got peer-left and stays connected\n";
  return out;
}

std::string render_drain(const json& j) {
  if (j["already"].get<bool>())
    return text(j["node"]) + " is already draining\n";
  // The steps of node::shutdown; parking (cluster mode) is bounded by
  // node/node.cpp's park_timeout, which the answer does not carry.
  return text(j["node"]) + " is draining: /readyz fails now; in " + text(j["drain_delay_ms"]) +
         " ms it stops accepting, parks its clients' seats (cluster mode), closes every client with " +
         text(j["close_code"]) + ", waits up to " + text(j["shutdown_timeout_ms"]) +
         " ms for the close handshakes, then exits\n";
}

std::string render_log_level(const json& j) {
  return "log level of " + text(j["node"]) + ": " + text(j["previous"]) + " -> " + text(j["log_level"]) + "\n";
}

} // namespace console
