#include "cluster/redis_client.hpp"

#include "telemetry/log.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>

namespace signaling::cluster {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  auto n = std::stoi(std::string(text));
  if (n < 1 || n > 65535)
    return false;
  port = static_cast<std::uint16_t>(n);
  return true;
}

} // namespace

bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port, std::string& error) {
  std::string_view h = text, p;
  if (!text.empty() && text.front() == '[') { // [v6] or [v6]:port
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed [ in \"" + std::string(text) + "\"";
      return false;
    }
    h = text.substr(1, close - 1);
    auto after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "expected :port after ] in \"" + std::string(text) + "\"";
        return false;
      }
      p = after.substr(1);
      if (p.empty()) {
        error = "bad port in \"" + std::string(text) + "\"";
        return false;
      }
    }
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) {
      error = "an IPv6 address needs brackets: [" + std::string(text) + "]";
      return false;
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (p.empty()) {
      error = "bad port in \"" + std::string(text) + "\"";
      return false;
    }
  }
  if (h.empty()) {
    error = "missing host in \"" + std::string(text) + "\"";
    return false;
  }
  if (!p.empty() && !parse_port(p, port)) {
    error = "bad port in \"" + std::string(text) + "\"";
    return false;
  }
  host = std::string(h);
  return true;
}

std::string address_of(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool parse_redis_url(std::string_view url, redis_endpoint& out, std::string& error) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) {
    error = "REDIS_URL must start with redis:// (TLS is not supported by hiredis 0.14)";
    return false;
  }
  auto rest = url.substr(scheme.size());
  redis_endpoint ep;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    // user:password sends AUTH user password (ACL); :password and a bare
    // password (as before ACLs) send AUTH password.
    auto auth = rest.substr(0, at);
    if (auto colon = auth.find(':'); colon != std::string_view::npos) {
      ep.username = std::string(auth.substr(0, colon));
      auth = auth.substr(colon + 1);
    }
    ep.password = std::string(auth);
    rest = rest.substr(at + 1);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      if (db.find_first_not_of("0123456789") != std::string_view::npos || db.size() > 5) {
        error = "REDIS_URL: database must be a number";
        return false;
      }
      ep.db = std::stoi(std::string(db));
    }
  }
  std::string why;
  if (!parse_host_port(rest, ep.host, ep.port, why)) {
    error = "REDIS_URL: " + why;
    return false;
  }
  out = std::move(ep);
  return true;
}

namespace {

redis_reply copy_reply(const redisReply* r) {
  redis_reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.kind = redis_reply::string; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.kind = redis_reply::status; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.kind = redis_reply::error; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.kind = redis_reply::integer; out.value = r->integer; break;
    case REDIS_REPLY_ARRAY:
      out.kind = redis_reply::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(copy_reply(r->element[i]));
      break;
    default: out.kind = redis_reply::nil;
  }
  return out;
}

// RESP framing of a command, as redisFormatCommandArgv writes it: "*N" then
// "$len" and the bytes of each argument, every line ended by CRLF.

// The bytes of a length line ("*N" or "$len", CRLF) for `n`.
std::size_t length_line_size(std::size_t n) {
  std::size_t digits = 1;
  for (; n >= 10; n /= 10)
    ++digits;
  return digits + 3; // tag, CRLF
}

char* put_length(char* w, char tag, std::size_t n) {
  *w++ = tag;
  w = std::to_chars(w, w + (length_line_size(n) - 3), n).ptr; // (the digits' exact room)
  *w++ = '\r';
  *w++ = '\n';
  return w;
}

// One command, its arguments given by `each(f)` calling f on every one in
// order: the buffer grows once (appending three pieces per argument cost a
// relayed frame's PUBLISH more than copying its bytes).
template <class Each>
void append_command(std::string& out, std::size_t argc, Each each) {
  std::size_t total = length_line_size(argc);
  each([&total](std::string_view a) { total += length_line_size(a.size()) + a.size() + 2; });
  auto at = out.size();
  out.resize(at + total);
  char* w = out.data() + at;
  w = put_length(w, '*', argc);
  each([&w](std::string_view a) {
    w = put_length(w, '$', a.size());
    if (!a.empty()) // (an empty view's data may be null)
      std::memcpy(w, a.data(), a.size());
    w += a.size();
    *w++ = '\r';
    *w++ = '\n';
  });
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Replies that mean this server cannot take our writes now: a replica
// (READONLY: a failover demoted it, or we were pointed at one) or a server
// still loading its data (LOADING). Either way the primary is elsewhere or
// not ready: drop the link and ask again.
bool is_doubt(std::string_view error) {
  return starts_with(error, "READONLY") || starts_with(error, "LOADING");
}

// Replies that mean our credentials or permissions are wrong.
bool is_refusal(std::string_view error) {
  return starts_with(error, "NOAUTH") || starts_with(error, "WRONGPASS") || starts_with(error, "NOPERM");
}

} // namespace

