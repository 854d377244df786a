#include "bench/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace bench {

namespace {

unsigned msb(std::uint64_t v) {
  return 63u - static_cast<unsigned>(__builtin_clzll(v));
}

} // namespace

histogram::histogram(unsigned sub_bits) : sub_bits_(sub_bits) {
  if (sub_bits < 1 || sub_bits > 16)
    throw std::invalid_argument("histogram: sub_bits must be 1..16");
  sub_count_ = std::uint64_t{1} << sub_bits;
  // Values below 2^sub_bits are exact (one bucket each); every magnitude
  // 2^m for m in [sub_bits, 63] adds 2^sub_bits buckets.
  counts_.assign(static_cast<std::size_t>((64 - sub_bits + 1) * sub_count_), 0);
}

std::size_t histogram::index_of(std::uint64_t value) const {
  if (value < sub_count_)
    return static_cast<std::size_t>(value);
  unsigned m = msb(value);
  unsigned shift = m - sub_bits_;
  std::uint64_t top = value >> shift; // in [2^sub_bits, 2^(sub_bits+1))
  return static_cast<std::size_t>((shift + 1) * sub_count_ + (top - sub_count_));
}

std::uint64_t histogram::lowest_in(std::size_t index) const {
  if (index < sub_count_)
    return index;
  std::uint64_t shift = index / sub_count_ - 1;
  std::uint64_t top = index % sub_count_ + sub_count_;
  return top << shift;
}

std::uint64_t histogram::highest_in(std::size_t index) const {
  if (index < sub_count_)
    return index;
  std::uint64_t shift = index / sub_count_ - 1;
  std::uint64_t low = lowest_in(index);
  return low + ((std::uint64_t{1} << shift) - 1);
}

void histogram::record_n(std::uint64_t value, std::uint64_t n) {
  if (n == 0)
    return;
  counts_[index_of(value)] += n;
  count_ += n;
  sum_ += value * n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void histogram::merge(const histogram& other) {
  if (other.sub_bits_ != sub_bits_)
    throw std::invalid_argument("histogram: cannot merge different resolutions");
  if (other.count_ == 0)
    return;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = ~std::uint64_t{0};
  max_ = 0;
}

std::uint64_t histogram::percentile(double percent) const {
  if (count_ == 0)
    return 0;
  if (percent <= 0)
    return min_;
  if (percent >= 100)
    return max_;
  // Nearest rank: the smallest sample with at least percent% at or below it.
  auto rank = static_cast<std::uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(1, std::min(rank, count_));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank)
      return std::max(min_, std::min(highest_in(i), max_));
  }
  return max_;
}

} // namespace bench
