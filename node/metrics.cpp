#include "node/metrics.hpp"

#include "actors/protocol.hpp"
#include "telemetry/stats.hpp"

#include <fstream>
#include <unistd.h>

namespace signaling {

namespace {

class exposition {
public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  template <class T>
  void sample(const std::string& name, T value, const std::string& labels = {}) {
    out_ += name;
    if (!labels.empty())
      out_ += '{' + labels + '}';
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  template <class T>
  void single(const char* name, const char* type, const char* help, T value) {
    family(name, type, help);
    sample(name, value);
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

const char* close_names[] = {"client",          "going_away",     "service_restart", "unsupported_data", "policy",
                             "too_big",         "protocol_error", "slow_reader",     "timeout",          "dropped"};
static_assert(sizeof(close_names) / sizeof(close_names[0]) == static_cast<std::size_t>(close_kind::count_));

long resident_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return pages_resident * sysconf(_SC_PAGESIZE);
}

// A label value as the exposition format wants it: \\, \" and newlines escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string seconds(std::uint64_t us) {
  // Bucket bounds in seconds without trailing noise: 0.000025, 0.001, 1, ...
  auto s = std::to_string(us / 1e6);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.')
    s.pop_back();
  return s;
}

} // namespace

std::string render_metrics(const node_stats& st, bool ready, const std::optional<redis_view>& redis) {
  exposition e;
  e.single("signal_up", "gauge", "1 while the node is ready for new connections.", ready ? 1 : 0);
  e.single("signal_uptime_seconds", "gauge", "Seconds since the node started.",
           static_cast<std::int64_t>(st.uptime_seconds()));
  e.single("signal_connections", "gauge", "Open WebSocket connections.", st.connections.load());
  e.single("signal_connections_opened_total", "counter", "WebSocket connections accepted.",
           st.connections_total.load());
  e.single("signal_rooms", "gauge", "Rooms hosted on this node.", st.rooms.load());
  e.single("signal_room_actors", "gauge", "Room actors on this node (cluster: also rooms joined from here).",
           st.room_actors.load());
  e.single("signal_rooms_created_total", "counter", "Rooms created on this node.", st.rooms_created.load());
  e.single("signal_messages_received_total", "counter", "Text frames received from clients.", st.messages_in.load());

  e.family("signal_relayed_total", "counter",
           "Relayed frames: local (both members here), cross_node_out (published to the peer's node), "
           "cross_node_in (from another node, delivered here).");
  auto delivered = st.relayed.load(), in = st.relayed_in.load();
  e.sample("signal_relayed_total", delivered > in ? delivered - in : 0, "path=\"local\"");
  e.sample("signal_relayed_total", st.relayed_out.load(), "path=\"cross_node_out\"");
  e.sample("signal_relayed_total", in, "path=\"cross_node_in\"");
  e.single("signal_relay_failures_total", "counter", "Cross-node frames no subscriber received (sender was told).",
           st.relay_failed.load());

  e.family("signal_errors_total", "counter", "error frames sent to clients, by code.");
  for (std::size_t i = 0; i <= static_cast<std::size_t>(protocol::error_code::forbidden); ++i)
    e.sample("signal_errors_total", st.errors[i].load(),
             "code=\"" + std::string(protocol::code_name(static_cast<protocol::error_code>(i))) + "\"");

  e.family("signal_closes_total", "counter", "WebSocket connections ended, by reason.");
  for (std::size_t i = 0; i < static_cast<std::size_t>(close_kind::count_); ++i)
    e.sample("signal_closes_total", st.closes[i].load(), std::string("reason=\"") + close_names[i] + "\"");
  e.single("signal_send_queue_cutoffs_total", "counter", "Slow readers cut off at the send-queue limit.",
           st.slow_closed.load());

  e.family("signal_relay_latency_seconds", "histogram",
           "Frame read (or received from Redis) to queued on the peer's socket, inside this node.");
  std::uint64_t cumulative = 0;
  const auto& h = st.relay_latency;
  for (std::size_t i = 0; i < h.bounds_us.size(); ++i) {
    cumulative += h.buckets[i].load();
    e.sample("signal_relay_latency_seconds_bucket", cumulative, "le=\"" + seconds(h.bounds_us[i]) + "\"");
  }
  cumulative += h.buckets[h.bounds_us.size()].load();
  e.sample("signal_relay_latency_seconds_bucket", cumulative, "le=\"+Inf\"");
  e.sample("signal_relay_latency_seconds_sum", static_cast<double>(h.sum_ns.load()) / 1e9);
  e.sample("signal_relay_latency_seconds_count", h.count.load());

  if (redis) {
    e.single("signal_redis_up", "gauge",
             "1 while at least one Redis shard is usable and none refuses this node (the node can serve).",
             redis->up ? 1 : 0);
    e.single("signal_redis_reconnects_total", "counter", "Redis links re-established after a loss (every shard).",
             redis->reconnects);
    e.family("signal_redis_shard_up", "gauge",
             "1 while the shard is usable: both links up on its primary and the shard list agreed.");
    for (auto& s : redis->shards)
      e.sample("signal_redis_shard_up", s.state == "up" ? 1 : 0, "shard=\"" + label(s.name) + "\"");
    e.family("signal_redis_shard_refused", "gauge",
             "1 while the shard refuses this node (credentials, permissions, or another shard list).");
    for (auto& s : redis->shards)
      e.sample("signal_redis_shard_refused", s.state == "refused" ? 1 : 0, "shard=\"" + label(s.name) + "\"");
    e.family("signal_redis_shard_reconnects_total", "counter", "The shard's links re-established after a loss.");
    for (auto& s : redis->shards)
      e.sample("signal_redis_shard_reconnects_total", s.reconnects, "shard=\"" + label(s.name) + "\"");
    e.family("signal_redis_shard_failovers_total", "counter",
             "Times the shard's command link came back on another primary (Sentinel failovers).");
    for (auto& s : redis->shards)
      e.sample("signal_redis_shard_failovers_total", s.failovers, "shard=\"" + label(s.name) + "\"");
  }
  e.single("process_resident_memory_bytes", "gauge", "Resident set size.", resident_bytes());
  return e.take();
}

} // namespace signaling
