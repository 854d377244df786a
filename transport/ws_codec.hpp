// RFC 6455, server side, as a pure unit: reads client frames out of bytes it is
// handed (unmasking them in place) and writes server frame headers. The
// WebSocket sessions drive it from sockets; the fuzzer and the unit tests
// drive it from memory. It never touches a socket, a clock or a lock, holds
// nothing between calls but the unfinished part of a frame or message, and
// never delivers a text message that is not whole, valid UTF-8 within the
// size limit. Its verdicts (which code closes which violation, in which
// order the checks run) are Boost.Beast 1.81's, which this server used
// before; tests/conformance/expected.md pins them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace signaling::transport::ws {

enum class opcode : std::uint8_t { cont = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

// Why the reader failed the connection. Each has the close code the server
// sends for it (RFC 6455 7.4.1).
enum class failure : std::uint8_t {
  none,
  protocol_error, // 1002: framing, masking, control frames, a bad close frame
  invalid_utf8,   // 1007: a text message that is not UTF-8
  too_big,        // 1009: a message over the size limit, known from a header
};
std::uint16_t close_code_of(failure f);

// Codes a close frame may carry (as Beast's is_valid_close_code: 1000-1003,
// 1007-1013 and 3000 up; 1004-1006, 1014-2999 and below 1000 are refused).
bool valid_close_code(std::uint16_t code);

// Incremental UTF-8 check (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF). Fails at the first byte that cannot be part of
// valid text, so a bad message is refused before it ends.
class utf8_validator {
public:
  bool write(const unsigned char* p, std::size_t n);
  // True if the text so far ends on a character boundary.
  bool finished() const { return state_ == 0; }
  void reset() { state_ = 0; }

private:
  std::uint8_t state_ = 0; // 0: at a boundary; else what the next byte must be
};

bool valid_utf8(std::string_view text);

// Server frames: never masked, FIN set (messages are never fragmented).
constexpr std::size_t max_header_bytes = 10;
// Writes the header of a frame of `payload` bytes to `out`; returns its size.
std::size_t write_header(char* out, opcode op, std::uint64_t payload);
// A whole control frame (at most 125 bytes of payload; longer is cut).
std::string control_frame(opcode op, std::string_view payload);
// A close frame: `code` (0: none) and `reason`, cut to fit 125 bytes at a
// character boundary.
std::string close_frame(std::uint16_t code, std::string_view reason);

// Reads the frames of one connection. Feed it every byte the client sends,
// in order, in pieces of any size; it calls the sink as messages complete:
//   bool on_text(std::string_view)  a whole text message, valid only during the call
//   bool on_binary()                a whole binary message (its bytes are not kept)
//   bool on_ping(std::string_view)  payload valid only during the call
//   bool on_pong()
//   void on_close(std::uint16_t code, std::string_view reason)  code 0: none; reading ends
// A `bool` callback returning false stops the reader right after the frame
// it reported: read() then returns how far it got, and the caller hands the
// rest back later (or drops it).
class frame_reader {
public:
  struct result {
    std::size_t used = 0;             // bytes taken; less than given if the sink stopped it
    failure failed = failure::none;   // set: the connection must be failed
  };

  // `data` is modified (unmasked, and a fragmented message gathered in
  // place). `max_message`: 0 for no limit.
  template <class Sink>
  result read(char* data, std::size_t size, std::size_t max_message, Sink& sink);

