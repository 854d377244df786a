// The live connection actors of a node, by actor id: handles only, no state.
// A connection actor adds itself when it starts and removes itself when its
// socket closes; the inspector reads it to enumerate connections and asks
// each actor for its state. Thread-safe (connection actors run on I/O threads).
#pragma once

#include <caf/actor.hpp>

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

namespace signaling {

class connection_registry {
public:
  void add(const caf::actor& conn) {
    std::lock_guard<std::mutex> g{mutex_};
    conns_.emplace(conn.id(), conn);
  }

  void remove(caf::actor_id id) {
    std::lock_guard<std::mutex> g{mutex_};
    conns_.erase(id);
  }

  // Null if no live connection actor has this id.
  caf::actor find(caf::actor_id id) const {
    std::lock_guard<std::mutex> g{mutex_};
    auto i = conns_.find(id);
    return i == conns_.end() ? caf::actor{} : i->second;
  }

  // The first `limit` handles in actor id order (oldest first).
  std::vector<caf::actor> list(std::size_t limit) const {
    std::lock_guard<std::mutex> g{mutex_};
    std::vector<caf::actor> out;
    for (auto i = conns_.begin(); i != conns_.end() && out.size() < limit; ++i)
      out.push_back(i->second);
    return out;
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> g{mutex_};
    return conns_.size();
  }

private:
  mutable std::mutex mutex_;
  std::map<caf::actor_id, caf::actor> conns_;
};

} // namespace signaling
