// HS256 token verification: accepted tokens, and each way a token is refused.
#include "node/jwt.hpp"

#include <doctest/doctest.h>

using namespace signaling;

namespace {

const jwt::policy pol{"backend-secret", "", std::chrono::seconds(0)};
constexpr std::int64_t now = 1700000000;

} // namespace

TEST_CASE("a token computed independently verifies (known vector)") {
  // Built outside this code: header {"alg":"HS256","typ":"JWT"}, payload
  // {"sub":"alice","exp":1900000000,"roomId":"123456"}, HMAC-SHA256 with
  // "backend-secret" by the openssl CLI:
  //   b64u() { openssl base64 -A | tr "+/" "-_" | tr -d "="; }
  //   printf %s "$h.$p" | openssl dgst -sha256 -hmac backend-secret -binary | b64u
  const char* token =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTkwMDAwMDAwMCwicm9vbUlkIjoiMTIzNDU2In0."
    "HUCbk_coeJB1LxUAdsY3LLAKBXpnHv0_EBfuAzqJW5A";
  auto v = jwt::verify(token, pol, now);
  REQUIRE_MESSAGE(v.ok, v.reason);
  CHECK(v.granted.subject == "alice");
  CHECK(v.granted.room == "123456");
  CHECK_FALSE(v.granted.may_create);
}

TEST_CASE("valid, expired, not-yet-valid, wrong signature, wrong audience and alg none are told apart") {
  CHECK(jwt::verify(jwt::sign(R"({"exp":1700000100})", "backend-secret"), pol, now).ok);
  CHECK(jwt::verify(jwt::sign(R"({"exp":1699999999})", "backend-secret"), pol, now).reason == "expired");
  CHECK(jwt::verify(jwt::sign(R"({"exp":1700000100,"nbf":1700000050})", "backend-secret"), pol, now).reason ==
        "not-yet-valid");
  CHECK(jwt::verify(jwt::sign(R"({"exp":1700000100})", "another-secret"), pol, now).reason == "bad-signature");
  CHECK(jwt::verify(jwt::sign(R"({"sub":"x"})", "backend-secret"), pol, now).reason == "malformed"); // no exp
  jwt::policy aud = pol;
  aud.audience = "signal";
  CHECK(jwt::verify(jwt::sign(R"({"exp":1700000100,"aud":"other"})", "backend-secret"), aud, now).reason ==
        "wrong-audience");
  CHECK(jwt::verify(jwt::sign(R"({"exp":1700000100,"aud":["other","signal"]})", "backend-secret"), aud, now).ok);
  CHECK(jwt::verify(jwt::sign(R"({"exp":1700000100})", "backend-secret"), aud, now).reason == "wrong-audience");
  // {"alg":"none"} with an empty signature: the header does not get to choose.
  CHECK(jwt::verify("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjE5MDAwMDAwMDB9.", pol, now).reason ==
        "bad-algorithm");
  CHECK(jwt::verify("not-a-token", pol, now).reason == "malformed");
  CHECK(jwt::verify("a.b.c.d", pol, now).reason == "malformed");
  CHECK(jwt::verify("e30.e30.!!!", pol, now).reason == "malformed");
}

TEST_CASE("leeway tolerates small clock skew in both directions") {
  jwt::policy skew = pol;
  skew.leeway = std::chrono::seconds(30);
  CHECK(jwt::verify(jwt::sign(R"({"exp":1699999990})", "backend-secret"), skew, now).ok);
  CHECK(jwt::verify(jwt::sign(R"({"exp":1700000100,"nbf":1700000020})", "backend-secret"), skew, now).ok);
  CHECK_FALSE(jwt::verify(jwt::sign(R"({"exp":1699999960})", "backend-secret"), skew, now).ok);
}

TEST_CASE("claims: a room-bound token may not create unless it says so") {
  auto bound = jwt::verify(jwt::sign(R"({"exp":1700000100,"roomId":"654321"})", "backend-secret"), pol, now);
  CHECK(bound.granted.room == "654321");
  CHECK_FALSE(bound.granted.may_create);
  auto host = jwt::verify(jwt::sign(R"({"exp":1700000100,"create":true})", "backend-secret"), pol, now);
  CHECK(host.granted.room.empty());
  CHECK(host.granted.may_create);
  auto guest = jwt::verify(jwt::sign(R"({"exp":1700000100,"create":false})", "backend-secret"), pol, now);
  CHECK_FALSE(guest.granted.may_create);
}
