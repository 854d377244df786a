// A WebSocket client for tests: real TCP, Beast's client side, every read
// with a deadline so a missing message fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace testing {

using namespace std::chrono_literals;

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto i = headers.find(name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

// One HTTP/1.1 request on a fresh connection.
http_reply http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::map<std::string, std::string>& headers = {}, const std::string& host = "127.0.0.1");

// What a read produced: a text message, a close (with the peer's code), or nothing in time.
struct ws_event {
  enum kind_t { text, closed, timeout, error } kind = timeout;
  std::string data;         // text payload, or error message
  std::uint16_t code = 0;   // close code when kind == closed
};

class ws_client {
public:
  ws_client();
  ~ws_client();
  ws_client(ws_client&&) noexcept;
  ws_client& operator=(ws_client&&) noexcept;

  // The local address the next connect binds to (127.0.0.2, 127.0.0.3, ...: a
  // client at another address on loopback); empty: the kernel's choice.
  ws_client& from(std::string source_address);

  // Connects and completes the upgrade; throws with the HTTP status on refusal.
  void connect(std::uint16_t port, const std::map<std::string, std::string>& headers = {},
               const std::string& host = "127.0.0.1");
  // Tries the upgrade; returns the HTTP status of a refusal, or 101.
  int try_connect(std::uint16_t port, const std::map<std::string, std::string>& headers = {},
                  const std::string& target = "/");

  void send(const std::string& text);
  void send_binary(const std::string& bytes);
  ws_event read(std::chrono::milliseconds timeout = 5s);
  // Reads one text message and fails (throws) on anything else.
  std::string read_text(std::chrono::milliseconds timeout = 5s);
  // Sends a close frame and waits for the handshake to finish.
  void close(std::uint16_t code = 1000);
  // Drops the TCP connection without a close frame.
  void kill();
  bool is_open() const;
  // Stops reading from the socket (the kernel buffers fill up: a slow reader).
  std::size_t receive_buffer_bytes(int bytes);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace testing
