#include "transport/websocket_session.hpp"

#include "telemetry/log.hpp"
#include "transport/server_state.hpp"

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/intrusive_ptr.hpp>

#include <cerrno>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace signaling::transport {

namespace net = boost::asio;
using ref = boost::intrusive_ptr<websocket_session>;

// -- peer_address ------------------------------------------------------------------

peer_address peer_address::of(const net::ip::address& a, std::uint16_t port) {
  peer_address p;
  p.port = port;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), p.bytes.begin());
  } else {
    p.v6 = true;
    p.bytes = a.to_v6().to_bytes();
  }
  return p;
}

net::ip::address peer_address::address() const {
  if (v6)
    return net::ip::address_v6(bytes);
  return net::ip::address_v4(net::ip::address_v4::bytes_type{bytes[0], bytes[1], bytes[2], bytes[3]});
}

std::string peer_address::to_string() const {
  return address().to_string() + ":" + std::to_string(port);
}

} // namespace signaling::transport

// Log lines name the peer; it is rendered only if the line is written.
template <>
struct fmt::formatter<signaling::transport::peer_address> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const signaling::transport::peer_address& p, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(p.to_string(), ctx);
  }
};

namespace signaling::transport {

namespace {

std::string errno_text(int e) {
  return std::system_category().message(e);
}

const char* failure_text(ws::failure f) {
  switch (f) {
    case ws::failure::protocol_error: return "protocol error";
    case ws::failure::invalid_utf8: return "invalid UTF-8 in a text message";
    case ws::failure::too_big: return "message too big";
    case ws::failure::none: break;
  }
  return "";
}

// A close the client meant, or one the server made for cause, ends the seat;
// anything else leaves it for a resume (see close_cause in actors/link.hpp).
close_cause cause_of(close_kind kind, std::uint16_t their_code) {
  switch (kind) {
    case close_kind::client:
      return their_code == 0 || their_code == 1000 || their_code == 1001 || their_code == 1005 ? close_cause::deliberate
                                                                                               : close_cause::lost;
    case close_kind::going_away:
    case close_kind::service_restart:
    case close_kind::timeout:
    case close_kind::dropped: return close_cause::lost;
    default: return close_cause::deliberate;
  }
}

std::uint64_t ticks(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>((d + timer_wheel::tick - std::chrono::milliseconds(1)) / timer_wheel::tick);
}

} // namespace

// -- the reader's callbacks ------------------------------------------------------

struct websocket_session::reader_sink {
  websocket_session& s;
  bool on_text(std::string_view text) { return s.accept_text(text); }
  bool on_binary() {
    s.close(close_code::unsupported_data, "binary frames are not supported");
    return s.keep_parsing();
  }
  bool on_ping(std::string_view payload) { return s.accept_ping(payload); }
  bool on_pong() { return true; }
  void on_close(std::uint16_t code, std::string_view) { s.accept_close(code); }
};

// -- life ----------------------------------------------------------------------------

websocket_session::websocket_session(io_loop& loop, peer_address peer, std::unique_ptr<session_extras> extras)
  : loop_(&loop), extras_(std::move(extras)), peer_(peer) {
  loop_->add(*this);
  loop_->sessions.fetch_add(1, std::memory_order_relaxed);
}

websocket_session::~websocket_session() {
  loop_->remove(*this);
  loop_->sessions.fetch_sub(1, std::memory_order_relaxed);
  loop_->load.fetch_sub(1, std::memory_order_relaxed);
  // Destroyed without finish() (the loop went away at shutdown): the handler
  // still hears of it, once.
  if (auto* handler = std::exchange(handler_, nullptr))
    handler->on_closed(close_cause::deliberate);
}

websocket_session& websocket_session::of(session_hook& h) {
  return static_cast<websocket_session&>(h);
}

void websocket_session::start(std::string response, std::string_view early) {
  ref self{this};
  // Frames a client sent right behind its upgrade request wait for the 101.
  if (!early.empty())
    reader_.stash(early.data(), early.size());
  transport_due_ = loop_->wheel().after(server().opts.lim.handshake_timeout);
  rearm();
  push_control(std::move(response), out_kind::response);
  after_write();
}

void websocket_session::on_upgraded() {
  state_ = (flags_ & f_close_queued) ? phase::closing : phase::open;
  auto& stats = server().stats;
  stats.connections.fetch_add(1, std::memory_order_relaxed);
  stats.connections_total.fetch_add(1, std::memory_order_relaxed);
  log::debug("event=conn_open remote={}", peer_);
  handler_ = server().make_handler(*this);
  if (state_ == phase::closed)
    return;
  auto now = loop_->wheel().now_tick();
  rx_tick_ = static_cast<std::uint32_t>(now);
  if (state_ == phase::open)
    check_idle(now, now);
  else
    transport_due_ = loop_->wheel().after(server().opts.lim.handshake_timeout);
  rearm();
  if (reader_.has_stash()) {
    auto early = reader_.take_stash();
    feed(early.data(), early.size());
  }
  if (wants_reading())
    start_reading();
}

// -- moving to another thread -------------------------------------------------------

// A guest's connection follows its host's to the host's thread (the
// connection actor asks, actors/connection_actor.cpp). Only an open plain
// connection with nothing to write and nothing of its own posted on this loop
// moves, so the only thing left behind is its readiness wait: rebind() makes
// that stale (its handler, run here later, does nothing) and the wait's
// reference and read slot are taken back on the new thread once a marker
// posted here behind it comes through.
bool websocket_session::move_to(io_thread& target,
                                const std::function<void(const std::shared_ptr<io_thread>& to)>& switch_over) {
  auto* t = dynamic_cast<loop_thread*>(&target);
  if (!t || &t->owner() == loop_ || t->owner().server != loop_->server)
    return false;
  constexpr std::uint16_t busy = f_writing | f_close_queued | f_resume_posted | f_lent | f_in_read | f_finished;
  if (state_ != phase::open || !handler_ || queue_ || (flags_ & busy) ||
      loop_->server->closing_code.load(std::memory_order_relaxed))
    return false;
  auto& from = *loop_;
  auto& to = t->owner();
  bool waiting = reading();
  ++epoch_; // before rebind: the wait it ends must find itself stale
  if (!rebind(to)) {
    --epoch_;
    return false;
  }
  switch_over(to.thread());
  unschedule();
  from.remove(*this);
  set_reading(false);
  if (waiting)
    flags_ |= f_lent; // the stale wait keeps its reference and the slot until the marker below
  loop_ = &to;
  intrusive_ptr_add_ref(this);
  net::post(to.context(), [this, &from] {
    ref self{this, false};
    arrive(from);
  });
  if (waiting) {
    // Runs on the old thread after the stale wait's handler (both are queued
    // there, in this order), and touches nothing of the session there.
    net::post(from.context(), [this, &to] {
      net::post(to.context(), [this] {
        flags_ &= static_cast<std::uint16_t>(~f_lent);
        intrusive_ptr_release(this); // the stale wait's
      });
    });
  }
  server().stats.thread_moves.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void websocket_session::arrive(io_loop& from) {
  from.sessions.fetch_sub(1, std::memory_order_relaxed);
  from.load.fetch_sub(1, std::memory_order_relaxed);
  loop_->sessions.fetch_add(1, std::memory_order_relaxed);
  loop_->load.fetch_add(1, std::memory_order_relaxed);
  loop_->add(*this);
  if (state_ == phase::closed)
    return;
  rearm(); // the same ticks: every loop's wheel counts from one base
  if (wants_reading())
    start_reading();
  // The node began closing while this session was between two loops: this
  // loop's close_all walk may have run before it was here to be found.
  if (auto code = server().closing_code.load(std::memory_order_acquire))
    close(static_cast<close_code>(code), server().closing_reason);
}

void websocket_session::abandon() {
  ref self{this};
  flags_ |= f_finished;
  if (auto* handler = std::exchange(handler_, nullptr))
    handler->on_closed(close_cause::deliberate);
  terminate();
}

void websocket_session::terminate() {
  if (state_ != phase::closed) {
    state_ = phase::closed;
    close_socket(false);
  }
  unschedule();
  queue_.reset();
  if (flags_ & f_alive) {
    flags_ &= static_cast<std::uint16_t>(~f_alive);
    intrusive_ptr_release(this); // callers hold a reference of their own
  }
}

void websocket_session::end_soon(ending why, const char* where, std::string error) {
  if (state_ == phase::closed)
    return;
  state_ = phase::closed;
  close_socket(flags_ & f_cut_off);
  unschedule();
  queue_.reset();
  intrusive_ptr_add_ref(this);
  net::post(loop_->context(), [this, why, where, error = std::move(error)] {
    ref self{this, false};
    finish(why, where, error);
    terminate();
  });
}

void websocket_session::cut_off(const char* why) {
  log::debug("event=conn_cut remote={} reason={} queued_bytes={}", peer_, log::q(why), queued_bytes());
  flags_ |= f_cut_off;
  end_soon(ending::dropped, "write", why);
}

// -- reading ---------------------------------------------------------------------------

bool websocket_session::keep_parsing() const {
  return state_ != phase::closed && state_ != phase::lingering &&
         !(state_ == phase::open && (flags_ & f_paused));
}

bool websocket_session::wants_reading() const {
  switch (state_) {
    case phase::open: return !(flags_ & f_paused) && !reader_.has_stash();
    // Closing: read even if paused, for the client's close frame.
    case phase::closing:
    case phase::close_sent: return !reader_.has_stash();
    case phase::lingering: return true;
    default: return false;
  }
}

void websocket_session::received(char* data, std::size_t n) {
  rx_tick_ = static_cast<std::uint32_t>(loop_->wheel().now_tick());
  if (state_ == phase::lingering || state_ == phase::closed)
    return; // the close handshake is over: read to the client's FIN, unparsed
  feed(data, n);
}

void websocket_session::feed(char* data, std::size_t n) {
  reader_sink sink{*this};
  auto r = reader_.read(data, n, server().opts.lim.max_message_bytes, sink);
  if (r.failed != ws::failure::none)
    return fail_protocol(r.failed);
  // Paused (or closed) after a message: what follows waits for resume_reading().
  if (r.used < n && keep_stash())
    reader_.stash(data + r.used, n - r.used);
}

bool websocket_session::keep_stash() const {
  return state_ == phase::open || state_ == phase::closing || state_ == phase::close_sent;
}

void websocket_session::received_eof() {
  if (state_ == phase::lingering)
    return terminate();
  finish(ending::dropped, "read", "end of stream");
  terminate();
}

bool websocket_session::write_completed(const boost::system::error_code& ec) {
  set_writing(false);
  if (state_ == phase::closed)
    return false;
  if (ec) {
    failed("write", ec.message());
    return false;
  }
  return true;
}

void websocket_session::failed(const char* where, const std::string& error) {
  if (state_ == phase::closed)
    return;
  finish(ending::dropped, where, error);
  terminate();
}

bool websocket_session::accept_text(std::string_view text) {
  server().stats.messages_in.fetch_add(1, std::memory_order_relaxed);
  // After close() nothing more reaches the handler.
  if (state_ == phase::open && handler_)
    handler_->on_text(text);
  return keep_parsing();
}

bool websocket_session::accept_ping(std::string_view payload) {
  // Once our close frame is out, pings go unanswered (as Beast did).
  if (state_ == phase::open || state_ == phase::closing)
    push_control(ws::control_frame(ws::opcode::pong, payload));
  return keep_parsing();
}

void websocket_session::accept_close(std::uint16_t code) {
  their_code_ = code;
  switch (state_) {
    case phase::open:
    case phase::closing:
      if (!(flags_ & f_close_started)) {
        // The client started the close handshake: what it has not begun to
        // receive is dropped, and its code comes back (1000 for none).
        drop_unsent();
        push_control(ws::close_frame(code ? code : 1000, {}));
      }
      break;
    case phase::close_sent: break;
    default: return;
  }
  if (state_ == phase::closed)
    return;
  finish(ending::peer_closed, "read");
  linger();
}

void websocket_session::fail_protocol(ws::failure why) {
  if (state_ == phase::closed || state_ == phase::lingering)
    return;
  if (!(flags_ & f_close_started)) {
    drop_unsent();
    push_control(ws::close_frame(ws::close_code_of(why), {}));
  }
  if (state_ == phase::closed)
    return;
  finish(why == ws::failure::too_big ? ending::too_big : ending::protocol_error, "read", failure_text(why));
  linger();
}

void websocket_session::linger() {
  state_ = phase::lingering;
  transport_due_ = loop_->wheel().after(server().opts.lim.handshake_timeout);
  rearm();
  after_write();
}

void websocket_session::pause_reading() {
  flags_ |= f_paused;
}

void websocket_session::resume_reading() {
  if (!(flags_ & f_paused))
    return;
  flags_ &= static_cast<std::uint16_t>(~f_paused);
  if (state_ != phase::open)
    return;
  // On a later turn: the caller may be in the middle of this session's own read.
  if (flags_ & f_resume_posted)
    return;
  flags_ |= f_resume_posted;
  intrusive_ptr_add_ref(this);
  net::post(loop_->context(), [this] {
    ref self{this, false};
    flags_ &= static_cast<std::uint16_t>(~f_resume_posted);
    resume_now();
  });
}

void websocket_session::resume_now() {
  if (!keep_stash() || (state_ == phase::open && (flags_ & f_paused)))
    return;
  if (reader_.has_stash()) {
    auto held = reader_.take_stash();
    feed(held.data(), held.size());
  }
  if (wants_reading() && !reading())
    start_reading();
}

// -- writing ---------------------------------------------------------------------------

void websocket_session::send(std::string_view text) {
  send_text(text, nullptr);
}

void websocket_session::send(const frame_ptr& frame) {
  send_text(*frame, &frame);
}

void websocket_session::send_text(std::string_view text, const frame_ptr* shared) {
  if (state_ != phase::open)
    return; // after close() sends are dropped
  auto& lim = server().opts.lim;
  if (queued_bytes() + text.size() > lim.max_send_queue_bytes) {
    server().stats.slow_closed.fetch_add(1, std::memory_order_relaxed);
    return cut_off("send queue limit");
  }
  auto keep = [&] { return shared ? *shared : std::make_shared<const std::string>(text); };
  if (queue_) {
    queue_->items.push_back({keep(), static_cast<std::uint32_t>(text.size()), out_kind::text});
    queue_->bytes += text.size();
    if (!writing())
      start_writing();
    return;
  }
  // Nothing waits: straight to the socket, and only what it does not take
  // is kept (a copy of it only for a borrowed string).
  char header[ws::max_header_bytes];
  auto h = ws::write_header(header, ws::opcode::text, text.size());
  iovec iov[2] = {{header, h}, {const_cast<char*>(text.data()), text.size()}};
  long w = write_now(iov, 2);
  if (w < 0)
    return end_soon(ending::dropped, "write", errno_text(errno));
  auto written = static_cast<std::size_t>(w);
  if (written == h + text.size())
    return;
  queue_ = std::make_unique<send_queue>();
  if (shared || written < h) {
    queue_->items.push_back({keep(), static_cast<std::uint32_t>(text.size()), out_kind::text});
    queue_->head_done = written;
  } else {
    auto rest = text.substr(written - h);
    queue_->items.push_back(
      {std::make_shared<const std::string>(rest), static_cast<std::uint32_t>(rest.size()), out_kind::raw});
  }
  queue_->bytes = queue_->items.front().counted;
  start_writing();
}

void websocket_session::push_control(std::string frame, out_kind kind) {
  if (state_ == phase::closed)
    return;
  if (!queue_) {
    iovec iov{frame.data(), frame.size()};
    long w = write_now(&iov, 1);
    if (w < 0)
      return end_soon(ending::dropped, "write", errno_text(errno));
    auto written = static_cast<std::size_t>(w);
    if (written > 0)
      note_written(kind, written == frame.size());
    if (written == frame.size())
      return;
    queue_ = std::make_unique<send_queue>();
    queue_->items.push_back({std::make_shared<const std::string>(std::move(frame)), 0, kind});
    queue_->head_done = written;
    start_writing();
    return;
  }
  queue_->items.push_back({std::make_shared<const std::string>(std::move(frame)), 0, kind});
  if (!writing())
    start_writing();
}

void websocket_session::note_written(out_kind kind, bool whole) {
  if (kind == out_kind::close)
    flags_ |= f_close_started;
  if (kind == out_kind::response && whole)
    flags_ |= f_upgraded;
}

int websocket_session::gather(iovec* iov, char (*headers)[ws::max_header_bytes]) const {
  const auto& q = *queue_;
  int n = 0;
  int k = 0;
  for (auto i = q.head; i < q.items.size() && k < max_items; ++i, ++k) {
    const auto& it = q.items[i];
    auto* data = const_cast<char*>(it.bytes->data());
    auto size = it.bytes->size();
    auto skip = i == q.head ? q.head_done : 0;
    if (it.kind == out_kind::text) {
      auto h = ws::write_header(headers[k], ws::opcode::text, size);
      if (skip < h) {
        iov[n++] = {headers[k] + skip, h - skip};
        skip = 0;
      } else {
        skip -= h;
      }
    }
    iov[n++] = {data + skip, size - skip};
  }
  return n;
}

std::size_t websocket_session::item_size(const out_item& it) {
  auto size = it.bytes->size();
  if (it.kind != out_kind::text)
    return size;
  char header[ws::max_header_bytes];
  return ws::write_header(header, ws::opcode::text, size) + size;
}

void websocket_session::advance(std::size_t n) {
  auto& q = *queue_;
  while (q.head < q.items.size()) {
    auto& it = q.items[q.head];
    auto left = item_size(it) - q.head_done;
    if (n < left) {
      q.head_done += n;
      if (n > 0)
        note_written(it.kind, false);
      break;
    }
    n -= left;
    note_written(it.kind, true);
    q.head_done = 0;
    q.bytes -= it.counted;
    it.bytes.reset();
    ++q.head;
  }
  if (q.head == q.items.size()) {
    queue_.reset(); // an empty queue holds no memory
  } else if (q.head >= 64 && q.head * 2 >= q.items.size()) {
    q.items.erase(q.items.begin(), q.items.begin() + static_cast<std::ptrdiff_t>(q.head));
    q.head = 0;
  }
}

std::size_t websocket_session::linearize(std::string& out, std::size_t limit) const {
  const auto& q = *queue_;
  for (auto i = q.head; i < q.items.size() && out.size() < limit; ++i) {
    const auto& it = q.items[i];
    auto skip = i == q.head ? q.head_done : 0;
    if (it.kind == out_kind::text) {
      char header[ws::max_header_bytes];
      auto h = ws::write_header(header, ws::opcode::text, it.bytes->size());
      if (skip < h)
        out.append(header + skip, h - skip);
      skip = skip < h ? 0 : skip - h;
    }
    out.append(it.bytes->data() + skip, it.bytes->size() - skip);
  }
  return out.size();
}

void websocket_session::drop_unsent() {
  if (!queue_)
    return;
  auto& q = *queue_;
  auto keep = q.head + (q.head_done > 0 ? 1 : 0);
  for (auto i = keep; i < q.items.size(); ++i)
    q.bytes -= q.items[i].counted;
  q.items.resize(keep);
  if (q.head == q.items.size())
    queue_.reset();
}

void websocket_session::after_write() {
  if ((flags_ & f_upgraded) && state_ == phase::upgrading)
    on_upgraded();
  if ((flags_ & f_close_started) && state_ == phase::closing) {
    state_ = phase::close_sent;
    transport_due_ = loop_->wheel().after(server().opts.lim.handshake_timeout);
    rearm();
  }
  if (!queue_ && state_ == phase::lingering && !(flags_ & f_output_ended)) {
    flags_ |= f_output_ended;
    end_output();
  }
}

std::size_t websocket_session::queued_bytes() const {
  return queue_ ? queue_->bytes : 0;
}

void websocket_session::close(close_code code, std::string_view reason) {
  if (flags_ & f_close_queued)
    return;
  switch (state_) {
    case phase::upgrading: // close_all() during the upgrade: right after the 101
    case phase::open: break;
    default: return;
  }
  flags_ |= f_close_queued;
  close_code_ = static_cast<std::uint16_t>(code);
  if (state_ == phase::open) {
    state_ = phase::closing;
    // What is queued goes first, but a reader that never takes it must not
    // hold the connection open: it gets one handshake timeout to drain.
    transport_due_ = loop_->wheel().after(server().opts.lim.handshake_timeout);
    rearm();
  }
  push_control(ws::close_frame(close_code_, reason), out_kind::close);
  if (state_ != phase::upgrading)
    after_write();
  // Bytes held back by a pause still have to be read, for the client's close frame.
  if (reader_.has_stash() && state_ == phase::closing) {
    intrusive_ptr_add_ref(this);
    net::post(loop_->context(), [this] {
      ref self{this, false};
      resume_now();
    });
  }
}

// -- deadlines -------------------------------------------------------------------------

void websocket_session::set_deadline(clock::time_point when) {
  // (The handler may call this while it is being made, before handler_ is set.)
  if (flags_ & f_finished)
    return;
  actor_due_ = when == clock::time_point::max() ? UINT64_MAX : loop_->wheel().at(when);
  rearm();
}

void websocket_session::rearm() {
  if (state_ == phase::closed)
    return;
  loop_->wheel().schedule_tick(*this, std::min(transport_due_, actor_due_));
}

// No read for IDLE_TIMEOUT_MS/2: a ping; no answer (nor anything else) for
// another half: the client is gone. Reads only store the tick they came in;
// the wheel entry moves when this check runs, not per read. `due` is the tick
// this check was set for (so a late loop still knows when its ping went out).
void websocket_session::check_idle(std::uint64_t now, std::uint64_t due) {
  auto idle = server().opts.lim.idle_timeout;
  if (idle.count() <= 0) {
    transport_due_ = UINT64_MAX;
    return;
  }
  auto half = ticks(idle / 2);
  if (flags_ & f_ping_sent) {
    auto pinged = static_cast<std::uint32_t>(due - half);
    // Bytes that came but were not read yet count: a loop late on its timers
    // must not drop a client whose answer it has not looked at.
    bool answered = static_cast<std::int32_t>(rx_tick_ - pinged) >= 0 || bytes_waiting();
    if (!answered) {
      transport_due_ = UINT64_MAX;
      finish(ending::timeout, "idle", "timeout");
      return terminate();
    }
    flags_ &= static_cast<std::uint16_t>(~f_ping_sent);
  }
  auto silent = static_cast<std::uint32_t>(now) - rx_tick_;
  if (silent < half) {
    transport_due_ = now + (half - silent);
    return;
  }
  flags_ |= f_ping_sent;
  transport_due_ = now + half;
  push_control(ws::control_frame(ws::opcode::ping, {}));
}

void websocket_session::on_timer() {
  ref self{this};
  auto now = loop_->wheel().now_tick();
  if (actor_due_ <= now) {
    actor_due_ = UINT64_MAX;
    if (handler_)
      handler_->on_deadline();
    if (state_ == phase::closed)
      return;
  }
  if (transport_due_ <= now) {
    auto due = std::exchange(transport_due_, UINT64_MAX);
    switch (state_) {
      case phase::upgrading:
        finish(ending::timeout, "handshake", "timeout");
        return terminate();
      case phase::open:
        check_idle(now, due);
        if (state_ == phase::closed)
          return;
        break;
      case phase::closing: return cut_off("close flush timeout");
      case phase::close_sent:
        finish(ending::timeout, "close", "timeout");
        return terminate();
      case phase::lingering: return terminate();
      case phase::closed: return;
    }
  }
  rearm();
}

// -- the end -----------------------------------------------------------------------------

close_kind websocket_session::classify(ending why) const {
  if (flags_ & f_cut_off)
    return close_kind::slow_reader;
  if (flags_ & f_close_started) {
    switch (close_code_) {
      case 1001: return close_kind::going_away;
      case 1012: return close_kind::service_restart;
      case 1003: return close_kind::unsupported;
      case 1008: return close_kind::policy;
      default: break;
    }
  }
  switch (why) {
    case ending::peer_closed: return close_kind::client;
    case ending::too_big: return close_kind::too_big;
    case ending::timeout: return close_kind::timeout;
    case ending::protocol_error: return close_kind::protocol_error;
    case ending::dropped: break;
  }
  return close_kind::dropped;
}

void websocket_session::finish(ending why, const char* where, std::string_view error) {
  if (flags_ & f_finished)
    return;
  flags_ |= f_finished;
  actor_due_ = UINT64_MAX;
  auto* handler = std::exchange(handler_, nullptr);
  if (!handler) {
    log::debug("event=handshake_failed remote={} where={} error={}", peer_, where, log::q(error));
    return;
  }
  auto& stats = server().stats;
  stats.connections.fetch_sub(1, std::memory_order_relaxed);
  auto kind = classify(why);
  stats.count_close(kind);
  log::debug("event=conn_close remote={} where={} error={} sent_code={} peer_code={}", peer_, where, log::q(error),
             (flags_ & f_close_started) ? close_code_ : 0, their_code_);
  handler->on_closed(cause_of(kind, their_code_));
}

// -- what the session shows its actor ------------------------------------------------

std::string websocket_session::client_address() const {
  if (extras_ && extras_->client)
    return address_key(*extras_->client);
  return address_key(peer_.address());
}

const access_grant& websocket_session::grant() const {
  static const access_grant anything{};
  return extras_ ? extras_->grant : anything;
}

// -- plain TCP ---------------------------------------------------------------------------

namespace {

class plain_session;

// The one readiness wait every open plain connection has pending, as an
// operation of Asio's epoll reactor made here instead of by
// socket::async_wait, for two reasons:
// - async_wait re-arms the descriptor (epoll_ctl(EPOLL_CTL_MOD)) every time,
//   one system call per wake-up, because it cannot know whether readiness
//   was used up. The read loop below does: when its last read found the
//   socket empty (EAGAIN, or less than a full buffer), only new bytes can make
//   it readable again, and the edge-triggered registration reports those, so
//   the wait is queued without re-arming (as Asio's own async_receive does
//   after a short read). Otherwise (bytes may be left, the first wait, a
//   resumed reader) it re-arms as async_wait would.
// - it lives inside the session: an idle connection's wait costs no
//   allocation, and nothing of Asio's recycled blocks.
class readiness_op final : public net::detail::reactor_op {
public:
  readiness_op() : reactor_op(boost::system::error_code(), &perform, &complete) {}

  plain_session* session = nullptr;
  std::uint8_t epoch = 0; // the session's epoch() when the wait began
  bool used = false;      // (the session's own op) queued in a reactor
  bool on_heap = false;   // made because the session's own was lent (move_to)
  // Set only while the reactor's start_op runs: its speculative call of
  // perform() comes right after a read found the socket empty, so the
  // answer is "not ready" without asking the kernel.
  bool after_empty_read = false;

private:
  static status perform(reactor_op* base) {
    // Otherwise called by the reactor for an edge (or an error) epoll reported.
    return static_cast<readiness_op*>(base)->after_empty_read ? not_done : done;
  }
  static void complete(void* owner, net::detail::operation* base, const boost::system::error_code&, std::size_t);
};

// Asio's state of a socket (its descriptor and its reactor registration),
// which basic_socket keeps protected.
struct socket_internals : socket_type {
  static net::detail::reactive_socket_service_base::base_implementation_type& of(socket_type& s) {
    return (s.*(&socket_internals::impl_)).get_implementation();
  }
  // The protocol (v4 or v6) Asio keeps for the socket: no getsockname to learn it.
  static net::ip::tcp protocol_of(socket_type& s) { return (s.*(&socket_internals::impl_)).get_implementation().protocol_; }
};

class plain_session final : public websocket_session {
public:
  plain_session(io_loop& loop, socket_type&& socket, peer_address peer, std::unique_ptr<session_extras> extras)
    : websocket_session(loop, peer, std::move(extras)), socket_(std::move(socket)) {
    read_op_.session = this;
  }

  // A readiness wait has ended (`ec`: operation_aborted when the socket was
  // closed or moved); `epoch`: when it began.
  void on_wait(const boost::system::error_code& ec, std::uint8_t epoch) {
    if (stale(epoch))
      return; // moved to another thread: see move_to
    ref self{this, false};
    set_reading(false);
    set_in_read(true);
    on_readable(ec);
    set_in_read(false);
  }

private:
  // Readiness, not a read: an idle connection holds a small wait operation
  // and no buffer.
  void start_reading() override { wait_readable(false); }

  // `after_empty_read`: called by the read loop, whose last read found the
  // socket empty (see readiness_op).
  void wait_readable(bool after_empty_read) {
    if (reading())
      return;
    set_reading(true);
    intrusive_ptr_add_ref(this);
    readiness_op* op = &read_op_;
    if (slot_lent() || read_op_.used) {
      // The session's own op is still queued on the loop it left (a
      // move_to): a second one meanwhile.
      op = new readiness_op;
      op->session = this;
      op->on_heap = true;
    }
    op->used = true;
    op->epoch = epoch();
    op->ec_ = boost::system::error_code();
    auto& impl = socket_internals::of(socket_);
    op->after_empty_read = after_empty_read;
    // Completes only through the loop's queue (never inside this call), so
    // the op is still ours on return; the loop has no other thread.
    loop().reactor().start_op(net::detail::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, op, false,
                              after_empty_read);
    op->after_empty_read = false;
  }

  void on_readable(const boost::system::error_code& ec) {
    if (state() == phase::closed)
      return;
    if (ec)
      return failed("read", ec.message());
    auto fd = socket_.native_handle();
    char* buffer = loop().read_buffer();
    bool empty = false; // the last read found the socket empty
    // A few reads at most, so one busy client cannot starve the others.
    for (int round = 0; round < 4 && wants_reading(); ++round) {
      auto n = ::recv(fd, buffer, io_loop::read_buffer_size, MSG_DONTWAIT);
      if (n > 0) {
        received(buffer, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < io_loop::read_buffer_size) {
          empty = true; // drained (a short read on a stream socket)
          break;
        }
        continue;
      }
      if (n == 0)
        return received_eof();
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        empty = true;
        break;
      }
      return failed("read", errno_text(errno));
    }
    if (wants_reading())
      wait_readable(empty);
  }

  void start_writing() override {
    if (writing() || queue_empty())
      return;
    write_queued();
  }

  // Several queued frames in one sendmsg: headers and shared payloads side
  // by side, nothing copied.
  void write_queued() {
    auto fd = socket_.native_handle();
    while (!queue_empty()) {
      iovec iov[2 * max_items];
      char headers[max_items][ws::max_header_bytes];
      int n = gather(iov, headers);
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(n);
      auto w = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        return end_soon(ending::dropped, "write", errno_text(errno));
      }
      std::size_t offered = 0;
      for (int i = 0; i < n; ++i)
        offered += iov[i].iov_len;
      advance(static_cast<std::size_t>(w));
      if (static_cast<std::size_t>(w) < offered)
        break; // the socket is full
    }
    if (!queue_empty())
      wait_writable();
    after_write();
  }

  void wait_writable() {
    if (writing())
      return;
    set_writing(true);
    intrusive_ptr_add_ref(this);
    socket_.async_wait(socket_type::wait_write, [this, e = epoch()](const boost::system::error_code& ec) {
      if (stale(e))
        return; // (a connection with bytes to write does not move)
      ref self{this, false};
      if (write_completed(ec))
        write_queued();
    });
  }

  long write_now(const iovec* iov, int n) override {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<std::size_t>(n);
    for (;;) {
      auto w = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w >= 0)
        return w;
      if (errno == EINTR)
        continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
  }

  void end_output() override {
    // FIN; the client answers with its own, which the read loop waits for.
    ::shutdown(socket_.native_handle(), SHUT_WR);
    if (wants_reading())
      start_reading();
  }

  void close_socket(bool hard) override {
    boost::system::error_code ignored;
    if (hard)
      socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ignored); // pending waits complete with operation_aborted
  }

