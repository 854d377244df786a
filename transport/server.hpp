// The HTTP/WebSocket front of a node: binds, accepts, routes HTTP, upgrades to
// WebSocket sessions and hands each one to a protocol handler. Its sockets run
// on the node's I/O threads (transport/io_pool.hpp), each pinned to one. Beast
// stays behind this header; it knows nothing of actors or of the signaling
// protocol.
#pragma once

#include "actors/limits.hpp"
#include "actors/link.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signaling {
struct node_stats;
}

namespace signaling::transport {

class tls_certificate;
class io_pool;

struct server_options {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 4000; // 0 picks a free port; see server::port()
  // Browser origins allowed for CORS and for the WebSocket upgrade. A request
  // without Origin, or whose Origin is the server's own (same-origin), is
  // always allowed. "*" allows every origin.
  std::vector<std::string> allowed_origins;
  // Set: the port speaks TLS only (https://, wss://), with whatever
  // certificate this holds when a connection is accepted.
  std::shared_ptr<tls_certificate> tls;
  // CIDR blocks of clients allowed to GET /metrics (others: 403); empty: all.
  std::vector<std::string> metrics_allow;
  limits lim;
};

struct static_file {
  std::string content_type;
  std::string body;
};

// Answers for the HTTP routes that need node state.
struct http_routes {
  std::function<std::string()> ping; // JSON body of GET /api/ping
  std::function<bool()> ready;       // GET /readyz: 200 or 503
  std::function<std::string()> metrics; // GET /metrics: Prometheus text format
  std::function<std::string()> ice_servers; // GET /api/ice-servers: JSON
  // GET of any other path: a static file (the demo client), or null for 404.
  std::function<const static_file*(std::string_view path)> file;
  // Set when clients must present a token (`?token=` on the upgrade, or
  // `Authorization: Bearer`): fills the grant, or returns why not (401).
  std::function<std::optional<std::string>(std::string_view token, access_grant& grant)> authorize;
  // Set in cluster mode: MAX_CONNECTIONS_PER_IP over the whole cluster. Asked
  // once the node's own count for the address passed; `done` (on any thread)
  // says whether to admit and, when the cluster counted the connection, a
  // slot held for the connection's life (released: counted out again).
  std::function<void(const std::string& address, std::size_t cap,
                     std::function<void(bool admit, std::shared_ptr<void> slot)> done)>
    admit_address;
};

class server {
public:
  // Accepts on the pool's control loop and spreads connections over its loops.
  server(io_pool& pool, server_options opts, node_stats& stats, http_routes routes,
         connection_handler_factory make_handler);
  // Ends every session still open (their handlers hear of it). The pool's
  // threads must have stopped: this runs what the sessions leave on the loops.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and starts accepting; throws std::system_error if the port is taken.
  void start();
  // The bound port (useful after binding port 0).
  std::uint16_t port() const;
  // Stops accepting new TCP connections; open sessions go on.
  void stop_accepting();
  // Starts the close handshake on every open WebSocket (thread-safe).
  void close_all(close_code code, std::string reason);
  // Open WebSocket sessions right now.
  std::size_t open_sessions() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::transport
