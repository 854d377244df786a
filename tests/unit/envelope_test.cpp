// The envelope between nodes (cluster/envelope.hpp), built and parsed in C++.
// tests/cluster/scripts_test.cpp checks the Lua side against the same parser.
#include "cluster/envelope.hpp"

#include <doctest/doctest.h>

using namespace signaling::cluster;

TEST_CASE("an envelope parses back into its fields, the body whole even with bars in it") {
  auto text = envelope::make(envelope::kind::frame, "483920", "a1b2c3d4e5f60718-42", "node-a", "guest",
                             R"({"type":"signal","sdp":"a|b||c"})");
  CHECK(text == R"(F|483920|a1b2c3d4e5f60718-42|node-a|guest|{"type":"signal","sdp":"a|b||c"})");
  envelope::parsed e;
  REQUIRE(envelope::parse(text, e));
  CHECK(e.k == envelope::kind::frame);
  CHECK(e.room == "483920");
  CHECK(e.gen == "a1b2c3d4e5f60718-42");
  CHECK(e.node == "node-a");
  CHECK(e.role == "guest");
  CHECK(e.body == R"({"type":"signal","sdp":"a|b||c"})");
}

TEST_CASE("a frame header is an F envelope without its body, so a sender appends each frame to it") {
  auto header = envelope::frame_header("483920", "gen-1", "node-a", "host");
  CHECK(header + "{}" == envelope::make(envelope::kind::frame, "483920", "gen-1", "node-a", "host", "{}"));
}

TEST_CASE("news without a role or body parses with empty ones") {
  envelope::parsed e;
  REQUIRE(envelope::parse(envelope::make(envelope::kind::left, "483920", "gen-1", "node-b", ""), e));
  CHECK(e.k == envelope::kind::left);
  CHECK(e.role.empty());
  CHECK(e.body.empty());
}

TEST_CASE("anything but a well-formed envelope is refused") {
  envelope::parsed e;
  for (auto bad : {"", "F", "F|", "Q|1|g|n|r|b", "F|1|g|n", "F||g|n|r|b", "F|1||n|r|b", "F|1|g||r|b", "F1|g|n|r|b"})
    CHECK_MESSAGE(!envelope::parse(bad, e), bad);
}
