#include "bench/scenarios.hpp"

#include "bench/client.hpp"
#include "bench/frame.hpp"
#include "bench/histogram.hpp"
#include "bench/proc_stats.hpp"
#include "bench/sequence.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <sys/resource.h>
#include <thread>
#include <unordered_map>

namespace bench {

namespace {

using json = nlohmann::json;

// -- measurements -----------------------------------------------------------------

json latency_json(const histogram& h) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return json{{"count", h.count()},         {"mean", h.mean() / 1000.0},     {"min", us(h.min())},
              {"p50", us(h.percentile(50))}, {"p90", us(h.percentile(90))},   {"p99", us(h.percentile(99))},
              {"p999", us(h.percentile(99.9))}, {"max", us(h.max())}};
}

double self_cpu_us() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

// /proc samples of the --server-pid set plus the bench's own CPU, taken together.
struct accounting {
  explicit accounting(const std::vector<int>& pids) : pids_(pids), tck_(clock_ticks_per_second()) {}
  struct mark {
    proc_set_sample procs;
    double self_us = 0;
    std::optional<machine_ticks> machine;
    std::uint64_t at_ns = 0;
  };
  mark sample() const {
    mark m;
    if (!pids_.empty())
      m.procs = read_procs(pids_);
    m.self_us = self_cpu_us();
    m.machine = read_machine();
    m.at_ns = now_ns();
    return m;
  }
  // Server CPU and RSS between two marks, divided by `units` of work.
  json report(const mark& a, const mark& b, double units, const char* per) const {
    json j;
    j["bench_cpu_us"] = b.self_us - a.self_us;
    j[std::string("bench_cpu_us_per_") + per] = units > 0 ? (b.self_us - a.self_us) / units : 0.0;
    auto d = diff(a.procs, b.procs, tck_);
    // The machine is shared: how many cores everything else (not the
    // server, not the bench) kept busy while this was measured.
    double secs = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
    if (secs > 0)
      j["bench_busy_cores"] = (b.self_us - a.self_us) / 1e6 / secs;
    if (a.machine && b.machine && secs > 0) {
      double busy_us = static_cast<double>(b.machine->busy - a.machine->busy) * 1e6 / static_cast<double>(tck_);
      j["machine_busy_cores"] = busy_us / 1e6 / secs;
      if (d.ok)
        j["other_load_cores"] = std::max(0.0, busy_us - d.cpu_us - (b.self_us - a.self_us)) / 1e6 / secs;
    }
    if (pids_.empty())
      return j;
    json s;
    s["pids"] = pids_;
    s["ok"] = d.ok;
    if (d.ok) {
      s["cpu_us"] = d.cpu_us;
      s["user_us"] = d.user_us;
      s["sys_us"] = d.sys_us;
      s[std::string("cpu_us_per_") + per] = d.cpu_us_per(units);
      if (secs > 0)
        s["busy_cores"] = d.cpu_us / 1e6 / secs;
      s["rss_before_kb"] = d.rss_before_kb;
      s["rss_after_kb"] = d.rss_after_kb;
      s["clock_ticks_per_s"] = tck_;
    }
    j["server"] = s;
    return j;
  }
  const std::vector<int>& pids_;
  long tck_;
};

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// Polls `done` every few ms until it holds or `timeout` seconds pass.
bool wait_for(const std::function<bool()>& done, double timeout) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// -- pairs: a host and a guest sharing one room ------------------------------------

enum class mode { relay, idle, storm, flood };
enum class phase { setup, run, hold, verify, done };

struct pair_state {
  std::size_t index = 0;
  std::size_t worker = 0;
  std::unique_ptr<connection> host, guest;
  std::string room_id;
  frame_template offer, answer;
  bool created = false, host_joined = false, guest_joined = false, guest_open = false;
  bool join_sent = false, ready = false, failed = false, done = false;
  // relay pacing
  std::uint64_t sent = 0, inflight = 0, next_due = 0;
  bool parked = false, scheduled = false;
  std::uint64_t t_start = 0;
  // flood: `sent` is the host's count; each sender writes up to send_target
  // (its total over all rounds so far), and each receiving end checks order
  std::uint64_t guest_sent = 0, send_target = 0;
  sequence_check at_guest, at_host; // frames that arrived at the guest / at the host
};

// Everything one worker thread touches per message lives here, one cache
// line apart from the others; main reads only the atomics until the end.
struct alignas(64) worker_state {
  std::unique_ptr<worker> w;
  std::vector<pair_state*> pairs;
  histogram rtt, one_way, connect, pair_time;
  histogram send_late; // relay, paced: how late the timer let a due offer go out
  std::map<std::string, std::uint64_t> errors_by_code, down_reasons; // worker thread only
  std::uint64_t unexpected = 0;
  std::uint64_t last_done_ns = 0; // storm: when this worker's last pair completed
  // flood: when this worker started the current round (its own thread only),
  // and the histogram of arrival times counted from there
  std::uint64_t round_start_ns = 0;
  histogram since_start;
  // pacing
  std::unique_ptr<net::steady_timer> timer;
  std::uint64_t timer_at = 0;
  bool ticking = false; // on_tick re-arms once at its end
  using due = std::pair<std::uint64_t, pair_state*>;
  std::priority_queue<due, std::vector<due>, std::greater<due>> schedule;

