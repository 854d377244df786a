#include "admin_client.hpp"

#include <caf/io/middleman.hpp>
#include <caf/sec.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace console {

namespace {

std::string ms_text(std::chrono::milliseconds t) {
  if (t.count() % 1000 == 0)
    return std::to_string(t.count() / 1000) + " s";
  return std::to_string(t.count()) + " ms";
}

// A plain TCP connect with a deadline, before CAF's own (which blocks its
// multiplexer, and waits without limit on a host that drops packets).
// Returns why it failed, or an empty string.
std::string probe(const endpoint& ep, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto service = std::to_string(ep.port);
  if (int rc = getaddrinfo(ep.host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return std::string("cannot resolve ") + ep.host + ": " + gai_strerror(rc);
  std::string why = "no address";
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto* a = found; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
      if (rc == 0) {
        ::close(fd);
        why = "no answer within " + ms_text(timeout);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      ::close(fd);
      freeaddrinfo(found);
      return {};
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(found);
  return why;
}

} // namespace

std::string endpoint::str() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<endpoint> parse_endpoint(const std::string& text) {
  endpoint ep;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos)
      return std::nullopt;
    ep.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (auto colon = text.rfind(':'); colon != std::string::npos) {
    ep.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  } else {
    ep.host = "127.0.0.1";
    port = text;
  }
  if (ep.host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  auto n = std::stoul(port);
  if (n == 0 || n > 65535)
    return std::nullopt;
  ep.port = static_cast<std::uint16_t>(n);
  return ep;
}

admin_client::admin_client(caf::actor_system& sys, std::chrono::milliseconds timeout)
    : sys_(sys), timeout_(timeout), self_(sys) {}

reply admin_client::connect(const endpoint& ep) {
  if (auto why = probe(ep, timeout_); !why.empty())
    return {failure_kind::unreachable,
            "cannot reach " + ep.str() + ": " + why + " (is the node running, and is this its ADMIN_PORT?)"};
  // CAF's handshake, through the middleman actor with our own deadline:
  // io::remote_actor would wait forever on a port that accepts TCP but never
  // answers (the WebSocket port, say).
  reply r;
  caf::strong_actor_ptr found;
  self_->request(sys_.middleman().actor_handle(), timeout_, caf::connect_atom_v, ep.host, ep.port)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
            found = std::move(ptr);
            if (!found)
              r = {failure_kind::not_admin, "nothing is published at " + ep.str() + " (not a signal-node admin port)"};
          },
          [&](caf::error& e) {
            if (e == caf::sec::request_timeout)
              r = {failure_kind::not_admin, ep.str() +
                                                " accepts connections but did not answer as a signal-node admin "
                                                "port within " +
                                                ms_text(timeout_) + " (is it the WebSocket port?)"};
            else
              r = {failure_kind::not_admin, ep.str() +
                                                " accepts connections but did not answer as a signal-node admin "
                                                "port (CAF handshake: " +
                                                sys_.render(e) + "; is it the WebSocket port?)"};
          });
  if (r.failure != failure_kind::none)
    return r;
  inspector_ = caf::actor_cast<caf::actor>(std::move(found));
  target_ = ep;
  return r;
}

reply admin_client::lost(const caf::error& e) {
  if (e == caf::sec::unexpected_message)
    return {failure_kind::not_admin, target_.str() + " does not understand this request (a different signal-node "
                                                     "version?)"};
  // Connect again on the next command: CAF 0.17 does not always notice a
  // killed node, and a fresh connect tells "down" from "slow" at once.
  inspector_ = nullptr;
  if (e == caf::sec::request_timeout)
    return {failure_kind::lost, target_.str() + " did not answer within " + ms_text(timeout_)};
  return {failure_kind::lost, "lost the connection to " + target_.str() + ": " + sys_.render(e)};
}

} // namespace console
