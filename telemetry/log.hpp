// One-line structured logs (logfmt: `ts=… level=… event=… key=value`) to stdout.
// Callers pass identifiers and sizes only: never SDP, ICE candidates or chat text.
// A value that may hold anything (an error text, a reason, a setting) goes
// through q(), so one line stays one line with one meaning whatever it holds.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace signaling::log {

// A logfmt value: written bare when it can be, else quoted with `"` and `\`
// escaped and control characters as \n, \r, \t or \u00XX.
struct text {
  std::string_view value;
};
inline text q(std::string_view v) {
  return text{v};
}
// The escaping itself (what the formatter writes).
std::string logfmt_value(std::string_view v);

// Whether `level` names a level (trace, debug, info, warn, error, off).
bool valid_level(const std::string& level);

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

template <>
struct fmt::formatter<signaling::log::text> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const signaling::log::text& t, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(signaling::log::logfmt_value(t.value), ctx);
  }
};
