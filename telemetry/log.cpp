#include "telemetry/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace signaling::log {

void init(const std::string& level) {
  // stdout_sink_mt flushes per line when told to; logs are read live by tests
  // and by `kubectl logs`, so flush at every level.
  auto logger = spdlog::stdout_logger_mt("signal");
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  set_level(level);
}

bool valid_level(const std::string& level) {
  return spdlog::level::from_str(level) != spdlog::level::off || level == "off";
}

bool set_level(const std::string& level) {
  if (!valid_level(level))
    return false;
  spdlog::set_level(spdlog::level::from_str(level));
  return true;
}

std::string logfmt_value(std::string_view v) {
  bool bare = !v.empty();
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
      bare = false;
  if (bare)
    return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < ' ' || c == 0x7f) {
          static const char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

} // namespace signaling::log
