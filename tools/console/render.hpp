// signal-console's human output: one function per command, from the node's
// JSON answer to aligned tables and key/value lines. `--json` skips all this.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace console {

using json = nlohmann::ordered_json;

std::string render_stats(const json& j);
std::string render_nodes(const json& j, const std::string& current_node);
std::string render_rooms(const json& j);
std::string render_room(const json& j);
std::string render_conns(const json& j);
std::string render_conn(const json& j);
std::string render_kick(const json& j);
std::string render_close_room(const json& j);
std::string render_drain(const json& j);
std::string render_log_level(const json& j);

} // namespace console
