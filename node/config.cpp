#include "node/config.hpp"

#include "telemetry/log.hpp"

#include "transport/client_address.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <unistd.h>

namespace signaling {

namespace {

// One setting: its environment name (the flag is derived from it), its
// meaning, how to read it into a config and how to print it back.
struct setting {
  const char* env;
  const char* help;
  std::function<void(config&, const std::string&)> set;
  std::function<std::string(const config&)> get;
};

std::string flag_of(const char* env) {
  std::string f = "--";
  for (const char* p = env; *p; ++p)
    f += *p == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(*p)));
  return f;
}

std::uint64_t parse_uint(const std::string& name, const std::string& v, std::uint64_t lo, std::uint64_t hi) {
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw config_error(name + ": expected a whole number, got \"" + v + "\"");
  errno = 0;
  auto x = std::strtoull(v.c_str(), nullptr, 10);
  if (errno == ERANGE || x < lo || x > hi)
    throw config_error(name + ": " + v + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  return x;
}

double parse_positive(const std::string& name, const std::string& v) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x > 0) || !std::isfinite(x))
    throw config_error(name + ": expected a positive number, got \"" + v + "\"");
  return x;
}

std::vector<std::string> split_list(const std::string& v) {
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

std::string number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

std::string join_list(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ",") + s;
  return out;
}

std::function<void(config&, const std::string&)> top_ms_setter(const char* name, std::chrono::milliseconds config::*field) {
  return [name, field](config& c, const std::string& v) {
    c.*field = std::chrono::milliseconds(parse_uint(name, v, 10, 3600ull * 1000));
  };
}

std::function<std::string(const config&)> top_ms_getter(std::chrono::milliseconds config::*field) {
  return [field](const config& c) { return std::to_string((c.*field).count()); };
}

template <class Rep, class Period>
std::function<void(config&, const std::string&)> ms_setter(const char* name,
                                                            std::chrono::duration<Rep, Period> limits::*field) {
  return [name, field](config& c, const std::string& v) {
    c.lim.*field = std::chrono::milliseconds(parse_uint(name, v, 1, 24ull * 3600 * 1000));
  };
}

template <class Rep, class Period>
std::function<std::string(const config&)> ms_getter(std::chrono::duration<Rep, Period> limits::*field) {
  return [field](const config& c) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(c.lim.*field).count());
  };
}

