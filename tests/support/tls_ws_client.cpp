#include "support/tls_ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/bn.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace testing {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace websocket = beast::websocket;

struct tls_ws_client::impl {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
  beast::flat_buffer buffer;

  // Runs until `done` or the deadline, so a silent server fails the test instead of hanging it.
  void run(bool& done, std::chrono::milliseconds timeout, const char* what) {
    ioc.restart();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done && std::chrono::steady_clock::now() < deadline)
      ioc.run_one_until(deadline);
    if (!done)
      throw std::runtime_error(std::string(what) + " timed out");
  }
};

tls_ws_client::tls_ws_client() : impl_(std::make_unique<impl>()) {}
tls_ws_client::~tls_ws_client() = default;

void tls_ws_client::connect(std::uint16_t port, const std::string& ca_file, const std::string& target,
                            const std::map<std::string, std::string>& headers) {
  auto& m = *impl_;
  m.ctx.set_verify_mode(ssl::verify_peer);
  m.ctx.load_verify_file(ca_file);
  m.ws = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(m.ioc, m.ctx);
  auto& tcp = beast::get_lowest_layer(*m.ws);
  tcp.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  tcp.expires_after(std::chrono::seconds(10));
  SSL_set_tlsext_host_name(m.ws->next_layer().native_handle(), "localhost");
  m.ws->next_layer().set_verify_callback(ssl::host_name_verification("localhost"));
  beast::error_code ec;
  bool done = false;
  m.ws->next_layer().async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  m.run(done, std::chrono::seconds(10), "TLS handshake");
  if (ec)
    throw std::runtime_error("TLS handshake failed: " + ec.message());
  tcp.expires_never();
  done = false;
  m.ws->set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (auto& [k, v] : headers)
      req.set(k, v);
  }));
  m.ws->async_handshake("localhost:" + std::to_string(port), target, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  m.run(done, std::chrono::seconds(10), "WebSocket handshake");
  if (ec)
    throw std::runtime_error("WebSocket handshake failed: " + ec.message());
}

void tls_ws_client::send(const std::string& text) {
  impl_->ws->text(true);
  impl_->ws->write(net::buffer(text));
}

std::string tls_ws_client::read_text(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  beast::error_code ec;
  bool done = false;
  m.ws->async_read(m.buffer, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  m.run(done, timeout, "read");
  if (ec)
    throw std::runtime_error("read failed: " + ec.message());
  auto out = beast::buffers_to_string(m.buffer.data());
  m.buffer.consume(m.buffer.size());
  return out;
}

std::string tls_ws_client::tls_version() const {
  return SSL_get_version(impl_->ws->next_layer().native_handle());
}

void tls_ws_client::receive_buffer_bytes(int bytes) {
  beast::get_lowest_layer(*impl_->ws).socket().set_option(net::socket_base::receive_buffer_size(bytes));
}

std::string tls_ws_client::peer_certificate() const {
  X509* cert = SSL_get1_peer_certificate(impl_->ws->next_layer().native_handle());
  if (!cert)
    return "none";
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
  std::string out = std::string("subject=") + name + " serial=";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      out += hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  X509_free(cert);
  return out;
}

} // namespace testing
