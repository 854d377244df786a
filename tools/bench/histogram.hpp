// A log-linear latency histogram in the manner of HdrHistogram: every power
// of two is split into 2^sub_bits equal buckets, so any recorded value is
// known to within 2^-sub_bits of itself (0.4% at the default 8 bits) in a
// fixed array, with O(1) record and no per-sample storage. One per thread;
// merge at the end. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

class histogram {
public:
  explicit histogram(unsigned sub_bits = 8);

  void record(std::uint64_t value) { record_n(value, 1); }
  void record_n(std::uint64_t value, std::uint64_t n);
  // Adds every sample of `other` (same sub_bits required; throws otherwise).
  void merge(const histogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value at or below which `percent` % of the samples fall (nearest
  // rank), reported as the highest value of its bucket but never above max().
  // 0 when empty; percent <= 0 gives min(), >= 100 gives max().
  std::uint64_t percentile(double percent) const;

  // Bucket arithmetic, public for the tests.
  std::size_t index_of(std::uint64_t value) const;
  std::uint64_t lowest_in(std::size_t index) const;
  std::uint64_t highest_in(std::size_t index) const;
  std::size_t bucket_count() const { return counts_.size(); }
  unsigned sub_bits() const { return sub_bits_; }

private:
  unsigned sub_bits_;
  std::uint64_t sub_count_; // 2^sub_bits_
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0; // ns latencies: 2^64 ns is 584 years of samples
};

} // namespace bench
