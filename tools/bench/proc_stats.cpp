#include "bench/proc_stats.hpp"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace bench {

namespace {

bool to_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

} // namespace

std::optional<cpu_ticks> parse_stat(std::string_view text) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  // After "pid (comm)" come fields 3 (state), 4, 5, ...: utime is the 12th
  // field after the parenthesis, stime the 13th.
  std::string_view rest = text.substr(close + 1);
  std::string_view fields[13];
  std::size_t n = 0, i = 0;
  while (n < 13) {
    while (i < rest.size() && rest[i] == ' ')
      ++i;
    if (i >= rest.size())
      return std::nullopt;
    auto j = rest.find_first_of(" \n", i);
    if (j == std::string_view::npos)
      j = rest.size();
    fields[n++] = rest.substr(i, j - i);
    i = j;
  }
  cpu_ticks t;
  if (!to_u64(fields[11], t.utime) || !to_u64(fields[12], t.stime))
    return std::nullopt;
  return t;
}

std::optional<std::uint64_t> parse_vm_rss_kb(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos)
      eol = text.size();
    auto line = text.substr(pos, eol - pos);
    if (line.substr(0, 6) == "VmRSS:") {
      auto digits = line.substr(6);
      auto b = digits.find_first_not_of(" \t");
      if (b == std::string_view::npos)
        return std::nullopt;
      digits = digits.substr(b);
      auto e = digits.find_first_not_of("0123456789");
      auto unit = e == std::string_view::npos ? std::string_view{} : digits.substr(e);
      digits = digits.substr(0, e);
      auto ub = unit.find_first_not_of(" \t");
      unit = ub == std::string_view::npos ? std::string_view{} : unit.substr(ub);
      std::uint64_t kb = 0;
      if (!to_u64(digits, kb) || unit.substr(0, 2) != "kB")
        return std::nullopt;
      return kb;
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

std::optional<machine_ticks> parse_machine_stat(std::string_view text) {
  if (text.substr(0, 4) != "cpu ")
    return std::nullopt;
  auto eol = text.find('\n');
  auto line = text.substr(4, eol == std::string_view::npos ? std::string_view::npos : eol - 4);
  machine_ticks m;
  std::size_t i = 0, n = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ')
      ++i;
    if (i >= line.size())
      break;
    auto j = line.find(' ', i);
    if (j == std::string_view::npos)
      j = line.size();
    std::uint64_t v = 0;
    if (!to_u64(line.substr(i, j - i), v))
      return std::nullopt;
    // Fields 9 and 10 (guest, guest_nice) are already counted in user/nice.
    if (n < 8) {
      m.total += v;
      if (n != 3 && n != 4) // idle, iowait
        m.busy += v;
    }
    ++n;
    i = j;
  }
  if (n < 4)
    return std::nullopt;
  return m;
}

std::optional<machine_ticks> read_machine() {
  auto text = slurp("/proc/stat");
  if (!text)
    return std::nullopt;
  return parse_machine_stat(*text);
}

proc_sample read_proc(int pid) {
  proc_sample s;
  s.pid = pid;
  auto base = "/proc/" + std::to_string(pid);
  auto stat = slurp(base + "/stat");
  auto status = slurp(base + "/status");
  if (!stat || !status)
    return s;
  auto cpu = parse_stat(*stat);
  auto rss = parse_vm_rss_kb(*status);
  if (!cpu || !rss)
    return s;
  s.cpu = *cpu;
  s.rss_kb = *rss;
  s.ok = true;
  return s;
}

long clock_ticks_per_second() {
  long t = ::sysconf(_SC_CLK_TCK);
  return t > 0 ? t : 100;
}

bool proc_set_sample::ok() const {
  if (procs.empty())
    return false;
  for (const auto& p : procs)
    if (!p.ok)
      return false;
  return true;
}

std::uint64_t proc_set_sample::cpu_ticks_total() const {
  std::uint64_t t = 0;
  for (const auto& p : procs)
    t += p.cpu.utime + p.cpu.stime;
  return t;
}

std::uint64_t proc_set_sample::rss_kb_total() const {
  std::uint64_t t = 0;
  for (const auto& p : procs)
    t += p.rss_kb;
  return t;
}

proc_set_sample read_procs(const std::vector<int>& pids) {
  proc_set_sample s;
  for (int pid : pids)
    s.procs.push_back(read_proc(pid));
  return s;
}

proc_delta diff(const proc_set_sample& before, const proc_set_sample& after, long ticks_per_second) {
  proc_delta d;
  if (!before.ok() || !after.ok() || before.procs.size() != after.procs.size() || ticks_per_second <= 0)
    return d;
  const double us_per_tick = 1e6 / static_cast<double>(ticks_per_second);
  std::uint64_t user = 0, sys = 0;
  for (std::size_t i = 0; i < before.procs.size(); ++i) {
    const auto& b = before.procs[i];
    const auto& a = after.procs[i];
    if (a.pid != b.pid || a.cpu.utime < b.cpu.utime || a.cpu.stime < b.cpu.stime)
      return d; // a different process, or a pid that was reused
    user += a.cpu.utime - b.cpu.utime;
    sys += a.cpu.stime - b.cpu.stime;
  }
  d.user_us = static_cast<double>(user) * us_per_tick;
  d.sys_us = static_cast<double>(sys) * us_per_tick;
  d.cpu_us = d.user_us + d.sys_us;
  d.rss_before_kb = static_cast<double>(before.rss_kb_total());
  d.rss_after_kb = static_cast<double>(after.rss_kb_total());
  d.ok = true;
  return d;
}

std::vector<int> parse_pid_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::uint64_t v = 0;
    if (!to_u64(item, v) || v == 0 || v > 0x7fffffff)
      throw std::invalid_argument("not a pid: \"" + item + "\"");
    out.push_back(static_cast<int>(v));
  }
  if (out.empty())
    throw std::invalid_argument("no pid given");
  return out;
}

} // namespace bench
