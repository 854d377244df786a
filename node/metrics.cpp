#include "node/metrics.hpp"

#include "actors/protocol.hpp"
#include "telemetry/stats.hpp"

#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

#ifndef SIGNAL_VERSION
#define SIGNAL_VERSION "unknown"
#endif

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
  void histogram(const char* name, const char* help, const latency_histogram& h);
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

const char* close_names[] = {"client",          "going_away",     "service_restart", "unsupported_data", "policy",
                             "too_big",         "protocol_error", "slow_reader",     "timeout",          "dropped"};
static_assert(sizeof(close_names) / sizeof(close_names[0]) == static_cast<std::size_t>(close_kind::count_));

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

void exposition::histogram(const char* name, const char* help, const latency_histogram& h) {
  family(name, "histogram", help);
  const std::string n = name;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.bounds_us.size(); ++i) {
    cumulative += h.buckets[i].load();
    sample(n + "_bucket", cumulative, "le=\"" + seconds(h.bounds_us[i]) + "\"");
  }
  cumulative += h.buckets[h.bounds_us.size()].load();
  sample(n + "_bucket", cumulative, "le=\"+Inf\"");
  sample(n + "_sum", static_cast<double>(h.sum_ns.load()) / 1e9);
  sample(n + "_count", cumulative);
}

// The process_* metrics every Prometheus client library exports, from /proc
// and the C library, so dashboards and alerts written for them work here.
struct process_facts {
  double start_time_seconds = 0; // since the Unix epoch
  double cpu_seconds = 0;        // user + system
  long open_fds = 0;
  long max_fds = 0;
  long resident_bytes = 0;
  long virtual_bytes = 0;
};

process_facts read_process() {
  process_facts p;
  const long page = sysconf(_SC_PAGESIZE);
  {
    std::ifstream in("/proc/self/statm");
    long pages_total = 0, pages_resident = 0;
    in >> pages_total >> pages_resident;
    p.virtual_bytes = pages_total * page;
    p.resident_bytes = pages_resident * page;
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    p.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    p.max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<long>(rl.rlim_cur);
  if (DIR* d = opendir("/proc/self/fd")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.')
        ++p.open_fds;
    closedir(d);
    --p.open_fds; // the descriptor of the listing itself
  }
  // Start time: field 22 of /proc/self/stat (clock ticks after boot) plus
  // the boot time (btime in /proc/stat), as the Go and Python clients do.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')'); // the command name may hold spaces
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long start_ticks = 0;
    for (int i = 3; i <= 22 && rest >> field; ++i)
      if (i == 22)
        start_ticks = std::stoull(field);
    std::ifstream boot("/proc/stat");
    std::string key;
    unsigned long long btime = 0;
    while (boot >> key)
      if (key == "btime") {
        boot >> btime;
        break;
      }
    if (btime > 0)
      p.start_time_seconds = static_cast<double>(btime) + static_cast<double>(start_ticks) / sysconf(_SC_CLK_TCK);
  }
  return p;
}

} // namespace

