// State shared by the listener and every session of one server: options,
// routes, the handler factory, the per-address counter and the I/O loops the
// sessions run on. Sessions reach it through their loop; it outlives them
// (server::~server ends every session first).
#pragma once

#include "telemetry/stats.hpp"
#include "transport/client_address.hpp"
#include "transport/server.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace signaling::transport {

class io_pool;

struct server_state {
  server_options opts;
  node_stats& stats;
  http_routes routes;
  connection_handler_factory make_handler;
  io_pool& pool;

  server_state(server_options o, node_stats& s, http_routes r, connection_handler_factory f, io_pool& p)
    : opts(std::move(o)), stats(s), routes(std::move(r)), make_handler(std::move(f)), pool(p) {}

  // Origin policy for both CORS and the WebSocket upgrade: no Origin
  // (non-browser client), same-origin, "*" or an exact listed origin.
  bool origin_allowed(std::string_view origin, std::string_view host) const;
  // True if the Origin is explicitly listed (or "*").
  bool origin_listed(std::string_view origin) const;

  // Set once shutdown starts: upgrades still arriving on open keep-alive
  // connections are refused with 503 instead of joining a node that is leaving.
  std::atomic<bool> draining{false};
  // Set by close_all(), before it asks each loop to close its sessions: a
  // session moving between two loops right then is in neither loop's list,
  // and closes itself with this code when it arrives (websocket_session::arrive).
  // 0: not closing. `closing_reason` is written before, once.
  std::atomic<std::uint16_t> closing_code{0};
  std::string closing_reason;

  // MAX_CONNECTIONS_PER_IP: who a connection speaks for, and how many each holds.
  client_address_policy clients{parse_cidr_list(opts.lim.trusted_proxies)};
  std::shared_ptr<per_address_counter> per_client = std::make_shared<per_address_counter>();

  // METRICS_ALLOW: clients (resolved as for MAX_CONNECTIONS_PER_IP) that may
  // read /metrics; empty: anyone.
  std::vector<cidr_block> metrics_allow = parse_cidr_list(opts.metrics_allow);
  bool metrics_allowed(const boost::asio::ip::address& client) const;
};

} // namespace signaling::transport
