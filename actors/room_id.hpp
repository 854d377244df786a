// Room ids: `digits` decimal digits without a leading zero (6 by default, as
// in the seed), uniform over their range, drawn from the kernel CSPRNG
// (getrandom), so a live id cannot be predicted from ids seen before.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace signaling {

class room_id_generator {
public:
  explicit room_id_generator(unsigned digits);
  std::string next();
  unsigned digits() const { return digits_; }

private:
  std::uint64_t random64();

  unsigned digits_;
  std::uint64_t low_;   // 10^(digits-1)
  std::uint64_t range_; // 9 * 10^(digits-1)
  std::array<std::uint64_t, 32> pool_{};
  std::size_t used_ = pool_.size();
};

// A seat's resume token: 128 bits from the kernel CSPRNG (drawn 32 tokens at a
// time per thread), as 32 hex digits.
std::string make_resume_token();

} // namespace signaling
