// The signal frames signal-bench sends, and the fixed-width "bench" field
// inside each that carries what the receiver needs to measure: kind, pair
// index, sequence number and two timestamps. Pure string work (no sockets), so
// the tests can check it; the seed peer re-serializes frames with
// JSON.stringify and the field survives that unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bench {

// Field layout: kind, ' ', pair (10 digits), ' ', seq (12), ' ', t (20), ' ', u (20).
// kind: 'o' host -> guest, 'a' guest -> host. t (ns, steady clock): relay, when
// the offer was due (paced) or sent; flood, when the frame was written. u (ns):
// relay, when the guest sent its answer; 0 otherwise. The rest of the frame is
// SDP-like padding up to the requested size.
constexpr std::size_t pair_digits = 10, seq_digits = 12, time_digits = 20;
constexpr std::size_t bench_field_len = 1 + 1 + pair_digits + 1 + seq_digits + 1 + time_digits + 1 + time_digits;
constexpr std::string_view bench_key = R"("bench":")";
constexpr std::string_view signal_prefix = R"({"type":"signal",)";

// One room's frame of one kind: 'o' (host → guest, an offer) or 'a' (guest →
// host, an answer). `size` is the frame's length in bytes when the room id is
// short enough to leave room for padding (it always is for 6-digit ids and
// sizes from ~250 B up).
struct frame_template {
  std::string text;
  std::size_t field = 0; // offset of the bench field's first character
};

frame_template make_frame(const std::string& room_id, char kind, std::size_t size);

// Rewrites the bench field in place: pair index, sequence, t and u (ns).
void fill(frame_template& f, std::uint64_t pair, std::uint64_t seq, std::uint64_t t, std::uint64_t u);

struct bench_fields {
  char kind = 0;
  std::uint64_t pair = 0, seq = 0, t = 0, u = 0;
};

// Finds and decodes the bench field; false if absent or malformed.
bool parse_bench(std::string_view text, bench_fields& out);

} // namespace bench
