#include "transport/listener.hpp"

#include "telemetry/log.hpp"
#include "transport/http_session.hpp"
#include "transport/io_pool.hpp"
#include "transport/tls_certificate.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>

namespace signaling::transport {

namespace net = boost::asio;
using tcp = net::ip::tcp;

listener::listener(io_pool& pool, std::shared_ptr<server_state> state)
  : pool_(pool), acceptor_(pool.control().get_executor()), backoff_(pool.control().get_executor()),
    state_(std::move(state)) {}

void listener::bind() {
  auto address = net::ip::make_address(state_->opts.bind_address);
  tcp::endpoint ep{address, state_->opts.port};
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(net::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

void listener::run() {
  do_accept();
}

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ignored;
    self->backoff_.cancel();
    self->acceptor_.close(ignored);
  });
}

void listener::do_accept() {
  // The socket is made on the loop it will live on.
  auto& target = pool_.pick();
  acceptor_.async_accept(target.context(), peer_,
                         [self = shared_from_this(), &target](beast::error_code ec, socket_type socket) {
                           self->on_accept(ec, std::move(socket), target);
                         });
}

void listener::on_accept(beast::error_code ec, socket_type socket, io_loop& target) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open())
    return;
  if (ec) {
    // Out of descriptors or memory: retry shortly instead of spinning.
    log::error("event=accept_failed error={}", log::q(ec.message()));
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e)
        self->do_accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  target.load.fetch_add(1, std::memory_order_relaxed);
  net::post(target.context(), [state = state_, &target, socket = std::move(socket), peer = peer_]() mutable {
    if (state->opts.tls) {
      // The certificate of the moment: a SIGHUP reload changes it for the
      // connections accepted after it, while this one keeps its context.
      auto ctx = state->opts.tls->current();
      tls_stream stream{std::move(socket), *ctx};
      std::make_shared<http_session<tls_stream>>(target, std::move(stream), std::move(ctx), state, &peer)->run();
    } else {
      std::make_shared<http_session<socket_type>>(target, std::move(socket), nullptr, state, &peer)->run();
    }
  });
  do_accept();
}

} // namespace signaling::transport
