#include "node/admin.hpp"

#include "actors/inspector.hpp"
#include "actors/node_context.hpp"
#include "telemetry/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <unistd.h>

namespace signaling {

namespace {

bool is_wildcard(const std::string& address) {
  return address.empty() || address == "0.0.0.0" || address == "::" || address == "[::]";
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

std::string host_name() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
    return "localhost";
  return host;
}

} // namespace

admin_server::admin_server(const config& cfg)
    : cfg_(cfg), started_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()) {}

void admin_server::prepare(caf::actor_system_config& caf_cfg) const {
  if (cfg_.admin_port >= 0)
    caf_cfg.load<caf::io::middleman>();
}

void admin_server::start(caf::actor_system& sys, node_context& ctx, const cluster_view* cluster,
                         std::function<bool()> ready, std::function<bool()> draining, std::function<void()> drain) {
  if (cfg_.admin_port < 0) {
    log::info("event=admin_disabled");
    return;
  }
  auto links = std::make_shared<inspector_links>();
  links->ctx = &ctx;
  links->cluster = cluster;
  links->admin_address = [this] { return address(); };
  links->started_ms = started_ms_;
  links->ready = std::move(ready);
  links->draining = std::move(draining);
  links->drain = std::move(drain);
  sys_ = &sys;
  inspector_ = spawn_inspector(sys, links);
  auto port = caf::io::publish(inspector_, static_cast<std::uint16_t>(cfg_.admin_port), cfg_.admin_bind.c_str(), true);
  if (!port) {
    // The console is for operators; signaling goes on without it.
    log::error("event=admin_unavailable address={} port={} error={}", cfg_.admin_bind, cfg_.admin_port,
               log::q(sys.render(port.error())));
    caf::anon_send_exit(inspector_, caf::exit_reason::user_shutdown);
    inspector_ = nullptr;
    return;
  }
  port_ = *port;
  log::info("event=admin_listening address={} port={}", cfg_.admin_bind, *port);
  if (!is_loopback(cfg_.admin_bind))
    log::warn("event=admin_exposed address={} port={} note=\"anyone who reaches this port can kick, close rooms "
              "and drain; CAF's protocol has no authentication\"",
              cfg_.admin_bind, *port);
}

void admin_server::stop() {
  if (!inspector_)
    return;
  // Wait for the inspector to finish its current message: it reads the
  // node's context, which goes away after this.
  caf::scoped_actor self{*sys_};
  self->monitor(inspector_);
  self->send_exit(inspector_, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(1)) >> [] {});
  inspector_ = nullptr;
  port_ = 0;
}

std::uint16_t admin_server::port() const {
  return port_;
}

std::string admin_server::address() const {
  auto host = is_wildcard(cfg_.admin_bind) ? host_name() : cfg_.admin_bind;
  if (host.find(':') != std::string::npos)
    host = "[" + host + "]";
  return host + ":" + std::to_string(port_.load());
}

std::string admin_server::info() const {
  return inspector_node_info(port_ ? address() : std::string{}, started_ms_, cfg_.lim.max_connections);
}

} // namespace signaling
