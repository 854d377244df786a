#include "transport/cpu_budget.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sched.h>
#include <sstream>
#include <thread>
#include <vector>

namespace signaling::transport {

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r'))
    s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  return s;
}

std::optional<long long> parse_int(std::string_view s) {
  s = trim(s);
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

void tighten(std::optional<double>& quota, std::optional<double> q) {
  if (q && (!quota || *q < *quota))
    quota = q;
}

// The cgroup paths /proc/self/cgroup names: v2's "0::/path", and v1's
// "N:controllers:/path" for the controller list holding "cpu".
struct self_paths {
  std::optional<std::string> v2;
  std::optional<std::string> v1_cpu;
  std::string v1_mount; // the v1 cpu hierarchy's folder under the root
};

self_paths parse_self(const std::string& text) {
  self_paths p;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos)
      continue;
    auto controllers = line.substr(a + 1, b - a - 1);
    auto path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      p.v2 = path;
      continue;
    }
    std::istringstream cs(controllers);
    std::string c;
    while (std::getline(cs, c, ','))
      if (c == "cpu") {
        p.v1_cpu = path;
        p.v1_mount = controllers;
      }
  }
  return p;
}

// `path` and each ancestor up to the root, deepest first ("/a/b", "/a", "").
std::vector<std::string> ancestry(std::string path) {
  std::vector<std::string> out;
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  for (;;) {
    out.push_back(path);
    auto slash = path.rfind('/');
    if (slash == std::string::npos || path.empty())
      break;
    path.resize(slash);
  }
  if (out.back() != "")
    out.push_back("");
  return out;
}

unsigned affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return 0;
  return static_cast<unsigned>(CPU_COUNT(&set));
}

} // namespace

std::optional<double> parse_cpu_max(std::string_view line) {
  line = trim(line);
  auto space = line.find(' ');
  if (space == std::string_view::npos)
    return std::nullopt;
  auto quota = line.substr(0, space);
  if (quota == "max")
    return std::nullopt;
  auto q = parse_int(quota);
  auto period = parse_int(line.substr(space + 1));
  if (!q || !period || *q <= 0 || *period <= 0)
    return std::nullopt;
  return static_cast<double>(*q) / static_cast<double>(*period);
}

cpu_budget usable_cpus(const std::string& cgroup_root, const std::string& self_cgroup) {
  cpu_budget b;
  b.affinity = affinity_cpus();
  unsigned cpus = b.affinity ? b.affinity : std::max(1u, std::thread::hardware_concurrency());

  auto self = parse_self(read_file(self_cgroup).value_or(""));
  // In a container with its own cgroup namespace, /proc/self/cgroup says "/"
  // and the limit sits on the root of the mount; on a host, under the path.
  if (self.v2)
    for (const auto& dir : ancestry(*self.v2))
      if (auto text = read_file(cgroup_root + dir + "/cpu.max"))
        tighten(b.quota, parse_cpu_max(*text));
  if (self.v1_cpu) {
    for (const auto& mount : {self.v1_mount, std::string("cpu"), std::string("cpu,cpuacct")})
      for (const auto& dir : ancestry(*self.v1_cpu)) {
        auto base = cgroup_root + "/" + mount + dir;
        auto quota = read_file(base + "/cpu.cfs_quota_us");
        auto period = read_file(base + "/cpu.cfs_period_us");
        if (!quota || !period)
          continue;
        auto q = parse_int(*quota);
        auto p = parse_int(*period);
        if (q && p && *q > 0 && *p > 0)
          tighten(b.quota, static_cast<double>(*q) / static_cast<double>(*p));
      }
  }
  if (b.quota) {
    // Rounded down: a thread more than the quota pays for is throttled.
    auto whole = static_cast<unsigned>(std::max(1.0, std::floor(*b.quota + 1e-9)));
    cpus = std::min(cpus, whole);
  }
  b.cpus = std::max(1u, cpus);
  return b;
}

unsigned io_threads_for(unsigned cpus) {
  return cpus > 1 ? cpus - 1 : 1;
}

} // namespace signaling::transport
