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

namespace {

void fill_random(void* buf, std::size_t want) {
  auto* p = static_cast<char*>(buf);
  std::size_t got = 0;
  while (got < want) {
    auto n = getrandom(p + got, want - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
}

} // namespace

std::uint64_t room_id_generator::random64() {
  if (used_ == pool_.size()) {
    fill_random(pool_.data(), sizeof(pool_));
    used_ = 0;
  }
  return pool_[used_++];
}

std::string make_resume_token() {
  unsigned char bytes[16];
  fill_random(bytes, sizeof bytes);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof bytes);
  for (auto b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 0xf];
  }
  return out;
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
