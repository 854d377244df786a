#include "node/node.hpp"

#include "actors/connection_actor.hpp"
#include "actors/node_context.hpp"
#include "actors/room_actor.hpp"
#include "actors/room_directory.hpp"
#include "cluster/cluster_directory.hpp"
#include "telemetry/log.hpp"
#include "telemetry/stats.hpp"
#include "node/ice_servers.hpp"
#include "node/jwt.hpp"
#include "node/admin.hpp"
#include "node/metrics.hpp"
#include "transport/io_pool.hpp"
#include "transport/server.hpp"
#include "transport/tls_certificate.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>
#include <optional>
#include <thread>

namespace signaling {

namespace net = boost::asio;

// Drain, cluster mode: how long the seats of this node's clients may take to
// park in Redis before their connections are closed anyway. Part of every
// drain budget (tests/deploy/validate.sh reads it from here).
constexpr auto park_timeout = std::chrono::seconds(5);

namespace {

// One connection counted in its address's cluster-wide count
// (MAX_CONNECTIONS_PER_IP), held for the connection's life.
struct cluster_slot {
  cluster_slot(const cluster::cluster_runtime* c, std::string a) : cluster(c), address(std::move(a)) {}
  ~cluster_slot() { cluster->give_address_slot(address); }
  cluster_slot(const cluster_slot&) = delete;
  cluster_slot& operator=(const cluster_slot&) = delete;
  const cluster::cluster_runtime* cluster;
  std::string address;
};

} // namespace

struct node::impl {
  config cfg;
  admin_server admin{cfg}; // signal-console's way in (node/admin.hpp)
  node_stats stats;
  caf::actor_system_config caf_cfg;
  std::optional<caf::actor_system> system;
  std::optional<node_context> ctx;
  room_settings rooms;                             // embedded mode
  std::unique_ptr<cluster::cluster_runtime> cluster; // cluster mode
  // The I/O threads (IO_THREADS), one io_context each; loop 0 also runs the
  // control work below (signals, the drain timer, the Redis runtime).
  transport::io_pool pool;
  std::optional<transport::server> server;
  std::optional<net::signal_set> signals;
  std::optional<net::signal_set> reload_signal; // SIGHUP
  std::shared_ptr<transport::tls_certificate> tls; // TLS_CERT_FILE / TLS_KEY_FILE
  net::steady_timer drain_timer{pool.control()};
  bool started = false; // the I/O threads run
  bool want_signals = false;
  std::atomic<bool> stopping{false};
  std::atomic<bool> ready{false};
  bool joined = false;

  explicit impl(config c) : cfg(std::move(c)), pool(cfg.io_threads) {}

  std::map<std::string, transport::static_file, std::less<>> web_files;

  // The demo client: every plain file of WEB_DIR, read once at start.
  void load_web() {
    if (cfg.web_dir.empty())
      return;
    DIR* d = opendir(cfg.web_dir.c_str());
    if (!d) {
      log::info("event=web_disabled dir={} reason=no_folder", log::q(cfg.web_dir));
      return;
    }
    static const std::map<std::string, std::string> types{
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".png", "image/png"},
      {".svg", "image/svg+xml"},             {".ico", "image/x-icon"}};
    while (auto* e = readdir(d)) {
      std::string name = e->d_name;
      auto dot = name.rfind('.');
      if (name[0] == '.' || dot == std::string::npos || !types.count(name.substr(dot)))
        continue;
      std::ifstream in(cfg.web_dir + "/" + name, std::ios::binary);
      std::ostringstream body;
      body << in.rdbuf();
      web_files["/" + name] = transport::static_file{types.at(name.substr(dot)), body.str()};
    }
    closedir(d);
    if (auto i = web_files.find("/index.html"); i != web_files.end())
      web_files["/"] = i->second;
    log::info("event=web_enabled dir={} files={}", log::q(cfg.web_dir), web_files.size());
  }

  void finish() {
    if (finished.exchange(true))
      return;
    pool.stop();
  }
  std::atomic<bool> finished{false};

