#include "transport/websocket_session.hpp"

#include "telemetry/log.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>

namespace signaling::transport {

template <class Stream>
websocket_session<Stream>::websocket_session(Stream&& stream, std::shared_ptr<const void> tls_context,
                                             std::shared_ptr<server_state> state, std::string remote,
                                             access_grant grant)
  : tls_context_(std::move(tls_context)), ws_(std::move(stream)), state_(std::move(state)), remote_(std::move(remote)),
    grant_(std::move(grant)),
    thread_(std::make_shared<strand_thread>(
      *ws_.get_executor().template target<net::strand<net::io_context::executor_type>>())) {}

template <class Stream>
websocket_session<Stream>::~websocket_session() {
  state_->remove(this);
  // Destroyed without finish() (the io_context went away at shutdown): the
  // handler still hears of it, once.
  if (auto* handler = std::exchange(handler_, nullptr))
    handler->on_closed(close_cause::deliberate);
}

template <class Stream>
void websocket_session<Stream>::run(http::request<http::string_body> req) {
  state_->add(this, std::weak_ptr<session_base>(this->shared_from_this()));
  const auto& lim = state_->opts.lim;
  // Beast's websocket timeouts replace the tcp_stream's per-request deadline:
  // handshake (also bounds the close handshake) and idle with keepalive pings.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout t;
  t.handshake_timeout = lim.handshake_timeout;
  t.idle_timeout = lim.idle_timeout;
  t.keep_alive_pings = true;
  ws_.set_option(t);
  ws_.read_message_max(lim.max_message_bytes);
  ws_.auto_fragment(false);
  ws_.set_option(websocket::stream_base::decorator(
    [](websocket::response_type& res) { res.set(http::field::server, "signal-node"); }));
  ws_.async_accept(req, beast::bind_front_handler(&websocket_session<Stream>::on_accept, this->shared_from_this()));
}

template <class Stream>
void websocket_session<Stream>::on_accept(beast::error_code ec) {
  if (ec)
    return finish(ec, "accept");
  accepted_ = true;
  state_->stats.connections.fetch_add(1, std::memory_order_relaxed);
  state_->stats.connections_total.fetch_add(1, std::memory_order_relaxed);
  log::info("event=conn_open remote={}", remote_);
  handler_ = state_->make_handler(*this);
  if (closing_) // close_all() reached us during the handshake
    do_close();
  do_read();
}

template <class Stream>
void websocket_session<Stream>::do_read() {
  // Paused (rate limit): no read until resume_reading(), unless we are
  // closing, when the peer's close frame must still be read.
  if (reading_ || (paused_ && !closing_))
    return;
  reading_ = true;
  ws_.async_read(buffer_, beast::bind_front_handler(&websocket_session<Stream>::on_read, this->shared_from_this()));
}

template <class Stream>
void websocket_session<Stream>::resume_reading() {
  paused_ = false;
  auto keep = std::move(paused_self_);
  if (accepted_ && !finished_)
    do_read();
}

template <class Stream>
void websocket_session<Stream>::set_deadline(clock::time_point when) {
  if (finished_)
    return;
  if (!deadline_)
    deadline_ = std::make_unique<net::steady_timer>(ws_.get_executor());
  deadline_->expires_at(when);
  if (when == clock::time_point::max())
    return; // expires_at cancelled the pending wait
  deadline_->async_wait([weak = this->weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (!ec && self && !self->finished_)
      self->handler_->on_deadline();
  });
}

template <class Stream>
void websocket_session<Stream>::on_read(beast::error_code ec, std::size_t bytes) {
  reading_ = false;
  if (ec)
    return finish(ec, "read");
  if (!ws_.got_text()) {
    buffer_.consume(bytes);
    close(close_code::unsupported_data, "binary frames are not supported");
  } else {
    std::string_view text(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    state_->stats.messages_in.fetch_add(1, std::memory_order_relaxed);
    if (!closing_)
      handler_->on_text(text);
    buffer_.consume(bytes);
  }
  // An idle connection should not keep the capacity of its largest message.
  if (buffer_.capacity() > 8 * 1024)
    buffer_.shrink_to_fit();
  // Keep reading while closing: the peer's close frame ends the loop.
  do_read();
}

template <class Stream>
void websocket_session<Stream>::send(std::string_view text) {
  if (closing_ || finished_)
    return;
  send(std::make_shared<const std::string>(text));
}

template <class Stream>
void websocket_session<Stream>::send(const frame_ptr& frame) {
  if (closing_ || finished_)
    return;
  if (queued_bytes_ + frame->size() > state_->opts.lim.max_send_queue_bytes) {
    state_->stats.slow_closed.fetch_add(1, std::memory_order_relaxed);
    return cut_off("send queue limit");
  }
  queued_bytes_ += frame->size();
  queue_.push_back(frame);
  if (!writing_)
    do_write();
}

template <class Stream>
void websocket_session<Stream>::do_write() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(net::buffer(*queue_.front()),
                  beast::bind_front_handler(&websocket_session<Stream>::on_write, this->shared_from_this()));
}

template <class Stream>
void websocket_session<Stream>::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ec)
    return finish(ec, "write");
  queued_bytes_ -= queue_.front()->size();
  queue_.pop_front();
  if (!queue_.empty())
    do_write();
  else if (closing_ && !close_sent_)
    do_close();
}

