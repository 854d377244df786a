// Observability with a real Prometheus (Debian's, deploy/setup.sh --test): it
// scrapes a local cluster (deploy/local-cluster.sh, two nodes behind HAProxy)
// every second with the shipped alert rules loaded, and the metric names the
// dashboard, the alert rules and the autoscaler use are checked against what
// a node exports. The rules' own unit tests: tests/prometheus/rules.sh.
#include "support/cluster.hpp"
#include "support/ws_client.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace testing;
using json = nlohmann::json;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The metric names a PromQL expression reads: identifiers that are neither
// functions, keywords, label names (inside {...} or a by/without/on/ignoring
// list) nor durations (inside [...]). Grafana's label_values(METRIC, LABEL)
// reads METRIC.
std::set<std::string> metric_names(std::string expr) {
  static const std::regex label_values(R"(label_values\(\s*([^,]*),[^)]*\))");
  expr = std::regex_replace(expr, label_values, "$1");
  static const std::regex strings(R"("(\\.|[^"\\])*"|'(\\.|[^'\\])*')");
  static const std::regex matchers(R"(\{[^}]*\})");
  static const std::regex ranges(R"(\[[^\]]*\])");
  static const std::regex grouping(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))");
  for (const auto* re : {&strings, &matchers, &ranges, &grouping})
    expr = std::regex_replace(expr, *re, " ");
  static const std::set<std::string> keywords{"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"};
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; };
  std::set<std::string> names;
  for (std::size_t i = 0; i < expr.size();) {
    if (!word(expr[i])) {
      ++i;
      continue;
    }
    auto start = i;
    while (i < expr.size() && word(expr[i]))
      ++i;
    auto token = expr.substr(start, i - start);
    // Numbers (0.99, 1e3, the 05 of 0.05) are not names.
    if (std::isdigit(static_cast<unsigned char>(token[0])) || (start > 0 && expr[start - 1] == '.'))
      continue;
    auto next = expr.find_first_not_of(" \t\n", i);
    if ((next != std::string::npos && expr[next] == '(') || keywords.count(token))
      continue; // a function, or a keyword
    names.insert(token);
  }
  return names;
}

// Sample names of a /metrics page (histograms' _bucket, _sum, _count included).
std::set<std::string> exported(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#')
      names.insert(line.substr(0, line.find_first_of("{ ")));
  return names;
}

// Every `expr` of the dashboard's panels (rows included) and its variables' queries.
void dashboard_queries(const json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if ((k == "expr" || k == "definition") && v.is_string())
        out.push_back(v.get<std::string>());
      else
        dashboard_queries(v, out);
    }
  } else if (j.is_array()) {
    for (auto& v : j)
      dashboard_queries(v, out);
  }
}

