// signal-console: the operator console of signal-node. Connects to a node's
// inspector actor over CAF's middleman (the node's ADMIN_PORT) and shows or
// changes what the node's actors are doing. See docs/console.md.
//
//   signal-console [--node HOST:PORT] [--json] [--timeout MS] [COMMAND [ARGS]]
//   signal-console [--node HOST:PORT] [--json] --script FILE
//
// Exit status: 0 done; 1 the node refused the command (no such room, ...);
// 2 bad usage; 3 the node cannot be reached, is not an admin port, or stopped
// answering.
#include "admin_client.hpp"
#include "render.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <unistd.h>
#include <vector>

namespace console {

namespace {

enum status : int { ok = 0, refused = 1, usage_error = 2, unreachable = 3 };

constexpr std::uint32_t default_limit = 100;

const char* help_text = R"(Commands (one per line; ARGS as shown):
  nodes                    every node of the cluster (one in embedded mode); * marks the current one
  use NODE | HOST:PORT     switch to another node (by its id from `nodes`, or its admin address)
  stats                    this node: connections, rooms, messages, relays, errors, RSS, actors, Redis
  rooms [--limit N]        rooms of this node, by id (default limit 100)
  room ID                  one room: its members, their connection actors and what they relayed
  conns [--limit N]        connection actors of this node, by actor id (default limit 100)
  conn ACTOR_ID            one connection actor: room, queued bytes, messages in/out, last activity
  kick ACTOR_ID            close that connection with 1008 "kicked by operator"
  close-room ID            end that room: members here get peer-left, then close 1000 "room closed by operator"
  drain                    drain this node exactly as SIGTERM does (it exits when done)
  log-level LEVEL          trace, debug, info, warn, error or off
  history                  the commands of this session; !N runs number N again, !! the last
  help                     this text
  quit                     leave (also: exit, Ctrl-D)
)";

const char* usage_text = R"(usage: signal-console [--node HOST:PORT] [--json] [--timeout MS] [COMMAND [ARGS]]
       signal-console [--node HOST:PORT] [--json] [--timeout MS] --script FILE

  --node HOST:PORT   the node's admin port (default 127.0.0.1:$ADMIN_PORT, or 127.0.0.1:4100)
  --json             print each answer as one line of JSON (errors too: {"error":..,"code":..})
  --timeout MS       deadline for connecting and for each answer (default 3000)
  --script FILE      run the commands in FILE (one per line, # comments), stop at the first failure
  With a COMMAND, runs it and exits; otherwise reads commands from standard input.
  Exit status: 0 ok, 1 the node refused the command, 2 bad usage, 3 node unreachable or not answering.

)";

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 19 && s.find_first_not_of("0123456789") == std::string::npos;
}

// The admin address a pod's own environment implies, else the default port.
endpoint default_endpoint() {
  endpoint ep{"127.0.0.1", 4100};
  if (const char* p = std::getenv("ADMIN_PORT"); p && all_digits(p)) {
    auto n = std::stoul(p);
    if (n > 0 && n <= 65535)
      ep.port = static_cast<std::uint16_t>(n);
  }
  if (const char* b = std::getenv("ADMIN_BIND"); b && *b) {
    std::string bind = b;
    if (bind != "0.0.0.0" && bind != "::" && bind != "[::]")
      ep.host = bind;
  }
  return ep;
}

class session {
public:
  session(caf::actor_system& sys, std::chrono::milliseconds timeout, bool json_out, endpoint start)
      : client_(sys, timeout), json_(json_out), wanted_(std::move(start)) {}

  // Connects to the starting node; false (reported) if it cannot.
  bool open() { return reconnect() == ok; }

  // Runs one command line; sets `quit_` on quit.
  int run_line(const std::string& raw) {
    auto line = raw;
    if (line == "!!" || (line.size() > 1 && line[0] == '!' && all_digits(line.substr(1)))) {
      std::size_t n = line == "!!" ? history_.size() : std::stoul(line.substr(1));
      if (n == 0 || n > history_.size())
        return fail_usage("no command number " + line.substr(1) + " in the history");
      line = history_[n - 1];
      if (!json_)
        std::cout << line << "\n";
    }
    auto words = split_words(line);
    if (words.empty() || words[0][0] == '#')
      return ok;
    history_.push_back(line);
    return run(words);
  }

