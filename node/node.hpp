// One signal-node: its actor system, room directory, I/O threads and HTTP/
// WebSocket server, started and stopped as a unit. main() runs one; tests run
// several in one process. Shutdown stops accepting, closes every WebSocket
// with one close code and waits (bounded) for the close handshakes.
#pragma once

#include "node/config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>

namespace signaling {

class node {
public:
  explicit node(config cfg);
  ~node(); // stops and joins if still running
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Binds the port and starts the I/O threads. Throws on a bad configuration
  // or a taken port.
  void start();
  // The bound WebSocket/HTTP port.
  std::uint16_t port() const;
  // The bound admin port of signal-console (0: off or not bound).
  std::uint16_t admin_port() const;
  // Makes SIGTERM and SIGINT start a shutdown, and SIGHUP reload the TLS
  // certificate (logged and ignored without TLS); call before start() so the
  // handlers are in place before the node announces its port.
  void handle_signals();
  // Starts the shutdown (thread-safe, idempotent): /readyz fails at once,
  // after `drain_delay` the node stops accepting and closes every WebSocket
  // with SHUTDOWN_CLOSE_CODE, waits for them (bounded), leaves the cluster.
  void shutdown(std::chrono::milliseconds drain_delay);
  // Blocks until the shutdown has finished and every thread is joined.
  void wait();

private:
  void install_signals();
  void await_reload();
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace signaling
