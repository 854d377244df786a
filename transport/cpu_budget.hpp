#pragma once
// How many CPUs this process may really use, for IO_THREADS=0: the CPUs its
// affinity mask allows (taskset, cpusets), capped by a cgroup CPU quota (a
// Kubernetes `limits.cpu`, `docker run --cpus`), rounded down, at least 1;
// and the I/O threads that leaves room for (io_threads_for).
// std::thread::hardware_concurrency() counts the host's CPUs instead: a pod
// limited to 2 CPUs on a 32-core host would run 32 I/O threads, each woken
// for its share of the connections, and the quota would throttle them all.

#include <optional>
#include <string>
#include <string_view>

namespace signaling::transport {

struct cpu_budget {
  unsigned cpus = 1;              // CPUs this process may use (IO_THREADS=0 runs io_threads_for(cpus))
  unsigned affinity = 0;          // CPUs in the affinity mask (0: unknown)
  std::optional<double> quota;    // the tightest cgroup quota, in CPUs (none: unlimited)
};

// Reads the affinity mask and the quota of this process's cgroup and of each
// of its ancestors (cgroup v2 `cpu.max`; v1 `cpu.cfs_quota_us` over
// `cpu.cfs_period_us`). `cgroup_root` and `self_cgroup` are parameters for the
// tests; a file that is missing or unreadable means no limit from it.
cpu_budget usable_cpus(const std::string& cgroup_root = "/sys/fs/cgroup",
                       const std::string& self_cgroup = "/proc/self/cgroup");

// I/O threads for `cpus` usable CPUs: one per CPU but one, at least one. The
// CPU left over is for what else the node runs besides its event loops (the
// CAF worker that runs the room actors, the kernel's network processing,
// whatever shares the machine): an I/O thread more than that competes with
// them for a core, wakes up for a smaller share of the sockets each time and
// so makes more system calls per frame; under a cgroup quota, a thread per
// CPU of the quota plus those others can use up the quota within a period and
// be throttled for the rest of it. On the 2-core benchmark machine one thread
// cost less per relay than two in every scenario measured and was no slower
// at peak (BENCHMARKS.md, "One I/O thread on two CPUs").
unsigned io_threads_for(unsigned cpus);

// The quota a cgroup v2 `cpu.max` line states ("200000 100000": 2 CPUs;
// "max 100000": none); nullopt as well for a line that does not parse.
std::optional<double> parse_cpu_max(std::string_view line);

} // namespace signaling::transport