const std::vector<setting>& settings() {
  static const std::vector<setting> all = {
    {"WS_PORT", "HTTP and WebSocket port (0 picks a free one)",
     [](config& c, const std::string& v) { c.ws_port = static_cast<std::uint16_t>(parse_uint("WS_PORT", v, 0, 65535)); },
     [](const config& c) { return std::to_string(c.ws_port); }},
    {"BIND_ADDRESS", "address to listen on",
     [](config& c, const std::string& v) { c.bind_address = v; }, [](const config& c) { return c.bind_address; }},
    {"ADMIN_PORT", "signal-console's port (0 picks a free one, off disables it)",
     [](config& c, const std::string& v) {
       c.admin_port = v == "off" ? -1 : static_cast<int>(parse_uint("ADMIN_PORT", v, 0, 65535));
     },
     [](const config& c) { return c.admin_port < 0 ? std::string("off") : std::to_string(c.admin_port); }},
    {"ADMIN_BIND", "address of the admin port; not loopback lets anyone who reaches it kick, close rooms and drain",
     [](config& c, const std::string& v) { c.admin_bind = v; }, [](const config& c) { return c.admin_bind; }},
    {"FRONTEND_URL", "comma-separated browser origins allowed for CORS and WebSocket (\"*\": any)",
     [](config& c, const std::string& v) { c.frontend_urls = split_list(v); },
     [](const config& c) { return join_list(c.frontend_urls); }},
    {"REDIS_URL",
     "redis://[[user]:password@]host:port[/db] joins a cluster; several, comma-separated, spread rooms over that "
     "many independent Redis shards; unset (and no REDIS_SENTINELS) runs embedded",
     [](config& c, const std::string& v) { c.redis_url = v; }, [](const config& c) { return c.redis_url; }},
    {"REDIS_SENTINELS", "host:port,... of Redis Sentinels: the primaries of REDIS_MASTER_NAME's groups are asked of "
                        "them and followed through failovers (instead of REDIS_URL)",
     [](config& c, const std::string& v) { c.redis_sentinels = v; },
     [](const config& c) { return c.redis_sentinels; }},
    {"REDIS_MASTER_NAME", "with REDIS_SENTINELS: the Sentinel master group; several, comma-separated, are that many "
                          "shards",
     [](config& c, const std::string& v) { c.redis_master_name = v; },
     [](const config& c) { return c.redis_master_name; }},
    {"REDIS_USERNAME", "ACL user for the Redis data servers (AUTH user password), unless a REDIS_URL names one",
     [](config& c, const std::string& v) { c.redis_username = v; }, [](const config& c) { return c.redis_username; }},
    {"REDIS_PASSWORD", "password for the Redis data servers, unless a REDIS_URL carries one",
     [](config& c, const std::string& v) { c.redis_password = v; },
     [](const config& c) { return c.redis_password.empty() ? std::string{} : std::string("***"); }},
    {"REDIS_SENTINEL_PASSWORD", "password for the sentinels (their requirepass)",
     [](config& c, const std::string& v) { c.redis_sentinel_password = v; },
     [](const config& c) { return c.redis_sentinel_password.empty() ? std::string{} : std::string("***"); }},
    {"NODE_TTL_MS", "cluster: a node that missed heartbeats this long is dead; its rooms end",
     top_ms_setter("NODE_TTL_MS", &config::node_ttl), top_ms_getter(&config::node_ttl)},
    {"HEARTBEAT_MS", "cluster: how often a node refreshes its liveness and looks for dead nodes",
     top_ms_setter("HEARTBEAT_MS", &config::heartbeat), top_ms_getter(&config::heartbeat)},
    {"REDIS_TIMEOUT_MS", "cluster: Redis connect and command deadline; past it the link is reset",
     top_ms_setter("REDIS_TIMEOUT_MS", &config::redis_timeout), top_ms_getter(&config::redis_timeout)},
    {"REDIS_BATCH_US",
     "cluster: least time (microseconds) between two writes of frames to other nodes to Redis: a frame made "
     "sooner after the last write waits to share the next one, one after a quieter moment goes at once; 0: every "
     "frame at once",
     [](config& c, const std::string& v) {
       c.redis_batch = std::chrono::microseconds(parse_uint("REDIS_BATCH_US", v, 0, 100000));
     },
     [](const config& c) { return std::to_string(c.redis_batch.count()); }},
    {"NODE_ID", "name of this node in logs, /api/ping and Redis (default: host name)",
     [](config& c, const std::string& v) { c.node_id = v; }, [](const config& c) { return c.node_id; }},
    {"IO_THREADS", "threads running sockets and connection actors (0: one per CPU this process may use, "
                   "less one, at least one; the CPUs it may use: its affinity mask, capped by its cgroup CPU quota)",
     [](config& c, const std::string& v) { c.io_threads = static_cast<unsigned>(parse_uint("IO_THREADS", v, 0, 256)); },
     [](const config& c) { return std::to_string(c.io_threads); }},
    {"PAIR_THREADS", "1: a connection whose peer is on this node moves to the peer's I/O thread when it joins "
                     "or resumes, so relays between them stay on one thread; 0: connections stay where accepted",
     [](config& c, const std::string& v) { c.pair_threads = parse_uint("PAIR_THREADS", v, 0, 1) == 1; },
     [](const config& c) { return std::string(c.pair_threads ? "1" : "0"); }},
    {"ACTOR_THREADS", "CAF scheduler threads for room and directory actors",
     [](config& c, const std::string& v) {
       c.actor_threads = static_cast<unsigned>(parse_uint("ACTOR_THREADS", v, 1, 256));
     },
     [](const config& c) { return std::to_string(c.actor_threads); }},
    {"ACTOR_SCHEDULER", "CAF scheduling policy: sharing (idle workers block until a room has work) or stealing "
                        "(CAF's default: idle workers poll, sleeping 50 us, then 10 ms, between polls)",
     [](config& c, const std::string& v) {
       if (v != "sharing" && v != "stealing")
         throw config_error("ACTOR_SCHEDULER: must be sharing or stealing, got \"" + v + "\"");
       c.actor_scheduler = v;
     },
     [](const config& c) { return c.actor_scheduler; }},
    {"WEB_DIR", "folder of the demo client served at / (empty: none)",
     [](config& c, const std::string& v) { c.web_dir = v; }, [](const config& c) { return c.web_dir; }},
    {"STUN_URLS", "comma-separated STUN URLs for /api/ice-servers (stun:host:port)",
     [](config& c, const std::string& v) { c.stun_urls = split_list(v); },
     [](const config& c) { return join_list(c.stun_urls); }},
    {"TURN_URLS", "comma-separated TURN URLs for /api/ice-servers (turn:host:port?transport=udp)",
     [](config& c, const std::string& v) { c.turn_urls = split_list(v); },
     [](const config& c) { return join_list(c.turn_urls); }},
    {"TURN_SECRET", "coturn static-auth-secret: /api/ice-servers hands out time-limited TURN credentials",
     [](config& c, const std::string& v) { c.turn_secret = v; },
     [](const config& c) { return c.turn_secret.empty() ? std::string{} : std::string("***"); }},
    {"TURN_TTL", "seconds a TURN credential stays valid",
     [](config& c, const std::string& v) { c.turn_ttl = std::chrono::seconds(parse_uint("TURN_TTL", v, 60, 7 * 86400)); },
     [](const config& c) { return std::to_string(c.turn_ttl.count()); }},
    {"AUTH_MODE", "off (anyone may connect, as the seed) or jwt (an HS256 token on the upgrade)",
     [](config& c, const std::string& v) {
       if (v != "off" && v != "jwt")
         throw config_error("AUTH_MODE: must be off or jwt, got \"" + v + "\"");
       c.auth_mode = v;
     },
     [](const config& c) { return c.auth_mode; }},
    {"AUTH_JWT_SECRET", "AUTH_MODE=jwt: the HS256 secret the backend signs tokens with",
     [](config& c, const std::string& v) { c.auth_jwt_secret = v; },
     [](const config& c) { return c.auth_jwt_secret.empty() ? std::string{} : std::string("***"); }},
    {"AUTH_JWT_AUDIENCE", "AUTH_MODE=jwt: required \"aud\" of tokens (empty: not checked)",
     [](config& c, const std::string& v) { c.auth_jwt_audience = v; },
     [](const config& c) { return c.auth_jwt_audience; }},
    {"TLS_CERT_FILE", "PEM certificate (chain) file; with TLS_KEY_FILE the port speaks TLS 1.2+ only; SIGHUP re-reads it",
     [](config& c, const std::string& v) { c.tls_cert_file = v; }, [](const config& c) { return c.tls_cert_file; }},
    {"TLS_KEY_FILE", "PEM private key of TLS_CERT_FILE (unencrypted); SIGHUP re-reads it",
     [](config& c, const std::string& v) { c.tls_key_file = v; }, [](const config& c) { return c.tls_key_file; }},
    {"METRICS_ALLOW", "comma-separated CIDR blocks of clients allowed to GET /metrics, others get 403 (empty: anyone)",
     [](config& c, const std::string& v) {
       auto items = split_list(v);
       try {
         transport::parse_cidr_list(items);
       } catch (const std::invalid_argument& e) {
         throw config_error(std::string("METRICS_ALLOW: ") + e.what());
       }
       c.metrics_allow = items;
     },
     [](const config& c) { return join_list(c.metrics_allow); }},
    {"LOG_LEVEL", "trace, debug, info, warn, error or off",
     [](config& c, const std::string& v) {
       if (!log::valid_level(v))
         throw config_error("LOG_LEVEL: must be trace, debug, info, warn, error or off, got \"" + v + "\"");
       c.log_level = v;
     },
     [](const config& c) { return c.log_level; }},
    {"MAX_MESSAGE_BYTES", "largest WebSocket message; larger closes with 1009",
     [](config& c, const std::string& v) { c.lim.max_message_bytes = parse_uint("MAX_MESSAGE_BYTES", v, 256, 16u << 20); },
     [](const config& c) { return std::to_string(c.lim.max_message_bytes); }},
    {"MAX_JSON_DEPTH", "deepest JSON nesting accepted (error too-deep)",
     [](config& c, const std::string& v) { c.lim.max_json_depth = parse_uint("MAX_JSON_DEPTH", v, 2, 1000); },
     [](const config& c) { return std::to_string(c.lim.max_json_depth); }},
    {"MAX_SEND_QUEUE_BYTES", "bytes queued to one slow client before it is disconnected",
     [](config& c, const std::string& v) {
       c.lim.max_send_queue_bytes = parse_uint("MAX_SEND_QUEUE_BYTES", v, 1024, 1ull << 32);
     },
     [](const config& c) { return std::to_string(c.lim.max_send_queue_bytes); }},
    {"RATE_LIMIT_PER_SEC", "sustained messages per second per connection",
     [](config& c, const std::string& v) { c.lim.rate_per_second = parse_positive("RATE_LIMIT_PER_SEC", v); },
     [](const config& c) { return number(c.lim.rate_per_second); }},
    {"RATE_LIMIT_BURST", "messages a connection may send at once above the rate",
     [](config& c, const std::string& v) { c.lim.rate_burst = parse_positive("RATE_LIMIT_BURST", v); },
     [](const config& c) { return number(c.lim.rate_burst); }},
    {"RATE_LIMIT_STRIKES", "rate-limited messages in a row before close 1008",
     [](config& c, const std::string& v) {
       c.lim.rate_strikes_before_close = static_cast<std::uint32_t>(parse_uint("RATE_LIMIT_STRIKES", v, 1, 1u << 30));
     },
     [](const config& c) { return std::to_string(c.lim.rate_strikes_before_close); }},
    {"MAX_CONNECTIONS", "open WebSocket connections; further upgrades get 503",
     [](config& c, const std::string& v) { c.lim.max_connections = parse_uint("MAX_CONNECTIONS", v, 1, 1u << 30); },
     [](const config& c) { return std::to_string(c.lim.max_connections); }},
    {"HANDSHAKE_TIMEOUT_MS", "deadline for one HTTP request or WebSocket handshake",
     ms_setter("HANDSHAKE_TIMEOUT_MS", &limits::handshake_timeout), ms_getter(&limits::handshake_timeout)},
    {"IDLE_TIMEOUT_MS", "silent connection is closed after this; a ping goes out at half",
     ms_setter("IDLE_TIMEOUT_MS", &limits::idle_timeout), ms_getter(&limits::idle_timeout)},
    {"DRAIN_DELAY_MS", "on SIGTERM, /readyz fails this long while the node still serves, before it stops accepting",
     [](config& c, const std::string& v) {
       c.lim.drain_delay = std::chrono::milliseconds(parse_uint("DRAIN_DELAY_MS", v, 0, 3600ull * 1000));
     },
     ms_getter(&limits::drain_delay)},
    {"SHUTDOWN_CLOSE_CODE", "close code sent to clients on shutdown: 1012 (service restart) or 1001 (going away)",
     [](config& c, const std::string& v) {
       auto code = parse_uint("SHUTDOWN_CLOSE_CODE", v, 1001, 1012);
       if (code != 1001 && code != 1012)
         throw config_error("SHUTDOWN_CLOSE_CODE: must be 1001 or 1012, got " + v);
       c.lim.shutdown_close_code = static_cast<std::uint16_t>(code);
     },
     [](const config& c) { return std::to_string(c.lim.shutdown_close_code); }},
    {"SHUTDOWN_TIMEOUT_MS", "on SIGTERM, after the drain delay: time given to close handshakes before exit",
     ms_setter("SHUTDOWN_TIMEOUT_MS", &limits::shutdown_timeout), ms_getter(&limits::shutdown_timeout)},
    {"ROOM_ID_DIGITS", "digits of a room id (6 as in the seed)",
     [](config& c, const std::string& v) {
       c.lim.room_id_digits = static_cast<unsigned>(parse_uint("ROOM_ID_DIGITS", v, 6, 18));
     },
     [](const config& c) { return std::to_string(c.lim.room_id_digits); }},
    {"RESUME_GRACE_SECONDS", "a member whose connection is lost keeps its seat this long for a resume (0: off)",
     [](config& c, const std::string& v) {
       c.lim.resume_grace = std::chrono::seconds(parse_uint("RESUME_GRACE_SECONDS", v, 0, 3600));
     },
     [](const config& c) { return std::to_string(c.lim.resume_grace.count()); }},
    {"RESUME_MAX_FRAMES", "frames kept for a parked seat; past it the oldest are dropped",
     [](config& c, const std::string& v) {
       c.lim.resume_max_frames = static_cast<std::uint32_t>(parse_uint("RESUME_MAX_FRAMES", v, 1, 100000));
     },
     [](const config& c) { return std::to_string(c.lim.resume_max_frames); }},
    {"RESUME_MAX_BYTES", "bytes kept for a parked seat; past it the oldest frames are dropped",
     [](config& c, const std::string& v) {
       c.lim.resume_max_bytes = parse_uint("RESUME_MAX_BYTES", v, 1024, 64u << 20);
     },
     [](const config& c) { return std::to_string(c.lim.resume_max_bytes); }},
    {"JOIN_TIMEOUT_MS", "a WebSocket in no room this long is closed 1008",
     ms_setter("JOIN_TIMEOUT_MS", &limits::join_timeout), ms_getter(&limits::join_timeout)},
    {"JOIN_MISSES_BEFORE_CLOSE", "refused join-room (room-unavailable) per connection; the last closes 1008",
     [](config& c, const std::string& v) {
       c.lim.join_misses_before_close =
         static_cast<std::uint32_t>(parse_uint("JOIN_MISSES_BEFORE_CLOSE", v, 1, 1u << 30));
     },
     [](const config& c) { return std::to_string(c.lim.join_misses_before_close); }},
    {"JOIN_MISS_DELAY_MS", "each refused join-room after a connection's first is answered this late",
     [](config& c, const std::string& v) {
       c.lim.join_miss_delay = std::chrono::milliseconds(parse_uint("JOIN_MISS_DELAY_MS", v, 0, 60000));
     },
     ms_getter(&limits::join_miss_delay)},
    {"JOIN_MISSES_PER_IP", "refused join-room per client address per minute, cluster-wide; past it join-room gets rate-limited (0: off)",
     [](config& c, const std::string& v) {
       c.lim.join_misses_per_ip = static_cast<std::uint32_t>(parse_uint("JOIN_MISSES_PER_IP", v, 0, 1000000));
     },
     [](const config& c) { return std::to_string(c.lim.join_misses_per_ip); }},
    {"MAX_CONNECTIONS_PER_IP", "open WebSockets per client address (IPv6: per /64), cluster-wide; more get 429 (0: no cap)",
     [](config& c, const std::string& v) {
       c.lim.max_connections_per_ip = parse_uint("MAX_CONNECTIONS_PER_IP", v, 0, 1u << 30);
     },
     [](const config& c) { return std::to_string(c.lim.max_connections_per_ip); }},
    {"TRUSTED_PROXIES", "comma-separated CIDR blocks of proxies whose X-Forwarded-For names the client",
     [](config& c, const std::string& v) {
       auto items = split_list(v);
       try {
         transport::parse_cidr_list(items);
       } catch (const std::invalid_argument& e) {
         throw config_error(std::string("TRUSTED_PROXIES: ") + e.what());
       }
       c.lim.trusted_proxies = items;
     },
     [](const config& c) { return join_list(c.lim.trusted_proxies); }},
    {"ENV_FILE", "optional file of KEY=value lines read at start (never overrides the environment)",
     [](config& c, const std::string& v) { c.env_file = v; }, [](const config& c) { return c.env_file; }},
  };
  return all;
}

