// Verification of the optional client tokens (AUTH_MODE=jwt): HS256 JSON Web
// Tokens signed by the deployment's backend with AUTH_JWT_SECRET. Only HS256
// is accepted (never "none", never another algorithm: the header cannot
// choose how it is checked). The token itself is never logged.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace signaling::jwt {

// What a valid token allows. A token bound to a room may only join that
// room (and create one only if it also says "create": true).
struct claims {
  std::string subject;   // "sub", for logs
  std::string room;      // "roomId": empty = any room
  bool may_create = true; // "create"
};

struct verdict {
  bool ok = false;
  std::string reason; // when !ok: malformed, bad-algorithm, bad-signature, expired, not-yet-valid, wrong-audience
  claims granted;
};

struct policy {
  std::string secret;
  std::string audience; // required "aud" when not empty
  std::chrono::seconds leeway{30};
};

verdict verify(std::string_view token, const policy& p, std::int64_t now_unix);

// For tests and backends: signs `payload_json` with HS256.
std::string sign(std::string_view payload_json, std::string_view secret);

} // namespace signaling::jwt