std::string render_metrics(const node_stats& st, const node_view& node) {
  exposition e;
  // Not `signal_up`: Prometheus's own `up` says whether the scrape worked.
  e.single("signal_ready", "gauge", "1 while the node takes new connections (/readyz answers 200).", node.ready ? 1 : 0);
  e.family("signal_build_info", "gauge", "Always 1; the version of this signal-node.");
  e.sample("signal_build_info", 1, "version=\"" SIGNAL_VERSION "\"");
  e.single("signal_uptime_seconds", "gauge", "Seconds since the node started.",
           static_cast<std::int64_t>(st.uptime_seconds()));
  e.single("signal_connections", "gauge", "Open WebSocket connections.", st.connections.load());
  e.single("signal_max_connections", "gauge", "MAX_CONNECTIONS: further upgrades get 503.", node.max_connections);
  e.single("signal_connections_opened_total", "counter", "WebSocket connections accepted.",
           st.connections_total.load());
  e.family("signal_upgrades_refused_total", "counter",
           "WebSocket upgrades refused, by HTTP status: 401 token, 403 origin, 429 per-address cap, "
           "503 MAX_CONNECTIONS or draining.");
  const auto& refused = st.upgrades_refused;
  for (std::size_t i = 0; i <= refused.statuses.size(); ++i)
    e.sample("signal_upgrades_refused_total", refused.by_status[i].load(),
             "status=\"" + (i < refused.statuses.size() ? std::to_string(refused.statuses[i]) : "other") + "\"");
  e.single("signal_rooms", "gauge", "Rooms hosted on this node.", st.rooms.load());
  e.single("signal_room_actors", "gauge", "Room actors on this node (cluster: also rooms joined from here).",
           st.room_actors.load());
  e.single("signal_rooms_created_total", "counter", "Rooms created on this node.", st.rooms_created.load());
  e.single("signal_parked_seats", "gauge",
           "Seats waiting for a resume in rooms with an actor on this node (cluster: a seat whose "
           "peer is gone too is counted by no node).",
           st.parked_seats.load());
  e.single("signal_messages_received_total", "counter", "Text frames received from clients.", st.messages_in.load());

  e.family("signal_relayed_total", "counter",
           "Relayed frames: local (both members here, delivered), resumed (kept for a parked seat, handed "
           "over on its resume here), cross_node_out (published to the peer's node), cross_node_in (from "
           "another node).");
  e.sample("signal_relayed_total", st.relayed_local.load(), "path=\"local\"");
  e.sample("signal_relayed_total", st.relayed_resumed.load(), "path=\"resumed\"");
  e.sample("signal_relayed_total", st.relayed_out.load(), "path=\"cross_node_out\"");
  e.sample("signal_relayed_total", st.relayed_in.load(), "path=\"cross_node_in\"");
  e.family("signal_cross_node_sends_total", "counter",
           "How cross-node frames left: direct (one PUBLISH to the peer seat's own channel), scripted "
           "(SEAT_FRAMES: the seat was parked, or had no channel yet), resent (scripted after a direct send "
           "found nobody listening; also counted in scripted).");
  e.sample("signal_cross_node_sends_total", st.cross_direct.load(), "way=\"direct\"");
  e.sample("signal_cross_node_sends_total", st.cross_scripted.load(), "way=\"scripted\"");
  e.sample("signal_cross_node_sends_total", st.cross_resent.load(), "way=\"resent\"");
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
  e.single("signal_thread_moves_total", "counter",
           "Connections moved to their peer's I/O thread on join or resume (PAIR_THREADS).", st.thread_moves.load());
  e.histogram("signal_relay_latency_seconds",
              "Frame read (or received from Redis) to queued on the peer's socket, inside this node.",
              st.relay_latency);

  // Cluster mode only: the node's view, then one series per Redis shard.
  if (node.redis) {
    e.single("signal_redis_up", "gauge", "1 while at least one Redis shard is usable and none refuses this node (the node can serve).",
             node.redis->up ? 1 : 0);
    e.single("signal_redis_reconnects_total", "counter", "Redis links re-established after a loss (every shard).",
             node.redis->reconnects);
    e.histogram("signal_redis_heartbeat_duration_seconds",
                "Round trip of the heartbeat script (every HEARTBEAT_MS) on the command link.", st.redis_heartbeat);
    e.family("signal_redis_shard_up", "gauge",
             "1 while the shard is usable: both links up on its primary and the shard list agreed.");
    for (auto& s : node.redis->shards)
      e.sample("signal_redis_shard_up", s.state == "up" ? 1 : 0, "shard=\"" + label(s.name) + "\"");
    e.family("signal_redis_shard_refused", "gauge",
             "1 while the shard refuses this node (credentials, permissions, or another shard list).");
    for (auto& s : node.redis->shards)
      e.sample("signal_redis_shard_refused", s.state == "refused" ? 1 : 0, "shard=\"" + label(s.name) + "\"");
    e.family("signal_redis_shard_reconnects_total", "counter", "The shard's links re-established after a loss.");
    for (auto& s : node.redis->shards)
      e.sample("signal_redis_shard_reconnects_total", s.reconnects, "shard=\"" + label(s.name) + "\"");
    e.family("signal_redis_shard_failovers_total", "counter",
             "Times the shard's command link came back on another primary (Sentinel failovers).");
    for (auto& s : node.redis->shards)
      e.sample("signal_redis_shard_failovers_total", s.failovers, "shard=\"" + label(s.name) + "\"");
  }

  auto p = read_process();
  e.single("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.",
           p.start_time_seconds);
  e.single("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpu_seconds);
  e.single("process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds);
  e.single("process_max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds);
  e.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes);
  e.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtual_bytes);
  return e.take();
}

} // namespace signaling