  bool quit() const { return quit_; }
  std::string prompt() const { return "signal-console[" + (name_.empty() ? wanted_.str() : name_) + "]> "; }

private:
  int run(const std::vector<std::string>& w) {
    const auto& cmd = w[0];
    auto args = w.size() - 1;
    if (cmd == "help" || cmd == "?") {
      std::cout << help_text;
      return ok;
    }
    if (cmd == "quit" || cmd == "exit") {
      quit_ = true;
      return ok;
    }
    if (cmd == "history") {
      for (std::size_t i = 0; i < history_.size(); ++i) {
        auto n = std::to_string(i + 1);
        std::cout << std::string(n.size() < 4 ? 4 - n.size() : 0, ' ') << n << "  " << history_[i] << "\n";
      }
      return ok;
    }
    if (cmd == "use")
      return args == 1 ? use(w[1]) : fail_usage("usage: use NODE | HOST:PORT");
    if (cmd == "stats" && args == 0)
      return answer(ask(signaling::stats_atom_v), render_stats);
    if (cmd == "nodes" && args == 0)
      return answer(ask(signaling::nodes_atom_v), [this](const json& j) { return render_nodes(j, name_); });
    if (cmd == "rooms" || cmd == "conns") {
      std::uint32_t limit = default_limit;
      if (args == 2 && (w[1] == "--limit" || w[1] == "-n") && all_digits(w[2]) && w[2].size() <= 9)
        limit = static_cast<std::uint32_t>(std::stoul(w[2]));
      else if (args != 0)
        return fail_usage("usage: " + cmd + " [--limit N]");
      if (cmd == "rooms")
        return answer(ask(signaling::rooms_atom_v, limit), render_rooms);
      return answer(ask(signaling::conns_atom_v, limit), render_conns);
    }
    if (cmd == "room" || cmd == "close-room") {
      if (args != 1 || !all_digits(w[1]))
        return fail_usage("usage: " + cmd + " ID (the room's digits)");
      if (cmd == "room")
        return answer(ask(signaling::room_atom_v, w[1]), render_room);
      return answer(ask(signaling::close_room_atom_v, w[1]), render_close_room);
    }
    if (cmd == "conn" || cmd == "kick") {
      if (args != 1 || !all_digits(w[1]))
        return fail_usage("usage: " + cmd + " ACTOR_ID (a number from `conns`)");
      std::uint64_t id = std::stoull(w[1]);
      if (cmd == "conn")
        return answer(ask(signaling::conn_atom_v, id), render_conn);
      return answer(ask(signaling::kick_atom_v, id), render_kick);
    }
    if (cmd == "drain" && args == 0)
      return answer(ask(signaling::drain_atom_v), render_drain);
    if (cmd == "log-level" && args == 1)
      return answer(ask(signaling::log_level_atom_v, w[1]), render_log_level);
    return fail_usage("unknown command or wrong arguments: \"" + cmd + "\" (try help)");
  }

  // Asks the current node, connecting again first if the link was lost.
  template <class... Ts> reply ask(Ts&&... xs) {
    if (!client_.connected()) {
      auto r = client_.connect(wanted_);
      if (r.failure != failure_kind::none)
        return r;
    }
    return client_.ask(std::forward<Ts>(xs)...);
  }

  int answer(const reply& r, const std::function<std::string(const json&)>& render) {
    if (r.failure != failure_kind::none)
      return fail_link(r);
    auto j = json::parse(r.text, nullptr, false);
    if (j.is_discarded())
      return fail_link({failure_kind::not_admin, "the node answered something that is not JSON"});
    if (j.is_object() && j.contains("error")) {
      if (json_)
        std::cout << r.text << std::endl;
      else
        std::cerr << "error: " << j["error"].get<std::string>() << std::endl;
      return refused;
    }
    if (json_)
      std::cout << r.text << std::endl;
    else
      std::cout << render(j) << std::flush;
    return ok;
  }

  int use(const std::string& where) {
    endpoint target;
    if (where.find(':') != std::string::npos) { // node ids cannot contain ':'
      auto ep = parse_endpoint(where);
      if (!ep)
        return fail_usage("not an address: " + where + " (HOST:PORT)");
      target = *ep;
    } else {
      auto r = ask(signaling::nodes_atom_v);
      if (r.failure != failure_kind::none)
        return fail_link(r);
      auto j = json::parse(r.text, nullptr, false);
      if (j.is_discarded() || !j.contains("nodes"))
        return answer(r, [](const json&) { return std::string{}; });
      const json* found = nullptr;
      for (auto& n : j["nodes"])
        if (n["id"] == where)
          found = &n;
      if (!found)
        return fail_refused("unknown-node", "no node " + where + " in the registry (see nodes)");
      if (!(*found)["alive"].get<bool>())
        return fail_refused("node-dead", "node " + where + " is not alive (its heartbeat expired)");
      auto ep = (*found)["admin"].is_string() ? parse_endpoint((*found)["admin"].get<std::string>()) : std::nullopt;
      if (!ep)
        return fail_refused("no-admin", "node " + where + " has no admin port");
      target = *ep;
    }
    auto previous = wanted_;
    wanted_ = target;
    if (int s = reconnect(); s != ok) {
      wanted_ = previous;
      return s;
    }
    if (json_)
      std::cout << json{{"node", name_}, {"admin", wanted_.str()}}.dump() << std::endl;
    else
      std::cout << "now on " << name_ << " (" << wanted_.str() << ")" << std::endl;
    return ok;
  }

