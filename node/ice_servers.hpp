// GET /api/ice-servers: the `iceServers` list for RTCPeerConnection. TURN
// entries carry time-limited credentials by the TURN REST API scheme that
// coturn's `use-auth-secret` checks: username "expiry:id", password
// base64(HMAC-SHA1(secret, username)). The secret never leaves the node.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace signaling {

struct ice_config {
  std::vector<std::string> stun_urls;
  std::vector<std::string> turn_urls;
  std::string turn_secret;
  std::chrono::seconds turn_ttl{3600};
};

// base64(HMAC-SHA1(secret, username)), the TURN REST API password.
std::string turn_password(const std::string& secret, const std::string& username);

// The JSON body: {"iceServers":[...],"ttl":N}; `now` is Unix time in seconds.
std::string ice_servers_json(const ice_config& cfg, std::int64_t now);

} // namespace signaling
