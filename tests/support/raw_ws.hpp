// A WebSocket client made of bytes: a plain POSIX socket, a handshake written
// by hand, frames built bit by bit (any opcode, reserved bits, masked or not,
// any declared length, cut into any pieces). It can break every rule of
// RFC 6455, which is what conformance and abuse tests need; Beast's client
// cannot. Every read has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace testing {

namespace ws_op {
constexpr int cont = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA;
}

struct frame_spec {
  int opcode = ws_op::text;
  std::string payload;
  bool fin = true;
  int rsv = 0;                          // RSV1..3 as bits 4,2,1 (0..7)
  bool mask = true;                     // clients must mask
  std::optional<std::uint64_t> length; // declared length, if not payload.size()
};

// The bytes of one frame (header, key, masked payload).
std::string make_frame(const frame_spec& f);
std::string make_frame(int opcode, std::string_view payload, bool fin = true);
// A close frame's payload: the code (if any) and a reason.
std::string close_payload(std::optional<std::uint16_t> code, std::string_view reason = {});

struct server_frame {
  bool fin = true;
  int rsv = 0;
  int opcode = 0;
  bool masked = false;
  std::string payload;
  std::uint16_t close_code() const; // 0 when the payload has none (or not a close)
};

struct http_head {
  int status = 0;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  std::string header(const std::string& name) const;
};

class raw_ws {
public:
  enum class event { frame, eof, timeout, error };

  // Connects a TCP socket to 127.0.0.1:port; nothing is sent.
  explicit raw_ws(std::uint16_t port);
  ~raw_ws();
  raw_ws(const raw_ws&) = delete;
  raw_ws& operator=(const raw_ws&) = delete;

  // A valid upgrade request for `port`, with `extra` headers added or
  // replacing the defaults (an empty value removes the header).
  static std::string upgrade_request(std::uint16_t port, const std::map<std::string, std::string>& extra = {},
                                     const std::string& method = "GET", const std::string& version = "HTTP/1.1");
  // Sends the request and reads the response head (and a body per
  // Content-Length). Status 0 if the connection ended first.
  http_head handshake(const std::string& request, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // upgrade_request + handshake; throws unless the answer is 101.
  void upgrade(std::uint16_t port);

  // Writes all bytes; false if the peer is gone. `chunk` > 0 writes them in
  // pieces of that size, `pause` apart.
  bool send(std::string_view bytes, std::size_t chunk = 0,
            std::chrono::microseconds pause = std::chrono::microseconds(0));
  bool send_frame(const frame_spec& f) { return send(make_frame(f)); }

  // The next frame from the server, or EOF/timeout/error.
  event next(server_frame& out, std::chrono::milliseconds timeout);
  // True once the server has closed the TCP connection (EOF or reset) within `timeout`.
  bool wait_eof(std::chrono::milliseconds timeout);
  // Shrinks the kernel receive buffer (call before reading stops): a slow reader.
  void set_receive_buffer(int bytes);
  // Received bytes not yet parsed into frames.
  std::size_t buffered() const { return in_.size(); }
  int fd() const { return fd_; }

private:
  // Reads more bytes into in_ before `deadline`; false on EOF/error/timeout (see last_).
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string in_;
  event last_ = event::timeout;
};

// The RFC 6455 Sec-WebSocket-Accept for a key.
std::string websocket_accept(const std::string& key);

// Resident set size of a process (/proc/PID/status VmRSS), in bytes.
std::size_t rss_bytes(int pid);

} // namespace testing