template <class Stream>
void websocket_session<Stream>::close(close_code code, std::string_view reason) {
  if (closing_ || finished_)
    return;
  closing_ = true;
  close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
  if (!accepted_)
    return; // on_accept closes right after the handshake
  if (!writing_)
    return do_close();
  // Frames already queued go out first, but a reader that never drains them
  // must not hold the connection open: give the flush one handshake timeout.
  close_timer_ = std::make_unique<net::steady_timer>(ws_.get_executor(), state_->opts.lim.handshake_timeout);
  close_timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
    if (!ec && !self->close_sent_)
      self->cut_off("close flush timeout");
  });
}

template <class Stream>
void websocket_session<Stream>::do_close() {
  if (close_sent_ || finished_)
    return;
  close_sent_ = true;
  ws_.async_close(close_reason_, beast::bind_front_handler(&websocket_session<Stream>::on_close, this->shared_from_this()));
}

template <class Stream>
void websocket_session<Stream>::on_close(beast::error_code ec) {
  finish(ec, "close");
}

template <class Stream>
void websocket_session<Stream>::cut_off(const char* why) {
  cut_off_ = true;
  log::warn("event=conn_cut remote={} reason=\"{}\" queued_bytes={}", remote_, why, queued_bytes_);
  closing_ = true;
  beast::error_code ignored;
  auto& sock = beast::get_lowest_layer(ws_).socket();
  sock.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  sock.close(ignored); // pending operations complete with operation_aborted
}

template <class Stream>
close_kind websocket_session<Stream>::classify(beast::error_code ec) const {
  if (cut_off_)
    return close_kind::slow_reader;
  if (close_sent_) {
    switch (close_reason_.code) {
      case websocket::close_code::going_away: return close_kind::going_away;
      case websocket::close_code::service_restart: return close_kind::service_restart;
      case websocket::close_code::unknown_data: return close_kind::unsupported;
      case websocket::close_code::policy_error: return close_kind::policy;
      default: break;
    }
  }
  if (ec == websocket::error::closed)
    return close_kind::client;
  if (ec == websocket::error::message_too_big)
    return close_kind::too_big;
  if (ec == beast::error::timeout)
    return close_kind::timeout;
  if (ec.category() == beast::error_code(websocket::error::closed).category())
    return close_kind::protocol_error; // framing, UTF-8, control frames: Beast failed the connection
  return close_kind::dropped;
}

// A close the client meant, or one the server made for cause, ends the seat;
// anything else leaves it for a resume (see close_cause).
template <class Stream>
close_cause websocket_session<Stream>::cause_of(close_kind kind, std::uint16_t their_code) {
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

template <class Stream>
void websocket_session<Stream>::finish(beast::error_code ec, const char* where) {
  if (finished_)
    return;
  finished_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  if (close_timer_)
    close_timer_->cancel();
  if (deadline_)
    deadline_->cancel();
  paused_self_.reset();
  if (!accepted_) {
    log::debug("event=handshake_failed remote={} where={} error=\"{}\"", remote_, where, ec.message());
    return;
  }
  state_->stats.connections.fetch_sub(1, std::memory_order_relaxed);
  auto kind = classify(ec);
  state_->stats.count_close(kind);
  const auto& theirs = ws_.reason();
  log::info("event=conn_close remote={} where={} error=\"{}\" sent_code={} peer_code={}", remote_, where,
            ec ? ec.message() : "", close_sent_ ? close_reason_.code : 0, theirs.code);
  auto* handler = std::exchange(handler_, nullptr);
  handler->on_closed(cause_of(kind, theirs.code));
}

template <class Stream>
void websocket_session<Stream>::close_from_any_thread(close_code code, std::string reason) {
  net::post(ws_.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)] {
    self->close(code, reason);
  });
}

template class websocket_session<beast::tcp_stream>;
template class websocket_session<beast::ssl_stream<beast::tcp_stream>>;

} // namespace signaling::transport