  // The seed's fields in the seed's order; in cluster mode the counts are
  // cluster-wide (as of the last heartbeat) and this node's follow.
  std::string ping() const {
    std::int64_t rooms = stats.rooms.load(), conns = stats.connections.load();
    if (cluster) {
      auto t = cluster->cluster_totals();
      rooms = t.rooms;
      conns = t.connections;
    }
    nlohmann::ordered_json j = {
      {"status", "ok"},
      {"message", "WebSocket signaling server is running"},
      {"roomsActive", rooms},
      {"clientsConnected", conns},
      {"nodeId", cfg.node_id},
      {"uptimeSeconds", static_cast<std::int64_t>(stats.uptime_seconds())},
    };
    if (cluster) {
      j["mode"] = "cluster";
      j["nodeRoomsActive"] = stats.rooms.load();
      j["nodeClientsConnected"] = stats.connections.load();
      j["clusterNodes"] = cluster->cluster_totals().nodes;
      auto shards = cluster->shards();
      std::size_t up = 0;
      auto list = nlohmann::ordered_json::array();
      for (auto& sh : shards) {
        up += sh.state == "up" ? 1 : 0;
        list.push_back({{"name", sh.name}, {"state", sh.state}, {"primary", sh.primary}});
      }
      j["redis"] = up == shards.size() ? "up" : up > 0 ? "degraded" : "down";
      j["redisShards"] = std::move(list);
    } else {
      j["mode"] = "embedded";
    }
    return j.dump();
  }

  bool is_ready() const {
    return ready.load() && (!cluster || cluster->up());
  }

  // Closes every WebSocket with SHUTDOWN_CLOSE_CODE, then waits for them.
  void close_everyone() {
    auto code = static_cast<close_code>(cfg.lim.shutdown_close_code);
    log::info("event=shutdown_start open_sessions={} close_code={}", server->open_sessions(), cfg.lim.shutdown_close_code);
    server->close_all(code, code == close_code::service_restart ? "service restart" : "server shutting down");
    await_drained(std::chrono::steady_clock::now() + cfg.lim.shutdown_timeout);
  }

