#include "transport/server.hpp"

#include "transport/io_pool.hpp"
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

// -- server -------------------------------------------------------------------

struct server::impl {
  std::shared_ptr<server_state> state;
  std::shared_ptr<listener> acceptor;
};

server::server(io_pool& pool, server_options opts, node_stats& stats, http_routes routes,
               connection_handler_factory make_handler)
  : impl_(std::make_shared<impl>()) {
  impl_->state =
    std::make_shared<server_state>(std::move(opts), stats, std::move(routes), std::move(make_handler), pool);
  for (std::size_t i = 0; i < pool.size(); ++i)
    pool.loop(i).server = impl_->state.get();
  impl_->acceptor = std::make_shared<listener>(pool, impl_->state);
}

server::~server() {
  auto& pool = impl_->state->pool;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    auto& loop = pool.loop(i);
    loop.for_each_session([](session_hook& h) { websocket_session::of(h).abandon(); });
    // The aborted waits of those sockets let go of their sessions.
    loop.poll();
  }
  for (std::size_t i = 0; i < pool.size(); ++i)
    pool.loop(i).server = nullptr;
}

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
  auto& st = *impl_->state;
  if (st.closing_code.load() == 0) {
    st.closing_reason = reason;
    st.closing_code.store(static_cast<std::uint16_t>(code), std::memory_order_release);
  }
  auto& pool = st.pool;
  // Each loop closes its own sessions; a stopped loop drops the task.
  for (std::size_t i = 0; i < pool.size(); ++i) {
    auto& loop = pool.loop(i);
    loop.thread()->post([&loop, code, reason] {
      loop.for_each_session([&](session_hook& h) { websocket_session::of(h).shut(code, reason); });
    });
  }
}

std::size_t server::open_sessions() const {
  auto& pool = impl_->state->pool;
  std::size_t n = 0;
  for (std::size_t i = 0; i < pool.size(); ++i)
    n += static_cast<std::size_t>(std::max(0, pool.loop(i).sessions.load(std::memory_order_relaxed)));
  return n;
}

} // namespace signaling::transport