  bool bytes_waiting() override {
    boost::system::error_code ec;
    return socket_.available(ec) > 0 && !ec;
  }

  // The same connection, registered with `to`'s reactor through a duplicate
  // descriptor (so a failure leaves this one as it was). The old descriptor
  // is released (taken out of this loop's epoll set: a close alone would
  // leave the shared file registered there) and closed; its pending wait
  // ends with operation_aborted and finds itself stale.
  bool rebind(io_loop& to) override {
    boost::system::error_code ec;
    auto protocol = socket_internals::protocol_of(socket_);
    int fd = ::dup(socket_.native_handle());
    if (fd < 0)
      return false;
    socket_type moved(to.context());
    moved.assign(protocol, fd, ec);
    if (ec) {
      ::close(fd);
      return false;
    }
    auto old = socket_.release(ec);
    if (!ec)
      ::close(old);
    socket_ = std::move(moved);
    return true;
  }

  socket_type socket_;
  readiness_op read_op_;
};

void readiness_op::complete(void* owner, net::detail::operation* base, const boost::system::error_code&,
                            std::size_t) {
  auto* op = static_cast<readiness_op*>(base);
  auto* session = op->session;
  auto epoch = op->epoch;
  auto ec = op->ec_;
  if (op->on_heap)
    delete op;
  else
    op->used = false;
  if (owner) // (else the io_context is being destroyed)
    session->on_wait(ec, epoch);
}

