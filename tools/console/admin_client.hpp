// signal-console's connection to one node's inspector actor (actors/
// inspector.hpp) through CAF's middleman. Every step has a deadline: a TCP
// probe first (refused, unreachable), then CAF's handshake (a port that is not
// an admin port), then each request. Never blocks longer than the timeout.
#pragma once

#include "actors/messages.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace console {

// What went wrong, for the exit status and the JSON "code".
enum class failure_kind {
  none,
  unreachable, // nothing accepts TCP there (node down, wrong port, no route)
  not_admin,   // something accepts TCP there but does not answer as an admin port
  lost,        // the node went away or stopped answering during a request
};

struct reply {
  failure_kind failure = failure_kind::none;
  std::string text; // the node's JSON answer, or why there is none
};

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string str() const;
};

// "HOST:PORT", "[v6]:PORT" or "PORT" (on 127.0.0.1); nullopt if malformed.
std::optional<endpoint> parse_endpoint(const std::string& text);

class admin_client {
public:
  admin_client(caf::actor_system& sys, std::chrono::milliseconds timeout);

  // Connects to the inspector at `ep`; on success it becomes the target.
  reply connect(const endpoint& ep);
  bool connected() const { return static_cast<bool>(inspector_); }
  const endpoint& target() const { return target_; }

  // One request to the current target; the answer is one JSON string.
  template <class... Ts> reply ask(Ts&&... xs) {
    if (!inspector_)
      return {failure_kind::lost, "not connected to a node"};
    reply r;
    self_->request(inspector_, timeout_, std::forward<Ts>(xs)...)
        .receive([&](std::string& s) { r.text = std::move(s); }, [&](caf::error& e) { r = lost(e); });
    return r;
  }

private:
  reply lost(const caf::error& e);

  caf::actor_system& sys_;
  std::chrono::milliseconds timeout_;
  caf::scoped_actor self_;
  caf::actor inspector_;
  endpoint target_;
};

} // namespace console
