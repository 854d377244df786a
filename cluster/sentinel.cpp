#include "cluster/sentinel.hpp"

#include "telemetry/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <mutex>
#include <sstream>

namespace signaling::cluster {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

// One SENTINEL get-master-addr-by-name put to every sentinel: the answers
// are counted as they come (on several strands, hence the mutex) and the
// caller is answered exactly once.
struct vote {
  struct candidate {
    std::string host;
    std::uint16_t port = 0;
    std::string address;
    std::size_t votes = 0;
  };
  std::mutex mutex;
  std::size_t waiting = 0;
  std::size_t quorum = 0;
  std::string master, avoid;
  std::vector<candidate> candidates; // in the order first named
  std::vector<std::string> failures;
  bool done = false;
  redis_client::locate_callback cb;

  // Under the mutex: the answer, if it is decided.
  bool decide(located& out) {
    for (auto& c : candidates)
      if (c.votes >= quorum) {
        out = located{true, c.host, c.port, {}};
        return true;
      }
    if (waiting > 0)
      return false;
    const candidate* best = nullptr;
    for (auto& c : candidates) {
      bool better =
          !best || c.votes > best->votes || (c.votes == best->votes && best->address == avoid && c.address != avoid);
      if (better)
        best = &c;
    }
    if (best) {
      out = located{true, best->host, best->port, {}};
      return true;
    }
    std::string why = "no sentinel named a primary for " + master + ":";
    for (auto& f : failures)
      why += " " + f + ";";
    out = located{false, {}, 0, why};
    return true;
  }
};

} // namespace

struct sentinel_set::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, options o) : opts(std::move(o)), strand(net::make_strand(ioc)) {
    for (auto& [host, port] : opts.addresses) {
      redis_client::options c;
      c.endpoint.host = host;
      c.endpoint.port = port;
      c.endpoint.password = opts.password;
      c.connect_timeout = opts.timeout;
      c.command_timeout = opts.timeout;
      auto name = address_of(host, port);
      c.name = "sentinel " + name;
      questions.push_back(std::make_unique<redis_client>(ioc, c));
      c.name = "sentinel-news " + name;
      news.push_back(std::make_unique<redis_client>(ioc, c));
      names.push_back(name);
    }
  }

  options opts;
  net::strand<net::io_context::executor_type> strand;
  std::vector<std::unique_ptr<redis_client>> questions;
  std::vector<std::unique_ptr<redis_client>> news;
  std::vector<std::string> names;
  switch_handler on_sw;
  clock_type::time_point started = clock_type::now();

  std::size_t reachable() const {
    std::size_t n = 0;
    for (auto& q : questions)
      n += q->up() ? 1 : 0;
    return n;
  }

  void locate(const std::string& master, const std::string& avoid, redis_client::locate_callback cb) {
    // Just started: give the sentinel links a moment rather than fail the
    // first attempt of every data link (and log it) for nothing.
    if (reachable() == 0 && clock_type::now() - started < opts.timeout) {
      auto t = std::make_shared<net::steady_timer>(strand, std::chrono::milliseconds(20));
      t->async_wait([self = shared_from_this(), t, master, avoid, cb = std::move(cb)](
                        boost::system::error_code) mutable { self->locate(master, avoid, std::move(cb)); });
      return;
    }
    auto v = std::make_shared<vote>();
    v->waiting = questions.size();
    v->quorum = questions.size() / 2 + 1;
    v->master = master;
    v->avoid = avoid;
    v->cb = std::move(cb);
    for (std::size_t i = 0; i < questions.size(); ++i)
      questions[i]->command({"SENTINEL", "get-master-addr-by-name", master}, [v, name = names[i]](redis_result r) {
        located answer;
        {
          std::lock_guard<std::mutex> g{v->mutex};
          if (v->done)
            return;
          --v->waiting;
          auto& e = r.reply.elements;
          if (!r.ok) {
            v->failures.push_back(name + " " + r.error);
          } else if (r.reply.kind == redis_reply::array && e.size() == 2 && e[0].kind == redis_reply::string) {
            std::uint16_t port = 0;
            std::string host, why;
            if (parse_host_port("x:" + e[1].str, host, port, why)) {
              auto address = address_of(e[0].str, port);
              auto c = std::find_if(v->candidates.begin(), v->candidates.end(),
                                    [&](const vote::candidate& x) { return x.address == address; });
              if (c == v->candidates.end())
                c = v->candidates.insert(v->candidates.end(), vote::candidate{e[0].str, port, address, 0});
              ++c->votes;
            } else {
              v->failures.push_back(name + " bad port " + e[1].str);
            }
          } else if (r.reply.kind == redis_reply::error) {
            v->failures.push_back(name + " " + r.reply.str);
          } else {
            v->failures.push_back(name + " does not know " + v->master);
          }
          if (!v->decide(answer))
            return;
          v->done = true;
        }
        v->cb(std::move(answer));
      });
  }

  // "+switch-master <master> <old ip> <old port> <new ip> <new port>"
  void on_news(std::string_view payload) {
    std::istringstream in{std::string(payload)};
    std::string master, old_ip, old_port, new_ip, new_port;
    if (!(in >> master >> old_ip >> old_port >> new_ip >> new_port))
      return;
    std::string host, why;
    std::uint16_t port = 0;
    if (!parse_host_port("x:" + new_port, host, port, why))
      return;
    log::warn("event=sentinel_switch_master master={} from={}:{} to={}", master, old_ip, old_port,
              address_of(new_ip, port));
    if (on_sw)
      on_sw(master, address_of(new_ip, port));
  }
};

sentinel_set::sentinel_set(net::io_context& ioc, options opts) : impl_(std::make_shared<impl>(ioc, std::move(opts))) {}

sentinel_set::~sentinel_set() {
  stop();
}

void sentinel_set::on_switch(switch_handler h) {
  impl_->on_sw = std::move(h);
}

void sentinel_set::on_refused(redis_client::refused_handler h) {
  for (auto& q : impl_->questions)
    q->on_refused(h);
  for (auto& n : impl_->news)
    n->on_refused(h);
}

void sentinel_set::start() {
  impl_->started = clock_type::now();
  std::weak_ptr<impl> weak = impl_;
  for (auto& n : impl_->news) {
    n->on_message([weak](std::string_view, std::string_view payload) {
      if (auto self = weak.lock())
        self->on_news(payload);
    });
    n->subscribe("+switch-master");
    n->start();
  }
  for (auto& q : impl_->questions)
    q->start();
}

void sentinel_set::stop() {
  for (auto& q : impl_->questions)
    q->stop();
  for (auto& n : impl_->news)
    n->stop();
}

void sentinel_set::locate(const std::string& master, const std::string& avoid, redis_client::locate_callback cb) {
  impl_->locate(master, avoid, std::move(cb));
}

std::size_t sentinel_set::reachable() const {
  return impl_->reachable();
}

std::string sentinel_set::describe() const {
  std::string out;
  for (auto& n : impl_->names)
    out += (out.empty() ? "" : ",") + n;
  return out;
}

} // namespace signaling::cluster
