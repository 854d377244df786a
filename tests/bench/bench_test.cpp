// signal-bench's measuring parts: the log-linear histogram its latency
// percentiles come from, the /proc accounting its CPU and RSS figures come
// from, the frame codec its timestamps travel in, the flood's
// exactly-once, in-order delivery check, and its own WebSocket framing. No timings are asserted here; the
// bench has its own script.
#include "bench/frame.hpp"
#include "bench/histogram.hpp"
#include "bench/proc_stats.hpp"
#include "bench/sequence.hpp"
#include "bench/wire.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <unistd.h>
#include <vector>

using bench::histogram;

namespace {

// The exact nearest-rank percentile of a sorted vector, to compare against.
std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::max<std::size_t>(1, std::min(rank, v.size()));
  return v[rank - 1];
}

} // namespace

TEST_CASE("an empty histogram reports zero everywhere") {
  histogram h;
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0);
  CHECK(h.percentile(50) == 0);
  CHECK(h.percentile(99.9) == 0);
}

TEST_CASE("values below 2^sub_bits are recorded exactly") {
  histogram h{8};
  for (std::uint64_t v = 0; v < 256; ++v)
    h.record(v);
  CHECK(h.count() == 256);
  CHECK(h.min() == 0);
  CHECK(h.max() == 255);
  CHECK(h.percentile(50) == 127);
  CHECK(h.percentile(100) == 255);
  for (std::uint64_t v = 0; v < 256; ++v) {
    CHECK(h.index_of(v) == v);
    CHECK(h.lowest_in(v) == v);
    CHECK(h.highest_in(v) == v);
  }
}

TEST_CASE("every value lands in a bucket that contains it and is at most 2^-sub_bits wide") {
  for (unsigned bits : {3u, 7u, 8u, 12u}) {
    histogram h{bits};
    std::mt19937_64 rng(bits);
    std::vector<std::uint64_t> probes{0, 1, 255, 256, 257, 1000, 65535, 65536, 1ull << 40, (1ull << 40) + 12345,
                                      std::numeric_limits<std::uint64_t>::max(),
                                      std::numeric_limits<std::uint64_t>::max() - 1};
    for (int i = 0; i < 20000; ++i)
      probes.push_back(rng() >> (rng() % 64));
    for (auto v : probes) {
      auto i = h.index_of(v);
      REQUIRE(i < h.bucket_count());
      auto lo = h.lowest_in(i), hi = h.highest_in(i);
      CHECK(lo <= v);
      CHECK(v <= hi);
      if (v >= (1ull << bits))
        CHECK(static_cast<double>(hi - lo) <= static_cast<double>(lo) / static_cast<double>(1ull << bits));
    }
  }
}

TEST_CASE("bucket indices are monotonic and contiguous across powers of two") {
  histogram h{4};
  for (std::size_t i = 0; i + 1 < h.bucket_count(); ++i) {
    CHECK(h.highest_in(i) + 1 == h.lowest_in(i + 1));
    CHECK(h.index_of(h.lowest_in(i)) == i);
    CHECK(h.index_of(h.highest_in(i)) == i);
  }
  CHECK(h.highest_in(h.bucket_count() - 1) == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("percentiles match a sorted vector to within the bucket resolution") {
  std::mt19937_64 rng(42);
  // A latency-like shape: a log-normal body around 50 µs with a long tail.
  std::lognormal_distribution<double> body(std::log(50000.0), 0.6);
  std::vector<std::uint64_t> samples;
  histogram h{8};
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<std::uint64_t>(body(rng));
    if (i % 1000 == 0)
      v *= 40; // rare stalls
    samples.push_back(v);
    h.record(v);
  }
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    auto want = exact_percentile(samples, p);
    auto got = h.percentile(p);
    CAPTURE(p);
    CHECK(got >= want); // the bucket's highest value, never below the truth
    CHECK(static_cast<double>(got - want) <= static_cast<double>(want) / 256.0 + 1.0);
  }
  CHECK(h.min() == *std::min_element(samples.begin(), samples.end()));
  CHECK(h.max() == *std::max_element(samples.begin(), samples.end()));
  double sum = 0;
  for (auto v : samples)
    sum += static_cast<double>(v);
  CHECK(h.mean() == doctest::Approx(sum / static_cast<double>(samples.size())));
}