  alignas(64) std::atomic<std::uint64_t> relays{0};
  std::atomic<std::uint64_t> outstanding{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> misrouted{0};
  std::atomic<std::uint64_t> downs{0};
  std::atomic<std::uint64_t> round_started_ns{0}; // flood: published copy of round_start_ns
  std::atomic<std::uint64_t> last_arrival_ns{0};  // flood: latest first arrival of a frame
};

class pair_driver final : public connection_events {
public:
  pair_driver(const options& o, mode m, std::size_t pairs)
    : o_(o), mode_(m), start_mode_(m), hosts_url_(parse_ws_url(o.hosts_url)), guests_url_(parse_ws_url(o.guests_url)) {
    std::size_t threads = std::max<std::size_t>(1, o.threads);
    std::size_t gate = o.connect_concurrency == 0 ? 0 : std::max<std::size_t>(1, (o.connect_concurrency + threads - 1) / threads);
    if (m == mode::storm && o.connect_concurrency == 0)
      gate = 0;
    for (std::size_t i = 0; i < threads; ++i) {
      auto ws = std::make_unique<worker_state>();
      ws->w = std::make_unique<worker>(i, gate);
      ws->timer = std::make_unique<net::steady_timer>(ws->w->ioc());
      workers_.push_back(std::move(ws));
    }
    pairs_.reserve(pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      auto p = std::make_unique<pair_state>();
      p->index = i;
      p->worker = i % threads;
      auto& w = *workers_[p->worker]->w;
      p->host = std::make_unique<connection>(w, *this, i, true);
      p->guest = std::make_unique<connection>(w, *this, i, false);
      workers_[p->worker]->pairs.push_back(p.get());
      pairs_.push_back(std::move(p));
    }
    conn_opts_.keepalive = std::chrono::seconds(m == mode::idle ? o.keepalive : 0);
    std::size_t addrs = o.source_addrs;
    if (m == mode::idle && !o.source_addrs_given)
      addrs = std::max<std::size_t>(2, (pairs * 2 + 24999) / 25000);
    for (std::size_t i = 0; i < addrs; ++i)
      sources_.push_back(net::ip::address_v4(0x7F000002u + static_cast<std::uint32_t>(i)));
    for (auto& ws : workers_)
      ws->w->start_thread();
  }

  ~pair_driver() override { stop(); }

  void stop() {
    for (auto& ws : workers_) {
      auto* state = ws.get();
      state->w->shutdown([state] {
        state->timer->cancel();
        for (auto* p : state->pairs) {
          p->host->kill();
          p->guest->kill();
        }
      });
    }
  }

  // -- phases, driven from the main thread ---------------------------------

  // Hosts connect and create rooms; duplicates (the seed draws ids without a
  // uniqueness check) are re-created until every live id is distinct, since
  // on the seed the later room silently replaces the earlier. Then guests
  // join. Returns false if the deadline passed.
  bool pair_up(json& out) {
    auto t0 = now_ns();
    for (auto& ws : workers_) {
      auto* state = ws.get();
      state->w->post([this, state] {
        for (auto* p : state->pairs)
          p->host->start(hosts_url_, source_for(p->index * 2), conn_opts_);
      });
    }
    std::size_t n = pairs_.size();
    bool ok = wait_for([&] { return created_.load(std::memory_order_acquire) + failed_.load() >= n; }, o_.setup_timeout);
    std::uint64_t collisions = 0;
    for (int round = 0; ok && round < 20; ++round) {
      std::unordered_map<std::string, std::vector<pair_state*>> by_id;
      for (auto& p : pairs_)
        if (p->created && !p->failed)
          by_id[p->room_id].push_back(p.get());
      std::vector<pair_state*> again;
      for (auto& [id, ps] : by_id)
        if (ps.size() > 1)
          again.insert(again.end(), ps.begin(), ps.end());
      if (again.empty())
        break;
      collisions += again.size();
      auto target = created_.load() + again.size();
      for (auto* p : again)
        workers_[p->worker]->w->post([p] {
          p->created = false;
          p->host->send(R"({"type":"create-room"})");
        });
      ok = wait_for([&] { return created_.load(std::memory_order_acquire) + failed_.load() >= target; }, o_.setup_timeout);
    }
    out["hosts_connected_s"] = static_cast<double>(now_ns() - t0) / 1e9;
    out["room_id_collisions"] = collisions;
    for (auto& ws : workers_) {
      auto* state = ws.get();
      auto order = state->pairs;
      if (o_.guest_order == "shuffled")
        std::shuffle(order.begin(), order.end(), std::mt19937(static_cast<std::mt19937::result_type>(order.size())));
      state->w->post([this, order = std::move(order)] {
        for (auto* p : order)
          if (p->created && !p->failed)
            p->guest->start(guests_url_, source_for(p->index * 2 + 1), conn_opts_);
      });
    }
    ok = ok && wait_for([&] { return ready_.load(std::memory_order_acquire) + failed_.load() >= n; }, o_.setup_timeout);
    out["setup_s"] = static_cast<double>(now_ns() - t0) / 1e9;
    out["pairs_requested"] = n;
    out["pairs_ready"] = ready_.load();
    out["pairs_failed"] = failed_.load();
    out["setup_complete"] = ok;
    return ok;
  }

