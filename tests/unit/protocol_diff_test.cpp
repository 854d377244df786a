// Differential test of the frame scanner against nlohmann::json::accept: on
// 200,000 mutated documents the two must agree on what is valid JSON.
#include "actors/protocol.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <random>

using namespace signaling;

TEST_CASE("the scanner accepts exactly the JSON that nlohmann accepts (200,000 mutated documents)") {
  const std::vector<std::string> seeds = {
    R"({"type":"signal","roomId":"123456","sdp":{"type":"offer","sdp":"v=0\r\no=- 46 2 IN IP4 127.0.0.1\r\n"}})",
    R"({"type":"chat-message","roomId":"1","message":"h\u00e9llo \ud83d\ude00 \"q\" \\ \/","n":-12.5,"ok":true,"x":null})",
    R"({"type":"join-room","roomId":"654321","a":[1,[2,[3,{}]],[],{"b":false}]})",
    R"({"type":"create-room"})",
    R"([{"type":"x"}, 0, -0.25, "s"])",
  };
  // Bytes that matter to the grammar, plus UTF-8 lead/continuation bytes and
  // a control character. No 'e'/'E': exponent overflow is the one place the
  // two legitimately differ (nlohmann refuses 1e400, RFC 8259 does not).
  const std::string alphabet = std::string("{}[]\":,\\u01-. tnfalsr/") + "\xC3\xA9\xED\xA0\xF0\x9F\x01";
  std::mt19937 rng(20261126);
  int agreed = 0, valid = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string doc = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !doc.empty(); ++k) {
      auto pos = rng() % doc.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: doc[pos] = c; break;
        case 1: doc.insert(doc.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
        default: doc.erase(pos, 1);
      }
    }
    bool reference = nlohmann::json::accept(doc);
    auto ours = protocol::parse(doc, 1000);
    bool scanner_valid = ours.ok || ours.error != protocol::error_code::bad_json;
    valid += reference;
    if (reference == scanner_valid)
      ++agreed;
    else
      FAIL_CHECK("disagreement on: " << doc << " (nlohmann " << reference << ")");
  }
  MESSAGE(agreed << " agreed, of which " << valid << " valid JSON");
  CHECK(agreed == 200000);
}

TEST_CASE("type and roomId are unescaped exactly as nlohmann unescapes them") {
  std::string doc = R"({"type":"sig\u006eal","roomId":"12\u00343\/5\"6","x":1})";
  auto r = protocol::parse(doc, 32);
  REQUIRE(r.ok);
  CHECK(r.cmd.type == protocol::msg_type::signal);
  CHECK(r.cmd.room_id == nlohmann::json::parse(doc)["roomId"].get<std::string>());
}