TEST_CASE("a percentile never reports more than the largest sample") {
  histogram h{8};
  h.record(1000001); // its bucket reaches higher than the value itself
  CHECK(h.percentile(50) == 1000001);
  CHECK(h.percentile(99.9) == 1000001);
}

TEST_CASE("record_n counts a value n times") {
  histogram h;
  h.record_n(10, 99);
  h.record_n(5000, 1);
  h.record_n(7, 0); // nothing
  CHECK(h.count() == 100);
  CHECK(h.min() == 10);
  CHECK(h.percentile(99) == 10);
  CHECK(h.percentile(99.5) >= 5000);
}

TEST_CASE("merged per-thread histograms equal one histogram of all samples") {
  histogram a, b, all;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50000; ++i) {
    auto v = rng() % 10000000;
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  histogram merged;
  merged.merge(a);
  merged.merge(b);
  merged.merge(histogram{}); // an empty one changes nothing
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  CHECK(merged.mean() == doctest::Approx(all.mean()));
  for (double p : {50.0, 90.0, 99.0, 99.9})
    CHECK(merged.percentile(p) == all.percentile(p));
  histogram coarse{4};
  CHECK_THROWS_AS(merged.merge(coarse), std::invalid_argument);
}

TEST_CASE("reset empties a histogram") {
  histogram h;
  h.record(123);
  h.reset();
  CHECK(h.count() == 0);
  CHECK(h.percentile(50) == 0);
  h.record(9);
  CHECK(h.min() == 9);
}

// -- /proc ------------------------------------------------------------------------

TEST_CASE("utime and stime are fields 14 and 15 of /proc/PID/stat") {
  const char* line = "4242 (signal-node) S 1 4242 4242 0 -1 4194560 2263 0 0 0 731 296 0 0 20 0 3 0 "
                     "12345 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
  auto t = bench::parse_stat(line);
  REQUIRE(t);
  CHECK(t->utime == 731);
  CHECK(t->stime == 296);
}

TEST_CASE("a command name with spaces and parentheses does not shift the stat fields") {
  const char* line = "77 (node ) (x) y) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 0 0 0\n";
  auto t = bench::parse_stat(line);
  REQUIRE(t);
  CHECK(t->utime == 5);
  CHECK(t->stime == 6);
}

TEST_CASE("a truncated or foreign stat text is rejected") {
  CHECK_FALSE(bench::parse_stat(""));
  CHECK_FALSE(bench::parse_stat("4242 signal-node S 1 2 3"));
  CHECK_FALSE(bench::parse_stat("4242 (signal-node) S 1 4242 4242 0 -1 0 0 0 0 0"));
  CHECK_FALSE(bench::parse_stat("4242 (signal-node) S 1 4242 4242 0 -1 0 0 0 0 0 x 296 0"));
}

TEST_CASE("VmRSS is read in kB from /proc/PID/status") {
  const char* status = "Name:\tsignal-node\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  900000 kB\n"
                       "VmHWM:\t   60000 kB\nVmRSS:\t   51234 kB\nRssAnon:\t   40000 kB\nThreads:\t5\n";
  auto rss = bench::parse_vm_rss_kb(status);
  REQUIRE(rss);
  CHECK(*rss == 51234);
  CHECK_FALSE(bench::parse_vm_rss_kb("Name:\tkthreadd\nState:\tS (sleeping)\n"));
  CHECK_FALSE(bench::parse_vm_rss_kb("VmRSS:\t  12 MB\n"));
}

TEST_CASE("this process's /proc entries read back, and CPU spent shows up in the delta") {
  auto before = bench::read_procs({static_cast<int>(::getpid())});
  REQUIRE(before.ok());
  CHECK(before.rss_kb_total() > 0);
  // Burn ~200 ms of CPU and touch 64 MiB: both must be seen.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  volatile std::uint64_t x = 0;
  while (std::chrono::steady_clock::now() < until)
    x = x + 1;
  const std::size_t bytes = 64u << 20;
  std::unique_ptr<char[]> block(new char[bytes]);
  std::memset(block.get(), 1, bytes);
  auto after = bench::read_procs({static_cast<int>(::getpid())});
  REQUIRE(after.ok());
  auto d = bench::diff(before, after, bench::clock_ticks_per_second());
  REQUIRE(d.ok);
  CHECK(d.cpu_us >= 100000); // at least 100 ms of the 200 ms burnt (tick resolution)
  CHECK(d.cpu_us == doctest::Approx(d.user_us + d.sys_us));
  CHECK(d.rss_delta_kb() >= 60 * 1024);
  CHECK(d.cpu_us_per(1000) == doctest::Approx(d.cpu_us / 1000));
  CHECK(block[bytes - 1] == 1);
}