  // After a failure or a close frame nothing more is read.
  bool done() const { return (flags_ & f_done) != 0; }
  // Bytes held between calls (a partial frame or message, a stash).
  std::size_t held_bytes() const;
  // Bytes the owner read but must not parse yet (reading paused): kept here,
  // handed back by take_stash() in order.
  void stash(const char* p, std::size_t n);
  bool has_stash() const { return spill_ && !spill_->stash.empty(); }
  std::string take_stash();

private:
  enum : std::uint8_t {
    f_in_message = 1, // a data message has begun and not ended
    f_final = 2,      // the data frame being read is its message's last
    f_binary = 4,     // the message is binary
    f_done = 8,       // a close frame was read, or the connection failed
  };
  enum class step : std::uint8_t { more, ok, bad };
  struct header {
    std::uint64_t length = 0;
    std::uint32_t key = 0; // mask bytes in wire order
    std::uint8_t size = 0; // header bytes
    opcode op = opcode::cont;
    bool fin = false;
  };
  // What must survive from one read to the next; allocated only then.
  struct spill {
    std::string unit;    // an incomplete header or control frame
    std::string message; // the text of a message that began in an earlier read
    std::string stash;   // bytes not to be parsed yet
  };

  step parse_header(const unsigned char* p, std::size_t n, std::size_t max_message, header& h, failure& why) const;
  static std::size_t header_size(const unsigned char* p);
  void unmask(char* p, std::size_t n);
  void begin_frame(const header& h);
  template <class Sink>
  bool control(const header& h, char* payload, Sink& sink, failure& why);
  template <class Sink>
  bool complete(const char* run, std::size_t run_size, Sink& sink, failure& why);
  result fail(std::size_t used, failure why) {
    flags_ |= f_done;
    spill_.reset();
    return {used, why};
  }
  spill& spilled() {
    if (!spill_)
      spill_ = std::make_unique<spill>();
    return *spill_;
  }
  void release_spill() {
    if (spill_ && spill_->unit.empty() && spill_->message.empty() && spill_->stash.empty())
      spill_.reset();
  }