  // relay: start sending on every ready pair (on the first `limit` pairs
  // only, when given: idle's loaded relay uses a few of the held rooms).
  void start_relay(std::size_t limit = static_cast<std::size_t>(-1)) {
    phase_ = phase::run;
    std::size_t active = std::min<std::size_t>(ready_.load(), limit);
    // Each offer yields two relays (the offer and its answer).
    double per_host = o_.rate > 0 && active > 0 ? o_.rate / 2.0 / static_cast<double>(active) : 0;
    period_ns_ = per_host > 0 ? static_cast<std::uint64_t>(1e9 / per_host) : 0;
    for (auto& ws : workers_) {
      auto* state = ws.get();
      state->w->post([this, state, limit] {
        std::mt19937_64 rng(state->w->index() + 1);
        auto now = now_ns();
        for (auto* p : state->pairs) {
          if (!p->ready || p->failed || p->index >= limit)
            continue;
          if (period_ns_ == 0) {
            fill_window(*state, *p);
          } else {
            p->next_due = now + rng() % period_ns_; // spread the hosts over one period
            push_due(*state, *p);
          }
        }
        if (period_ns_ != 0)
          arm_timer(*state);
      });
    }
  }

  void set_recording(bool on) { recording_.store(on, std::memory_order_relaxed); }
  void stop_sending() { stop_.store(true, std::memory_order_relaxed); }
  std::uint64_t relays() const {
    std::uint64_t n = 0;
    for (auto& ws : workers_)
      n += ws->relays.load(std::memory_order_relaxed);
    return n;
  }
  std::uint64_t outstanding() const {
    std::uint64_t n = 0;
    for (auto& ws : workers_)
      n += ws->outstanding.load(std::memory_order_relaxed);
    return n;
  }
  bool all_sent() const { return finished_hosts_.load() + failed_.load() >= pairs_.size(); }

  // Switches what the workers do with signals (idle -> relay for the loaded
  // relay); published to them by the posts that follow.
  void set_mode(mode m) { mode_.store(m, std::memory_order_relaxed); }

  // flood: one round. Every ready pair's sender(s) may now write up to
  // `total` frames each (their count over all rounds so far) and start at
  // once; each receiving end expects sequence numbers 0 .. total-1. Returns
  // when every worker has started, with the number of frames this round must
  // deliver, so the caller knows what to wait for.
  std::uint64_t start_flood_round(std::uint64_t total, bool both) {
    phase_ = phase::run;
    round_expect_.store(0);
    round_posted_.store(0);
    for (auto& ws : workers_) {
      auto* state = ws.get();
      state->w->post([this, state, total, both] {
        state->round_start_ns = now_ns();
        state->round_started_ns.store(state->round_start_ns, std::memory_order_relaxed);
        std::uint64_t expect = 0;
        for (auto* p : state->pairs) {
          if (!p->ready || p->failed)
            continue;
          expect += (total - p->send_target) * (both ? 2 : 1);
          p->send_target = total;
          p->at_guest.set_expected(total);
          if (both)
            p->at_host.set_expected(total);
        }
        round_expect_.fetch_add(expect);
        round_posted_.fetch_add(1, std::memory_order_release);
        // Then every sender's first frame, back to back; each next one
        // follows from on_drained as soon as its predecessor is written.
        for (auto* p : state->pairs) {
          pump(*state, *p, true);
          if (both)
            pump(*state, *p, false);
        }
      });
    }
    wait_for([&] { return round_posted_.load(std::memory_order_acquire) == workers_.size(); }, 60);
    return round_expect_.load();
  }
  // flood: the earliest start of the current round over all workers, and the
  // latest arrival of a frame.
  std::uint64_t round_started_ns() const {
    std::uint64_t t = ~std::uint64_t{0};
    for (auto& ws : workers_)
      t = std::min(t, ws->round_started_ns.load(std::memory_order_relaxed));
    return t;
  }
  std::uint64_t last_arrival_ns() const {
    std::uint64_t t = 0;
    for (auto& ws : workers_)
      t = std::max(t, ws->last_arrival_ns.load(std::memory_order_relaxed));
    return t;
  }
  std::size_t ready_pairs() const { return ready_.load(); }
  void set_phase(phase p) {
    // Published to workers by the post() that follows, or read racily as a
    // hint only (drop accounting), hence relaxed.
    phase_.store(p, std::memory_order_relaxed);
  }
  std::uint64_t dropped() const { return dropped_.load(); }
  std::uint64_t verified() const { return verified_.load(); }
  std::uint64_t done_pairs() const { return done_.load(); }
  std::uint64_t failed_pairs() const { return failed_.load(); }
  std::uint64_t open_connections() const { return open_.load(); }