TEST_CASE("CPU and RSS of several processes are summed and divided by the work done") {
  bench::proc_set_sample a, b;
  a.procs = {{1, true, {100, 50}, 1000}, {2, true, {10, 5}, 3000}};
  b.procs = {{1, true, {300, 70}, 1500}, {2, true, {30, 15}, 3500}};
  auto d = bench::diff(a, b, 100); // 100 ticks per second: 1 tick = 10 ms
  REQUIRE(d.ok);
  CHECK(d.user_us == doctest::Approx((200 + 20) * 10000.0));
  CHECK(d.sys_us == doctest::Approx((20 + 10) * 10000.0));
  CHECK(d.cpu_us == doctest::Approx(250 * 10000.0));
  CHECK(d.cpu_us_per(1000) == doctest::Approx(2500.0));
  CHECK(d.rss_before_kb == 4000);
  CHECK(d.rss_after_kb == 5000);
  CHECK(d.rss_delta_bytes_per(1000) == doctest::Approx(1024.0));
  CHECK(d.cpu_us_per(0) == 0);
}

TEST_CASE("a sample with a missing process, a different pid or time running backwards gives no delta") {
  bench::proc_set_sample a, b;
  a.procs = {{1, true, {100, 50}, 1000}};
  b.procs = {{1, false, {}, 0}};
  CHECK_FALSE(bench::diff(a, b, 100).ok);
  b.procs = {{2, true, {200, 60}, 1000}};
  CHECK_FALSE(bench::diff(a, b, 100).ok);
  b.procs = {{1, true, {90, 60}, 1000}}; // pid reused by a younger process
  CHECK_FALSE(bench::diff(a, b, 100).ok);
  CHECK_FALSE(bench::diff({}, {}, 100).ok);
  CHECK_FALSE(bench::read_proc(0x7ffffff0).ok);
}

TEST_CASE("--server-pid takes a comma-separated list of pids") {
  CHECK(bench::parse_pid_list("123") == std::vector<int>{123});
  CHECK(bench::parse_pid_list("123,456,7") == std::vector<int>{123, 456, 7});
  CHECK_THROWS_AS(bench::parse_pid_list(""), std::invalid_argument);
  CHECK_THROWS_AS(bench::parse_pid_list("12,,3"), std::invalid_argument);
  CHECK_THROWS_AS(bench::parse_pid_list("12,abc"), std::invalid_argument);
  CHECK_THROWS_AS(bench::parse_pid_list("0"), std::invalid_argument);
  CHECK_THROWS_AS(bench::parse_pid_list("99999999999"), std::invalid_argument);
}

TEST_CASE("machine CPU from /proc/stat counts all but idle and iowait as busy") {
  auto m = bench::parse_machine_stat("cpu  100 5 50 1000 20 3 7 2 9 1\ncpu0 50 2 25 500 10 1 3 1 0 0\n");
  REQUIRE(m);
  CHECK(m->busy == 100 + 5 + 50 + 3 + 7 + 2);
  CHECK(m->total == 100 + 5 + 50 + 1000 + 20 + 3 + 7 + 2);
  CHECK_FALSE(bench::parse_machine_stat("cpu0 1 2 3 4\n"));
  CHECK_FALSE(bench::parse_machine_stat("cpu  1 x 3 4\n"));
  auto live = bench::read_machine();
  REQUIRE(live);
  CHECK(live->total >= live->busy);
}

// -- frames -------------------------------------------------------------------------