class prometheus_process {
public:
  prometheus_process(const std::vector<std::uint16_t>& targets) {
    char tmpl[] = "/tmp/signal-prom-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    dir_ = tmpl;
    std::string list;
    for (auto p : targets)
      list += std::string(list.empty() ? "" : ", ") + "\"127.0.0.1:" + std::to_string(p) + "\"";
    // The shipped rules, a second's scrape: the test takes seconds, not minutes.
    std::ofstream(dir_ + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                               "rule_files:\n  - " SIGNAL_SOURCE_DIR "/deploy/prometheus/alerts.yml\n"
                                               "scrape_configs:\n  - job_name: signal\n    static_configs:\n"
                                               "      - targets: ["
                                            << list << "]\n";
    check_ = std::make_unique<child_process>(
      std::vector<std::string>{"/usr/bin/promtool", "check", "config", dir_ + "/prometheus.yml"});
    auto status = check_->wait_exit(std::chrono::seconds(30));
    INFO(check_->output());
    REQUIRE_MESSAGE((status && *status == 0), "promtool check config failed");
    // A port free a moment ago may be taken before Prometheus binds it (a
    // node's port 0): it then exits at once, and the next free port is tried.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      proc_ = std::make_unique<child_process>(std::vector<std::string>{
        "/usr/bin/prometheus", "--config.file=" + dir_ + "/prometheus.yml", "--storage.tsdb.path=" + dir_ + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
      bool exited = false;
      bool ready = eventually(
        [&] {
          if (proc_->wait_exit(std::chrono::milliseconds(0))) {
            exited = true;
            return true;
          }
          try {
            return http_request(port_, "GET", "/-/ready").status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        std::chrono::seconds(30));
      if (ready && !exited)
        return;
      if (!exited || proc_->output().find("address already in use") == std::string::npos)
        break;
    }
    FAIL("prometheus did not get ready:\n" << proc_->output());
  }
  ~prometheus_process() {
    if (proc_) {
      proc_->signal(SIGTERM);
      proc_->wait_exit(std::chrono::seconds(10));
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  json api(const std::string& path) {
    auto r = http_request(port_, "GET", "/api/v1/" + path);
    auto j = json::parse(r.body);
    REQUIRE_MESSAGE(j["status"] == "success", r.body);
    return j["data"];
  }
  // An instant query's single value (NaN if it has none).
  double value(const std::string& promql) {
    auto d = api("query?query=" + url_encode(promql));
    if (d["result"].empty())
      return std::nan("");
    return std::stod(d["result"][0]["value"][1].get<std::string>());
  }

private:
  std::uint16_t port_ = 0;
  std::string dir_;
  std::unique_ptr<child_process> check_, proc_;
};

} // namespace

TEST_CASE("metric names are read from PromQL as Prometheus would, so an unknown one is caught") {
  CHECK(metric_names(R"(histogram_quantile(0.99, sum by (job, instance, le) (rate(signal_relay_latency_seconds_bucket{job="signal", instance=~"$instance"}[$__rate_interval]))) > 0.25)") ==
        std::set<std::string>{"signal_relay_latency_seconds_bucket"});
  CHECK(metric_names(R"((sum by (i) (signal_parked_seats) > 50) and (signal_parked_seats / clamp_min(sum(signal_connections), 1) > 0.05))") ==
        std::set<std::string>{"signal_parked_seats", "signal_connections"});
  CHECK(metric_names(R"(label_values(signal_build_info{job="signal"}, instance))") == std::set<std::string>{"signal_build_info"});
  CHECK(metric_names(R"(time() - process_start_time_seconds offset 5m)") == std::set<std::string>{"process_start_time_seconds"});
  // A name the node does not export is what the comparison below reports.
  auto live = exported("signal_connections 1\nsignal_relayed_total{path=\"local\"} 2\n");
  std::set<std::string> missing;
  for (auto& n : metric_names("rate(signal_relayed_total[5m]) / signal_conections"))
    if (!live.count(n))
      missing.insert(n);
  CHECK(missing == std::set<std::string>{"signal_conections"});
}

TEST_CASE("a real Prometheus scrapes a local cluster: targets up, rules loaded, node metrics stored, a relay moves the counters, the dashboard, rules and autoscaler use only exported metrics") {
  local_cluster lc{{}, 2};
  std::vector<std::uint16_t> ports;
  for (auto& [name, node] : lc.nodes())
    ports.push_back(node.second);
  prometheus_process prom{ports};

  // Both targets scraped.
  json targets;
  REQUIRE_MESSAGE(eventually(
                    [&] {
                      targets = prom.api("targets?state=active")["activeTargets"];
                      return targets.size() == 2 && std::all_of(targets.begin(), targets.end(),
                                                                [](const json& t) { return t["health"] == "up"; });
                    },
                    std::chrono::seconds(20)),
                  targets.dump());

  // The shipped rules, loaded and evaluated without error against real series.
  json groups;
  REQUIRE_MESSAGE(eventually(
                    [&] {
                      groups = prom.api("rules")["groups"];
                      if (groups.size() != 1 || groups[0]["rules"].empty())
                        return false;
                      for (auto& r : groups[0]["rules"])
                        if (r["health"] != "ok")
                          return false;
                      return true;
                    },
                    std::chrono::seconds(20)),
                  groups.dump());
  CHECK(groups[0]["rules"].size() == 7);

  // Every name a node exports is stored by Prometheus (what it scraped).
  auto page = http_request(ports[0], "GET", "/metrics").body;
  auto live = exported(page);
  std::set<std::string> stored;
  REQUIRE(eventually([&] {
    stored.clear();
    for (auto& n : prom.api("label/__name__/values"))
      stored.insert(n.get<std::string>());
    return std::includes(stored.begin(), stored.end(), live.begin(), live.end());
  }, std::chrono::seconds(10)));
  MESSAGE(live.size() << " sample names exported by a node, all stored");
  for (auto n : {"signal_ready", "signal_build_info", "signal_parked_seats", "signal_max_connections",
                 "signal_upgrades_refused_total", "signal_redis_up", "signal_redis_heartbeat_duration_seconds_bucket",
                 "process_start_time_seconds", "process_open_fds", "process_max_fds", "process_resident_memory_bytes",
                 "process_cpu_seconds_total"})
    CHECK_MESSAGE(live.count(n), n << " is not exported");
  CHECK(prom.value("sum(signal_ready{job=\"signal\"})") == 2);
  CHECK(prom.value("min(signal_redis_up{job=\"signal\"})") == 1);
  CHECK(eventually([&] { return prom.value("count(signal_redis_heartbeat_duration_seconds_count{job=\"signal\"} > 0)") == 2; }));

  // A relay through the balancer moves the counters Prometheus sees.
  const std::string relayed = "sum(signal_relayed_total{job=\"signal\"})";
  double before = std::nan("");
  REQUIRE(eventually([&] { return !std::isnan(before = prom.value(relayed)); }, std::chrono::seconds(10)));
  double received_before = prom.value("sum(signal_messages_received_total{job=\"signal\"})");
  {
    ws_client host, guest;
    host.connect(lc.lb_port());
    guest.connect(lc.lb_port());
    host.send(R"({"type":"create-room"})");
    auto room = json::parse(host.read_text())["roomId"].get<std::string>();
    guest.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
    REQUIRE(json::parse(guest.read_text())["type"] == "peer-joined");
    REQUIRE(json::parse(host.read_text())["type"] == "peer-joined");
    for (int i = 0; i < 5; ++i) {
      std::string s = json{{"type", "signal"}, {"roomId", room}, {"n", i}}.dump();
      host.send(s);
      CHECK(guest.read_text() == s);
      guest.send(s);
      CHECK(host.read_text() == s);
    }
  }
  // Both nodes scraped since: every frame received (create, join, 10 signals)
  // and every one relayed (10, twice if host and guest are on different nodes).
  double after = before, received = received_before;
  CHECK_MESSAGE(eventually(
                  [&] {
                    received = prom.value("sum(signal_messages_received_total{job=\"signal\"})");
                    after = prom.value(relayed);
                    return received >= received_before + 12 && after >= before + 10;
                  },
                  std::chrono::seconds(15)),
                "signal_relayed_total went from " << before << " to " << after << ", signal_messages_received_total from "
                                                   << received_before << " to " << received);
  MESSAGE("relayed frames, all paths: " << before << " -> " << after);

  // Every metric the dashboard, the rules and the autoscaler read is exported
  // (or is Prometheus's own `up`).
  std::vector<std::string> queries;
  dashboard_queries(json::parse(read_file(SIGNAL_SOURCE_DIR "/deploy/prometheus/grafana-dashboard.json")), queries);
  auto from_dashboard = queries.size();
  for (auto& r : groups[0]["rules"])
    queries.push_back(r["query"].get<std::string>());
  static const std::regex hpa_metric(R"(metric:\s*\n\s*name:\s*([a-zA-Z_:][a-zA-Z0-9_:]*))");
  auto hpa = read_file(SIGNAL_SOURCE_DIR "/k8s/hpa.yaml");
  for (auto it = std::sregex_iterator(hpa.begin(), hpa.end(), hpa_metric); it != std::sregex_iterator(); ++it)
    queries.push_back((*it)[1]);
  REQUIRE(from_dashboard >= 20);
  REQUIRE(queries.size() >= from_dashboard + 7 + 1);
  std::set<std::string> used, missing;
  for (auto& q : queries)
    for (auto& n : metric_names(q)) {
      used.insert(n);
      if (!live.count(n) && n != "up")
        missing.insert(n);
    }
  std::string list;
  for (auto& n : missing)
    list += " " + n;
  CHECK_MESSAGE(missing.empty(), "used but not exported:" << list);
  MESSAGE(queries.size() << " queries (" << from_dashboard << " from the dashboard) read " << used.size() << " metrics");
}
