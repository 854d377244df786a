#include "transport/tls_certificate.hpp"

#include <boost/asio/ssl/context.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>

namespace signaling::transport {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" TLS 1.2 suites: forward secrecy and AEAD only.
// TLS 1.3 suites are OpenSSL's defaults, all of which are fine.
constexpr const char* tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void check_readable(const std::string& path, bool key) {
  std::ifstream in(path);
  if (!in)
    throw tls_load_error(key, "cannot read " + path);
}

std::shared_ptr<ssl::context> build(const std::string& cert_file, const std::string& key_file) {
  check_readable(cert_file, false);
  check_readable(key_file, true);
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx->native_handle(), tls12_ciphers);
  // An encrypted key must fail here, never prompt on a terminal nobody watches.
  ctx->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec)
    throw tls_load_error(false, cert_file + " is not a PEM certificate (" + ec.message() + ")");
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec)
    throw tls_load_error(true, key_file + " is not an unencrypted PEM key of the certificate (" + ec.message() +
                                 ")");
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    throw tls_load_error(true, key_file + " does not belong to the certificate");
  }
  return ctx;
}

std::string describe_context(ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  if (!cert)
    return "none";
  std::string out = "subject=\"";
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
  out += name;
  out += "\" serial=";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      out += hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  out += " not_after=\"";
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.append(data, static_cast<std::size_t>(n));
    BIO_free(bio);
  }
  return out + "\"";
}

} // namespace

tls_certificate::tls_certificate(std::string cert_file, std::string key_file)
  : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), ctx_(build(cert_file_, key_file_)),
    description_(describe_context(*ctx_)) {}

tls_certificate::~tls_certificate() = default;

std::optional<std::string> tls_certificate::reload() {
  try {
    auto ctx = build(cert_file_, key_file_);
    auto description = describe_context(*ctx);
    std::lock_guard<std::mutex> guard{mutex_};
    ctx_ = std::move(ctx);
    description_ = std::move(description);
    return std::nullopt;
  } catch (const tls_load_error& e) {
    return std::string(e.what());
  }
}

std::shared_ptr<ssl::context> tls_certificate::current() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return ctx_;
}

std::string tls_certificate::describe() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return description_;
}

} // namespace signaling::transport