TEST_CASE("a signal frame has the requested size and its bench field round-trips") {
  for (std::size_t size : {300u, 600u, 601u, 1000u, 4096u}) {
    for (char kind : {'o', 'a'}) {
      auto f = bench::make_frame("123456", kind, size);
      CAPTURE(size);
      CHECK(f.text.size() == size);
      CHECK(f.text.rfind(bench::signal_prefix, 0) == 0);
      bench::fill(f, 1999, 49, 1234567890123456789ull, 42);
      bench::bench_fields got;
      REQUIRE(bench::parse_bench(f.text, got));
      CHECK(got.kind == kind);
      CHECK(got.pair == 1999);
      CHECK(got.seq == 49);
      CHECK(got.t == 1234567890123456789ull);
      CHECK(got.u == 42);
      CHECK(f.text.size() == size); // rewritten in place, same length
    }
  }
}

TEST_CASE("the padding never ends in a lone backslash, whatever the size") {
  for (std::size_t size = 200; size < 1400; ++size) {
    auto f = bench::make_frame("654321", 'o', size);
    auto tail = f.text.find(R"("}})", f.field);
    REQUIRE(tail != std::string::npos);
    std::size_t slashes = 0;
    for (auto i = tail; i-- > 0 && f.text[i] == '\\';)
      ++slashes;
    CAPTURE(size);
    CHECK(slashes % 2 == 0);
  }
}

TEST_CASE("a frame without a well-formed bench field is not parsed") {
  bench::bench_fields f;
  CHECK_FALSE(bench::parse_bench(R"({"type":"signal","roomId":"1"})", f));
  auto t = bench::make_frame("1", 'o', 600);
  CHECK_FALSE(bench::parse_bench(std::string_view(t.text).substr(0, t.field + 20), f)); // cut short
  t.text[t.field + 5] = 'x';                                                             // a digit spoilt
  CHECK_FALSE(bench::parse_bench(t.text, f));
}

// -- flood delivery check ---------------------------------------------------------------

TEST_CASE("frames that arrive once each and in order are clean") {
  bench::sequence_check c{50};
  for (std::uint64_t i = 0; i < 50; ++i)
    CHECK(c.record(i) == bench::sequence_check::verdict::in_order);
  CHECK(c.received() == 50);
  CHECK(c.in_order() == 50);
  CHECK(c.lost() == 0);
  CHECK(c.complete());
  CHECK(c.clean());
}

TEST_CASE("a frame that never arrives is lost, and a gap alone is not misordering") {
  bench::sequence_check c{5};
  for (std::uint64_t i : {0, 1, 3, 4})
    CHECK(c.record(i) == bench::sequence_check::verdict::in_order);
  CHECK(c.lost() == 1);
  CHECK(c.misordered() == 0);
  CHECK_FALSE(c.complete());
  CHECK_FALSE(c.clean());
  // nothing at all arrived
  bench::sequence_check none{7};
  CHECK(none.lost() == 7);
  CHECK_FALSE(none.clean());
}

TEST_CASE("a late frame counts as misordered once and nothing is lost") {
  bench::sequence_check c{4};
  CHECK(c.record(0) == bench::sequence_check::verdict::in_order);
  CHECK(c.record(2) == bench::sequence_check::verdict::in_order);
  CHECK(c.record(1) == bench::sequence_check::verdict::misordered);
  CHECK(c.record(3) == bench::sequence_check::verdict::in_order);
  CHECK(c.misordered() == 1);
  CHECK(c.in_order() == 3);
  CHECK(c.lost() == 0);
  CHECK(c.complete());
  CHECK_FALSE(c.clean());
  // fully reversed: all but the first to arrive are late
  bench::sequence_check r{10};
  for (std::uint64_t i = 10; i-- > 0;)
    r.record(i);
  CHECK(r.misordered() == 9);
  CHECK(r.complete());
}

TEST_CASE("a repeated frame is a duplicate and does not count as received twice") {
  bench::sequence_check c{3};
  c.record(0);
  c.record(1);
  CHECK(c.record(1) == bench::sequence_check::verdict::duplicate);
  CHECK(c.record(0) == bench::sequence_check::verdict::duplicate);
  c.record(2);
  CHECK(c.duplicated() == 2);
  CHECK(c.received() == 3);
  CHECK(c.misordered() == 0);
  CHECK(c.complete());
  CHECK_FALSE(c.clean());
}

