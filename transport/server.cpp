#include "transport/server.hpp"

#include "transport/listener.hpp"
#include "transport/websocket_session.hpp"

#include <algorithm>

namespace signaling::transport {

// -- server_state -------------------------------------------------------------

bool server_state::origin_listed(std::string_view origin) const {
  const auto& list = opts.allowed_origins;
  return std::any_of(list.begin(), list.end(), [&](const std::string& o) { return o == "*" || o == origin; });
}

bool server_state::origin_allowed(std::string_view origin, std::string_view host) const {
  if (origin.empty() || origin_listed(origin))
    return true;
  // Same-origin: the page was served by this very host (e.g. the demo client).
  for (std::string_view scheme : {"http://", "https://"})
    if (origin.size() == scheme.size() + host.size() && origin.substr(0, scheme.size()) == scheme &&
        origin.substr(scheme.size()) == host && !host.empty())
      return true;
  return false;
}

bool server_state::metrics_allowed(const boost::asio::ip::address& client) const {
  return metrics_allow.empty() || std::any_of(metrics_allow.begin(), metrics_allow.end(),
                                              [&](const cidr_block& b) { return b.contains(client); });
}

void server_state::add(session_base* s, std::weak_ptr<session_base> w) {
  std::lock_guard<std::mutex> guard{mutex_};
  sessions_.emplace(s, std::move(w));
}

void server_state::remove(session_base* s) {
  std::lock_guard<std::mutex> guard{mutex_};
  sessions_.erase(s);
}

std::vector<std::weak_ptr<session_base>> server_state::snapshot() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::weak_ptr<session_base>> out;
  out.reserve(sessions_.size());
  for (const auto& kv : sessions_)
    out.push_back(kv.second);
  return out;
}

std::size_t server_state::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return sessions_.size();
}

// -- server -------------------------------------------------------------------

struct server::impl {
  std::shared_ptr<server_state> state;
  std::shared_ptr<listener> acceptor;
};

server::server(boost::asio::io_context& ioc, server_options opts, node_stats& stats, http_routes routes,
               connection_handler_factory make_handler)
  : impl_(std::make_shared<impl>()) {
  impl_->state = std::make_shared<server_state>(std::move(opts), stats, std::move(routes), std::move(make_handler));
  impl_->acceptor = std::make_shared<listener>(ioc, impl_->state);
}

server::~server() = default;

void server::start() {
  impl_->acceptor->bind();
  impl_->acceptor->run();
}

std::uint16_t server::port() const {
  return impl_->acceptor->port();
}

void server::stop_accepting() {
  impl_->state->draining = true;
  impl_->acceptor->stop();
}

void server::close_all(close_code code, std::string reason) {
  for (auto& weak : impl_->state->snapshot())
    if (auto s = weak.lock())
      s->close_from_any_thread(code, reason);
}

std::size_t server::open_sessions() const {
  return impl_->state->size();
}

} // namespace signaling::transport