// -- TLS -------------------------------------------------------------------------------------

class tls_session final : public websocket_session {
public:
  static constexpr std::size_t buffer_size = 16 * 1024; // one TLS record
  static constexpr std::size_t write_chunk = 64 * 1024;

  tls_session(io_loop& loop, tls_stream&& stream, std::shared_ptr<const void> context, peer_address peer,
              std::unique_ptr<session_extras> extras)
    : websocket_session(loop, peer, std::move(extras)), stream_(std::move(stream)), context_(std::move(context)),
      buffer_(new char[buffer_size]) {}

private:
  void start_reading() override {
    // Lingering over TLS is the close_notify exchange (end_output), not reads.
    if (reading() || state() == phase::lingering)
      return;
    set_reading(true);
    intrusive_ptr_add_ref(this);
    stream_.async_read_some(net::buffer(buffer_.get(), buffer_size),
                            [this](const boost::system::error_code& ec, std::size_t n) {
                              ref self{this, false};
                              set_reading(false);
                              on_read(ec, n);
                            });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (state() == phase::closed)
      return;
    if (n > 0)
      received(buffer_.get(), n);
    if (state() == phase::closed)
      return;
    if (ec) {
      if (ec == net::error::eof || ec == net::ssl::error::stream_truncated)
        return received_eof();
      return failed("read", ec.message());
    }
    if (wants_reading())
      start_reading();
  }

