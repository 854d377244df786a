// Server accounting from /proc, the way `ps` and `top` see it: CPU time as
// utime+stime from /proc/PID/stat (all threads, in clock ticks) and resident
// memory as VmRSS from /proc/PID/status. The bench samples a set of server
// processes before and after a phase and divides by the work done.
// Parsing is separate from reading so the tests can feed it text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

struct cpu_ticks {
  std::uint64_t utime = 0; // field 14 of /proc/PID/stat
  std::uint64_t stime = 0; // field 15
};

// Parses the text of /proc/PID/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and ')', so fields are counted from
// the last ')'. nullopt if the text is not a stat line.
std::optional<cpu_ticks> parse_stat(std::string_view text);

// VmRSS in kB from the text of /proc/PID/status; nullopt if absent (a kernel
// thread, or a zombie).
std::optional<std::uint64_t> parse_vm_rss_kb(std::string_view text);

// The machine's CPU time from the first line of /proc/stat ("cpu  user nice
// system idle iowait irq softirq steal ..."), in clock ticks: busy is all
// but idle and iowait. Lets a run say how much CPU other work took meanwhile.
struct machine_ticks {
  std::uint64_t busy = 0;
  std::uint64_t total = 0;
};
std::optional<machine_ticks> parse_machine_stat(std::string_view text);
std::optional<machine_ticks> read_machine();

// One process at one instant.
struct proc_sample {
  int pid = 0;
  bool ok = false; // both files read and parsed
  cpu_ticks cpu;
  std::uint64_t rss_kb = 0;
};

proc_sample read_proc(int pid);

// Clock ticks per second of utime/stime (sysconf(_SC_CLK_TCK), usually 100).
long clock_ticks_per_second();

// The processes given with --server-pid, sampled together.
struct proc_set_sample {
  std::vector<proc_sample> procs;
  bool ok() const;
  std::uint64_t cpu_ticks_total() const; // sum of utime+stime
  std::uint64_t rss_kb_total() const;
};

proc_set_sample read_procs(const std::vector<int>& pids);

// What happened between two samples of the same set.
struct proc_delta {
  bool ok = false;        // both samples complete, same pids
  double cpu_us = 0;      // utime+stime consumed, all processes, in µs
  double user_us = 0;
  double sys_us = 0;
  double rss_before_kb = 0;
  double rss_after_kb = 0;
  double rss_delta_kb() const { return rss_after_kb - rss_before_kb; }
  // Helpers that divide by the work done; 0 when the work is 0.
  double cpu_us_per(double units) const { return units > 0 ? cpu_us / units : 0; }
  double rss_delta_bytes_per(double units) const { return units > 0 ? rss_delta_kb() * 1024.0 / units : 0; }
};

proc_delta diff(const proc_set_sample& before, const proc_set_sample& after, long ticks_per_second);

// "123,456" → {123, 456}; throws std::invalid_argument on anything else.
std::vector<int> parse_pid_list(const std::string& text);

} // namespace bench