  // idle: one offer per ready pair, answered.
  void start_verify() {
    set_phase(phase::verify);
    for (auto& ws : workers_) {
      auto* state = ws.get();
      state->w->post([this, state] {
        for (auto* p : state->pairs)
          if (p->ready && !p->failed)
            send_offer(*state, *p, now_ns());
      });
    }
  }

  // storm: every pair at once; each connects both members, creates, joins,
  // and exchanges one offer/answer.
  void start_storm() {
    phase_ = phase::run;
    set_recording(true);
    for (auto& ws : workers_) {
      auto* state = ws.get();
      state->w->post([this, state] {
        for (auto* p : state->pairs) {
          p->t_start = now_ns();
          p->host->start(hosts_url_, source_for(p->index * 2), conn_opts_);
          p->guest->start(guests_url_, source_for(p->index * 2 + 1), conn_opts_);
        }
      });
    }
  }

  // Results, after stop(): the worker threads are joined.
  json collect(json out) const {
    histogram rtt, one_way, connect, pair_time, since_start, send_late;
    std::map<std::string, std::uint64_t> errors, downs;
    std::uint64_t unexpected = 0, misrouted = 0;
    for (auto& ws : workers_) {
      rtt.merge(ws->rtt);
      send_late.merge(ws->send_late);
      one_way.merge(ws->one_way);
      since_start.merge(ws->since_start);
      connect.merge(ws->connect);
      pair_time.merge(ws->pair_time);
      for (auto& [k, v] : ws->errors_by_code)
        errors[k] += v;
      for (auto& [k, v] : ws->down_reasons)
        downs[k] += v;
      unexpected += ws->unexpected;
      misrouted += ws->misrouted.load();
    }
    const mode m = start_mode_;
    if (m == mode::flood) {
      out["one_way_us"] = latency_json(one_way);
      out["since_start_us"] = latency_json(since_start);
      delivery_tally t;
      std::uint64_t sent = 0;
      for (auto& p : pairs_) {
        if (p->at_guest.expected() || p->at_guest.received() || p->at_guest.out_of_range())
          t.add(p->at_guest);
        if (p->at_host.expected() || p->at_host.received() || p->at_host.out_of_range())
          t.add(p->at_host);
        sent += p->sent + p->guest_sent;
      }
      out["delivery"] = json{{"frames_sent", sent},
                             {"expected", t.expected},
                             {"received", t.received},
                             {"lost", t.lost},
                             {"misordered", t.misordered},
                             {"duplicated", t.duplicated},
                             {"out_of_range", t.out_of_range},
                             {"directions", t.directions},
                             {"directions_with_loss", t.directions_with_loss},
                             {"directions_out_of_order", t.directions_out_of_order},
                             {"clean", t.clean()}};
    } else if (m == mode::idle) {
      if (out.contains("loaded_relay")) { // idle's relay through some of the held rooms
        out["loaded_relay"]["rtt_us"] = latency_json(rtt);
        out["loaded_relay"]["one_way_us"] = latency_json(one_way);
      }
    } else {
      out["rtt_us"] = latency_json(rtt);
      out["one_way_us"] = latency_json(one_way);
      if (period_ns_ != 0)
        out["send_late_us"] = latency_json(send_late);
    }
    out["connect_us"] = latency_json(connect);
    if (m == mode::storm)
      out["pair_us"] = latency_json(pair_time);
    out["errors"] = errors;
    out["disconnects"] = downs;
    out["misrouted"] = misrouted;
    out["unexpected"] = unexpected;
    out["frame_bytes"] = pairs_.empty() ? 0 : pairs_.front()->offer.text.size();
    return out;
  }

  std::size_t source_count() const { return sources_.size(); }
  // After stop(): the latest storm completion over all workers.
  std::uint64_t last_done_ns() const {
    std::uint64_t t = 0;
    for (auto& ws : workers_)
      t = std::max(t, ws->last_done_ns);
    return t;
  }

  // -- connection events (worker threads) ---------------------------------

  void on_open(connection& c) override {
    auto& ws = *workers_[c.owner().index()];
    auto& p = *pairs_[c.pair()];
    ws.connect.record(c.opened_ns() - c.started_ns());
    open_.fetch_add(1, std::memory_order_relaxed);
    if (c.is_host()) {
      c.send(R"({"type":"create-room"})");
    } else {
      p.guest_open = true;
      maybe_join(p);
    }
  }

  void on_text(connection& c, std::string_view text) override {
    auto& ws = *workers_[c.owner().index()];
    auto& p = *pairs_[c.pair()];
    if (text.substr(0, signal_prefix.size()) == signal_prefix)
      return on_signal(ws, p, c, text);
    auto j = json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ++ws.unexpected;
      return;
    }
    auto type = j.value("type", std::string{});
    if (type == "room-created" && c.is_host()) {
      p.room_id = j.value("roomId", std::string{});
      p.offer = make_frame(p.room_id, 'o', o_.size);
      p.answer = make_frame(p.room_id, 'a', o_.size);
      p.created = true;
      created_.fetch_add(1, std::memory_order_release);
      maybe_join(p);
    } else if (type == "peer-joined") {
      (c.is_host() ? p.host_joined : p.guest_joined) = true;
      if (p.host_joined && p.guest_joined && !p.ready && !p.failed) {
        p.ready = true;
        ready_.fetch_add(1, std::memory_order_release);
        if (mode_.load(std::memory_order_relaxed) == mode::storm)
          send_offer(ws, p, now_ns());
      }
    } else if (type == "error") {
      ws.errors.fetch_add(1, std::memory_order_relaxed);
      auto code = j.value("code", std::string{});
      ++ws.errors_by_code[code.empty() ? j.value("message", std::string{"?"}) : code];
      if (!p.ready)
        fail_pair(p);
    } else {
      ++ws.unexpected; // peer-left and the like: not part of these scenarios
    }
  }

