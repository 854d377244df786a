#include "node/ice_servers.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace signaling {

std::string turn_password(const std::string& secret, const std::string& username) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(username.data()), username.size(), mac, &len);
  std::string out(4 * ((len + 2) / 3), '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string ice_servers_json(const ice_config& cfg, std::int64_t now) {
  nlohmann::ordered_json servers = nlohmann::ordered_json::array();
  if (!cfg.stun_urls.empty())
    servers.push_back({{"urls", cfg.stun_urls}});
  if (!cfg.turn_urls.empty() && !cfg.turn_secret.empty()) {
    // A random id makes each credential distinct in coturn's logs and quotas.
    unsigned char raw[8];
    RAND_bytes(raw, sizeof raw);
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    for (unsigned char b : raw) {
      id += hex[b >> 4];
      id += hex[b & 15];
    }
    auto username = std::to_string(now + cfg.turn_ttl.count()) + ":" + id;
    servers.push_back({{"urls", cfg.turn_urls}, {"username", username}, {"credential", turn_password(cfg.turn_secret, username)}});
  }
  nlohmann::ordered_json body = {{"iceServers", servers}, {"ttl", cfg.turn_ttl.count()}};
  return body.dump();
}

} // namespace signaling
