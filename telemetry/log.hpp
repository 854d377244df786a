// One-line structured logs (logfmt: `ts=… level=… event=… key=value`) to stdout.
// Callers pass identifiers and sizes only: never SDP, ICE candidates or chat text.
#pragma once

#include <spdlog/spdlog.h>

namespace signaling::log {

// Sets up the stdout logger; `level` is trace|debug|info|warn|error|off.
void init(const std::string& level);

// Changes the level at run time; returns false for an unknown name.
bool set_level(const std::string& level);

template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  spdlog::info(f, std::forward<Args>(args)...);
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  spdlog::warn(f, std::forward<Args>(args)...);
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  spdlog::error(f, std::forward<Args>(args)...);
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  spdlog::debug(f, std::forward<Args>(args)...);
}

} // namespace signaling::log