  void on_down(connection& c, beast::error_code ec, const char* where) override {
    auto& ws = *workers_[c.owner().index()];
    auto& p = *pairs_[c.pair()];
    ws.downs.fetch_add(1, std::memory_order_relaxed);
    ++ws.down_reasons[std::string(where) + ": " + ec.message()];
    if (c.opened_ns() != 0)
      open_.fetch_sub(1, std::memory_order_relaxed);
    auto ph = phase_.load(std::memory_order_relaxed);
    if (ph == phase::hold || ph == phase::verify)
      dropped_.fetch_add(1, std::memory_order_relaxed);
    if (p.inflight) {
      ws.outstanding.fetch_sub(p.inflight, std::memory_order_relaxed);
      p.inflight = 0;
    }
    fail_pair(p);
  }

  void on_drained(connection& c) override {
    if (mode_.load(std::memory_order_relaxed) != mode::flood)
      return;
    auto& ws = *workers_[c.owner().index()];
    pump(ws, *pairs_[c.pair()], c.is_host());
  }

private:
  // flood: the next frame of one sender, stamped now, if it has one left in
  // this round and nothing of its own is still being written. Called at the
  // round's start and whenever its previous frame is out (on_drained): one
  // frame in flight per connection, back to back, never waiting for the peer.
  void pump(worker_state&, pair_state& p, bool host) {
    auto& c = host ? *p.host : *p.guest;
    auto& sent = host ? p.sent : p.guest_sent;
    if (p.failed || stop_.load(std::memory_order_relaxed) || sent >= p.send_target || !c.idle())
      return;
    auto& f = host ? p.offer : p.answer;
    fill(f, p.index, sent, now_ns(), 0);
    ++sent;
    c.send(f.text);
  }

  std::optional<net::ip::address> source_for(std::size_t conn_index) const {
    if (sources_.empty())
      return std::nullopt;
    return sources_[conn_index % sources_.size()];
  }

  void maybe_join(pair_state& p) {
    if (p.created && p.guest_open && !p.join_sent && !p.failed) {
      p.join_sent = true;
      p.guest->send(R"({"type":"join-room","roomId":")" + p.room_id + R"("})");
    }
  }

  void fail_pair(pair_state& p) {
    if (p.failed || p.done)
      return;
    p.failed = true;
    failed_.fetch_add(1, std::memory_order_release);
  }

  bool may_send(const pair_state& p) const {
    return !p.failed && !stop_.load(std::memory_order_relaxed) && p.inflight < o_.window &&
           (o_.messages == 0 || p.sent < o_.messages);
  }

  void send_offer(worker_state& ws, pair_state& p, std::uint64_t t) {
    fill(p.offer, p.index, p.sent, t, 0);
    ++p.sent;
    ++p.inflight;
    ws.outstanding.fetch_add(1, std::memory_order_relaxed);
    p.host->send(p.offer.text);
    if (o_.messages != 0 && p.sent == o_.messages)
      finished_hosts_.fetch_add(1, std::memory_order_relaxed);
  }

  void fill_window(worker_state& ws, pair_state& p) {
    while (may_send(p))
      send_offer(ws, p, now_ns());
  }

  // Paced sending: an offer the window held back (the server had not
  // answered yet) is stamped with the time it was due, not the time it went
  // out, so a stalled window shows up in the latency (no coordinated
  // omission); one that only waited for this client's timer to fire is
  // stamped when written. Timers on the benchmark VM fire 60-150 us late
  // (timerfd and nanosleep alike, whatever the timer slack), and that
  // lateness belongs to neither server: it is reported apart, as send_late_us.
  void push_due(worker_state& ws, pair_state& p) {
    p.scheduled = true;
    ws.schedule.push({p.next_due, &p});
    if (!ws.ticking && (ws.timer_at == 0 || p.next_due < ws.timer_at))
      arm_timer(ws);
  }

