#include "cluster/shards.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace signaling::cluster {

namespace {

std::vector<std::string> split(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos)
      out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// MurmurHash3's 64-bit finalizer: every input bit reaches every output bit,
// so scores for one id under different seeds are unrelated.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

} // namespace

bool plan_shards(const redis_settings& in, redis_plan& out, std::string& error) {
  redis_plan plan;
  auto urls = split(in.urls);
  auto sentinels = split(in.sentinels);
  if (!urls.empty() && !sentinels.empty()) {
    error = "REDIS_URL and REDIS_SENTINELS are both set: use REDIS_URL for Redis servers you name, or "
            "REDIS_SENTINELS (with REDIS_MASTER_NAME) for primaries Sentinel names";
    return false;
  }
  std::set<std::string> seen;
  for (auto& url : urls) {
    shard_spec s;
    if (!parse_redis_url(url, s.endpoint, error))
      return false;
    if (s.endpoint.username.empty())
      s.endpoint.username = in.username;
    if (s.endpoint.password.empty())
      s.endpoint.password = in.password;
    s.name = lower(address_of(s.endpoint.host, s.endpoint.port));
    if (s.endpoint.db != 0)
      s.name += "/" + std::to_string(s.endpoint.db);
    if (!seen.insert(s.name).second) {
      error = "REDIS_URL: " + s.name + " is named twice (each URL is a separate shard)";
      return false;
    }
    plan.shards.push_back(std::move(s));
  }
  if (!sentinels.empty()) {
    for (auto& a : sentinels) {
      std::string host, why;
      std::uint16_t port = 26379;
      if (!parse_host_port(a, host, port, why)) {
        error = "REDIS_SENTINELS: " + why;
        return false;
      }
      plan.sentinels.emplace_back(host, port);
    }
    auto masters = split(in.master_names.empty() ? std::string("mymaster") : in.master_names);
    if (masters.empty()) {
      error = "REDIS_MASTER_NAME: name at least one Sentinel master group";
      return false;
    }
    for (auto& m : masters) {
      if (m.find_first_of(" \t") != std::string::npos) {
        error = "REDIS_MASTER_NAME: \"" + m + "\" contains a space";
        return false;
      }
      if (!seen.insert(m).second) {
        error = "REDIS_MASTER_NAME: " + m + " is named twice (each name is a separate shard)";
        return false;
      }
      shard_spec s;
      s.name = m;
      s.master = m;
      s.endpoint.username = in.username;
      s.endpoint.password = in.password;
      plan.shards.push_back(std::move(s));
    }
  } else if (!in.sentinel_password.empty()) {
    error = "REDIS_SENTINEL_PASSWORD: set without REDIS_SENTINELS";
    return false;
  }
  plan.sentinel_password = in.sentinel_password;
  if (plan.shards.size() > 64) {
    error = "REDIS_URL / REDIS_MASTER_NAME: at most 64 shards";
    return false;
  }
  out = std::move(plan);
  return true;
}

std::string shard_list(const std::vector<shard_spec>& shards) {
  std::vector<std::string> names;
  for (auto& s : shards)
    names.push_back(s.name);
  std::sort(names.begin(), names.end());
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : ",") + n;
  return out;
}

shard_map::shard_map(const std::vector<std::string>& names) {
  for (auto& n : names)
    seeds_.push_back(fnv1a(n));
}

std::size_t shard_map::pick(std::string_view room_id) const {
  if (seeds_.size() <= 1)
    return 0;
  auto h = fnv1a(room_id);
  std::size_t best = 0;
  std::uint64_t best_score = 0;
  for (std::size_t i = 0; i < seeds_.size(); ++i) {
    auto score = mix(h ^ seeds_[i]);
    if (i == 0 || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

} // namespace signaling::cluster
