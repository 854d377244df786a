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

bool set_level(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return false;
  spdlog::set_level(lvl);
  return true;
}

} // namespace signaling::log
