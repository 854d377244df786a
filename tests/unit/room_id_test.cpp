// room_id_generator: the shape of an id (digit count, no leading zero), the
// accepted digit counts, and a loose uniformity check that cannot flake; the
// shape and uniqueness of resume tokens.
#include "actors/room_id.hpp"
#include "actors/limits.hpp"

#include <doctest/doctest.h>

#include <array>
#include <set>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using signaling::room_id_generator;

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

void check_shape(room_id_generator& gen, unsigned digits, int draws) {
  for (int i = 0; i < draws; ++i) {
    auto id = gen.next();
    INFO("id " << id);
    REQUIRE(id.size() == digits);
    REQUIRE(all_digits(id));
    REQUIRE(id[0] != '0');
  }
}

} // namespace

TEST_CASE("room ids have six digits by default, no leading zero and nothing but digits") {
  unsigned digits = signaling::limits{}.room_id_digits;
  CHECK(digits == 6);
  room_id_generator gen{digits};
  CHECK(gen.digits() == 6);
  check_shape(gen, 6, 10000);
}

TEST_CASE("room ids have the configured number of digits") {
  for (unsigned digits : {4u, 7u, 8u, 12u, 18u}) {
    INFO("digits " << digits);
    room_id_generator gen{digits};
    CHECK(gen.digits() == digits);
    check_shape(gen, digits, 2000);
  }
}

TEST_CASE("room_id_generator refuses digit counts it cannot serve") {
  for (unsigned digits : {0u, 1u, 2u, 3u, 19u, 20u, 64u, 1000u}) {
    INFO("digits " << digits);
    CHECK_THROWS_AS(room_id_generator{digits}, std::invalid_argument);
  }
}

TEST_CASE("100000 six-digit room ids reach both ends of the range") {
  room_id_generator gen{6};
  unsigned long long lo = ~0ull, hi = 0;
  for (int i = 0; i < 100000; ++i) {
    auto v = std::stoull(gen.next());
    REQUIRE(v >= 100000);
    REQUIRE(v <= 999999);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // Each end's 1% band is missed by all 100000 draws with probability 0.99^100000.
  CHECK(lo < 109000);
  CHECK(hi > 990999);
}

TEST_CASE("six-digit room ids are spread evenly over their first and last digits") {
  room_id_generator gen{6};
  constexpr int draws = 90000;
  std::array<int, 10> first{}, last{};
  for (int i = 0; i < draws; ++i) {
    auto id = gen.next();
    ++first[static_cast<std::size_t>(id.front() - '0')];
    ++last[static_cast<std::size_t>(id.back() - '0')];
  }
  CHECK(first[0] == 0);
  // 10000 expected per leading digit, standard deviation about 95: +-20% is
  // over 20 standard deviations, so only a real bias fails this.
  for (int d = 1; d <= 9; ++d) {
    INFO("first digit " << d << ": " << first[static_cast<std::size_t>(d)]);
    CHECK(first[static_cast<std::size_t>(d)] > 8000);
    CHECK(first[static_cast<std::size_t>(d)] < 12000);
  }
  // Chi-square over the last digit (9 degrees of freedom): 100 is far beyond
  // any plausible value for a uniform source (p < 1e-16).
  double expected = draws / 10.0, chi2 = 0;
  for (int n : last)
    chi2 += (n - expected) * (n - expected) / expected;
  INFO("chi-square of the last digit: " << chi2);
  CHECK(chi2 < 100);
}

TEST_CASE("two room_id_generators do not draw the same sequence") {
  room_id_generator a{12}, b{12};
  std::string sa, sb;
  for (int i = 0; i < 20; ++i) {
    sa += a.next();
    sb += b.next();
  }
  CHECK(sa != sb);
}

TEST_CASE("resume tokens are 32 hex digits, all distinct across pool refills, and differ between threads") {
  // 1,000 tokens span about 31 refills of a thread's pool: a refill that
  // handed out stale or wiped bytes would repeat a token (or give zeros).
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto t = signaling::make_resume_token();
    INFO("token " << t);
    REQUIRE(t.size() == 32);
    REQUIRE(t.find_first_not_of("0123456789abcdef") == std::string::npos);
    REQUIRE(t != std::string(32, '0'));
    REQUIRE(seen.insert(t).second);
  }
  std::vector<std::string> other;
  std::thread([&] {
    for (int i = 0; i < 100; ++i)
      other.push_back(signaling::make_resume_token());
  }).join();
  for (const auto& t : other)
    CHECK(seen.count(t) == 0);
}