struct redis_client::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, options o)
    : ioc(ioc), strand(net::make_strand(ioc)), opts(std::move(o)), resolver(strand), retry(strand),
      watchdog(strand), batch_timer(strand), backoff(opts.backoff_min), rng(std::random_device{}()) {}

  net::io_context& ioc;
  net::strand<net::io_context::executor_type> strand;
  options opts;
  net::ip::tcp::resolver resolver;
  net::steady_timer retry;
  net::steady_timer watchdog;
  net::steady_timer batch_timer; // options::batch_delay
  std::chrono::milliseconds backoff;
  std::mt19937_64 rng;

  redisAsyncContext* ac = nullptr;
  std::unique_ptr<net::posix::stream_descriptor> fd;
  std::uint64_t gen = 0; // bumped per connection: stale handlers see a new value and stop
  // Bumped per connection attempt: a locate or resolve answer for an
  // abandoned attempt (timed out, or overtaken by reconnect_now) is ignored.
  std::uint64_t attempt = 0;
  bool want_read = false, want_write = false, reading = false, writing = false;
  bool connecting = false, stopped = false, was_up = false;
  // A step of this connection's session set-up failed: it must not count as
  // up, even if a later step's answer (already on its way) succeeds.
  bool session_failed = false;
  clock_type::time_point connect_started;
  std::atomic<bool> is_up{false};
  std::atomic<std::uint64_t> reconnect_count{0};
  // Issue time of each command awaiting its reply from hiredis (the link's
  // own commands keep theirs: pending::issued).
  std::deque<clock_type::time_point> inflight;
  std::set<std::string> channels;
  // subscribe_once channels of this connection: waiting for their
  // confirmation (done) or subscribed (no callback); and the callbacks of
  // unsubscribes on their way.
  struct once_channel {
    std::function<void(bool)> done; // until Redis confirms
    std::function<void()> lost;     // if the connection goes while it is subscribed
  };
  std::map<std::string, once_channel> transient;
  std::map<std::string, std::vector<std::function<void()>>> leaving;
  message_handler on_msg;
  state_handler on_st;
  refused_handler on_ref;
  std::string target;   // host:port of the connection being made or held
  std::string rejected; // the last address found not to be a primary (for locate)
  mutable std::mutex address_mutex;
  std::string up_address; // host:port the link was last up on
  // Scripts known to the server on this connection: EVALSHA. False after a
  // NOSCRIPT until they are loaded again: EVAL, with the script's text.
  bool scripts_loaded = false;
  std::size_t scripts_loading = 0;
  // Script calls sent as EVALSHA on this connection and not answered yet.
  std::size_t by_sha_inflight = 0;

  // Commands made on any thread, waiting for the strand (see enqueue).
  struct queued {
    const lua_script* script = nullptr; // null: a plain command, all in `fixed`
    std::shared_ptr<const args> fixed;
    std::string tail; // eval_batched: this call's own argument
    bool batched = false;
    callback cb;
    std::shared_ptr<tail_sink> sink; // instead of cb: answered with the tail
  };
  std::mutex queue_mutex;
  std::vector<queued> queue;
  std::vector<queued> flushing; // on the strand: the batch being sent (see flush)
  static constexpr std::size_t batch_full = 64;
  bool flush_posted = false;  // a flush (or the batch timer's wait) is on its way
  bool urgent_posted = false; // a flush without waiting is on its way
  clock_type::time_point last_flush{}; // the last write (of a flush: see enqueue)

  // A command in flight travels through hiredis as privdata: its callbacks
  // (several when batched calls share it) and, for a script, its arguments,
  // so a NOSCRIPT answer can send it again as EVAL.
  struct pending {
    std::shared_ptr<impl> self;
    std::vector<callback> cbs;
    std::shared_ptr<tail_sink> sink; // a plain batched command's, instead of cbs
    std::uint64_t gen;
    const lua_script* script = nullptr;
    std::shared_ptr<const args> fixed;
    std::vector<std::string> tails;
    bool by_sha = false; // sent as EVALSHA
    clock_type::time_point issued{}; // when the link sent it itself (own_io)
  };
  // Answered commands' records, kept for the next ones with their vectors'
  // room (a relayed frame would otherwise allocate three times for its
  // record alone). On the strand only.
  static constexpr std::size_t spare_max = 256;
  std::vector<std::unique_ptr<pending>> spare;
  // The command being written, in RESP: one buffer for every command, where
  // hiredis's own formatting allocates two strings per command.
  std::string wire;

  std::unique_ptr<pending> make_pending() {
    std::unique_ptr<pending> p;
    if (spare.empty()) {
      p = std::make_unique<pending>();
    } else {
      p = std::move(spare.back());
      spare.pop_back();
    }
    p->self = shared_from_this();
    return p;
  }

  // `p`'s callbacks have run: its record goes back to `spare`.
  static void recycle(std::unique_ptr<pending> p) {
    auto self = std::move(p->self); // the last owner of the client, perhaps
    if (self->spare.size() >= spare_max)
      return;
    p->cbs.clear();
    p->sink.reset();
    p->script = nullptr;
    p->fixed.reset();
    p->tails.clear();
    p->by_sha = false;
    self->spare.push_back(std::move(p));
  }

  // Where the next command is written, in RESP: the output buffer itself
  // once the link writes its own (own_io), else `wire`, emptied, for hiredis.
  std::string& command_buffer() {
    if (own_io)
      return out;
    wire.clear();
    return wire;
  }

  // Hands `p` (its command written by command_buffer) to the link, or fails
  // it.
  void send(std::unique_ptr<pending> p) {
    p->gen = gen;
    if (own_io) {
      // (A burst's commands share the time its cork was put on.)
      p->issued = corked > 0 ? corked_at : clock_type::now();
      awaiting.push_back(std::move(p));
      if (corked == 0)
        write_out();
      return;
    }
    inflight.push_back(clock_type::now());
    auto* raw = p.release();
    if (redisAsyncFormattedCommand(ac, on_reply, raw, wire.data(), wire.size()) != REDIS_OK) {
      inflight.pop_back();
      std::unique_ptr<pending> owned{raw};
      if (owned->by_sha)
        --by_sha_inflight;
      fail(*owned, "redis command rejected");
    }
  }
  // After a NOSCRIPT, script calls go again, as EVAL, in the order they were
  // first made: those answered NOSCRIPT wait in `redo` (in the order sent)
  // and every script call made meanwhile in `held`, until each EVALSHA sent
  // before has been answered. (Sending each again as its NOSCRIPT came, as
  // before, let calls made between two of those answers overtake the second.)
  bool redoing = false;
  std::deque<std::unique_ptr<pending>> redo, held;

  // -- hiredis event hooks (idempotent; called on the strand) ----------------

  static void add_read(void* d) {
    auto* m = static_cast<impl*>(d);
    m->want_read = true;
    m->arm_read();
  }
  static void del_read(void* d) { static_cast<impl*>(d)->want_read = false; }
  static void add_write(void* d) {
    auto* m = static_cast<impl*>(d);
    m->want_write = true;
    m->arm_write();
  }
  static void del_write(void* d) { static_cast<impl*>(d)->want_write = false; }
  static void cleanup(void* d) {
    auto* m = static_cast<impl*>(d);
    m->want_read = m->want_write = false;
    m->release_fd();
  }

  void arm_read() {
    if (reading || !fd)
      return;
    reading = true;
    fd->async_wait(net::posix::descriptor_base::wait_read,
                   net::bind_executor(strand, [self = shared_from_this(), g = gen](error_code ec) {
                     if (g != self->gen)
                       return;
                     self->reading = false;
                     if (ec || !self->ac)
                       return;
                     if (self->want_read && self->own_io) {
                       if (self->on_msg)
                         self->read_pushes();
                       else
                         self->read_replies();
                     } else if (self->want_read) {
                       redisAsyncHandleRead(self->ac); // may free the context
                       if (g == self->gen)
                         self->take_over_io();
                     }
                     if (g == self->gen && self->ac && self->want_read)
                       self->arm_read();
                   }));
  }

  void arm_write() {
    if (writing || !fd)
      return;
    writing = true;
    fd->async_wait(net::posix::descriptor_base::wait_write,
                   net::bind_executor(strand, [self = shared_from_this(), g = gen](error_code ec) {
                     if (g != self->gen)
                       return;
                     self->writing = false;
                     if (ec || !self->ac)
                       return;
                     if (self->own_io)
                       self->write_out();
                     else if (self->want_write)
                       redisAsyncHandleWrite(self->ac);
                     if (g == self->gen && self->ac && self->want_write)
                       self->arm_write();
                   }));
  }

  // hiredis owns the descriptor and closes it: Asio must only let go.
  void release_fd() {
    if (fd) {
      fd->release();
      fd.reset();
    }
  }

  // -- connection life -------------------------------------------------------

  void start() {
    arm_watchdog();
    connect();
  }

  // One attempt: where to connect (locate, when set), the name resolved,
  // then hiredis's non-blocking connect. Every step is bounded by the
  // watchdog's connect timeout.
  void connect() {
    if (stopped)
      return;
    connecting = true;
    connect_started = clock_type::now();
    auto my_attempt = ++attempt;
    if (!opts.locate)
      return resolve(opts.endpoint.host, opts.endpoint.port, my_attempt);
    opts.locate(rejected, [self = shared_from_this(), my_attempt](located where) {
      net::post(self->strand, [self, my_attempt, where = std::move(where)] {
        if (self->stopped || my_attempt != self->attempt || self->ac)
          return;
        if (!where.ok)
          return self->retry_later(where.why);
        self->resolve(where.host, where.port, my_attempt);
      });
    });
  }

  void resolve(const std::string& host, std::uint16_t port, std::uint64_t my_attempt) {
    target = address_of(host, port);
    resolver.async_resolve(host, std::to_string(port),
                           [self = shared_from_this(), my_attempt](error_code ec,
                                                                   net::ip::tcp::resolver::results_type res) {
                             if (self->stopped || my_attempt != self->attempt || self->ac)
                               return;
                             if (ec || res.empty())
                               return self->retry_later("resolve " + self->target + " failed: " + ec.message());
                             self->open(res.begin()->endpoint());
                           });
  }

  void open(const net::ip::tcp::endpoint& ep) {
    auto* c = redisAsyncConnect(ep.address().to_string().c_str(), ep.port());
    if (!c)
      return retry_later("out of memory");
    if (c->err) {
      std::string why = c->errstr;
      redisAsyncFree(c);
      return retry_later(why);
    }
    ++gen;
    ac = c;
    ac->data = this;
    fd = std::make_unique<net::posix::stream_descriptor>(strand, ac->c.fd);
    ac->ev.data = this;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncSetConnectCallback(ac, on_connect); // arms the first write event
  }

  static void on_connect(const redisAsyncContext* c, int status) {
    auto* m = static_cast<impl*>(c->data);
    if (m->ac != c)
      return;
    if (status != REDIS_OK) {
      std::string why = c->errstr ? c->errstr : "connect failed";
      m->forget_context(); // hiredis frees it after this callback
      m->rejected = m->target; // a located primary we cannot reach: try another if there is one
      return m->retry_later(m->target + ": " + why);
    }
    m->connecting = false;
    m->start_session();
  }

  static void on_disconnect(const redisAsyncContext* c, int) {
    auto* m = static_cast<impl*>(c->data);
    if (m->ac != c)
      return; // we dropped it ourselves
    std::string why = c->errstr ? c->errstr : "";
    if (why.empty())
      why = "disconnected";
    m->forget_context();
    // A SUBSCRIBE refused (NOAUTH, NOPERM) comes back as an error reply
    // hiredis has no callback for: it drops the connection with that text.
    if (is_refusal(why))
      m->refused(why);
    m->retry_later(why);
  }

  // AUTH, ROLE (when a primary is required) and SELECT, then SUBSCRIBE
  // (subscriber) or PING (commands), pipelined: the connection counts as up
  // once Redis has answered that last step and no step before it failed.
  // (ROLE goes before any SUBSCRIBE: hiredis hands a subscribed context's
  // replies to the subscription callbacks.)
  void start_session() {
    session_failed = false;
    auto self = shared_from_this();
    if (!opts.endpoint.password.empty()) {
      args auth{"AUTH"};
      if (!opts.endpoint.username.empty())
        auth.push_back(opts.endpoint.username);
      auth.push_back(opts.endpoint.password);
      issue(std::move(auth), [self](redis_result r) {
        if (r.ok && r.reply.kind == redis_reply::error) {
          self->refused("AUTH refused: " + r.reply.str);
          self->fail_session("AUTH refused: " + r.reply.str);
        }
      });
    }
    if (opts.require_primary)
      issue({"ROLE"}, [self, where = target](redis_result r) {
        if (!r.ok)
          return;
        if (r.reply.kind == redis_reply::array && !r.reply.elements.empty() &&
            r.reply.elements[0].str == "master")
          return;
        auto role = r.reply.kind == redis_reply::array && !r.reply.elements.empty() ? r.reply.elements[0].str
                                                                                      : r.reply.str;
        if (r.reply.kind == redis_reply::error && is_refusal(r.reply.str))
          self->refused(r.reply.str);
        self->rejected = where;
        self->fail_session(where + " is not a primary (ROLE: " + role + ")");
      });
    if (opts.endpoint.db != 0)
      issue({"SELECT", std::to_string(opts.endpoint.db)}, [self](redis_result r) {
        if (r.ok && r.reply.kind == redis_reply::error)
          self->fail_session("SELECT refused: " + r.reply.str);
      });
    load_scripts();
    if (on_msg) {
      for (const auto& ch : channels)
        send_subscribe(ch);
      if (channels.empty())
        mark_up();
    } else {
      issue({"PING"}, [self](redis_result r) {
        if (!r.ok)
          return;
        if (r.reply.kind != redis_reply::error)
          return self->mark_up();
        // LOADING, NOAUTH, NOPERM...: this connection will not do.
        if (is_refusal(r.reply.str))
          self->refused(r.reply.str);
        self->fail_session("PING refused: " + r.reply.str);
      });
    }
  }

  // A session step failed: this connection never counts as up; drop it.
  void fail_session(const std::string& why) {
    if (session_failed)
      return;
    session_failed = true;
    reset(why);
  }

  // Only the first refusal of a session is news: after a refused AUTH, every
  // later step answers NOAUTH.
  void refused(const std::string& why) {
    if (!session_failed && on_ref)
      on_ref(why);
  }

  void mark_up() {
    if (is_up || !ac || session_failed)
      return;
    is_up = true;
    backoff = opts.backoff_min;
    rejected.clear();
    {
      std::lock_guard<std::mutex> g{address_mutex};
      up_address = target;
    }
    log::info("event=redis_up link={} address={}{}", opts.name, target, was_up ? " reconnected=true" : "");
    if (was_up)
      reconnect_count.fetch_add(1, std::memory_order_relaxed);
    was_up = true;
    // The commands link: called from the PING's answer, with nothing else
    // in flight yet, so the commands made from here on are the link's own.
    // (A subscriber link is called from a confirmation, with hiredis half
    // way through what it read: it takes over after that read.)
    if (!on_msg)
      take_over_io();
    if (on_st)
      on_st(true);
  }

  // The context is gone (or going) on hiredis's side: drop every reference.
  void forget_context() {
    ++gen;
    // The connection's one-off channels go with it.
    if (!transient.empty() || !leaving.empty())
      net::post(strand, [transient = std::move(transient), leaving = std::move(leaving)] {
        for (auto& t : transient)
          if (t.second.done)
            t.second.done(false);
          else if (t.second.lost)
            t.second.lost();
        for (auto& l : leaving)
          for (auto& done : l.second)
            done();
      });
    transient.clear();
    leaving.clear();
    own_io = false;
    in_len = in_at = 0;
    out.clear();
    out_at = 0;
    // The link's own commands waiting for their replies fail at the end,
    // at once and in order, as hiredis fails those in its hands when the
    // context is freed (right after this).
    auto waiting = std::move(awaiting);
    awaiting.clear();
    ac = nullptr;
    connecting = false;
    want_read = want_write = reading = writing = false;
    release_fd();
    inflight.clear();
    by_sha_inflight = 0;
    if (redoing) {
      // Failed after the calls still in hiredis's hands (which fail when the
      // context is freed, right after this) or in the link's (at the end of
      // this), which were sent before them.
      redoing = false;
      net::post(strand, [redo = std::move(redo), held = std::move(held)] {
        for (auto& p : redo)
          fail(*p, "redis connection lost");
        for (auto& p : held)
          fail(*p, "redis connection lost");
      });
      redo.clear();
      held.clear();
    }
    if (is_up) {
      is_up = false;
      if (on_st)
        on_st(false);
    }
    for (const auto& p : waiting)
      fail(*p, "redis connection lost");
  }

  void retry_later(const std::string& why) {
    if (stopped)
      return;
    connecting = false;
    // Jitter over [backoff/2, backoff]: nodes that lost Redis together do not return together.
    auto lo = backoff.count() / 2, hi = backoff.count();
    auto wait = std::chrono::milliseconds(std::uniform_int_distribution<long long>(lo, hi)(rng));
    log::warn("event=redis_down link={} reason={} retry_ms={}", opts.name, log::q(why), wait.count());
    backoff = std::min(opts.backoff_max, backoff * 2);
    retry.expires_after(wait);
    retry.async_wait([self = shared_from_this()](error_code ec) {
      // reconnect_now may have started an attempt since this wait ended.
      if (!ec && !self->ac && !self->connecting)
        self->connect();
    });
  }

  void reset(const std::string& why) {
    // Never free the context from inside one of its own callbacks.
    net::post(strand, [self = shared_from_this(), why] {
      if (!self->ac)
        return;
      auto* c = self->ac;
      self->forget_context();
      redisAsyncFree(c); // pending callbacks run now, with a failure
      self->retry_later(why);
    });
  }

  // The primary moved: drop whatever we hold or are attempting (unless it is
  // already the new address) and connect again now, not after the backoff.
  void reconnect_now(const std::string& why, const std::string& unless_address) {
    net::post(strand, [self = shared_from_this(), why, unless_address] {
      if (self->stopped)
        return;
      if (!unless_address.empty() && self->target == unless_address && (self->ac || self->connecting))
        return;
      log::warn("event=redis_reconnect link={} reason={}", self->opts.name, log::q(why));
      if (self->ac) {
        auto* c = self->ac;
        self->forget_context();
        redisAsyncFree(c);
      }
      ++self->attempt; // any locate or resolve in progress is abandoned
      self->resolver.cancel();
      self->retry.cancel();
      self->backoff = self->opts.backoff_min;
      self->connect();
    });
  }

  void stop() {
    stopped = true;
    retry.cancel();
    watchdog.cancel();
    resolver.cancel();
    if (ac) {
      auto* c = ac;
      forget_context();
      redisAsyncFree(c);
    }
  }

  // When the oldest command waiting for its reply was sent, if one is.
  const clock_type::time_point* oldest_issued() const {
    if (!awaiting.empty())
      return &awaiting.front()->issued;
    return inflight.empty() ? nullptr : &inflight.front();
  }

  // Connect and command deadlines (hiredis 0.14 has no timers of its own).
  void arm_watchdog() {
    watchdog.expires_after(std::chrono::milliseconds(100));
    watchdog.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->stopped)
        return;
      auto now = clock_type::now();
      if (self->connecting && now - self->connect_started > self->opts.connect_timeout) {
        if (self->ac) {
          self->reset("connect timeout");
        } else { // still locating or resolving: getaddrinfo has no deadline of its own
          self->connecting = false;
          ++self->attempt;
          self->resolver.cancel();
          self->retry_later("locate or resolve timeout");
        }
      }
      else if (self->ac && self->oldest_issued() && now - *self->oldest_issued() > self->opts.command_timeout)
        self->reset("command timeout");
      self->arm_watchdog();
    });
  }

  // -- commands --------------------------------------------------------------

  // Any thread: queues `q`; the first command of a batch posts its flush, so a
  // burst from many threads costs one hop to the strand and one write. A
  // batched call (a relayed frame) that comes within options::batch_delay of
  // the last write waits for the rest of that time, so that others share its
  // write: one write to Redis, and so one wake-up of Redis and of the
  // receiving node, for all of them. One that comes after a quieter moment
  // goes at once, as does anything else (which takes what waits with it).
  void enqueue(queued q) {
    bool batched = q.batched && opts.batch_delay.count() > 0;
    bool wait = false, post = false, now = false;
    clock_type::time_point due{};
    {
      std::lock_guard<std::mutex> g{queue_mutex};
      queue.push_back(std::move(q));
      // Enough to fill a write: waiting longer saves nothing.
      bool full = queue.size() >= batch_full;
      if (!flush_posted) {
        if (batched && !full) {
          due = last_flush + opts.batch_delay;
          wait = clock_type::now() < due;
        }
        post = flush_posted = true;
        now = urgent_posted = !wait;
      } else if ((!batched || full) && !urgent_posted) {
        post = now = urgent_posted = true;
      }
    }
    if (!post)
      return;
    if (now)
      return net::post(strand, [self = shared_from_this()] { self->flush(); });
    net::post(strand, [self = shared_from_this(), due] {
      self->batch_timer.expires_at(due);
      self->batch_timer.async_wait([self](boost::system::error_code ec) {
        if (!ec)
          self->flush();
      });
    });
  }

  // On the strand: sends everything queued, in order; batched calls with the
  // same script and arguments next to each other become one EVALSHA.
  void flush() {
    auto& batch = flushing;
    {
      std::lock_guard<std::mutex> g{queue_mutex};
      batch.swap(queue); // the queue gets the last batch's room, emptied
      flush_posted = urgent_posted = false;
      // (A batch's timer may still fire after an urgent flush sent it: an
      // empty flush is no write.)
      if (!batch.empty())
        last_flush = clock_type::now();
    }
    if (batch.empty())
      return;
    cork hold{*this};
    for (std::size_t i = 0; i < batch.size();) {
      std::size_t j = i + 1;
      if (batch[i].batched && batch[i].script) // plain commands stay one each
        while (j < batch.size() && batch[j].batched && batch[j].script == batch[i].script &&
               batch[j].fixed == batch[i].fixed)
          ++j;
      auto p = make_pending();
      p->script = batch[i].script;
      p->fixed = std::move(batch[i].fixed);
      for (std::size_t k = i; k < j; ++k) {
        if (batch[k].sink) // (a plain command: alone in its record)
          p->sink = std::move(batch[k].sink);
        else
          p->cbs.push_back(std::move(batch[k].cb));
        if (batch[k].batched)
          p->tails.push_back(std::move(batch[k].tail));
      }
      issue(std::move(p));
      i = j;
    }
    batch.clear();
  }

  // Sends one command (or fails it at once while down).
  void issue(std::unique_ptr<pending> p) {
    if (!is_up || !ac)
      return fail(*p, "redis unavailable");
    // While scripts are being sent again after a NOSCRIPT, everything waits
    // behind them, plain commands too: a frame's PUBLISH must not overtake
    // the SEAT_FRAMES sent before it.
    if (redoing)
      return held.push_back(std::move(p));
    std::size_t argc = p->fixed->size() + p->tails.size() + (p->script ? 3 : 0);
    if (argc == 0) // ("*0": Redis would answer nothing, and every later reply would go one command early)
      return fail(*p, "empty command");
    if (p->script) {
      p->by_sha = scripts_loaded;
      if (scripts_loaded)
        ++by_sha_inflight;
    }
    append_command(command_buffer(), argc, [&p](auto&& f) {
      if (p->script) {
        f(p->by_sha ? std::string_view{"EVALSHA"} : std::string_view{"EVAL"});
        f(p->by_sha ? p->script->sha1 : p->script->body);
        f("0");
      }
      for (const auto& a : *p->fixed)
        f(a);
      for (const auto& t : p->tails)
        f(t);
    });
    send(std::move(p));
  }

  // Every EVALSHA sent before the NOSCRIPT is answered: what waits goes now.
  void release_redo() {
    if (!redoing || by_sha_inflight != 0)
      return;
    redoing = false;
    auto again = std::move(redo);
    auto later = std::move(held);
    redo.clear();
    held.clear();
    cork hold{*this};
    for (auto& p : again)
      issue(std::move(p));
    for (auto& p : later)
      issue(std::move(p));
  }

  // A sink's call's tail, given back with its answer.
  static std::string take_tail(pending& p) {
    return p.tails.empty() ? std::string{} : std::move(p.tails.back());
  }

  static void fail(pending& p, const std::string& why) {
    if (p.sink)
      p.sink->answered(redis_result{false, why, {}}, take_tail(p));
    for (auto& cb : p.cbs)
      if (cb)
        cb(redis_result{false, why, {}});
  }

  // A plain command of the client's own (AUTH, SELECT, PING, SCRIPT LOAD).
  void issue(args a, callback cb) {
    auto p = make_pending();
    p->fixed = std::make_shared<const args>(std::move(a));
    p->cbs.push_back(std::move(cb));
    if (!ac)
      return fail(*p, "redis unavailable");
    if (p->fixed->empty())
      return fail(*p, "empty command");
    append_command(command_buffer(), p->fixed->size(), [&p](auto&& f) {
      for (const auto& x : *p->fixed)
        f(x);
    });
    send(std::move(p));
  }

  // SCRIPT LOAD of every script: on each new connection, and after a NOSCRIPT.
  // Until every load is answered, scripts go as EVAL; a command sent after
  // that is answered after every EVAL sent before it, so order holds.
  void load_scripts() {
    scripts_loaded = false;
    if (opts.scripts.empty())
      return;
    scripts_loading = opts.scripts.size();
    for (const auto* sc : opts.scripts)
      issue({"SCRIPT", "LOAD", std::string(sc->body)}, [self = shared_from_this(), sc](redis_result r) {
        if (!r.ok)
          return;
        if (r.reply.kind != redis_reply::string || r.reply.str != sc->sha1) {
          log::error("event=redis_script_load_failed link={} script={} reply={}", self->opts.name, sc->name,
                     log::q(r.reply.str));
          return; // stays on EVAL
        }
        if (--self->scripts_loading == 0)
          self->scripts_loaded = true;
      });
  }

  // hiredis's answer to a command it sent (null: the context is going).
  static void on_reply(redisAsyncContext*, void* r, void* privdata) {
    std::unique_ptr<pending> p{static_cast<pending*>(privdata)};
    auto& m = *p->self;
    if (!r)
      return m.answer(std::move(p), nullptr);
    auto reply = copy_reply(static_cast<redisReply*>(r));
    m.answer(std::move(p), &reply);
  }

  // The answer to `p`'s command (`reply` null: the connection was lost),
  // read by hiredis or by the link itself.
  void answer(std::unique_ptr<pending> p, redis_reply* reply) {
    bool current = p->gen == gen;
    if (current && !inflight.empty())
      inflight.pop_front();
    if (current && p->by_sha)
      --by_sha_inflight;
    if (!reply)
      return fail(*p, "redis connection lost");
    if (current && p->by_sha && reply->kind == redis_reply::error && starts_with(reply->str, "NOSCRIPT")) {
      // The server lost our scripts: this call goes again as EVAL (see
      // redo), and so does every script call until they are loaded again.
      if (scripts_loaded) {
        log::warn("event=redis_noscript link={} script={}", opts.name, p->script->name);
        load_scripts();
      }
      redoing = true;
      redo.push_back(std::move(p));
      return release_redo();
    }
    release_redo(); // (an EVALSHA answered: perhaps the last one before a NOSCRIPT's)
    redis_result res;
    if (reply->kind == redis_reply::error && is_doubt(reply->str)) {
      // A replica or a loading server: the caller hears a failure, as for
      // a lost connection, and the link goes to find the primary.
      res.error = std::move(reply->str);
      if (current)
        fail_session(target + ": " + res.error);
    } else {
      res.ok = true;
      res.reply = std::move(*reply);
    }
    if (p->sink) // (then it has no callbacks)
      p->sink->answered(res, take_tail(*p));
    else
      for (std::size_t i = 0; i < p->cbs.size(); ++i)
        if (p->cbs[i])
          p->cbs[i](i + 1 == p->cbs.size() ? std::move(res) : res);
    recycle(std::move(p));
  }

  void send_subscribe(const std::string& channel) {
    if (own_io)
      return send_raw("SUBSCRIBE", channel);
    const char* argv[] = {"SUBSCRIBE", channel.data()};
    std::size_t lens[] = {9, channel.size()};
    redisAsyncCommandArgv(ac, on_subscription, nullptr, 2, argv, lens);
  }

  // A (UN)SUBSCRIBE once the link does its own I/O, written by the link:
  // hiredis, which no longer sees the confirmations, keeps no record of the
  // channel (its table would only shed it on a confirmation it parsed: one
  // entry per seat channel for as long as the link lives).
  void send_raw(std::string_view command, std::string_view channel) {
    append_command(out, 2, [&](auto&& f) {
      f(command);
      f(channel);
    });
    write_out();
  }

  // Called for the SUBSCRIBE confirmation and for every message after it.
  static void on_subscription(redisAsyncContext* c, void* r, void*) {
    auto* m = static_cast<impl*>(c->data);
    auto* reply = static_cast<redisReply*>(r);
    if (!reply || m->ac != c || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
      return;
    m->on_push({reply->element[0]->str, reply->element[0]->len}, {reply->element[1]->str, reply->element[1]->len},
               reply->element[2]->str ? std::string_view{reply->element[2]->str, reply->element[2]->len}
                                      : std::string_view{});
  }

  // A message, or the confirmation of a (un)subscribe, in the order Redis
  // sent them.
  void on_push(std::string_view kind, std::string_view channel_view, std::string_view payload) {
    if (kind == "message") {
      if (on_msg)
        on_msg(channel_view, payload);
      return;
    }
    std::string channel{channel_view};
    if (kind == "subscribe") {
      if (auto t = transient.find(channel); t != transient.end()) {
        if (auto done = std::move(t->second.done)) {
          t->second.done = nullptr;
          done(true);
        }
        return;
      }
      mark_up();
    } else if (kind == "unsubscribe") {
      transient.erase(channel);
      if (auto l = leaving.find(channel); l != leaving.end()) {
        auto waiting = std::move(l->second);
        leaving.erase(l);
        for (auto& done : waiting)
          done();
      }
    }
  }

  // -- the link's own I/O ----------------------------------------------------
  // Once a connection is set up and hiredis has nothing in flight, the link
  // reads and writes the socket itself; hiredis only holds the descriptor
  // until the connection goes. On the commands link each command would
  // otherwise be copied into hiredis's output buffer with an allocated
  // callback record, and each reply parsed into allocated reply objects,
  // copied out and freed. On the subscriber link each message would be
  // parsed into four reply objects, its channel looked up in hiredis's table
  // (an sds made for the name), and all of it freed.
  // (Changed and read on the strand; read on any thread by does_own_io.)
  std::atomic<bool> own_io{false};
  // Bytes read, read into in place: [in_at, in_len) not parsed yet.
  std::unique_ptr<char[]> in;
  std::size_t in_cap = 0, in_len = 0, in_at = 0;
  static constexpr std::size_t read_size = 65536;
  // Commands written or to be written, [out_at, size) not written yet; and
  // the commands sent, in order, that wait for their replies.
  std::string out;
  std::size_t out_at = 0;
  std::deque<std::unique_ptr<pending>> awaiting;
  // Above zero: commands are only queued in `out`, and written together
  // when the last of a burst is (see cork).
  int corked = 0;
  clock_type::time_point corked_at{};

  // Holds the link's writes while a burst of commands is made (a flush, the
  // replies of one read): one write for all of them.
  struct cork {
    impl& m;
    explicit cork(impl& m) : m(m) {
      if (m.corked++ == 0)
        m.corked_at = clock_type::now();
    }
    ~cork() {
      if (--m.corked == 0 && m.own_io && m.out_at < m.out.size())
        m.write_out();
    }
    cork(const cork&) = delete;
    cork& operator=(const cork&) = delete;
  };

  // Room for `more` bytes after in_len: what is parsed goes first, and the
  // buffer grows (doubling) only if that is not enough.
  void make_room(std::size_t more) {
    if (in_at > 0) {
      std::memmove(in.get(), in.get() + in_at, in_len - in_at);
      in_len -= in_at;
      in_at = 0;
    }
    if (in_cap - in_len >= more)
      return;
    auto cap = std::max(in_cap * 2, in_len + more);
    std::unique_ptr<char[]> grown{new char[cap]};
    if (in_len > 0)
      std::memcpy(grown.get(), in.get(), in_len);
    in = std::move(grown);
    in_cap = cap;
  }

  // After hiredis's read, and when the commands link comes up: once hiredis
  // has nothing in flight (no command waiting for its reply, nothing left to
  // write) and is not half way through a reply (its reader consumes a
  // reply's bytes as it parses them), the bytes it has not parsed yet are
  // the link's, and so is every read and write after them. A subscriber
  // link waits until it is subscribed (only pushes can come then), the
  // commands link until its session is set up.
  void take_over_io() {
    if (own_io || !ac || ac->replies.head != nullptr || sdslen(ac->c.obuf) != 0)
      return;
    if (on_msg ? !(ac->c.flags & REDIS_SUBSCRIBED) : !is_up)
      return;
    // (Between replies hiredis's reader stands at a fresh root task, type
    // unknown yet: nothing of the next reply taken.)
    auto* r = ac->c.reader;
    if (r->err || !(r->ridx == -1 || (r->ridx == 0 && r->rstack[0].type < 0)))
      return;
    own_io = true;
    in_len = in_at = 0;
    if (r->len > r->pos) {
      make_room(r->len - r->pos);
      std::memcpy(in.get(), r->buf + r->pos, r->len - r->pos);
      in_len = r->len - r->pos;
    }
    r->pos = r->len;
  }

  // Writes what `out` holds, as far as the socket takes it; the rest when it
  // can take more.
  void write_out() {
    if (!ac || corked > 0)
      return;
    while (out_at < out.size()) {
      auto n = ::send(ac->c.fd, out.data() + out_at, out.size() - out_at, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          want_write = true;
          return arm_write();
        }
        want_write = false;
        return reset(std::strerror(errno));
      }
      out_at += static_cast<std::size_t>(n);
    }
    want_write = false;
    out.clear();
    out_at = 0;
    if (out.capacity() > (std::size_t{1} << 20)) // a large command's room goes back
      std::string{}.swap(out);
  }

  // Reads what the socket has into `in`; false if nothing came (or the
  // connection went, and is being dropped).
  bool read_in() {
    if (in_at == in_len)
      in_at = in_len = 0;
    if (in_cap - in_len < read_size)
      make_room(read_size);
    auto n = ::read(ac->c.fd, in.get() + in_len, read_size);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
      reset(n == 0 ? "Server closed the connection" : std::string(std::strerror(errno)));
      return false;
    }
    in_len += static_cast<std::size_t>(n);
    return true;
  }

  // After a read: what is parsed goes; a buffer a large reply grew past
  // 1 MiB goes back.
  void compact_in() {
    if (in_at != in_len)
      return;
    in_at = in_len = 0;
    if (in_cap > (std::size_t{1} << 20)) {
      in.reset();
      in_cap = 0;
    }
  }

  // A line of RESP at in[p...], without its CRLF (p moves past it); false
  // if it has not all arrived yet.
  bool line(std::size_t& p, std::string_view& out) const {
    std::string_view all{in.get(), in_len};
    auto end = all.find("\r\n", p);
    if (end == std::string_view::npos)
      return false;
    out = all.substr(p, end - p);
    p = end + 2;
    return true;
  }

  static bool number(std::string_view t, long long& v) {
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    return r.ec == std::errc{} && r.ptr == t.data() + t.size();
  }

  // The `n` bytes of a bulk string at in[p...] and its CRLF (p moves past
  // them): 1, 0 if they have not all arrived yet, -1 if the CRLF is not there.
  int bulk(std::size_t& p, std::size_t n, std::string_view& out) const {
    if (in_len < p + n + 2)
      return 0;
    if (in[p + n] != '\r' || in[p + n + 1] != '\n')
      return -1;
    out = {in.get() + p, n};
    p += n + 2;
    return 1;
  }

  // "$len" CRLF, then that many bytes and CRLF, at in[p...] (p moves past
  // them); false if not all there, or not that shape.
  bool bulk_here(std::size_t& p, std::string_view& out) const {
    std::size_t i = p + 1, n = 0;
    if (p >= in_len || in[p] != '$')
      return false;
    for (; i < in_len && i - p <= 10 && in[i] >= '0' && in[i] <= '9'; ++i)
      n = n * 10 + static_cast<std::size_t>(in[i] - '0');
    if (i == p + 1 || in_len - i < 2 || in[i] != '\r' || in[i + 1] != '\n')
      return false;
    i += 2;
    if (bulk(i, n, out) != 1)
      return false;
    p = i;
    return true;
  }

  // The push nearly every read brings, a message, whole at in[p...] (p
  // moves past it): read in one pass. False for anything else, or one not
  // all there yet, which the general reader below takes.
  bool message_here(std::size_t& p, std::string_view& channel, std::string_view& payload) const {
    static constexpr std::string_view head = "*3\r\n$7\r\nmessage\r\n";
    if (in_len - p < head.size() || std::memcmp(in.get() + p, head.data(), head.size()) != 0)
      return false;
    std::size_t q = p + head.size();
    if (!bulk_here(q, channel) || !bulk_here(q, payload))
      return false;
    p = q;
    return true;
  }

  // The subscriber link's read: pushes, handed on as views into `in`.
  void read_pushes() {
    if (!read_in())
      return;
    auto my_gen = gen;
    while (in_at < in_len) {
      std::size_t p = in_at;
      if (std::string_view channel, payload; message_here(p, channel, payload)) {
        in_at = p;
        if (on_msg)
          on_msg(channel, payload);
        if (gen != my_gen || !ac)
          return; // the link went from under us
        continue;
      }
      std::string_view head;
      if (!line(p, head))
        break;
      if (head.empty() || head[0] != '*') {
        std::string why = head.empty() ? "empty reply" : std::string(head.substr(head[0] == '-' ? 1 : 0));
        // A SUBSCRIBE refused (NOAUTH, NOPERM) is an error reply with no
        // command waiting for it, as hiredis would have said.
        if (!head.empty() && head[0] == '-' && is_refusal(why))
          refused(why);
        return reset(head.empty() || head[0] != '-' ? "unexpected reply on a subscribed link: " + std::string(head) : why);
      }
      long long count = 0;
      if (!number(head.substr(1), count) || count < 1 || count > 4)
        return reset("unexpected push on a subscribed link: " + std::string(head));
      std::string_view el[4];
      bool complete = true;
      for (long long k = 0; k < count; ++k) {
        std::string_view h;
        if (!line(p, h)) {
          complete = false;
          break;
        }
        long long len = 0;
        if (!h.empty() && h[0] == ':') {
          el[k] = h.substr(1);
          continue;
        }
        if (h.empty() || h[0] != '$' || !number(h.substr(1), len) || len < -1)
          return reset("unexpected push element on a subscribed link: " + std::string(h));
        if (len < 0) {
          el[k] = {};
          continue;
        }
        int got = bulk(p, static_cast<std::size_t>(len), el[k]);
        if (got < 0)
          return reset("unexpected push element on a subscribed link: no CRLF after its bytes");
        if (got == 0) {
          complete = false;
          break;
        }
      }
      if (!complete)
        break;
      in_at = p;
      if (count >= 3)
        on_push(el[0], el[1], el[2]);
      if (gen != my_gen || !ac)
        return; // the link went from under us
    }
    compact_in();
  }

  // One reply at in[p...] into `*out` (p moves past it): 1 if it is all
  // there, 0 if not yet, -1 if it is not RESP. With `out` null, only
  // whether it is all there: its lines are read, its bulks skipped.
  int parse_reply(std::size_t& p, redis_reply* out, int depth) const {
    std::string_view head;
    if (!line(p, head))
      return 0;
    if (head.empty())
      return -1;
    auto rest = head.substr(1);
    auto set = [out](redis_reply::kind_t k, std::string_view str = {}) {
      if (out) {
        out->kind = k;
        if (str.empty())
          out->str.clear(); // (an integer's: cheaper than an assign)
        else
          out->str.assign(str);
      }
      return 1;
    };
    long long n = 0;
    switch (head[0]) {
      case '+': return set(redis_reply::status, rest);
      case '-': return set(redis_reply::error, rest);
      case ':':
        if (!number(rest, n))
          return -1;
        if (out)
          out->value = n;
        return set(redis_reply::integer);
      case '$':
        if (!number(rest, n) || n < -1)
          return -1;
        if (n == -1)
          return set(redis_reply::nil);
        {
          std::string_view bytes;
          int got = bulk(p, static_cast<std::size_t>(n), bytes);
          return got == 1 ? set(redis_reply::string, bytes) : got;
        }
      case '*':
        if (!number(rest, n) || n < -1 || depth >= 8)
          return -1;
        if (n == -1)
          return set(redis_reply::nil);
        set(redis_reply::array);
        // (Each element takes at least 3 bytes: a count past what has
        // arrived reserves no more than that.)
        if (out)
          out->elements.reserve(std::min<std::size_t>(static_cast<std::size_t>(n), (in_len - p) / 3 + 1));
        for (long long k = 0; k < n; ++k) {
          redis_reply* element = out ? &out->elements.emplace_back() : nullptr;
          if (int got = parse_reply(p, element, depth + 1); got != 1)
            return got;
        }
        return 1;
      default: return -1;
    }
  }

  // The commands link's read: each reply answers the oldest command sent.
  void read_replies() {
    if (!read_in())
      return;
    cork hold{*this}; // what the callbacks send goes in one write
    auto my_gen = gen;
    while (in_at < in_len) {
      // A large reply arrives over many reads: only a scan of its lines
      // until all of it is there, not a copy of its parts on every read.
      if (in_len - in_at > read_size) {
        std::size_t q = in_at;
        if (int whole = parse_reply(q, nullptr, 0); whole <= 0) {
          if (whole < 0)
            return reset("Protocol error: not a RESP reply");
          break;
        }
      }
      std::size_t p = in_at;
      redis_reply reply;
      int got = parse_reply(p, &reply, 0);
      if (got == 0)
        break;
      if (got < 0)
        return reset("Protocol error: not a RESP reply");
      if (awaiting.empty())
        return reset("a reply with no command waiting for it");
      in_at = p;
      auto answered = std::move(awaiting.front());
      awaiting.pop_front();
      answer(std::move(answered), &reply);
      if (gen != my_gen || !ac)
        return; // the link went from under us
    }
    compact_in();
  }
};

