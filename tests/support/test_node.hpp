// A signal-node running inside the test process on a free loopback port.
#pragma once

#include "node/config.hpp"
#include "node/node.hpp"

#include <chrono>
#include <functional>
#include <thread>

namespace testing {

inline signaling::config test_config() {
  signaling::config c;
  c.bind_address = "127.0.0.1";
  c.ws_port = 0;
  c.admin_port = 0; // a free port: tests never share the default 4100
  c.io_threads = 2;
  c.node_id = "test-node";
  c.env_file = "/nonexistent";
  return c;
}

struct running_node {
  explicit running_node(signaling::config c = test_config()) : n(std::move(c)) { n.start(); }
  std::uint16_t port() const { return n.port(); }
  signaling::node n;
};

// Polls `cond` until it holds or `timeout` passes; returns the last result.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

} // namespace testing
