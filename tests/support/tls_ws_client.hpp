// A WebSocket client over TLS (wss://) for tests: Beast's websocket stream
// on an OpenSSL ssl_stream, verifying the server against a given CA file.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace testing {

class tls_ws_client {
public:
  tls_ws_client();
  ~tls_ws_client();
  // TLS handshake (verifying against `ca_file`, host name "localhost") and
  // WebSocket upgrade to `target` with extra `headers`; throws with the
  // reason on failure.
  void connect(std::uint16_t port, const std::string& ca_file, const std::string& target = "/",
               const std::map<std::string, std::string>& headers = {});
  void send(const std::string& text);
  std::string read_text(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The negotiated protocol version, e.g. "TLSv1.3".
  std::string tls_version() const;
  // Shrinks the socket's receive buffer; a client that then stops reading
  // is a slow reader as the node sees it.
  void receive_buffer_bytes(int bytes);
  // The certificate the server presented: "subject=/CN=… serial=HEX".
  std::string peer_certificate() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace testing