  void arm_timer(worker_state& ws) {
    if (ws.schedule.empty() || stop_.load(std::memory_order_relaxed))
      return;
    auto at = ws.schedule.top().first;
    ws.timer_at = at;
    ws.timer->expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(at)));
    ws.timer->async_wait([this, &ws, at](beast::error_code ec) {
      if (ec || ws.timer_at != at)
        return; // re-armed earlier meanwhile
      ws.timer_at = 0;
      on_tick(ws);
    });
  }

  void on_tick(worker_state& ws) {
    auto now = now_ns();
    ws.ticking = true;
    while (!ws.schedule.empty() && ws.schedule.top().first <= now) {
      auto* p = ws.schedule.top().second;
      ws.schedule.pop();
      p->scheduled = false;
      run_due(ws, *p, now);
    }
    ws.ticking = false;
    arm_timer(ws);
  }

  // Sends every offer of `p` that is due, as the window allows; parks the
  // host when the window is full (an answer un-parks it).
  // `held`: called when an answer opened the window, so what is due now was
  // held back by the server's pace.
  void run_due(worker_state& ws, pair_state& p, std::uint64_t now, bool held = false) {
    while (p.next_due <= now && may_send(p)) {
      std::uint64_t stamp = p.next_due;
      if (!held) {
        stamp = now_ns();
        if (recording_.load(std::memory_order_relaxed))
          ws.send_late.record(stamp - p.next_due);
      }
      send_offer(ws, p, stamp);
      p.next_due += period_ns_;
    }
    if (p.failed || stop_.load(std::memory_order_relaxed) || (o_.messages != 0 && p.sent >= o_.messages))
      return;
    if (p.next_due <= now) {
      p.parked = true; // window full
      return;
    }
    push_due(ws, p);
  }

  void on_signal(worker_state& ws, pair_state& p, connection& c, std::string_view text) {
    bench_fields f;
    if (!parse_bench(text, f)) {
      ++ws.unexpected;
      return;
    }
    auto now = now_ns();
    if (f.pair != p.index) {
      // The seed relays by room id alone; a collided id sends frames astray.
      ws.misrouted.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    bool rec = recording_.load(std::memory_order_relaxed);
    const mode m = mode_.load(std::memory_order_relaxed);
    if (m == mode::flood) {
      // Hosts send 'o' frames, guests (with --senders both) 'a' frames; each
      // end checks that its direction arrives exactly once and in order.
      bool at_guest = !c.is_host();
      if (f.kind != (at_guest ? 'o' : 'a')) {
        ++ws.unexpected;
        return;
      }
      auto v = (at_guest ? p.at_guest : p.at_host).record(f.seq);
      if (v != sequence_check::verdict::in_order && v != sequence_check::verdict::misordered)
        return; // a duplicate or a frame nobody sent: tallied by the check
      ws.relays.fetch_add(1, std::memory_order_relaxed);
      ws.last_arrival_ns.store(now, std::memory_order_relaxed);
      if (rec) {
        if (now >= f.t)
          ws.one_way.record(now - f.t);
        if (now >= ws.round_start_ns)
          ws.since_start.record(now - ws.round_start_ns);
      }
      return;
    }
    if (!c.is_host() && f.kind == 'o') {
      ws.relays.fetch_add(1, std::memory_order_relaxed);
      if (rec && now >= f.t)
        ws.one_way.record(now - f.t);
      fill(p.answer, f.pair, f.seq, f.t, now);
      p.guest->send(p.answer.text);
      return;
    }
    if (!c.is_host() || f.kind != 'a') {
      ++ws.unexpected;
      return;
    }
    ws.relays.fetch_add(1, std::memory_order_relaxed);
    if (rec) {
      if (now >= f.t)
        ws.rtt.record(now - f.t);
      if (now >= f.u)
        ws.one_way.record(now - f.u);
    }
    if (p.inflight) {
      --p.inflight;
      ws.outstanding.fetch_sub(1, std::memory_order_relaxed);
    }
    switch (m) {
      case mode::flood:
        return; // handled above
      case mode::storm:
        if (!p.done) {
          p.done = true;
          ws.pair_time.record(now - p.t_start);
          ws.last_done_ns = std::max(ws.last_done_ns, now);
          done_.fetch_add(1, std::memory_order_relaxed);
        }
        return;
      case mode::idle:
        verified_.fetch_add(1, std::memory_order_relaxed);
        return;
      case mode::relay:
        if (period_ns_ == 0) {
          fill_window(ws, p);
        } else if (p.parked) {
          p.parked = false;
          run_due(ws, p, now, true);
        }
        return;
    }
  }

  const options& o_;
  std::atomic<mode> mode_;
  const mode start_mode_;
  ws_url hosts_url_, guests_url_;
  connection_options conn_opts_;
  std::vector<net::ip::address> sources_;
  std::vector<std::unique_ptr<worker_state>> workers_;
  std::vector<std::unique_ptr<pair_state>> pairs_;
  std::uint64_t period_ns_ = 0; // written before the start_relay posts
  std::atomic<phase> phase_{phase::setup};
  std::atomic<bool> recording_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> created_{0}, ready_{0}, failed_{0}, done_{0}, verified_{0}, dropped_{0};
  std::atomic<std::uint64_t> finished_hosts_{0}, open_{0};
  std::atomic<std::uint64_t> round_expect_{0}, round_posted_{0};
};

json common_json(const options& o, const char* scenario) {
  json j;
  j["scenario"] = scenario;
  j["label"] = o.label;
  j["hosts_url"] = o.hosts_url;
  j["guests_url"] = o.guests_url;
  j["cross_node"] = o.hosts_url != o.guests_url;
  j["threads"] = o.threads;
  j["guest_order"] = o.guest_order;
  return j;
}

} // namespace

// -- relay ----------------------------------------------------------------------

