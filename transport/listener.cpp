#include "transport/listener.hpp"

#include "telemetry/log.hpp"
#include "transport/http_session.hpp"
#include "transport/tls_certificate.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/ssl.hpp>

namespace signaling::transport {

namespace net = boost::asio;
using tcp = net::ip::tcp;

listener::listener(net::io_context& ioc, std::shared_ptr<server_state> state)
  : ioc_(ioc), acceptor_(net::make_strand(ioc)), backoff_(acceptor_.get_executor()), state_(std::move(state)) {}

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
  // Each connection gets its own strand: its handlers never run concurrently.
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&listener::on_accept, shared_from_this()));
}

void listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open())
    return;
  if (ec) {
    // Out of descriptors or memory: retry shortly instead of spinning.
    log::error("event=accept_failed error=\"{}\"", ec.message());
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e)
        self->do_accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  if (state_->opts.tls) {
    // The certificate of the moment: a SIGHUP reload changes it for the
    // connections accepted after it, while this one keeps its context.
    auto ctx = state_->opts.tls->current();
    beast::ssl_stream<beast::tcp_stream> stream{std::move(socket), *ctx};
    std::make_shared<http_session<beast::ssl_stream<beast::tcp_stream>>>(std::move(stream), std::move(ctx), state_)
      ->run();
  } else {
    std::make_shared<http_session<beast::tcp_stream>>(beast::tcp_stream{std::move(socket)}, nullptr, state_)->run();
  }
  do_accept();
}

} // namespace signaling::transport
