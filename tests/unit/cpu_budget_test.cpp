// usable_cpus: what IO_THREADS=0 runs, from the affinity mask and the cgroup
// CPU quota, read from a made-up cgroup tree (v2 and v1) in a temp folder.
#include "transport/cpu_budget.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sched.h>
#include <string>

namespace fs = std::filesystem;
using signaling::transport::parse_cpu_max;
using signaling::transport::usable_cpus;

namespace {

struct tree {
  fs::path root;
  tree() {
    std::string tmpl = (fs::temp_directory_path() / "cpu-budget-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
  }
  ~tree() { fs::remove_all(root); }
  void put(const std::string& rel, const std::string& text) const {
    auto p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string cg() const { return (root / "sys").string(); }
  std::string self() const { return (root / "self-cgroup").string(); }
};

unsigned affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  return static_cast<unsigned>(CPU_COUNT(&set));
}

} // namespace

TEST_CASE("cpu.max lines: a quota over a period, or none") {
  CHECK(parse_cpu_max("200000 100000\n") == doctest::Approx(2.0));
  CHECK(parse_cpu_max("150000 100000") == doctest::Approx(1.5));
  CHECK(parse_cpu_max("50000 100000") == doctest::Approx(0.5));
  CHECK_FALSE(parse_cpu_max("max 100000\n"));
  CHECK_FALSE(parse_cpu_max(""));
  CHECK_FALSE(parse_cpu_max("200000"));
  CHECK_FALSE(parse_cpu_max("abc 100000"));
  CHECK_FALSE(parse_cpu_max("0 100000"));
  CHECK_FALSE(parse_cpu_max("100000 0"));
}

TEST_CASE("with no cgroup files, the node may use every CPU of the affinity mask") {
  tree t;
  auto b = usable_cpus(t.cg(), t.self());
  CHECK(b.affinity == affinity());
  CHECK_FALSE(b.quota);
  CHECK(b.cpus == affinity());
}

TEST_CASE("IO_THREADS=0 runs one I/O thread per usable CPU but one, at least one") {
  using signaling::transport::io_threads_for;
  CHECK(io_threads_for(0) == 1);
  CHECK(io_threads_for(1) == 1);
  CHECK(io_threads_for(2) == 1);
  CHECK(io_threads_for(3) == 2);
  CHECK(io_threads_for(8) == 7);
}

TEST_CASE("a cgroup v2 quota below the affinity caps the threads, rounded down, at least one") {
  tree t;
  t.put("self-cgroup", "0::/\n");
  t.put("sys/cpu.max", "50000 100000\n"); // half a CPU, as limits.cpu: 500m
  auto b = usable_cpus(t.cg(), t.self());
  REQUIRE(b.quota);
  CHECK(*b.quota == doctest::Approx(0.5));
  CHECK(b.cpus == 1);

  t.put("sys/cpu.max", "max 100000\n");
  CHECK(usable_cpus(t.cg(), t.self()).cpus == affinity());
}

TEST_CASE("the tightest quota of the cgroup and its ancestors counts (v2, a host path)") {
  tree t;
  t.put("self-cgroup", "0::/kubepods/pod1/ctr\n");
  t.put("sys/kubepods/pod1/ctr/cpu.max", "max 100000\n");
  t.put("sys/kubepods/pod1/cpu.max", "100000 100000\n"); // the pod: 1 CPU
  t.put("sys/kubepods/cpu.max", "400000 100000\n");
  auto b = usable_cpus(t.cg(), t.self());
  REQUIRE(b.quota);
  CHECK(*b.quota == doctest::Approx(1.0));
  CHECK(b.cpus == 1);
}

TEST_CASE("a cgroup v1 CFS quota counts as well") {
  tree t;
  t.put("self-cgroup", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n");
  t.put("sys/cpu,cpuacct/cpu.cfs_quota_us", "100000\n"); // the container's own, at the mount's root
  t.put("sys/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  auto b = usable_cpus(t.cg(), t.self());
  REQUIRE(b.quota);
  CHECK(*b.quota == doctest::Approx(1.0));
  CHECK(b.cpus == 1);

  t.put("sys/cpu,cpuacct/cpu.cfs_quota_us", "-1\n"); // unlimited
  CHECK_FALSE(usable_cpus(t.cg(), t.self()).quota);
}
