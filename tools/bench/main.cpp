// signal-bench: load generator for seed-compatible signaling servers (ours
// or the Node.js seed peer). Scenarios relay, idle, storm and flood; server CPU and
// RSS from /proc with --server-pid. Prints a table, or JSON with --json.
#include "bench/proc_stats.hpp"
#include "bench/scenarios.hpp"

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

using json = nlohmann::json;

const char* usage_text = R"(usage: signal-bench SCENARIO [options]

Scenarios:
  relay   P rooms (host + guest); each host sends signals of S bytes to its guest,
          at most W unanswered; the guest answers each with a signal of the same
          size. Reports relays/s (offers + answers), round trip (host -> guest ->
          host) and one-way latency percentiles.
  idle    N connections paired in rooms, held T seconds with keepalive pings, then
          one offer/answer per room to prove each is alive. Reports server RSS per
          connection and drops. Spreads client sockets over 127.0.0.2, .3, ...
  storm   K clients connect at once, create/join in pairs and exchange one
          offer/answer, as fast as the server lets them (a reconnect storm).
  flood   P rooms are paired first; then every host (with --senders both, every
          guest too) writes M signals of S bytes back to back, no window, not
          waiting for anything, while reading. Each receiving end checks that
          its direction arrived exactly once and in order (lost, misordered,
          duplicated: any is a failure). Reports relays/s from the start to the
          last arrival, server CPU per relay over that window, one-way latency
          (stamped when each frame is written) and arrival time from the start.

Common options:
  --url URL               ws://host:port/ for hosts and guests (default ws://127.0.0.1:4000/)
  --hosts-url URL         where hosts connect (cross-node: hosts on one node ...)
  --guests-url URL        ... and guests on another
  --threads N             client threads, each with its own io_context (default 1)
  --server-pid PID[,PID]  processes whose /proc CPU (utime+stime) and VmRSS are
                          sampled before and after (nodes, Redis, the seed)
  --connect-concurrency C handshakes in flight across all threads (default 256, 0 = all)
  --source-addrs A        bind client sockets to 127.0.0.2 .. 127.0.0.(A+1) in turn
                          (default: none; idle: max(2, N/25000))
  --setup-timeout SEC     deadline for connecting and pairing (default 120)
  --guest-order O         relay, flood: guests join in the hosts' order (same) or in
                          a fixed pseudo-random one (shuffled, the default)
  --label TEXT            name carried into the output (e.g. ours, seed)
  --json                  print one JSON object instead of the table

relay:  --rooms P (100) --size S bytes per signal (600) --window W (4)
        --duration SEC (10) --warmup SEC (2) --messages M per host (0: use --duration)
        --rate R target relays/s, offers + answers (0: as fast as the window allows)
idle:   --connections N (1000) --hold SEC (10) --keepalive SEC (20) --settle SEC (2)
        (idle with --rate R: after the hold, a paced relay at R relays/s through the
        first --rooms of the held rooms for --duration s after --warmup s)
storm:  --clients K (2000) --timeout SEC (30)
flood:  --rooms P (2000) --messages M per sender (50) --size S (600)
        --senders hosts|both (hosts) --warmup-rounds N unmeasured floods first (0)
        --timeout SEC for each round to be delivered (120)

The server must let a connection send more than the bench does: for our node
set RATE_LIMIT_PER_SEC and RATE_LIMIT_BURST high for relay runs.
)";

std::string need(int& i, int argc, char** argv) {
  if (i + 1 >= argc)
    throw std::invalid_argument(std::string(argv[i]) + ": missing value");
  return argv[++i];
}

double to_double(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || x < 0)
    throw std::invalid_argument(flag + ": expected a non-negative number, got \"" + v + "\"");
  return x;
}

std::uint64_t to_uint(const std::string& flag, const std::string& v) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument(flag + ": expected a whole number, got \"" + v + "\"");
  return std::stoull(v);
}