  // Connects to `wanted_` and learns the node's name.
  int reconnect() {
    auto r = client_.connect(wanted_);
    if (r.failure == failure_kind::none)
      r = client_.ask(signaling::stats_atom_v);
    if (r.failure != failure_kind::none)
      return fail_link(r);
    auto j = json::parse(r.text, nullptr, false);
    if (j.is_discarded() || !j.contains("node"))
      return fail_link({failure_kind::not_admin, wanted_.str() + " did not answer as a signal-node admin port"});
    name_ = j["node"].get<std::string>();
    return ok;
  }

  int fail_link(const reply& r) {
    const char* code = r.failure == failure_kind::unreachable ? "unreachable"
                       : r.failure == failure_kind::not_admin ? "not-admin"
                                                              : "lost";
    if (json_)
      std::cout << json{{"error", r.text}, {"code", code}}.dump() << std::endl;
    else
      std::cerr << "signal-console: " << r.text << std::endl;
    return unreachable;
  }

  int fail_refused(const std::string& code, const std::string& message) {
    if (json_)
      std::cout << json{{"error", message}, {"code", code}}.dump() << std::endl;
    else
      std::cerr << "error: " << message << std::endl;
    return refused;
  }

  int fail_usage(const std::string& message) {
    if (json_)
      std::cout << json{{"error", message}, {"code", "usage"}}.dump() << std::endl;
    else
      std::cerr << message << std::endl;
    return usage_error;
  }

  admin_client client_;
  bool json_;
  endpoint wanted_;  // the node commands go to
  std::string name_; // its NODE_ID, once connected
  std::vector<std::string> history_;
  bool quit_ = false;
};

int main_impl(int argc, char** argv) {
  bool json_out = false;
  std::string script;
  auto target = default_endpoint();
  std::chrono::milliseconds timeout{3000};
  std::vector<std::string> command;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* what) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        std::cerr << "signal-console: " << a << " needs " << what << "\n" << usage_text;
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    if (!command.empty()) {
      command.push_back(a);
    } else if (a == "--help" || a == "-h") {
      std::cout << usage_text << help_text;
      return ok;
    } else if (a == "--json") {
      json_out = true;
    } else if (a == "--node") {
      auto v = value("HOST:PORT");
      auto ep = v ? parse_endpoint(*v) : std::nullopt;
      if (!ep) {
        std::cerr << "signal-console: --node wants HOST:PORT\n";
        return usage_error;
      }
      target = *ep;
    } else if (a == "--timeout") {
      auto v = value("milliseconds");
      if (!v || !all_digits(*v) || v->size() > 7 || std::stoul(*v) < 100) {
        std::cerr << "signal-console: --timeout wants milliseconds (at least 100)\n";
        return usage_error;
      }
      timeout = std::chrono::milliseconds(std::stoul(*v));
    } else if (a == "--script") {
      auto v = value("a file");
      if (!v)
        return usage_error;
      script = *v;
    } else if (a.rfind("--", 0) == 0) {
      std::cerr << "signal-console: unknown option " << a << "\n" << usage_text;
      return usage_error;
    } else {
      command.push_back(a);
    }
  }

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", std::size_t{2});
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  session s{sys, timeout, json_out, target};

  // One command: connect, run, exit with its status.
  if (!command.empty()) {
    if (!s.open())
      return unreachable;
    std::string line;
    for (auto& w : command)
      line += (line.empty() ? "" : " ") + w;
    return s.run_line(line);
  }

  std::ifstream file;
  if (!script.empty()) {
    file.open(script);
    if (!file) {
      std::cerr << "signal-console: cannot read " << script << "\n";
      return usage_error;
    }
  }
  std::istream& in = script.empty() ? std::cin : file;
  bool interactive = script.empty() && isatty(STDIN_FILENO);
  if (!s.open() && !interactive)
    return unreachable;
  if (interactive)
    std::cout << "signal-console: type help for the commands, quit to leave\n";
  int last = ok;
  std::string line;
  while (!s.quit()) {
    if (interactive)
      std::cout << s.prompt() << std::flush;
    if (!std::getline(in, line))
      break;
    last = s.run_line(line);
    // Scripts and pipes stop at the first failure, like `sh -e`.
    if (last != ok && !interactive)
      return last;
  }
  if (interactive)
    std::cout << "\n";
  return interactive ? ok : last;
}

} // namespace

} // namespace console

int main(int argc, char** argv) {
  return console::main_impl(argc, argv);
}