TEST_CASE("a frame numbered beyond what was sent is out of range, and with none expected every arrival is") {
  bench::sequence_check c{2};
  CHECK(c.record(2) == bench::sequence_check::verdict::out_of_range);
  CHECK(c.record(1000000) == bench::sequence_check::verdict::out_of_range);
  c.record(0);
  c.record(1);
  CHECK(c.out_of_range() == 2);
  CHECK(c.complete());
  CHECK_FALSE(c.clean());
  bench::sequence_check quiet; // the guest -> host direction when only hosts flood
  CHECK(quiet.clean());
  CHECK(quiet.record(0) == bench::sequence_check::verdict::out_of_range);
  CHECK_FALSE(quiet.clean());
}

TEST_CASE("rounds extend what is expected and the check runs on across them") {
  bench::sequence_check c{50};
  for (std::uint64_t i = 0; i < 50; ++i)
    c.record(i);
  CHECK(c.clean());
  c.set_expected(100);
  CHECK(c.lost() == 50);
  for (std::uint64_t i = 50; i < 100; ++i)
    CHECK(c.record(i) == bench::sequence_check::verdict::in_order);
  CHECK(c.clean());
  CHECK(c.record(7) == bench::sequence_check::verdict::duplicate); // a first-round frame again
  // bits past 64 per word boundary: a large flood
  bench::sequence_check big{1000};
  std::vector<std::uint64_t> order(1000);
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[63], order[64]);
  std::swap(order[127], order[500]);
  for (auto v : order)
    big.record(v);
  CHECK(big.complete());
  CHECK(big.duplicated() == 0);
  // 63 arrives after 64; once 500 has jumped ahead, 128..499 and 127 all
  // arrive after a higher number: 1 + 372 + 1 (a frame counts as misordered
  // when anything numbered above it came first, not by minimal moves).
  CHECK(big.misordered() == 374);
}

TEST_CASE("the tally sums every direction and is clean only when all are") {
  bench::sequence_check a{3}, b{3}, c{2};
  for (std::uint64_t i : {0, 1, 2})
    a.record(i);
  for (std::uint64_t i : {0, 2})
    b.record(i); // one lost
  for (std::uint64_t i : {1, 0, 0})
    c.record(i); // one misordered, one duplicated
  bench::delivery_tally t;
  t.add(a);
  CHECK(t.clean());
  t.add(b);
  t.add(c);
  CHECK(t.directions == 3);
  CHECK(t.expected == 8);
  CHECK(t.received == 7);
  CHECK(t.lost == 1);
  CHECK(t.misordered == 1);
  CHECK(t.duplicated == 1);
  CHECK(t.out_of_range == 0);
  CHECK(t.directions_with_loss == 1);
  CHECK(t.directions_out_of_order == 1);
  CHECK_FALSE(t.clean());
}

// -- the client's WebSocket framing ------------------------------------------------

namespace {

namespace wire = bench::wire;

// A server's frame: never masked.
std::string server_frame(wire::opcode op, std::string_view payload, bool fin = true, std::uint8_t extra_bits = 0) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | extra_bits | static_cast<int>(op)));
  auto n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(127));
    for (int i = 7; i >= 0; --i)
      f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xFF));
  }
  f.append(payload);
  return f;
}

struct recorder : wire::frame_reader::sink {
  std::vector<std::string> events;
  int stop_after = -1; // stop reading after this many events
  bool next() { return stop_after < 0 || static_cast<int>(events.size()) < stop_after; }
  bool on_text(std::string_view m) override { events.push_back("text:" + std::string(m)); return next(); }
  bool on_ping(std::string_view p) override { events.push_back("ping:" + std::string(p)); return next(); }
  bool on_pong() override { events.push_back("pong"); return next(); }
  bool on_close(std::uint16_t code) override { events.push_back("close:" + std::to_string(code)); return next(); }
};