const setting* find_env(const std::string& name) {
  for (const auto& s : settings())
    if (name == s.env)
      return &s;
  return nullptr;
}

const setting* find_flag(const std::string& flag) {
  for (const auto& s : settings())
    if (flag == flag_of(s.env))
      return &s;
  return nullptr;
}

// KEY=value lines; '#' comments; optional quotes around the value.
std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#')
      continue;
    if (line.compare(b, 7, "export ") == 0)
      b += 7;
    auto eq = line.find('=', b);
    if (eq == std::string::npos)
      continue;
    auto key = line.substr(b, eq - b);
    key.erase(key.find_last_not_of(" \t") + 1);
    auto val = line.substr(eq + 1);
    auto vb = val.find_first_not_of(" \t");
    val = vb == std::string::npos ? "" : val.substr(vb);
    val.erase(val.find_last_not_of(" \t\r") + 1);
    if (val.size() >= 2 && (val.front() == '"' || val.front() == '\'') && val.back() == val.front())
      val = val.substr(1, val.size() - 2);
    out[key] = val;
  }
  return out;
}

std::string default_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
    return "node";
  return host;
}

} // namespace

config_result load_config(int argc, const char* const* argv, const char* const* env) {
  config_result res;
  // Flags first into a map, so ENV_FILE given as a flag is known early.
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      res.help = true;
      return res;
    }
    std::string value;
    auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw config_error(arg + ": missing value");
    }
    auto* s = find_flag(arg);
    if (!s)
      throw config_error("unknown option " + arg + " (see --help)");
    flags[s->env] = value;
  }
  std::map<std::string, std::string> environment;
  for (auto p = env; p && *p; ++p) {
    std::string kv = *p;
    auto eq = kv.find('=');
    if (eq != std::string::npos && find_env(kv.substr(0, eq)))
      environment[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string env_file = ".env";
  if (auto i = environment.find("ENV_FILE"); i != environment.end())
    env_file = i->second;
  if (auto i = flags.find("ENV_FILE"); i != flags.end())
    env_file = i->second;
  std::map<std::string, std::string> merged = read_env_file(env_file);
  for (auto& [k, v] : environment)
    merged[k] = v;
  for (auto& [k, v] : flags)
    merged[k] = v;
  for (auto& [k, v] : merged)
    if (auto* s = find_env(k))
      s->set(res.cfg, v);
  if (res.cfg.node_id.empty())
    res.cfg.node_id = default_node_id();
  if (res.cfg.node_id.size() > 64 ||
      res.cfg.node_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
        std::string::npos)
    throw config_error("NODE_ID: use at most 64 of A-Z a-z 0-9 . _ -, got \"" + res.cfg.node_id + "\"");
  {
    cluster::redis_plan plan;
    std::string err;
    if (!cluster::plan_shards(cluster::redis_settings{res.cfg.redis_url, res.cfg.redis_sentinels,
                                                      res.cfg.redis_master_name, res.cfg.redis_username,
                                                      res.cfg.redis_password, res.cfg.redis_sentinel_password},
                              plan, err))
      throw config_error(err);
  }
  if (res.cfg.heartbeat * 2 > res.cfg.node_ttl)
    throw config_error("HEARTBEAT_MS: must be at most half of NODE_TTL_MS, or live nodes would be reaped");
  if (res.cfg.lim.max_send_queue_bytes < res.cfg.lim.max_message_bytes)
    throw config_error("MAX_SEND_QUEUE_BYTES: must be at least MAX_MESSAGE_BYTES, or every large relay "
                       "would cut its receiver off");
  if (res.cfg.auth_mode == "jwt" && res.cfg.auth_jwt_secret.size() < 16)
    throw config_error("AUTH_JWT_SECRET: AUTH_MODE=jwt needs a secret of at least 16 bytes");
  if (res.cfg.tls_cert_file.empty() != res.cfg.tls_key_file.empty())
    throw config_error(res.cfg.tls_cert_file.empty() ? "TLS_CERT_FILE: must be set together with TLS_KEY_FILE"
                                                     : "TLS_KEY_FILE: must be set together with TLS_CERT_FILE");
  if (res.cfg.lim.rate_burst < 1)
    throw config_error("RATE_LIMIT_BURST: must be at least 1");
  return res;
}

std::string usage() {
  std::string out = "usage: signal-node [--flag value]...   (--help, -h: this text)\n\n"
                    "Every flag has an environment variable of the same name (WS_PORT for --ws-port);\n"
                    "flags win over the environment, which wins over the .env file.\n\n";
  config defaults;
  for (const auto& s : settings()) {
    auto flag = flag_of(s.env);
    out += "  " + flag + std::string(flag.size() < 24 ? 24 - flag.size() : 1, ' ') + s.help + "\n";
    out += std::string(26, ' ') + "env " + s.env + ", default \"" + s.get(defaults) + "\"\n";
  }
  return out;
}

cluster::redis_plan redis_plan_of(const config& cfg) {
  cluster::redis_plan plan;
  std::string err;
  if (!cluster::plan_shards(cluster::redis_settings{cfg.redis_url, cfg.redis_sentinels, cfg.redis_master_name,
                                                    cfg.redis_username, cfg.redis_password,
                                                    cfg.redis_sentinel_password},
                            plan, err))
    throw config_error(err);
  return plan;
}

std::vector<std::string> describe(const config& cfg) {
  std::vector<std::string> out;
  for (const auto& s : settings()) {
    auto v = s.get(cfg);
    if (std::string(s.env) == "REDIS_URL") {
      std::string masked;
      for (auto& url : split_list(v)) {
        if (url.rfind('@') != std::string::npos) {
          auto scheme = url.find("://");
          auto keep = scheme == std::string::npos ? std::string{} : url.substr(0, scheme + 3);
          url = keep + "***@" + url.substr(url.rfind('@') + 1); // never log a password
        }
        masked += (masked.empty() ? "" : ",") + url;
      }
      v = masked;
    }
    out.push_back(std::string(s.env) + "=" + log::logfmt_value(v));
  }
  return out;
}

} // namespace signaling
