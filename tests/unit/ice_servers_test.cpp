// TURN REST API credentials (coturn use-auth-secret) and the /api/ice-servers body.
#include "node/ice_servers.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace signaling;

TEST_CASE("the TURN password is base64(HMAC-SHA1(secret, username)), checked against vectors made with openssl") {
  // echo -n "1700000000:alice" | openssl dgst -sha1 -hmac s3cret -binary | base64
  CHECK(turn_password("s3cret", "1700000000:alice") == "TtElzSjT0GdnTQ9xdcRNxx96yQs=");
  // echo -n "1433895918506:my_user_name" | openssl dgst -sha1 -hmac north -binary | base64
  CHECK(turn_password("north", "1433895918506:my_user_name") == "+8A4l7VX6yTmEzUg7ltAn+0+I8E=");
  CHECK(turn_password("other", "1700000000:alice") != "TtElzSjT0GdnTQ9xdcRNxx96yQs=");
}

TEST_CASE("ice-servers lists STUN, and TURN with a credential that expires after the TTL") {
  ice_config cfg{{"stun:127.0.0.1:3478"}, {"turn:127.0.0.1:3478?transport=udp"}, "s3cret", std::chrono::seconds(600)};
  auto j = nlohmann::json::parse(ice_servers_json(cfg, 1700000000));
  REQUIRE(j["iceServers"].size() == 2);
  CHECK(j["iceServers"][0]["urls"] == std::vector<std::string>{"stun:127.0.0.1:3478"});
  auto turn = j["iceServers"][1];
  CHECK(turn["urls"] == std::vector<std::string>{"turn:127.0.0.1:3478?transport=udp"});
  auto user = turn["username"].get<std::string>();
  CHECK(user.rfind("1700000600:", 0) == 0); // expiry = now + ttl
  CHECK(user.size() == 11 + 16);            // and a random 64-bit id
  CHECK(turn["credential"] == turn_password("s3cret", user));
  CHECK(j["ttl"] == 600);
  // Two answers never share a username.
  auto again = nlohmann::json::parse(ice_servers_json(cfg, 1700000000));
  CHECK(again["iceServers"][1]["username"] != user);
}

TEST_CASE("without a TURN secret no TURN entry is offered, and without STUN URLs none either") {
  ice_config cfg{{}, {"turn:127.0.0.1:3478"}, "", std::chrono::seconds(600)};
  auto j = nlohmann::json::parse(ice_servers_json(cfg, 1700000000));
  CHECK(j["iceServers"].empty());
}