// Decodes one client frame the way a server does: header, key, unmask.
struct client_frame {
  int op = -1;
  bool fin = false, masked = false;
  std::string payload;
  std::size_t size = 0;
};
client_frame decode_client(const std::string& f) {
  client_frame c;
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(f.at(i)); };
  c.fin = (b(0) & 0x80) != 0;
  c.op = b(0) & 0x0F;
  c.masked = (b(1) & 0x80) != 0;
  std::uint64_t len = b(1) & 0x7F;
  std::size_t at = 2;
  if (len == 126) {
    len = (std::uint64_t{b(2)} << 8) | b(3);
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; ++i)
      len = (len << 8) | b(static_cast<std::size_t>(i));
    at = 10;
  }
  unsigned char key[4] = {b(at), b(at + 1), b(at + 2), b(at + 3)};
  at += 4;
  for (std::uint64_t i = 0; i < len; ++i)
    c.payload.push_back(static_cast<char>(b(at + i) ^ key[i % 4]));
  c.size = at + len;
  return c;
}

} // namespace

TEST_CASE("the upgrade request asks for a WebSocket with the RFC's example key") {
  auto r = wire::upgrade_request("127.0.0.1:4000", "/ws");
  CHECK(r.rfind("GET /ws HTTP/1.1\r\n", 0) == 0);
  CHECK(r.find("\r\nHost: 127.0.0.1:4000\r\n") != std::string::npos);
  CHECK(r.find("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") != std::string::npos);
  CHECK(r.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
  CHECK(r.size() >= 4);
  CHECK(r.substr(r.size() - 4) == "\r\n\r\n");
}

TEST_CASE("the upgrade answer is accepted only with 101, Upgrade: websocket and the right accept value") {
  const std::string good = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: Upgrade\r\n"
                           "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n";
  auto a = wire::parse_upgrade_answer(good + "\x81\x02hi");
  CHECK(a.result == wire::upgrade_answer::state::accepted);
  CHECK(a.header_bytes == good.size());
  CHECK(a.status == 101);
  // Every cut short of the blank line is incomplete.
  for (std::size_t n = 0; n < good.size(); ++n)
    CHECK(wire::parse_upgrade_answer(std::string_view(good).substr(0, n)).result ==
          wire::upgrade_answer::state::incomplete);
  auto wrong_accept = wire::parse_upgrade_answer(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: AAAA\r\n\r\n");
  CHECK(wrong_accept.result == wire::upgrade_answer::state::declined);
  auto busy = wire::parse_upgrade_answer("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  CHECK(busy.result == wire::upgrade_answer::state::declined);
  CHECK(busy.status == 503);
  CHECK(wire::parse_upgrade_answer("SSH-2.0-OpenSSH\r\n\r\n").result == wire::upgrade_answer::state::malformed);
  CHECK(wire::parse_upgrade_answer(std::string(20000, 'x')).result == wire::upgrade_answer::state::malformed);
}

TEST_CASE("a client frame is masked with its key and unmasks to the payload at every length class") {
  for (std::size_t n : {0, 1, 7, 8, 9, 125, 126, 127, 600, 65535, 65536, 70001}) {
    std::string payload(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
      payload[i] = static_cast<char>('a' + i % 26);
    std::string out = "prefix";
    wire::append_frame(out, wire::opcode::text, payload, 0xA1B2C3D4u);
    REQUIRE(out.rfind("prefix", 0) == 0);
    auto c = decode_client(out.substr(6));
    CAPTURE(n);
    CHECK(c.fin);
    CHECK(c.masked);
    CHECK(c.op == 1);
    CHECK(c.payload == payload);
    CHECK(c.size == out.size() - 6);
    if (n >= 8) // the key really is applied: the bytes on the wire differ
      CHECK(out.find(payload.substr(0, 8)) == std::string::npos);
  }
}

TEST_CASE("the reader hands over the same messages however the bytes are cut") {
  std::string big(70000, 'z');
  std::string stream = server_frame(wire::opcode::text, "hello") + server_frame(wire::opcode::ping, "p") +
                       server_frame(wire::opcode::text, std::string(300, 'm')) +
                       server_frame(wire::opcode::text, "frag-", false) +
                       server_frame(wire::opcode::pong, "") +
                       server_frame(wire::opcode::continuation, "ment", false) +
                       server_frame(wire::opcode::continuation, "ed") + server_frame(wire::opcode::text, big) +
                       server_frame(wire::opcode::text, "") + server_frame(wire::opcode::close, "\x03\xe8");
  const std::vector<std::string> want = {"text:hello", "ping:p", "text:" + std::string(300, 'm'), "pong",
                                         "text:frag-mented", "text:" + big, "text:", "close:1000"};
  {
    wire::frame_reader r(1 << 20);
    recorder s;
    CHECK(r.feed(stream.data(), stream.size(), s) == wire::fault::none);
    CHECK(s.events == want);
  }
  // Two pieces, cut at every offset in the first 400 bytes and around the big frame's header.
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i <= 400; ++i)
    cuts.push_back(i);
  auto big_at = stream.find(static_cast<char>(0x81) + std::string("\x7f"));
  REQUIRE(big_at != std::string::npos);
  for (std::size_t i = big_at; i < big_at + 20; ++i)
    cuts.push_back(i);
  for (auto cut : cuts) {
    wire::frame_reader r(1 << 20);
    recorder s;
    CAPTURE(cut);
    CHECK(r.feed(stream.data(), cut, s) == wire::fault::none);
    CHECK(r.feed(stream.data() + cut, stream.size() - cut, s) == wire::fault::none);
    CHECK(s.events == want);
  }
  // One byte at a time.
  wire::frame_reader r(1 << 20);
  recorder s;
  for (char ch : stream)
    REQUIRE(r.feed(&ch, 1, s) == wire::fault::none);
  CHECK(s.events == want);
}

TEST_CASE("the reader refuses what a server must not send") {
  auto fault_of = [](const std::string& bytes, std::size_t max = 1 << 20) {
    wire::frame_reader r(max);
    recorder s;
    return r.feed(bytes.data(), bytes.size(), s);
  };
  std::string masked = "\x81\x82" + std::string("\x01\x02\x03\x04", 4) + "ab";
  CHECK(fault_of(masked) == wire::fault::masked_frame);
  CHECK(fault_of(server_frame(wire::opcode::text, "x", true, 0x40)) == wire::fault::reserved_bits);
  CHECK(fault_of(server_frame(static_cast<wire::opcode>(3), "x")) == wire::fault::bad_opcode);
  CHECK(fault_of(server_frame(wire::opcode::ping, "x", false)) == wire::fault::bad_control);
  CHECK(fault_of(server_frame(wire::opcode::ping, std::string(126, 'x'))) == wire::fault::bad_control);
  CHECK(fault_of(server_frame(wire::opcode::continuation, "x")) == wire::fault::unexpected_continuation);
  CHECK(fault_of(server_frame(wire::opcode::text, "a", false) + server_frame(wire::opcode::text, "b")) ==
        wire::fault::unexpected_continuation);
  CHECK(fault_of(server_frame(wire::opcode::text, std::string(101, 'x')), 100) == wire::fault::too_big);
  CHECK(fault_of(server_frame(wire::opcode::text, std::string(100, 'x')), 100) == wire::fault::none);
  CHECK(fault_of(server_frame(wire::opcode::text, std::string(60, 'x'), false) +
                   server_frame(wire::opcode::continuation, std::string(60, 'x'))) == wire::fault::none);
  CHECK(fault_of(server_frame(wire::opcode::text, std::string(60, 'x'), false) +
                   server_frame(wire::opcode::continuation, std::string(60, 'x')), 100) == wire::fault::too_big);
  // The header's 64-bit length alone is enough to refuse.
  CHECK(fault_of(std::string("\x81\x7f\x00\x00\x00\x01\x00\x00\x00\x00", 10)) == wire::fault::too_big);
}

TEST_CASE("a handler that stops the reader stops it at once, and a close without a code reads as 1005") {
  std::string stream = server_frame(wire::opcode::text, "one") + server_frame(wire::opcode::text, "two");
  wire::frame_reader r(1 << 20);
  recorder s;
  s.stop_after = 1;
  CHECK(r.feed(stream.data(), stream.size(), s) == wire::fault::none);
  CHECK(s.events == std::vector<std::string>{"text:one"});

  wire::frame_reader r2(1 << 20);
  recorder s2;
  auto close = server_frame(wire::opcode::close, "");
  CHECK(r2.feed(close.data(), close.size(), s2) == wire::fault::none);
  CHECK(s2.events == std::vector<std::string>{"close:1005"});
}