json run_relay(const options& o) {
  json out = common_json(o, "relay");
  out["rooms"] = o.rooms;
  out["window"] = o.window;
  out["messages_per_host"] = o.messages;
  out["target_rate"] = o.rate;
  accounting acct{o.server_pids};
  pair_driver d{o, mode::relay, o.rooms};
  json setup;
  bool ok = d.pair_up(setup);
  out["setup"] = setup;
  if (!ok || d.failed_pairs() == o.rooms) {
    d.stop();
    out["ok"] = false;
    return d.collect(out);
  }
  d.start_relay();
  if (o.messages == 0)
    sleep_s(o.warmup);
  d.set_recording(true);
  auto a = acct.sample();
  auto relays0 = d.relays();
  if (o.messages == 0)
    sleep_s(o.duration);
  else
    wait_for([&] { return d.all_sent() && d.outstanding() == 0; }, 3600);
  d.stop_sending();
  bool drained = wait_for([&] { return d.outstanding() == 0; }, 10);
  auto b = acct.sample();
  auto relays = d.relays() - relays0;
  d.set_recording(false);
  d.stop();
  double secs = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
  out["ok"] = drained && d.failed_pairs() == 0;
  out["drained"] = drained;
  out["measured_s"] = secs;
  out["relays"] = relays;
  out["relays_per_s"] = secs > 0 ? static_cast<double>(relays) / secs : 0;
  out.update(acct.report(a, b, static_cast<double>(relays), "relay"));
  return d.collect(out);
}

// -- idle -----------------------------------------------------------------------

json run_idle(const options& o) {
  json out = common_json(o, "idle");
  std::size_t pairs = (o.connections + 1) / 2;
  out["connections_requested"] = pairs * 2;
  out["keepalive_s"] = o.keepalive;
  out["hold_s"] = o.hold;
  accounting acct{o.server_pids};
  auto base = acct.sample();
  pair_driver d{o, mode::idle, pairs};
  out["source_addresses"] = d.source_count();
  json setup;
  bool ok = d.pair_up(setup);
  out["setup"] = setup;
  if (setup.value("setup_s", 0.0) > 0)
    out["connections_per_s"] = static_cast<double>(d.open_connections()) / setup.value("setup_s", 1.0);
  sleep_s(o.settle);
  auto held = acct.sample();
  auto open_at_start = d.open_connections();
  out["connections_open"] = open_at_start;
  // Memory per connection: everything the server grew by since before the
  // first connect, over the connections it holds.
  if (!o.server_pids.empty() && base.procs.ok() && held.procs.ok() && open_at_start > 0) {
    double delta_kb = static_cast<double>(held.procs.rss_kb_total()) - static_cast<double>(base.procs.rss_kb_total());
    out["server_rss_before_kb"] = base.procs.rss_kb_total();
    out["server_rss_held_kb"] = held.procs.rss_kb_total();
    out["server_rss_per_connection_bytes"] = delta_kb * 1024.0 / static_cast<double>(open_at_start);
  }
  d.set_phase(phase::hold);
  sleep_s(o.hold);
  auto after_hold = acct.sample();
  d.start_verify();
  std::uint64_t want = d.open_connections() / 2;
  wait_for([&] { return d.verified() >= want; }, 15);
  d.set_phase(phase::done);
  out["dropped_during_hold"] = d.dropped();
  out["connections_open_at_end"] = d.open_connections();
  out["pairs_verified"] = d.verified();
  out["ok"] = ok && d.dropped() == 0 && d.verified() * 2 == open_at_start && open_at_start == pairs * 2;
  // Keepalive cost while holding: server CPU per connection per second.
  auto hold_report = acct.report(held, after_hold, static_cast<double>(open_at_start) * o.hold, "connection_second");
  out["hold"] = hold_report;
  // With --rate: a paced relay through the first --rooms of the held rooms
  // while all the others stay connected, so CPU per relay can be compared
  // across connection counts at one rate.
  if (o.rate > 0 && out["ok"].get<bool>()) {
    json lr;
    lr["target_rate"] = o.rate;
    lr["rooms"] = std::min(o.rooms, pairs);
    lr["window"] = o.window;
    auto failed0 = d.failed_pairs();
    d.set_mode(mode::relay);
    d.start_relay(o.rooms);
    sleep_s(o.warmup);
    d.set_recording(true);
    auto a = acct.sample();
    auto relays0 = d.relays();
    sleep_s(o.duration);
    d.stop_sending();
    bool drained = wait_for([&] { return d.outstanding() == 0; }, 10);
    auto b = acct.sample();
    auto relays = d.relays() - relays0;
    d.set_recording(false);
    double secs = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
    lr["ok"] = drained && d.failed_pairs() == failed0;
    lr["drained"] = drained;
    lr["measured_s"] = secs;
    lr["relays"] = relays;
    lr["relays_per_s"] = secs > 0 ? static_cast<double>(relays) / secs : 0;
    lr.update(acct.report(a, b, static_cast<double>(relays), "relay"));
    out["loaded_relay"] = lr;
    out["ok"] = lr["ok"];
  }
  d.stop();
  return d.collect(out);
}

