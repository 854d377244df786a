// The node's TLS certificate and key (TLS_CERT_FILE / TLS_KEY_FILE) as an
// OpenSSL server context: TLS 1.2 and later only. A reload builds a new
// context for connections accepted from then on; connections already open
// hold the context they were made with, so a reload never pulls it from
// under them. OpenSSL stays behind this header.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace signaling::transport {

// Why the certificate or the key could not be loaded; `key` tells which file
// is at fault, so the node can name the setting.
struct tls_load_error : std::runtime_error {
  tls_load_error(bool key_at_fault, const std::string& what) : std::runtime_error(what), key(key_at_fault) {}
  bool key;
};

class tls_certificate {
public:
  // Loads both files; throws tls_load_error if either is unreadable, is not
  // PEM, or the key does not belong to the certificate.
  tls_certificate(std::string cert_file, std::string key_file);
  ~tls_certificate();

  // Re-reads both files into a new context for new connections. On failure
  // the old one stays in use and the reason is returned.
  std::optional<std::string> reload();
  // The context new connections are made with (thread-safe).
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // "subject=… serial=… not_after=…" of the certificate in use, for logs.
  std::string describe() const;

private:
  std::string cert_file_;
  std::string key_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::string description_;
};

} // namespace signaling::transport