  // Polls until every WebSocket has finished its close handshake or the
  // shutdown deadline passes, then lets the I/O threads return.
  void await_drained(std::chrono::steady_clock::time_point deadline) {
    // Embedded mode: rooms whose members were closed keep their seats for a
    // resume that cannot happen here any more; they die with the directory.
    bool drained = server->open_sessions() == 0 && (!cluster || stats.room_actors.load() == 0);
    if (drained || std::chrono::steady_clock::now() >= deadline) {
      log::info("event=shutdown_done open_sessions={} room_actors={}", server->open_sessions(),
                stats.room_actors.load());
      if (!cluster)
        return finish();
      // Leave Redis now rather than after our TTL; bounded by the deadline.
      drain_timer.expires_at(std::max(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(500)));
      drain_timer.async_wait([this](boost::system::error_code ec) {
        if (!ec)
          finish();
      });
      cluster->leave([this] { finish(); });
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([this, deadline](boost::system::error_code ec) {
      if (!ec)
        await_drained(deadline);
    });
  }
};

node::node(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

node::~node() {
  if (impl_->started && !impl_->joined) {
    shutdown(std::chrono::milliseconds(0));
    wait();
  }
  // start() may have thrown after publishing: the published inspector would
  // keep the actor system from ever shutting down.
  impl_->admin.stop();
}

void node::start() {
  auto& m = *impl_;
  m.caf_cfg.set("scheduler.max-threads", static_cast<std::size_t>(m.cfg.actor_threads));
  // Work sharing: an idle worker waits on a condition variable and the
  // enqueuing thread wakes it. CAF's default, work stealing, has idle workers
  // poll with 50 us and then 10 ms sleeps between polls: a wake-up every 50 us
  // while rooms are busy (most of the node's system calls in a reconnect
  // storm) and up to 10 ms before a quiet node's room answers a join.
  m.caf_cfg.set("scheduler.policy", caf::atom_from_string(m.cfg.actor_scheduler));
  m.admin.prepare(m.caf_cfg);
  m.system.emplace(m.caf_cfg);
  room_directory directory;
  if (!m.cfg.clustered()) {
    m.rooms.node_id = m.cfg.node_id;
    m.rooms.stats = &m.stats;
    m.rooms.resume_grace = m.cfg.lim.resume_grace;
    m.rooms.resume_frames = m.cfg.lim.resume_max_frames;
    m.rooms.resume_bytes = m.cfg.lim.resume_max_bytes;
    directory = spawn_local_directory(*m.system, m.cfg.lim.room_id_digits, m.stats, &m.rooms);
  } else {
    cluster::redis_bridge::options ro;
    ro.node_id = m.cfg.node_id;
    ro.node_ttl = m.cfg.node_ttl;
    ro.heartbeat = m.cfg.heartbeat;
    ro.command_timeout = m.cfg.redis_timeout;
    ro.batch_delay = m.cfg.redis_batch;
    ro.node_info = [&m] { return m.admin.info(); };
    ro.resume_grace = m.cfg.lim.resume_grace;
    ro.resume_frames = m.cfg.lim.resume_max_frames;
    ro.resume_bytes = m.cfg.lim.resume_max_bytes;
    m.cluster = std::make_unique<cluster::cluster_runtime>(*m.system, m.pool.control(), redis_plan_of(m.cfg), ro,
                                                           m.stats, m.cfg.lim.room_id_digits,
                                                           m.cfg.lim.join_misses_per_ip);
    directory = m.cluster->directory();
    m.cluster->start();
  }
  m.ctx.emplace(node_context{*m.system, directory, m.cfg.lim, m.stats, m.cfg.node_id});
  m.ctx->pair_threads = m.cfg.pair_threads;
  // Per-address budgets hold for the whole cluster (docs/security.md), the
  // node's own being the fallback while the address's shard is away.
  if (m.cluster && m.ctx->join_misses)
    m.ctx->join_misses->share_with([c = m.cluster.get()](const std::string& address) { c->charge_join_miss(address); });
  // The console's drain is SIGTERM's drain: one path.
  m.admin.start(*m.system, *m.ctx, m.cluster.get(), [&m] { return m.is_ready(); }, [&m] { return m.stopping.load(); },
                [this] { shutdown(impl_->cfg.lim.drain_delay); });

  m.load_web();
  transport::server_options opts;
  opts.bind_address = m.cfg.bind_address;
  opts.port = m.cfg.ws_port;
  opts.allowed_origins = m.cfg.frontend_urls;
  opts.metrics_allow = m.cfg.metrics_allow;
  opts.lim = m.cfg.lim;
  if (!m.cfg.tls_cert_file.empty()) {
    try {
      m.tls = std::make_shared<transport::tls_certificate>(m.cfg.tls_cert_file, m.cfg.tls_key_file);
    } catch (const transport::tls_load_error& e) {
      throw config_error(std::string(e.key ? "TLS_KEY_FILE: " : "TLS_CERT_FILE: ") + e.what());
    }
    log::info("event=tls_loaded {}", m.tls->describe());
    opts.tls = m.tls;
  }
  transport::http_routes routes{[&m] { return m.ping(); }, [&m] { return m.is_ready(); },
                                [&m] {
                                  node_view v{m.is_ready(), m.cfg.lim.max_connections, std::nullopt};
                                  if (m.cluster)
                                    v.redis = redis_view{m.cluster->up(), m.cluster->reconnects(), m.cluster->shards()};
                                  return render_metrics(m.stats, v);
                                },
                                [&m] {
                                  ice_config ice{m.cfg.stun_urls, m.cfg.turn_urls, m.cfg.turn_secret, m.cfg.turn_ttl};
                                  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch());
                                  return ice_servers_json(ice, now.count());
                                },
                                [&m](std::string_view path) -> const transport::static_file* {
                                  auto i = m.web_files.find(path);
                                  return i == m.web_files.end() ? nullptr : &i->second;
                                },
                                nullptr, nullptr};
  if (m.cluster) {
    routes.admit_address = [c = m.cluster.get()](const std::string& address, std::size_t cap, auto done) {
      c->take_address_slot(address, cap, [c, address, done = std::move(done)](cluster::outcome r) {
        if (r == cluster::outcome::refused)
          return done(false, nullptr);
        if (r == cluster::outcome::unavailable) // the node's own count decides
          return done(true, nullptr);
        done(true, std::make_shared<cluster_slot>(c, address));
      });
    };
  }
  if (m.cfg.auth_mode == "jwt") {
    jwt::policy pol{m.cfg.auth_jwt_secret, m.cfg.auth_jwt_audience, std::chrono::seconds(30)};
    routes.authorize = [pol](std::string_view token, access_grant& grant) -> std::optional<std::string> {
      auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
      auto v = jwt::verify(token, pol, now.count());
      if (!v.ok)
        return "token " + v.reason;
      grant = access_grant{true, v.granted.subject, v.granted.room, v.granted.may_create};
      return std::nullopt;
    };
  }
  m.server.emplace(m.pool, opts, m.stats, routes, connection_actor_factory(*m.ctx));
  m.server->start();
  m.pool.start();
  m.started = true;
  auto n = m.pool.size();
  if (m.want_signals)
    install_signals();
  // Redis refusing this node (credentials, permissions, another shard list)
  // is a configuration error: stop here rather than run unready for ever.
  if (m.cluster)
    if (auto why = m.cluster->await_settled(m.cfg.redis_timeout))
      throw config_error(*why);
  m.ready = true;
  log::info("event=listening node={} address={} port={} io_threads={} tls={} mode={}", m.cfg.node_id,
            m.cfg.bind_address, m.server->port(), n, m.tls ? "on" : "off", m.cluster ? "cluster" : "embedded");
  if (const auto& b = m.pool.budget()) {
    char quota[32] = "none";
    if (b->quota)
      std::snprintf(quota, sizeof quota, "%.2f", *b->quota);
    log::info("event=cpu_budget affinity_cpus={} cgroup_quota_cpus={} usable_cpus={} io_threads={}", b->affinity, quota,
              b->cpus, n);
  }
}

std::uint16_t node::admin_port() const {
  return impl_->admin.port();
}

std::uint16_t node::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

void node::handle_signals() {
  impl_->want_signals = true;
  if (impl_->server)
    install_signals();
}

void node::install_signals() {
  auto& m = *impl_;
  if (m.signals)
    return;
  m.signals.emplace(m.pool.control(), SIGTERM, SIGINT);
  // SIGHUP re-reads the TLS certificate for new connections (certbot and
  // cert-manager renew in place); open connections keep theirs.
  m.reload_signal.emplace(m.pool.control(), SIGHUP);
  await_reload();
  m.signals->async_wait([this](boost::system::error_code ec, int sig) {
    if (ec)
      return;
    log::info("event=signal signal={}", sig);
    // SIGTERM is the orchestrator's stop (rolling update, scale-in): drain.
    // SIGINT is an operator at a terminal: skip the readiness delay.
    shutdown(sig == SIGTERM ? impl_->cfg.lim.drain_delay : std::chrono::milliseconds(0));
    // A second signal during the drain means "now": stop without waiting.
    impl_->signals->async_wait([this](boost::system::error_code ec2, int) {
      if (ec2)
        return;
      log::warn("event=shutdown_forced");
      impl_->pool.stop();
    });
  });
}

void node::await_reload() {
  auto& m = *impl_;
  m.reload_signal->async_wait([this](boost::system::error_code ec, int sig) {
    if (ec)
      return;
    auto& m = *impl_;
    if (!m.tls) {
      // Operators send SIGHUP out of habit (logrotate, config management):
      // without a certificate there is nothing to re-read, and it must not
      // take the node down as the default action would.
      log::info("event=signal signal={} action=ignored reason=\"no TLS certificate to reload\"", sig);
    } else if (auto why = m.tls->reload()) {
      // The certificate still in use follows, so the log says what clients get.
      log::error("event=tls_reload_failed error={} {}", log::q(*why), m.tls->describe());
    } else {
      log::info("event=tls_reloaded {}", m.tls->describe());
    }
    await_reload();
  });
}

void node::shutdown(std::chrono::milliseconds drain_delay) {
  auto& m = *impl_;
  if (m.stopping.exchange(true) || !m.server)
    return;
  // First fail /readyz while still serving, so load balancers move new
  // clients elsewhere; then stop accepting and close everyone.
  m.ready = false;
  net::post(m.pool.control(), [&m, drain_delay] {
    log::info("event=drain_start open_sessions={} delay_ms={}", m.server->open_sessions(), drain_delay.count());
    m.drain_timer.expires_after(drain_delay);
    m.drain_timer.async_wait([&m](boost::system::error_code ec) {
      if (ec)
        return;
      m.server->stop_accepting();
      if (!m.cluster)
        return m.close_everyone();
      // Cluster mode: first every member here parks its seat in Redis (frames
      // for it are kept from then on, and everything sent to it before is in
      // its send queue), then the close tells it to resume elsewhere.
      m.system->spawn([&m, dir = m.ctx->directory](caf::event_based_actor* self) {
        self->request(dir, park_timeout, park_all_atom_v)
          .then(
            [&m](std::uint64_t rooms) {
              log::info("event=seats_parked rooms={}", rooms);
              net::post(m.pool.control(), [&m] { m.close_everyone(); });
            },
            [&m](const caf::error& err) {
              log::warn("event=seats_park_failed error={}", log::q(caf::to_string(err)));
              net::post(m.pool.control(), [&m] { m.close_everyone(); });
            });
      });
    });
  });
}

void node::wait() {
  auto& m = *impl_;
  m.pool.join();
  if (m.joined)
    return;
  m.joined = true;
  if (m.signals)
    m.signals->cancel();
  if (m.reload_signal)
    m.reload_signal->cancel();
  // Sessions still open past the deadline end with the server; their
  // connection actors terminate with them. Then the directory (and its
  // rooms) go, and the actor system can join its actors.
  m.server.reset();
  m.pool.poll();
  if (m.cluster)
    m.cluster->stop();
  if (m.ctx)
    caf::anon_send_exit(m.ctx->directory, caf::exit_reason::user_shutdown);
  m.admin.stop();
}

} // namespace signaling