bench::options parse_args(int argc, char** argv, bool& as_json) {
  bench::options o;
  if (argc < 2)
    throw std::invalid_argument("no scenario given");
  o.scenario = argv[1];
  if (o.scenario != "relay" && o.scenario != "idle" && o.scenario != "storm" && o.scenario != "flood")
    throw std::invalid_argument("unknown scenario \"" + o.scenario + "\"");
  bool hosts = false, guests = false, rooms = false, messages = false, timeout = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      as_json = true;
    } else if (a == "--url") {
      auto v = need(i, argc, argv);
      if (!hosts)
        o.hosts_url = v;
      if (!guests)
        o.guests_url = v;
    } else if (a == "--hosts-url") {
      o.hosts_url = need(i, argc, argv);
      hosts = true;
    } else if (a == "--guests-url") {
      o.guests_url = need(i, argc, argv);
      guests = true;
    } else if (a == "--threads") {
      o.threads = std::max<std::size_t>(1, to_uint(a, need(i, argc, argv)));
    } else if (a == "--server-pid") {
      o.server_pids = bench::parse_pid_list(need(i, argc, argv));
    } else if (a == "--connect-concurrency") {
      o.connect_concurrency = to_uint(a, need(i, argc, argv));
    } else if (a == "--source-addrs") {
      o.source_addrs = to_uint(a, need(i, argc, argv));
      o.source_addrs_given = true;
      if (o.source_addrs > 250)
        throw std::invalid_argument("--source-addrs: at most 250");
    } else if (a == "--guest-order") {
      o.guest_order = need(i, argc, argv);
      if (o.guest_order != "same" && o.guest_order != "shuffled")
        throw std::invalid_argument("--guest-order: same or shuffled");
    } else if (a == "--setup-timeout") {
      o.setup_timeout = to_double(a, need(i, argc, argv));
    } else if (a == "--label") {
      o.label = need(i, argc, argv);
    } else if (a == "--rooms") {
      o.rooms = std::max<std::size_t>(1, to_uint(a, need(i, argc, argv)));
      rooms = true;
    } else if (a == "--size") {
      o.size = to_uint(a, need(i, argc, argv));
    } else if (a == "--window") {
      o.window = std::max<std::size_t>(1, to_uint(a, need(i, argc, argv)));
    } else if (a == "--duration") {
      o.duration = to_double(a, need(i, argc, argv));
    } else if (a == "--warmup") {
      o.warmup = to_double(a, need(i, argc, argv));
    } else if (a == "--messages") {
      o.messages = to_uint(a, need(i, argc, argv));
      messages = true;
    } else if (a == "--rate") {
      o.rate = to_double(a, need(i, argc, argv));
    } else if (a == "--connections") {
      o.connections = std::max<std::size_t>(2, to_uint(a, need(i, argc, argv)));
    } else if (a == "--hold") {
      o.hold = to_double(a, need(i, argc, argv));
    } else if (a == "--keepalive") {
      o.keepalive = static_cast<unsigned>(to_uint(a, need(i, argc, argv)));
    } else if (a == "--settle") {
      o.settle = to_double(a, need(i, argc, argv));
    } else if (a == "--clients") {
      o.clients = std::max<std::size_t>(2, to_uint(a, need(i, argc, argv)));
    } else if (a == "--timeout") {
      o.timeout = to_double(a, need(i, argc, argv));
      timeout = true;
    } else if (a == "--senders") {
      o.senders = need(i, argc, argv);
      if (o.senders != "hosts" && o.senders != "both")
        throw std::invalid_argument("--senders: hosts or both, got \"" + o.senders + "\"");
    } else if (a == "--warmup-rounds") {
      o.warmup_rounds = to_uint(a, need(i, argc, argv));
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.scenario == "flood") {
    // Close to the outside reproduction of issue 14: a Node.js ws client
    // flooding 50 signals of 600 B through each of 2,000-3,000 rooms.
    if (!rooms)
      o.rooms = 2000;
    if (!messages)
      o.messages = 50;
    if (!timeout)
      o.timeout = 120;
    if (o.messages == 0)
      throw std::invalid_argument("--messages: a flood needs at least 1");
  }
  return o;
}

// The bench holds one descriptor per connection, like the server.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// -- the human table ---------------------------------------------------------------

