#include "actors/room_id.hpp"

#include <cerrno>
#include <stdexcept>
#include <sys/random.h>
#include <system_error>

namespace signaling {

room_id_generator::room_id_generator(unsigned digits) : digits_(digits) {
  if (digits < 4 || digits > 18)
    throw std::invalid_argument("room id digits must be between 4 and 18");
  low_ = 1;
  for (unsigned i = 1; i < digits; ++i)
    low_ *= 10;
  range_ = 9 * low_;
}

std::uint64_t room_id_generator::random64() {
  if (used_ == pool_.size()) {
    auto* p = reinterpret_cast<char*>(pool_.data());
    std::size_t want = sizeof(pool_), got = 0;
    while (got < want) {
      auto n = getrandom(p + got, want - got, 0);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        throw std::system_error(errno, std::generic_category(), "getrandom");
      }
      got += static_cast<std::size_t>(n);
    }
    used_ = 0;
  }
  return pool_[used_++];
}

std::string room_id_generator::next() {
  // Rejection sampling keeps the draw uniform: discard the top partial range.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % range_);
  std::uint64_t x;
  do
    x = random64();
  while (x >= limit);
  return std::to_string(low_ + x % range_);
}

} // namespace signaling