// -- flood ----------------------------------------------------------------------

json run_flood(const options& o) {
  json out = common_json(o, "flood");
  const bool both = o.senders == "both";
  out["rooms"] = o.rooms;
  out["messages_per_sender"] = o.messages;
  out["senders"] = both ? "both" : "hosts";
  out["warmup_rounds"] = o.warmup_rounds;
  accounting acct{o.server_pids};
  pair_driver d{o, mode::flood, o.rooms};
  json setup;
  bool ok = d.pair_up(setup);
  out["setup"] = setup;
  if (!ok || d.failed_pairs() == o.rooms) {
    d.stop();
    out["ok"] = false;
    return d.collect(out);
  }
  // Rounds: the warm-up ones (not measured; each waits for the previous
  // round to be delivered) and then the measured one. Sequence numbers run on
  // across rounds, so the order check covers all of them.
  bool timed_out = false, stalled = false;
  accounting::mark a, b;
  std::uint64_t relays0 = 0, relays = 0, expected = 0;
  for (std::size_t round = 0; round <= o.warmup_rounds && !timed_out; ++round) {
    bool measured = round == o.warmup_rounds;
    if (measured) {
      d.set_recording(true);
      a = acct.sample();
      relays0 = d.relays();
    }
    auto before = d.relays();
    expected = d.start_flood_round((round + 1) * o.messages, both);
    // Until all arrived; give up at the timeout, or sooner when nothing has
    // arrived for 10 s (a lost frame never comes, a dead pair never sends).
    std::uint64_t seen = before, seen_at = now_ns();
    timed_out = !wait_for(
      [&] {
        auto n = d.relays();
        if (n != seen) {
          seen = n;
          seen_at = now_ns();
        } else if (now_ns() - seen_at > 10'000'000'000ull) {
          stalled = true;
          return true;
        }
        return n - before >= expected;
      },
      o.timeout);
    timed_out = timed_out || stalled;
    if (measured) {
      b = acct.sample();
      relays = d.relays() - relays0;
    }
  }
  d.set_recording(false);
  // A moment for duplicates or stray frames to show up before the sockets close.
  sleep_s(0.2);
  d.stop();
  out["timed_out"] = timed_out;
  out["stalled"] = stalled;
  out["relays_expected"] = expected;
  out["relays"] = relays;
  if (b.at_ns != 0) {
    // Relays per second from the round's start to its last arrival; CPU over
    // the whole sampled window (start to the moment all had arrived).
    auto start = d.round_started_ns(), last = d.last_arrival_ns();
    double secs = last > start ? static_cast<double>(last - start) / 1e9 : 0;
    out["flood_s"] = secs;
    out["relays_per_s"] = secs > 0 ? static_cast<double>(relays) / secs : 0;
    out["measured_s"] = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
    out.update(acct.report(a, b, static_cast<double>(relays), "relay"));
  }
  auto r = d.collect(out);
  bool clean = r["delivery"].value("clean", false) && r.value("misrouted", 0) == 0;
  r["delivery_ok"] = clean;
  r["ok"] = !timed_out && clean && d.failed_pairs() == 0 && r["errors"].empty();
  return r;
}

// -- storm ----------------------------------------------------------------------

json run_storm(const options& o) {
  json out = common_json(o, "storm");
  std::size_t pairs = (o.clients + 1) / 2;
  out["clients"] = pairs * 2;
  accounting acct{o.server_pids};
  options so = o;
  if (!o.source_addrs_given && pairs * 2 > 20000)
    so.source_addrs = (pairs * 2 + 24999) / 25000 + 1;
  pair_driver d{so, mode::storm, pairs};
  out["source_addresses"] = d.source_count();
  auto a = acct.sample();
  d.start_storm();
  bool all = wait_for([&] { return d.done_pairs() + d.failed_pairs() >= pairs; }, o.timeout);
  auto b = acct.sample();
  d.stop();
  // Rate over the time to the last completed pair: pairs that never complete
  // (refused, misrouted) would otherwise stretch it to the timeout.
  double secs = d.done_pairs() ? static_cast<double>(d.last_done_ns() - a.at_ns) / 1e9 : 0;
  out["ok"] = all && d.done_pairs() == pairs;
  out["completed_pairs"] = d.done_pairs();
  out["failed_pairs"] = pairs - std::min<std::uint64_t>(pairs, d.done_pairs());
  out["timed_out"] = !all;
  out["elapsed_s"] = secs;
  out["pairs_per_s"] = secs > 0 ? static_cast<double>(d.done_pairs()) / secs : 0;
  out["clients_per_s"] = secs > 0 ? 2.0 * static_cast<double>(d.done_pairs()) / secs : 0;
  out.update(acct.report(a, b, static_cast<double>(pairs * 2), "client"));
  if (out.contains("server") && out["server"].value("ok", false)) {
    double delta_kb = out["server"]["rss_after_kb"].get<double>() - out["server"]["rss_before_kb"].get<double>();
    out["server"]["rss_per_client_bytes"] = delta_kb * 1024.0 / static_cast<double>(pairs * 2);
  }
  return d.collect(out);
}

} // namespace bench