std::string num(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double get(const json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_number() ? i->get<double>() : 0.0;
}

void row(const std::string& name, const std::string& value) {
  std::printf("  %-24s %s\n", name.c_str(), value.c_str());
}

void latency_row(const json& r, const char* key, const std::string& name) {
  if (!r.contains(key))
    return;
  const auto& h = r[key];
  if (get(h, "count") == 0) {
    row(name, "(no samples)");
    return;
  }
  row(name, "p50 " + num(get(h, "p50")) + "  p90 " + num(get(h, "p90")) + "  p99 " + num(get(h, "p99")) +
              "  p99.9 " + num(get(h, "p999")) + "  max " + num(get(h, "max")) + "  (n=" +
              num(get(h, "count"), 0) + ")");
}

void counts_row(const json& r, const char* key, const std::string& name) {
  if (!r.contains(key) || r[key].empty())
    return;
  std::string s;
  for (auto& [k, v] : r[key].items())
    s += (s.empty() ? "" : ", ") + k + " x" + v.dump();
  row(name, s);
}

void server_rows(const json& r, const char* per, const std::string& unit) {
  if (!r.contains("server")) {
    row("server", "(no --server-pid)");
    return;
  }
  const auto& s = r["server"];
  if (!s.value("ok", false)) {
    row("server", "could not read /proc for " + s["pids"].dump());
    return;
  }
  row("server CPU", num(get(s, "cpu_us") / 1e6, 2) + " s (user " + num(get(s, "user_us") / 1e6, 2) + ", sys " +
                      num(get(s, "sys_us") / 1e6, 2) + ")  pids " + s["pids"].dump());
  row("server CPU per " + unit, num(get(s, (std::string("cpu_us_per_") + per).c_str()), 2) + " us");
  row("server RSS", num(get(s, "rss_before_kb") / 1024, 1) + " MB -> " + num(get(s, "rss_after_kb") / 1024, 1) + " MB");
}

void print_table(const json& r) {
  std::string sc = r["scenario"];
  std::printf("signal-bench %s%s%s\n", sc.c_str(), r["label"].get<std::string>().empty() ? "" : "  label=",
              r["label"].get<std::string>().c_str());
  row("hosts / guests", r["hosts_url"].get<std::string>() + " / " + r["guests_url"].get<std::string>());
  row("client threads", r["threads"].dump());
  if (r.contains("setup")) {
    const auto& s = r["setup"];
    row("setup", num(get(s, "pairs_ready"), 0) + "/" + num(get(s, "pairs_requested"), 0) + " rooms in " +
                   num(get(s, "setup_s"), 2) + " s" +
                   (get(s, "room_id_collisions") > 0 ? "  (room id collisions re-created: " +
                                                         num(get(s, "room_id_collisions"), 0) + ")"
                                                     : ""));
  }
  if (sc == "relay") {
    row("rooms / window / frame", r["rooms"].dump() + " / " + r["window"].dump() + " / " + r["frame_bytes"].dump() + " B");
    row("target rate", get(r, "target_rate") > 0 ? num(get(r, "target_rate"), 0) + " relays/s" : "max");
    row("relays", num(get(r, "relays"), 0) + " in " + num(get(r, "measured_s"), 2) + " s = " +
                    num(get(r, "relays_per_s"), 0) + " relays/s");
    latency_row(r, "rtt_us", "round trip us");
    latency_row(r, "one_way_us", "one way us");
    latency_row(r, "send_late_us", "send late us (timer)");
    server_rows(r, "relay", "relay");
    row("bench CPU per relay", num(get(r, "bench_cpu_us_per_relay"), 2) + " us");
    if (r.contains("other_load_cores"))
      row("other load on machine", num(get(r, "other_load_cores"), 2) + " cores (not server, not bench)");
  } else if (sc == "flood") {
    row("rooms / messages / frame", r["rooms"].dump() + " / " + r["messages_per_sender"].dump() + " per sender (" +
                                      r["senders"].get<std::string>() + ") / " + r["frame_bytes"].dump() + " B");
    if (get(r, "warmup_rounds") > 0)
      row("warm-up rounds", r["warmup_rounds"].dump() + " (not measured)");
    row("relays", num(get(r, "relays"), 0) + " of " + num(get(r, "relays_expected"), 0) + " in " +
                    num(get(r, "flood_s"), 3) + " s (start to last arrival) = " + num(get(r, "relays_per_s"), 0) +
                    " relays/s" + (r.value("timed_out", false) ? "  TIMED OUT" : ""));
    if (r.contains("delivery")) {
      const auto& d = r["delivery"];
      row("delivery", num(get(d, "received"), 0) + " of " + num(get(d, "expected"), 0) + " frames (all rounds): lost " +
                        num(get(d, "lost"), 0) + ", misordered " + num(get(d, "misordered"), 0) + ", duplicated " +
                        num(get(d, "duplicated"), 0) + ", out of range " + num(get(d, "out_of_range"), 0) +
                        (d.value("clean", false) ? "  (exactly once, in order)" : "  FAILED"));
    }
    latency_row(r, "one_way_us", "one way us");
    latency_row(r, "since_start_us", "arrival since start us");
    server_rows(r, "relay", "relay");
    row("bench CPU per relay", num(get(r, "bench_cpu_us_per_relay"), 2) + " us (" +
                                 num(get(r, "bench_busy_cores"), 2) + " cores busy over " + r["threads"].dump() +
                                 " thread(s))");
    if (r.contains("other_load_cores"))
      row("other load on machine", num(get(r, "other_load_cores"), 2) + " cores (not server, not bench)");
  } else if (sc == "idle") {
    row("connections", num(get(r, "connections_open"), 0) + " open of " + r["connections_requested"].dump() +
                         " requested, over " + r["source_addresses"].dump() + " source addresses");
    latency_row(r, "connect_us", "connect+handshake us");
    if (r.contains("server_rss_per_connection_bytes"))
      row("server RSS", num(get(r, "server_rss_before_kb") / 1024, 1) + " MB -> " +
                          num(get(r, "server_rss_held_kb") / 1024, 1) + " MB = " +
                          num(get(r, "server_rss_per_connection_bytes"), 0) + " B per connection");
    row("held", num(get(r, "hold_s"), 0) + " s, keepalive " + r["keepalive_s"].dump() + " s: dropped " +
                  num(get(r, "dropped_during_hold"), 0) + ", rooms verified " + num(get(r, "pairs_verified"), 0));
    if (r.contains("hold") && r["hold"].contains("server") && r["hold"]["server"].value("ok", false))
      row("server CPU while held", num(get(r["hold"]["server"], "cpu_us_per_connection_second"), 3) +
                                     " us per connection-second");
    if (r.contains("loaded_relay")) {
      const auto& l = r["loaded_relay"];
      row("relay while held", num(get(l, "relays_per_s"), 0) + " relays/s (target " + num(get(l, "target_rate"), 0) +
                                ") through " + l["rooms"].dump() + " rooms" +
                                (l.value("ok", false) ? "" : "  INCOMPLETE"));
      latency_row(l, "rtt_us", "  round trip us");
      if (l.contains("server") && l["server"].value("ok", false))
        row("  server CPU per relay", num(get(l["server"], "cpu_us_per_relay"), 2) + " us");
      row("  bench CPU per relay", num(get(l, "bench_cpu_us_per_relay"), 2) + " us");
      if (l.contains("other_load_cores"))
        row("  other load on machine", num(get(l, "other_load_cores"), 2) + " cores");
    }
  } else {
    row("clients", r["clients"].dump() + " (" + num(get(r, "completed_pairs"), 0) + " pairs done, " +
                     num(get(r, "failed_pairs"), 0) + " failed)");
    row("elapsed", num(get(r, "elapsed_s"), 2) + " s = " + num(get(r, "clients_per_s"), 0) + " clients/s");
    latency_row(r, "connect_us", "connect+handshake us");
    latency_row(r, "pair_us", "connect..answer us");
    server_rows(r, "client", "client");
    if (r.contains("server") && r["server"].contains("rss_per_client_bytes"))
      row("server RSS per client", num(get(r["server"], "rss_per_client_bytes"), 0) + " B");
  }
  counts_row(r, "errors", "error frames");
  counts_row(r, "disconnects", "disconnects");
  if (get(r, "misrouted") > 0)
    row("misrouted frames", num(get(r, "misrouted"), 0));
  if (get(r, "unexpected") > 0)
    row("unexpected frames", num(get(r, "unexpected"), 0));
  row("result", r.value("ok", false) ? "ok" : "INCOMPLETE");
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << usage_text;
    return 0;
  }
  bool as_json = false;
  bench::options o;
  try {
    o = parse_args(argc, argv, as_json);
  } catch (const std::exception& e) {
    std::cerr << "signal-bench: " << e.what() << "\n\n" << usage_text;
    return 2;
  }
  raise_fd_limit();
  json r;
  try {
    if (o.scenario == "relay")
      r = bench::run_relay(o);
    else if (o.scenario == "idle")
      r = bench::run_idle(o);
    else if (o.scenario == "flood")
      r = bench::run_flood(o);
    else
      r = bench::run_storm(o);
  } catch (const std::exception& e) {
    std::cerr << "signal-bench: " << e.what() << "\n";
    return 1;
  }
  if (as_json)
    std::cout << r.dump() << "\n";
  else
    print_table(r);
  return r.value("ok", false) ? 0 : 3;
}
