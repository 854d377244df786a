// The load generator's own WebSocket client framing (RFC 6455, client side):
// the upgrade request and the check of its answer, masked frames out, and a
// reader for the server's unmasked frames that hands each text message over
// in place when it arrived whole. Pure string work, so tests/bench checks it.
//
// Why not Beast's websocket::stream: its read buffer is a fixed 1,536 bytes,
// so a flood of 600-byte frames costs the client one recv per two frames, and
// it validates UTF-8 and copies every frame it masks. The client was the
// bottleneck of the flood and the storm (BENCHMARKS.md, "The client"); the
// servers are measured, not the client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bench::wire {

enum class opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// The GET that asks for the upgrade. A fixed key: the server's answer is
// checked against the accept value it must produce (RFC 6455 section 1.3).
std::string upgrade_request(std::string_view host_port, std::string_view target);

struct upgrade_answer {
  enum class state { incomplete, accepted, declined, malformed } result = state::incomplete;
  std::size_t header_bytes = 0; // of the answer; what follows is frames
  int status = 0;
};
// Looks at what arrived so far; `incomplete` until the blank line.
upgrade_answer parse_upgrade_answer(std::string_view received);

// Appends one whole frame (FIN set), masked with `mask` as a client must.
void append_frame(std::string& out, opcode op, std::string_view payload, std::uint32_t mask);

// What the reader found wrong; the connection is dead after it.
enum class fault { none, masked_frame, reserved_bits, bad_opcode, bad_control, unexpected_continuation, too_big };
const char* fault_text(fault f);

// The server's frames, fed as they come off the socket. Text and binary
// messages reach on_text (a fragmented one once complete), pings on_ping,
// a close frame on_close (its code, 1005 if none); pongs reset nothing here
// and are only reported. A handler returns false to stop reading (the
// connection went down): feed() returns at once and the reader is spent.
class frame_reader {
public:
  struct sink {
    virtual ~sink() = default;
    virtual bool on_text(std::string_view message) = 0;
    virtual bool on_ping(std::string_view payload) = 0;
    virtual bool on_pong() = 0;
    virtual bool on_close(std::uint16_t code) = 0;
  };
  explicit frame_reader(std::size_t max_message) : max_message_(max_message) {}

  // Every byte is consumed: whole frames are handled in place, a partial
  // frame at the end is kept for the next call.
  fault feed(const char* data, std::size_t n, sink& s);

private:
  fault frames(const char* p, std::size_t n, std::size_t& used, sink& s, bool& stopped);
  std::size_t max_message_;
  std::string partial_;   // the start of a frame cut by the read
  std::string message_;   // a fragmented message so far
  bool in_message_ = false;
};

} // namespace bench::wire
