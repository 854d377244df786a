#include "actors/room_id.hpp"

#include <array>
#include <cerrno>
#include <cstring>
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
  // One getrandom per 32 tokens instead of one per token (a system call per
  // client in a reconnect storm). Each token's bytes are wiped once used, so
  // memory read later does not reveal a token handed out before.
  constexpr std::size_t token_bytes = 16;
  thread_local std::array<unsigned char, 32 * token_bytes> pool;
  thread_local std::size_t used = pool.size();
  if (used == pool.size()) {
    fill_random(pool.data(), pool.size());
    used = 0;
  }
  unsigned char* bytes = pool.data() + used;
  used += token_bytes;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * token_bytes);
  for (std::size_t i = 0; i < token_bytes; ++i) {
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 0xf];
  }
  std::memset(bytes, 0, token_bytes);
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