redis_client::redis_client(net::io_context& ioc, options opts) : impl_(std::make_shared<impl>(ioc, std::move(opts))) {}

redis_client::~redis_client() {
  stop();
}

void redis_client::on_message(message_handler h) {
  impl_->on_msg = std::move(h);
}

void redis_client::on_state(state_handler h) {
  impl_->on_st = std::move(h);
}

void redis_client::on_refused(refused_handler h) {
  impl_->on_ref = std::move(h);
}

void redis_client::start() {
  net::post(impl_->strand, [m = impl_] { m->start(); });
}

void redis_client::stop() {
  net::post(impl_->strand, [m = impl_] { m->stop(); });
}

void redis_client::command(args a, callback cb) {
  impl::queued q;
  q.fixed = std::make_shared<const args>(std::move(a));
  q.cb = std::move(cb);
  impl_->enqueue(std::move(q));
}

void redis_client::eval(const lua_script& script, args a, callback cb) {
  impl::queued q;
  q.script = &script;
  q.fixed = std::make_shared<const args>(std::move(a));
  q.cb = std::move(cb);
  impl_->enqueue(std::move(q));
}

void redis_client::eval_batched(const lua_script& script, std::shared_ptr<const args> fixed, std::string tail,
                                callback cb) {
  impl::queued q;
  q.script = &script;
  q.fixed = std::move(fixed);
  q.tail = std::move(tail);
  q.batched = true;
  q.cb = std::move(cb);
  impl_->enqueue(std::move(q));
}

