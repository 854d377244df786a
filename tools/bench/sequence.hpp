// Exactly-once, in-order delivery check for the flood scenario. Each sender
// numbers its frames 0, 1, 2, ...; the receiving end of that direction keeps
// one sequence_check and records every sequence number it sees. At the end:
//   lost        numbered below expected() but never seen
//   misordered  seen for the first time after a higher number had arrived
//               (each late frame counts once: 0 2 1 3 is one misordered)
//   duplicated  seen again after its first arrival
//   out_of_range numbered at or above expected() (a frame nobody sent)
// A direction is clean when nothing was lost, misordered, duplicated or out of
// range. Pure bookkeeping, no clocks: the tests drive it with sequences.
#pragma once

#include <cstdint>
#include <vector>

namespace bench {

class sequence_check {
public:
  enum class verdict { in_order, misordered, duplicate, out_of_range };

  explicit sequence_check(std::uint64_t expected = 0) { set_expected(expected); }

  // How many frames (0 .. n-1) this direction must deliver. May grow between
  // rounds of a flood; never shrinks below what was already seen.
  void set_expected(std::uint64_t n);
  verdict record(std::uint64_t seq);

  std::uint64_t expected() const { return expected_; }
  std::uint64_t received() const { return received_; } // distinct, in range
  std::uint64_t in_order() const { return received_ - misordered_; }
  std::uint64_t misordered() const { return misordered_; }
  std::uint64_t duplicated() const { return duplicated_; }
  std::uint64_t out_of_range() const { return out_of_range_; }
  std::uint64_t lost() const { return expected_ - received_; }
  bool complete() const { return received_ == expected_; }
  bool clean() const { return complete() && misordered_ == 0 && duplicated_ == 0 && out_of_range_ == 0; }

private:
  std::vector<std::uint64_t> seen_; // one bit per sequence number
  std::uint64_t expected_ = 0;
  std::uint64_t high_ = 0; // one past the highest sequence seen
  std::uint64_t received_ = 0, misordered_ = 0, duplicated_ = 0, out_of_range_ = 0;
};

// The sum over every direction of every room.
struct delivery_tally {
  std::uint64_t directions = 0, expected = 0, received = 0, lost = 0, misordered = 0, duplicated = 0,
                out_of_range = 0;
  std::uint64_t directions_with_loss = 0, directions_out_of_order = 0;
  void add(const sequence_check& c);
  // Every frame arrived exactly once and in order.
  bool clean() const { return lost == 0 && misordered == 0 && duplicated == 0 && out_of_range == 0; }
};

} // namespace bench