  std::uint64_t payload_left_ = 0;  // of the data frame being read
  std::uint64_t message_bytes_ = 0; // announced so far by the current message's frames
  std::uint32_t key_ = 0;           // mask bytes for the next payload byte, in memory order
  std::uint8_t flags_ = 0;
  utf8_validator utf8_;
  std::unique_ptr<spill> spill_;
};

// -- implementation of the template parts ----------------------------------------

template <class Sink>
bool frame_reader::control(const header& h, char* payload, Sink& sink, failure& why) {
  auto n = static_cast<std::size_t>(h.length);
  switch (h.op) {
    case opcode::ping: return sink.on_ping(std::string_view(payload, n));
    case opcode::pong: return sink.on_pong();
    default: break;
  }
  // Close: no payload, or a valid code and a UTF-8 reason (RFC 6455 5.5.1).
  flags_ |= f_done;
  spill_.reset();
  std::uint16_t code = 0;
  std::string_view reason;
  if (n >= 2) {
    code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
    reason = std::string_view(payload + 2, n - 2);
  }
  if (n == 1 || (n >= 2 && (!valid_close_code(code) || !valid_utf8(reason)))) {
    why = failure::protocol_error;
    return false;
  }
  sink.on_close(code, reason);
  return false;
}

template <class Sink>
bool frame_reader::complete(const char* run, std::size_t run_size, Sink& sink, failure& why) {
  flags_ &= static_cast<std::uint8_t>(~f_in_message);
  if (flags_ & f_binary)
    return sink.on_binary();
  if (!utf8_.finished()) {
    why = failure::invalid_utf8;
    return false;
  }
  if (spill_ && !spill_->message.empty()) {
    // Moved out first: the memory goes back as soon as the message is handled.
    std::string whole = std::move(spill_->message);
    release_spill();
    return sink.on_text(std::string_view(whole));
  }
  return sink.on_text(std::string_view(run ? run : "", run_size));
}

template <class Sink>
frame_reader::result frame_reader::read(char* data, std::size_t size, std::size_t max_message, Sink& sink) {
  if (flags_ & f_done)
    return {size, failure::none};
  std::size_t pos = 0;
  failure why = failure::none;

  // A frame header or control frame cut at the end of the last read: complete
  // it from the front of this one, then go on here.
  if (spill_ && !spill_->unit.empty()) {
    auto& u = spill_->unit;
    header h;
    for (;;) {
      auto* up = reinterpret_cast<const unsigned char*>(u.data());
      auto st = parse_header(up, u.size(), max_message, h, why);
      if (st == step::bad)
        return fail(pos, why);
      std::size_t need = st == step::more ? (u.size() < 2 ? 2 : header_size(up))
                                          : h.size + ((static_cast<unsigned>(h.op) & 8) ? h.length : 0);
      if (st == step::ok && u.size() >= need)
        break;
      auto take = std::min(need - u.size(), size - pos);
      u.append(data + pos, take);
      pos += take;
      if (u.size() < need)
        return {size, failure::none};
    }
    std::string unit = std::move(u);
    u.clear();
    release_spill();
    if (static_cast<unsigned>(h.op) & 8) {
      key_ = h.key; // a control frame comes between data frames, never inside one's payload
      unmask(unit.data() + h.size, static_cast<std::size_t>(h.length));
      if (!control(h, unit.data() + h.size, sink, why))
        return why != failure::none ? fail(pos, why) : result{pos, failure::none};
    } else {
      begin_frame(h);
      if (h.length == 0 && h.fin && !complete(nullptr, 0, sink, why))
        return why != failure::none ? fail(pos, why) : result{pos, failure::none};
    }
  }

  // The text message being gathered in this buffer: its fragments are moved
  // together in place, over the headers between them.
  char* run = nullptr;
  std::size_t run_size = 0;
  // The run is a whole message: handed to the sink. Something to return if
  // reading stops here (a failure, or the sink wants no more for now).
  auto finish_message = [&]() -> std::optional<result> {
    bool go = complete(run, run_size, sink, why);
    run = nullptr;
    run_size = 0;
    if (why != failure::none)
      return fail(pos, why);
    if (!go)
      return result{pos, failure::none};
    return std::nullopt;
  };
  while (pos < size) {
    if (payload_left_ > 0) {
      auto take = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, size - pos));
      char* p = data + pos;
      unmask(p, take);
      pos += take;
      payload_left_ -= take;
      if (!(flags_ & f_binary)) {
        if (!utf8_.write(reinterpret_cast<const unsigned char*>(p), take))
          return fail(pos, failure::invalid_utf8);
        if (spill_ && !spill_->message.empty()) {
          spill_->message.append(p, take);
        } else {
          if (!run)
            run = p;
          else if (run + run_size != p)
            std::memmove(run + run_size, p, take);
          run_size += take;
        }
      }
      if (payload_left_ == 0 && (flags_ & f_final))
        if (auto stop = finish_message())
          return *stop;
      continue;
    }
    header h;
    auto* p = reinterpret_cast<const unsigned char*>(data + pos);
    auto st = parse_header(p, size - pos, max_message, h, why);
    if (st == step::bad)
      return fail(pos, why);
    if (st == step::more)
      break;
    if (static_cast<unsigned>(h.op) & 8) {
      if (size - pos < h.size + h.length)
        break; // a control frame is handled whole
      char* payload = data + pos + h.size;
      pos += h.size + static_cast<std::size_t>(h.length);
      key_ = h.key;
      unmask(payload, static_cast<std::size_t>(h.length));
      if (!control(h, payload, sink, why))
        return why != failure::none ? fail(pos, why) : result{pos, failure::none};
      continue;
    }
    pos += h.size;
    if (h.op != opcode::cont) {
      run = nullptr;
      run_size = 0;
    }
    begin_frame(h);
    if (h.length == 0 && h.fin)
      if (auto stop = finish_message())
        return *stop;
  }

  // The message goes on in the next read: keep what is here of it, in a
  // buffer sized to what its frames announced so far.
  if (run_size > 0 && (flags_ & f_in_message)) {
    auto& m = spilled().message;
    m.reserve(run_size + static_cast<std::size_t>(payload_left_));
    m.assign(run, run_size);
  }
  if (pos < size)
    spilled().unit.assign(data + pos, size - pos);
  return {size, failure::none};
}

} // namespace signaling::transport::ws