  void start_writing() override {
    if (writing() || queue_empty())
      return;
    out_.clear();
    linearize(out_, write_chunk);
    set_writing(true);
    intrusive_ptr_add_ref(this);
    net::async_write(stream_, net::buffer(out_), [this](const boost::system::error_code& ec, std::size_t n) {
      ref self{this, false};
      if (!write_completed(ec))
        return;
      advance(n);
      std::string().swap(out_);
      after_write();
      start_writing();
    });
  }

  long write_now(const iovec*, int) override { return 0; }

  void end_output() override {
    intrusive_ptr_add_ref(this);
    stream_.async_shutdown([this](const boost::system::error_code&) {
      ref self{this, false};
      terminate();
    });
  }

  void close_socket(bool hard) override {
    boost::system::error_code ignored;
    if (hard)
      stream_.next_layer().shutdown(socket_type::shutdown_both, ignored);
    stream_.next_layer().close(ignored);
  }

  bool bytes_waiting() override {
    boost::system::error_code ec;
    return stream_.next_layer().available(ec) > 0 && !ec;
  }

  tls_stream stream_;
  std::shared_ptr<const void> context_; // the ssl::context the stream was made with
  std::unique_ptr<char[]> buffer_;
  std::string out_; // what the write in flight is sending
};

} // namespace

websocket_session* make_plain_session(io_loop& loop, socket_type&& socket, peer_address peer,
                                      std::unique_ptr<session_extras> extras) {
  return new plain_session(loop, std::move(socket), peer, std::move(extras));
}

websocket_session* make_tls_session(io_loop& loop, tls_stream&& stream, std::shared_ptr<const void> tls_context,
                                    peer_address peer, std::unique_ptr<session_extras> extras) {
  return new tls_session(loop, std::move(stream), std::move(tls_context), peer, std::move(extras));
}

} // namespace signaling::transport