void redis_client::subscribe(std::string channel) {
  net::post(impl_->strand, [m = impl_, channel = std::move(channel)] {
    if (m->channels.insert(channel).second && m->ac && !m->connecting)
      m->send_subscribe(channel);
  });
}

void redis_client::subscribe_once(std::string channel, std::function<void(bool)> done, std::function<void()> lost) {
  net::post(impl_->strand, [m = impl_, channel = std::move(channel), done = std::move(done),
                            lost = std::move(lost)]() mutable {
    if (!m->ac || !m->is_up || m->connecting || m->transient.count(channel) || m->channels.count(channel))
      return done(false);
    m->transient.emplace(channel, impl::once_channel{std::move(done), std::move(lost)});
    m->send_subscribe(channel);
  });
}

void redis_client::unsubscribe(std::string channel, std::function<void()> done) {
  net::post(impl_->strand, [m = impl_, channel = std::move(channel), done = std::move(done)]() mutable {
    auto t = m->transient.find(channel);
    if (!m->ac || t == m->transient.end())
      return done();
    t->second.lost = nullptr; // given up: its loss is no news
    auto& waiting = m->leaving[channel];
    waiting.push_back(std::move(done));
    if (waiting.size() > 1)
      return; // already on its way
    if (m->own_io)
      return m->send_raw("UNSUBSCRIBE", channel);
    const char* argv[] = {"UNSUBSCRIBE", channel.data()};
    std::size_t lens[] = {11, channel.size()};
    if (redisAsyncCommandArgv(m->ac, nullptr, nullptr, 2, argv, lens) != REDIS_OK) {
      auto refused = std::move(waiting);
      m->leaving.erase(channel);
      for (auto& d : refused)
        d();
    }
  });
}

void redis_client::command_batched(std::shared_ptr<const args> fixed, std::string tail,
                                   std::shared_ptr<tail_sink> sink) {
  impl::queued q;
  q.fixed = std::move(fixed);
  q.tail = std::move(tail);
  q.batched = true;
  q.sink = std::move(sink);
  impl_->enqueue(std::move(q));
}

void redis_client::reset(std::string why) {
  impl_->reset(why);
}

void redis_client::reconnect_now(std::string why, std::string unless_address) {
  impl_->reconnect_now(why, unless_address);
}

std::string redis_client::address() const {
  std::lock_guard<std::mutex> g{impl_->address_mutex};
  return impl_->up_address;
}

bool redis_client::does_own_io() const {
  return impl_->own_io.load(std::memory_order_relaxed);
}

bool redis_client::up() const {
  return impl_->is_up;
}

std::uint64_t redis_client::reconnects() const {
  return impl_->reconnect_count.load(std::memory_order_relaxed);
}

} // namespace signaling::cluster
