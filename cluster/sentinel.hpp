// The Redis Sentinels of a deployment, as one node sees them: where a master
// group's primary is now, and news that it moved. Each sentinel has two
// connections that keep themselves up (redis_client): one for questions,
// one subscribed to +switch-master. A question goes to every reachable
// sentinel at once and the majority's answer is taken, so one sentinel down
// (it fails fast) or one answering with an old primary (it is outvoted)
// never stalls a node; the caller still checks the answer with ROLE. Redis
// only; knows nothing of rooms.
#pragma once

#include "cluster/redis_client.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace signaling::cluster {

class sentinel_set {
public:
  struct options {
    std::vector<std::pair<std::string, std::uint16_t>> addresses; // host, port of each sentinel
    std::string password;                    // REDIS_SENTINEL_PASSWORD (AUTH password); empty: none
    std::chrono::milliseconds timeout{2000}; // connect and question deadline
  };
  // A sentinel announced that `master`'s primary is now at `address` (host:port).
  using switch_handler = std::function<void(const std::string& master, const std::string& address)>;

  sentinel_set(boost::asio::io_context& ioc, options opts);
  ~sentinel_set();

  // Set before start(); they run on Redis strands.
  void on_switch(switch_handler h);
  void on_refused(redis_client::refused_handler h); // a sentinel refused our password
  void start();
  void stop();

  // Asks every sentinel where `master`'s primary is; `cb` runs on any thread
  // once a majority of the configured sentinels agree, or every one has
  // answered or failed (then the most named address wins, `avoid` losing
  // ties). While no sentinel is connected yet it waits up to the timeout.
  void locate(const std::string& master, const std::string& avoid, redis_client::locate_callback cb);
  // Sentinels whose question link is up.
  std::size_t reachable() const;
  // host:port of every configured sentinel, comma-separated (for logs).
  std::string describe() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace signaling::cluster
