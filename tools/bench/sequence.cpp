#include "bench/sequence.hpp"

namespace bench {

void sequence_check::set_expected(std::uint64_t n) {
  if (n < high_)
    n = high_; // what was already seen in range stays in range
  expected_ = n;
  seen_.resize((n + 63) / 64, 0);
}

sequence_check::verdict sequence_check::record(std::uint64_t seq) {
  if (seq >= expected_) {
    ++out_of_range_;
    return verdict::out_of_range;
  }
  auto& word = seen_[seq / 64];
  const std::uint64_t bit = std::uint64_t{1} << (seq % 64);
  if (word & bit) {
    ++duplicated_;
    return verdict::duplicate;
  }
  word |= bit;
  ++received_;
  if (seq < high_) {
    ++misordered_;
    return verdict::misordered;
  }
  high_ = seq + 1;
  return verdict::in_order;
}

void delivery_tally::add(const sequence_check& c) {
  ++directions;
  expected += c.expected();
  received += c.received();
  lost += c.lost();
  misordered += c.misordered();
  duplicated += c.duplicated();
  out_of_range += c.out_of_range();
  if (c.lost())
    ++directions_with_loss;
  if (c.misordered())
    ++directions_out_of_order;
}

} // namespace bench
