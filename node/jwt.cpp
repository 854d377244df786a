#include "node/jwt.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace signaling::jwt {

namespace {

std::string base64url_encode(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
  }
  return out;
}

// Strict: the URL-safe alphabet, no padding, no stray bits.
std::optional<std::string> base64url_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '-')
      return 62;
    if (c == '_')
      return 63;
    return -1;
  };
  if (in.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

std::string hs256(std::string_view data, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

verdict refuse(const char* why) {
  verdict v;
  v.reason = why;
  return v;
}

} // namespace

std::string sign(std::string_view payload_json, std::string_view secret) {
  auto head = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  auto body = base64url_encode(payload_json);
  auto signing_input = head + "." + body;
  return signing_input + "." + base64url_encode(hs256(signing_input, secret));
}

verdict verify(std::string_view token, const policy& p, std::int64_t now) {
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos || token.size() > 8192)
    return refuse("malformed");
  auto head = base64url_decode(token.substr(0, d1));
  auto body = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = base64url_decode(token.substr(d2 + 1));
  if (!head || !body || !sig)
    return refuse("malformed");
  auto header = nlohmann::json::parse(*head, nullptr, false);
  auto payload = nlohmann::json::parse(*body, nullptr, false);
  if (!header.is_object() || !payload.is_object())
    return refuse("malformed");
  // The algorithm is ours to choose, not the token's: HS256 or nothing.
  if (!header.contains("alg") || header["alg"] != "HS256")
    return refuse("bad-algorithm");
  auto expected = hs256(token.substr(0, d2), p.secret);
  if (sig->size() != expected.size() || CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0)
    return refuse("bad-signature");
  auto leeway = p.leeway.count();
  if (!payload.contains("exp") || !payload["exp"].is_number())
    return refuse("malformed"); // tokens without an expiry are refused
  if (payload["exp"].get<double>() + static_cast<double>(leeway) <= static_cast<double>(now))
    return refuse("expired");
  if (payload.contains("nbf") &&
      (!payload["nbf"].is_number() || payload["nbf"].get<double>() - static_cast<double>(leeway) > static_cast<double>(now)))
    return refuse("not-yet-valid");
  if (!p.audience.empty()) {
    bool match = false;
    if (payload.contains("aud")) {
      const auto& aud = payload["aud"];
      if (aud.is_string())
        match = aud == p.audience;
      else if (aud.is_array())
        for (const auto& a : aud)
          match = match || (a.is_string() && a == p.audience);
    }
    if (!match)
      return refuse("wrong-audience");
  }
  verdict v;
  v.ok = true;
  if (payload.contains("sub") && payload["sub"].is_string())
    v.granted.subject = payload["sub"].get<std::string>();
  if (payload.contains("roomId") && payload["roomId"].is_string()) {
    v.granted.room = payload["roomId"].get<std::string>();
    v.granted.may_create = false;
  }
  if (payload.contains("create") && payload["create"].is_boolean())
    v.granted.may_create = payload["create"].get<bool>();
  return v;
}

} // namespace signaling::jwt
