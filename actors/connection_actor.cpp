#include "actors/connection_actor.hpp"

#include "actors/messages.hpp"
#include "actors/node_context.hpp"
#include "actors/protocol.hpp"
#include "actors/remote.hpp"
#include "telemetry/log.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_config.hpp>
#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

namespace signaling {

namespace {

using protocol::error_code;
using clock = connection_link::clock;

// The detail of rate-limited when an address has spent its join misses.
const std::string misses_spent = "too many failed joins from this address; retry later";

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// Calls `f` with the elements of `m` if they are exactly Ts..., as CAF's
// behaviors would; true if it matched.
template <class... Ts, class F, std::size_t... Is>
void apply_elements(caf::type_erased_tuple& m, F& f, std::index_sequence<Is...>) {
  f(m.get_mutable_as<Ts>(Is)...);
}

template <class... Ts, class F>
bool on(caf::type_erased_tuple& m, F&& f) {
  if (!m.match_elements<Ts...>())
    return false;
  apply_elements<Ts...>(m, f, std::index_sequence_for<Ts...>{});
  return true;
}

class connection_actor final : public caf::monitorable_actor, public connection_handler {
public:
  connection_actor(caf::actor_config& cfg, node_context& ctx, connection_link& link)
    : caf::monitorable_actor(cfg), ctx_(ctx), link_(&link), held_thread_(link.thread()),
      thread_(held_thread_.get()), tokens_(static_cast<float>(ctx.lim.rate_burst)) {}

  const char* name() const override { return "connection"; }

  // `a` as a connection actor of ours, or null. (The class is final, so its
  // exact type says it, cheaper than dynamic_cast's search: this runs for
  // every frame from another node.)
  static connection_actor* from(const caf::actor& a) {
    auto* p = caf::actor_cast<caf::abstract_actor*>(a);
    return p && typeid(*p) == typeid(connection_actor) ? static_cast<connection_actor*>(p) : nullptr;
  }

  // Starts life: registers with the console's registry, arms the join deadline.
  void start(caf::actor self) {
    handle_ = std::move(self);
    register_at_system(); // counted among the node's running actors until closed
    ctx_.conns->add(handle_);
    arm();
  }

  // -- CAF side: messages from other actors, on any thread ----------------------

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    if (closed_.load(std::memory_order_acquire)) {
      bounce(what);
      return;
    }
    // One shared owner, so the task stays copyable for std::function; the
    // element goes back to CAF's allocator through its own deleter.
    std::shared_ptr<caf::mailbox_element> msg{what.release(), [](caf::mailbox_element* p) {
                                                 caf::mailbox_element_ptr{p};
                                               }};
    post([msg](connection_actor& self) { self.handle(*msg); });
  }

  // -- our thread, and moving to our peer's ------------------------------------------
  //
  // Everything this actor does runs on its I/O thread: what other threads
  // want of it is posted there with post(). When a guest joins (or a seat is
  // resumed) on this node with its peer on another I/O thread, its connection
  // moves to the peer's thread (PAIR_THREADS), so every relay between the two
  // is a call on one thread instead of a post that wakes another. The move
  // keeps the order of what each sender posted:
  //  - thread_ changes under post_lock_, so a post goes wholly before the
  //    change (to the old thread) or wholly after it (to the new one);
  //  - what reaches the old thread afterwards is forwarded to the new one, in
  //    order, and runs there at once (it was sent before the change);
  //  - what reaches the new thread directly while such forwarded work may
  //    still be on its way (arriving_) waits in held_, until a marker posted
  //    to the old thread at the change has come through it; then held_ runs.

  // Runs f(*this) on our thread, after what was posted before. Any thread.
  template <class F>
  void post(F&& f) {
    lock_posts();
    auto* t = thread_.load(std::memory_order_relaxed);
    t->post([self = caf::strong_actor_ptr{ctrl()}, t, f = std::forward<F>(f)]() mutable {
      of(self).run(t, false, f);
    });
    unlock_posts();
  }

  // The thread this actor runs on now.
  io_thread* thread() const { return thread_.load(std::memory_order_acquire); }

  // -- the socket side, on our I/O thread -----------------------------------------

  void on_text(std::string_view text) override {
    ++messages_in_;
    last_activity_ms_ = unix_ms();
    if (closing_)
      return;
    auto received = now_ns();
    if (!spend_token())
      return; // closed: over the rate for too long
    auto res = protocol::parse(text, ctx_.lim.max_json_depth);
    if (!res.ok)
      return send_error(res.error, res.detail);
    auto& cmd = res.cmd;
    switch (cmd.type) {
      case protocol::msg_type::create_room: return create_room();
      case protocol::msg_type::join_room: return join_room(cmd.room_id);
      case protocol::msg_type::leave_room: return leave_room(cmd.room_id);
      case protocol::msg_type::signal:
      case protocol::msg_type::chat_message: return relay(cmd.room_id, text, received);
      case protocol::msg_type::resume: return resume(cmd.room_id, cmd.resume_token);
    }
  }

  void on_deadline() override {
    if (closing_ || !link_)
      return;
    auto now = ctx_.now();
    if (resume_due_ <= now) {
      resume_due_ = clock::time_point::max();
      resumed_at_ = now;
      link_->resume_reading();
    }
    if (miss_due_ <= now) {
      miss_due_ = clock::time_point::max();
      pending_ = false;
      send_error(error_code::room_unavailable);
    }
    // JOIN_TIMEOUT_MS: a connection out of any room that long is closed.
    if (!room_ && !pending_ && now >= roomless_since_ + ctx_.lim.join_timeout) {
      log::debug("event=join_timeout actor={} remote={}", id(), link_->remote_address());
      return close(close_code::policy_violation, "no room joined in time");
    }
    arm();
  }

  void on_closed(close_cause cause) override {
    if (!link_)
      return;
    // A lost connection keeps its seat for a resume; a deliberate close ends it.
    if (room_) {
      if (cause == close_cause::lost)
        caf::anon_send(room_, member_lost{handle_, relayed_});
      else
        caf::anon_send(room_, member_left{handle_});
    }
    clear_room();
    link_ = nullptr;
    closed_.store(true, std::memory_order_release);
    ctx_.conns->remove(id());
    // Terminates the actor: monitors (our room) get a down message, and
    // messages from now on bounce. The last reference may be ours.
    cleanup(caf::error{}, nullptr);
    unregister_from_system();
    auto keep = std::move(handle_);
  }

  // A frame from a peer's connection actor on this node, for our client; on
  // our thread.
  // Called on our own I/O thread by a peer's connection actor, or (`from_node`)
  // by cluster/ with a frame from another node: written from the caller's
  // buffer, no copy unless the socket does not take it all.
  void deliver(std::string_view room_id, std::string_view frame, std::int64_t received, bool from_node = false) {
    if (arriving_) { // called directly on our new thread: after what is still on its way
      hold([id = std::string(room_id), f = std::make_shared<const std::string>(frame), received,
            from_node](connection_actor& self) { self.deliver(id, f, received, from_node); });
      return;
    }
    // Frames from a room we have since left are stale: drop them.
    if (!link_ || !room_ || room_id != room_id_)
      return;
    // Counted before the write: once written, the peer may read the frame and
    // someone may scrape /metrics before this thread gets back here.
    count_delivered(received, from_node ? nullptr : &ctx_.stats.relayed_local);
    link_->send(frame);
  }

  // A frame from a peer on this node posted from its thread, or (`from_node`)
  // one that came from another node (cluster/ counts those as they arrive).
  void deliver(std::string_view room_id, const frame_ptr& frame, std::int64_t received, bool from_node) {
    if (!link_ || !room_ || room_id != room_id_)
      return;
    count_delivered(received, from_node ? nullptr : &ctx_.stats.relayed_local);
    link_->send(frame);
  }

private:
  using task = std::function<void(connection_actor&)>;

  static connection_actor& of(const caf::strong_actor_ptr& p) {
    return *static_cast<connection_actor*>(caf::actor_cast<caf::abstract_actor*>(p));
  }

  void lock_posts() {
    while (post_lock_.test_and_set(std::memory_order_acquire))
      std::this_thread::yield();
  }
  void unlock_posts() { post_lock_.clear(std::memory_order_release); }

  // A posted `f`, run on `on`: `forwarded` when it came through a thread we
  // have left.
  template <class F>
  void run(io_thread* on, bool forwarded, F& f) {
    if (thread_.load(std::memory_order_acquire) != on) { // we have moved since it was posted
      lock_posts();
      auto* t = thread_.load(std::memory_order_relaxed);
      t->post([self = caf::strong_actor_ptr{ctrl()}, t, f = std::move(f)]() mutable { of(self).run(t, true, f); });
      unlock_posts();
      return;
    }
    if (arriving_ && !forwarded)
      return hold(std::move(f));
    f(*this);
  }

  // PAIR_THREADS: our peer is a connection on this node on another I/O
  // thread; take our socket to its thread. Called last in a handler: once
  // the link has moved, nothing here may touch our state on this thread.
  void follow_peer() {
    if (!ctx_.pair_threads || !peer_conn_ || !link_ || closing_ || arriving_ || draining_)
      return;
    auto* target = peer_conn_->thread();
    auto* here = thread_.load(std::memory_order_relaxed);
    if (target == here)
      return;
    link_->move_to(*target, [this, target, here](const std::shared_ptr<io_thread>& to) {
      lock_posts();
      arriving_ = true;
      thread_.store(target, std::memory_order_release);
      // Behind everything posted to `here` before the change; forwarded, it
      // ends the wait.
      here->post([self = caf::strong_actor_ptr{ctrl()}, here] {
        task arrived = [](connection_actor& a) { a.arrived(); };
        of(self).run(here, false, arrived);
      });
      unlock_posts();
      held_thread_ = to;
    });
  }

  void hold(task f) {
    if (!held_)
      held_ = std::make_unique<std::vector<task>>();
    held_->push_back(std::move(f));
  }

  // Everything posted to our old thread before the move has run here: what
  // was held runs now, in order.
  void arrived() {
    arriving_ = false;
    auto held = std::move(held_);
    if (!held)
      return;
    draining_ = true;
    for (auto& f : *held)
      f(*this);
    draining_ = false;
  }
  // -- messages from other actors (on our thread) ----------------------------------

  void handle(caf::mailbox_element& x) {
    if (!link_) { // closed while the message was on its way: a request learns it
      if (x.mid.is_request())
        reply(x, caf::make_error(caf::sec::request_receiver_down));
      return;
    }
    auto& m = x.content();
    bool done =
      on<room_created>(m,
        [this](room_created& c) {
          pending_ = false;
          enter(std::move(c.room_id), std::move(c.room), seat_role::host, {});
          write(protocol::room_created(room_id_, c.token));
        }) ||
      on<room_joined>(m,
        [this](room_joined& j) {
          pending_ = false;
          enter(std::move(j.room_id), std::move(j.room), seat_role::guest, std::move(j.peer));
          write(protocol::peer_joined(room_id_, j.token));
          follow_peer(); // last: it may hand us to another thread
        }) ||
      on<peer_joined>(m,
        [this](peer_joined& p) {
          if (p.room != room_)
            return;
          set_peer(std::move(p.peer));
          write(protocol::peer_joined(room_id_));
        }) ||
      // Seat resume: the peer's connection was lost (frames for it are kept
      // from now on), it came back, or we came back.
      on<peer_gone>(m,
        [this](peer_gone& p) {
          if (p.room != room_)
            return;
          set_peer(std::move(p.peer));
          write(protocol::peer_disconnected(room_id_));
        }) ||
      on<peer_back>(m,
        [this](peer_back& p) {
          if (p.room != room_)
            return;
          set_peer(std::move(p.peer));
          write(protocol::peer_resumed(room_id_));
        }) ||
      on<seat_resumed>(m,
        [this](seat_resumed& r) {
          pending_ = false;
          enter(std::move(r.room_id), std::move(r.room), r.role, std::move(r.peer));
          relayed_ = r.acked > 0 ? static_cast<std::uint64_t>(r.acked) : 0;
          write(protocol::resumed(room_id_, role_name(role_), r.token, r.frames.size(), r.dropped,
                                  r.peer_connected, r.acked));
          for (auto& f : r.frames) {
            count_out();
            ctx_.stats.relayed_resumed.fetch_add(1, std::memory_order_relaxed);
            link_->send(std::make_shared<const std::string>(std::move(f)));
          }
          follow_peer(); // last: it may hand us to another thread
        }) ||
      on<refused>(m,
        [this](refused& r) {
          if (r.code == error_code::room_unavailable)
            return join_missed();
          pending_ = false;
          if (r.code == error_code::rate_limited) // the address's cluster-wide join-miss budget
            return send_error(r.code, misses_spent);
          send_error(r.code);
        }) ||
      on<peer_left>(m,
        [this](peer_left& p) {
          if (p.room != room_)
            return;
          auto id = room_id_;
          clear_room();
          write(protocol::peer_left(id));
        }) ||
      // Frames from a peer's actor on another thread, or from a room.
      on<deliver_frame>(m, [this](deliver_frame& f) { deliver(f.room_id, f.frame, f.received, true); }) ||
      on<relay_failed>(m,
        [this](relay_failed& f) {
          if (room_ && f.room_id == room_id_)
            send_error(error_code::unavailable, "relay to the peer's node failed");
        }) ||
      // Node drain: our seat is about to be parked and this connection closed
      // (1012). From now on nothing is relayed; the count tells the client,
      // once it resumes (`acked`), which of its messages to send again.
      on<park_all_atom>(m,
        [this, &x](park_all_atom) {
          frozen_ = true;
          reply(x, relayed_);
        }) ||
      // The operator console (through the inspector): state, kick, room closed.
      on<conn_atom>(m, [this, &x](conn_atom) { reply(x, describe()); }) ||
      on<kick_atom>(m,
        [this, &x](kick_atom) {
          auto remote = link_->remote_address();
          if (!closing_) {
            log::warn("event=conn_kicked actor={} remote={}", id(), remote);
            close(close_code::policy_violation, "kicked by operator");
          }
          reply(x, nlohmann::ordered_json{{"kicked", id()}, {"remote", remote}}.dump());
        }) ||
      on<room_closed>(m, [this](room_closed& c) {
        if (c.room != room_)
          return;
        auto id = room_id_;
        clear_room();
        write(protocol::peer_left(id));
        close(close_code::normal, "room closed by operator");
      });
    if (!done)
      log::debug("event=unexpected_message actor={} type={}", id(), caf::to_string(m));
  }

  // Our seat in a room, told by the directory or the room.
  void enter(std::string room_id, caf::actor room, seat_role role, peer_ref peer) {
    room_id_ = std::move(room_id);
    room_ = std::move(room);
    role_ = role;
    set_peer(std::move(peer));
    arm();
  }

  // Answers a request (the console's, a room's drain).
  template <class T>
  void reply(caf::mailbox_element& x, T&& value) {
    if (!x.mid.is_request())
      return;
    caf::strong_actor_ptr next;
    caf::strong_actor_ptr src;
    auto mid = x.mid;
    if (x.stages.empty()) {
      next = x.sender;
      src = ctrl();
      mid = mid.response_id();
    } else {
      next = std::move(x.stages.back());
      x.stages.pop_back();
      src = x.sender;
    }
    if (next)
      next->enqueue(caf::make_mailbox_element(std::move(src), mid, std::move(x.stages), std::forward<T>(value)),
                    nullptr);
  }

  // This actor's state as JSON for the operator console.
  std::string describe() const {
    auto now = unix_ms();
    nlohmann::ordered_json j;
    j["actor"] = id();
    j["node"] = ctx_.node_id;
    j["remote"] = link_->remote_address();
    j["thread"] = thread_.load(std::memory_order_relaxed)->index();
    j["room"] = room_ ? nlohmann::ordered_json(room_id_) : nlohmann::ordered_json(nullptr);
    j["role"] = room_ ? nlohmann::ordered_json(role_name(role_)) : nlohmann::ordered_json(nullptr);
    j["paired"] = static_cast<bool>(peer_);
    j["pending"] = pending_;
    j["closing"] = closing_;
    j["queued_bytes"] = link_->queued_bytes();
    j["messages_in"] = messages_in_;
    j["messages_out"] = messages_out_;
    j["relayed"] = relayed_;
    j["connected_at_ms"] = connected_at_ms_;
    j["last_activity_ms"] = last_activity_ms_;
    j["idle_ms"] = now - last_activity_ms_;
    return j.dump();
  }

  // -- the protocol ------------------------------------------------------------------

  void create_room() {
    if (pending_)
      return send_error(error_code::busy);
    if (link_->grant().restricted && !link_->grant().may_create)
      return send_error(error_code::forbidden, "creating rooms");
    leave_current();
    pending_ = true;
    caf::anon_send(ctx_.directory, create_room_request{handle_});
  }

  void join_room(const std::string& id) {
    if (pending_)
      return send_error(error_code::busy);
    const auto& grant = link_->grant();
    if (grant.restricted && !grant.room.empty() && grant.room != id)
      return send_error(error_code::forbidden, "this room");
    if (room_ && id == room_id_)
      return send_error(error_code::room_unavailable); // own room: same answer as any other refusal
    // An address that spent its misses (JOIN_MISSES_PER_IP) learns nothing
    // more: no lookup until it has earned another.
    if (ctx_.join_misses && !ctx_.join_misses->allow(link_->client_address()))
      return send_error(error_code::rate_limited, misses_spent);
    leave_current();
    pending_ = true;
    caf::anon_send(ctx_.directory, join_room_request{id, handle_, link_->client_address()});
  }

  // Reclaims a seat whose connection was lost. A wrong token is a wrong
  // guess, charged as a join miss: tokens cannot be probed faster than codes.
  void resume(const std::string& id, const std::string& token) {
    if (pending_)
      return send_error(error_code::busy);
    const auto& grant = link_->grant();
    if (grant.restricted && !grant.room.empty() && grant.room != id)
      return send_error(error_code::forbidden, "this room");
    if (ctx_.join_misses && !ctx_.join_misses->allow(link_->client_address()))
      return send_error(error_code::rate_limited, misses_spent);
    leave_current();
    pending_ = true;
    caf::anon_send(ctx_.directory, resume_request{id, token, handle_, link_->client_address()});
  }

  void leave_room(const std::string& id) {
    if (!room_ || id != room_id_)
      return send_error(error_code::not_a_member);
    leave_current();
    write(protocol::room_left(id));
  }

  // A validated signal/chat for our room: straight to the peer's connection
  // actor (a call on this thread, else one post), to the relay port of a
  // seat on another node (cluster), or to the room standing in for a parked
  // peer (embedded).
  void relay(const std::string& id, std::string_view frame, std::int64_t received) {
    if (!room_ || id != room_id_)
      return send_error(error_code::not_a_member);
    if (!peer_)
      return send_error(error_code::no_peer);
    if (frozen_)
      return; // the node is draining us: the client sends it again after its resume
    ++relayed_;
    if (auto* peer = peer_conn_) {
      auto* here = thread_.load(std::memory_order_relaxed);
      if (peer->thread() == here && here->is_current())
        return peer->deliver(room_id_, frame, received);
      // Another thread: one post, no mailbox element.
      peer->post([id = room_id_, f = std::make_shared<const std::string>(frame), received](connection_actor& p) {
        p.deliver(id, f, received, false);
      });
      return;
    }
    if (peer_.remote) {
      ctx_.stats.relayed_out.fetch_add(1, std::memory_order_relaxed);
      return peer_.remote->relay(frame, handle_);
    }
    caf::send_as(handle_, peer_.actor, deliver_frame{room_id_, std::make_shared<const std::string>(frame), received});
  }

  // The peer, and its connection actor when it is one (ours to call directly
  // on our thread).
  void set_peer(peer_ref p) {
    peer_ = std::move(p);
    peer_conn_ = nullptr;
    if (peer_.actor && !peer_.remote)
      peer_conn_ = from(peer_.actor);
  }

  void leave_current() {
    if (!room_)
      return;
    caf::anon_send(room_, member_left{handle_});
    clear_room();
  }

  void clear_room() {
    bool had = static_cast<bool>(room_);
    room_ = nullptr;
    peer_ = {};
    peer_conn_ = nullptr;
    room_id_.clear();
    relayed_ = 0;
    roomless_since_ = ctx_.now();
    if (had && link_)
      arm();
  }

  // The link's one deadline: the earliest of a held-back join-miss answer
  // and, while in no room, JOIN_TIMEOUT_MS after leaving the last one.
  void arm() {
    if (!link_ || closing_)
      return;
    auto when = std::min(miss_due_, resume_due_);
    if (!room_) {
      auto join = pending_ ? ctx_.now() + std::chrono::seconds(1) : roomless_since_ + ctx_.lim.join_timeout;
      when = std::min(when, join);
    }
    link_->set_deadline(when);
  }

  // A join-room that found no room. Guessing codes is the one way into a room
  // without being told its code, so misses cost: the first is answered at
  // once, each later one JOIN_MISS_DELAY_MS late (pending_ stays set, so a
  // join meanwhile gets busy), and the JOIN_MISSES_BEFORE_CLOSE-th closes 1008.
  // Each also spends one of the address's JOIN_MISSES_PER_IP, which a scanner
  // cannot escape by reconnecting (see join_room).
  void join_missed() {
    ++join_misses_;
    if (ctx_.join_misses)
      ctx_.join_misses->charge(link_->client_address());
    if (join_misses_ >= ctx_.lim.join_misses_before_close) {
      pending_ = false;
      send_error(error_code::room_unavailable);
      log::debug("event=join_miss_close actor={} remote={} misses={}", id(), link_->remote_address(), join_misses_);
      close(close_code::policy_violation, "too many failed joins");
      return;
    }
    if (join_misses_ == 1 || ctx_.lim.join_miss_delay.count() == 0) {
      pending_ = false;
      send_error(error_code::room_unavailable);
      return arm();
    }
    miss_due_ = ctx_.now() + ctx_.lim.join_miss_delay;
    arm();
  }

  void close(close_code code, std::string_view reason) {
    closing_ = true;
    link_->set_deadline(clock::time_point::max());
    link_->close(code, reason);
  }

  // RATE_LIMIT_PER_SEC / RATE_LIMIT_BURST, as a token bucket. A message over
  // the rate is not refused: when a message leaves the bucket without a token
  // for the next one, reading stops until it has one again, so what the
  // client sends meanwhile waits in its own TCP buffers. It is slowed and
  // loses nothing. A message that was already waiting when reading resumed
  // (read within a tenth of a token's time after it) is a strike (the client sends faster than its rate); one that was not
  // ends the run. RATE_LIMIT_STRIKES strikes in a row close the connection
  // 1008. False once closed.
  bool spend_token() {
    auto now = ctx_.now();
    auto elapsed = std::chrono::duration<float>(now - bucket_at_).count();
    bucket_at_ = now;
    tokens_ = std::min(static_cast<float>(ctx_.lim.rate_burst),
                       tokens_ + static_cast<float>(ctx_.lim.rate_per_second) * elapsed);
    tokens_ -= 1;
    if (tokens_ >= 1) {
      throttling_ = false;
      strikes_ = 0;
      return true;
    }
    if (throttling_) {
      // Read within a tenth of a token's time (at least 1 ms) of the resume.
      auto tenth = std::chrono::duration<double>(0.1 / ctx_.lim.rate_per_second);
      bool was_waiting = now - resumed_at_ < std::max<clock::duration>(
                                               std::chrono::milliseconds(1),
                                               std::chrono::duration_cast<clock::duration>(tenth));
      if (!was_waiting)
        strikes_ = 0;
      else if (++strikes_ > ctx_.lim.rate_strikes_before_close) {
        log::debug("event=rate_limit_close actor={}", id());
        close(close_code::policy_violation, "rate limit exceeded");
        return false;
      }
    }
    throttling_ = true;
    link_->pause_reading();
    resume_due_ = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(
                          (1.0 - tokens_) / ctx_.lim.rate_per_second));
    arm();
    return true;
  }

  void write(const std::string& text) {
    count_out();
    link_->send(std::string_view(text));
  }

  void count_out() {
    ++messages_out_;
    last_activity_ms_ = unix_ms();
    ctx_.stats.messages_out.fetch_add(1, std::memory_order_relaxed);
  }

  void count_delivered(std::int64_t received, std::atomic<std::uint64_t>* path) {
    count_out();
    if (path)
      path->fetch_add(1, std::memory_order_relaxed);
    ctx_.stats.relay_latency.observe(std::chrono::nanoseconds(now_ns() - received));
  }

  void send_error(error_code c, const std::string& detail = {}) {
    ctx_.stats.errors[static_cast<std::size_t>(c)].fetch_add(1, std::memory_order_relaxed);
    write(protocol::error(c, detail));
  }

  node_context& ctx_;
  connection_link* link_; // null once closed
  std::shared_ptr<io_thread> held_thread_; // keeps *thread_ alive (an actor may outlive its loop)
  std::atomic<io_thread*> thread_;         // ours; changes only in follow_peer, under post_lock_
  std::atomic_flag post_lock_ = ATOMIC_FLAG_INIT;
  bool arriving_ = false; // moved; what was posted to the old thread is still on its way
  bool draining_ = false; // arrived() is running what was held
  // Posted to us (or called) directly on the new thread while arriving_.
  std::unique_ptr<std::vector<task>> held_;
  caf::actor handle_; // ourselves, until the socket closes
  std::atomic<bool> closed_{false};
  bool pending_ = false; // a create/join/resume is waiting for its answer
  bool closing_ = false; // we closed the link; ignore what still arrives
  bool frozen_ = false;  // node drain: our seat is parked, relay nothing more
  seat_role role_ = seat_role::host; // our seat in room_id_
  std::uint32_t strikes_ = 0; // slowed messages in a row (see spend_token)
  bool throttling_ = false;   // the last message left no token for the next: reading paused
  float tokens_;
  clock::time_point bucket_at_ = ctx_.now();
  std::string room_id_;
  caf::actor room_;
  peer_ref peer_;
  connection_actor* peer_conn_ = nullptr; // peer_.actor, when it is a connection actor
  // What the operator console shows (see describe()).
  std::uint64_t messages_in_ = 0;
  std::uint64_t messages_out_ = 0;
  std::uint64_t relayed_ = 0; // frames this member relayed into its current room
  std::int64_t connected_at_ms_ = unix_ms();
  std::int64_t last_activity_ms_ = connected_at_ms_;
  // Deadlines against idle sockets and room-code guessing (see join_missed).
  clock::time_point roomless_since_ = ctx_.now();
  clock::time_point miss_due_ = clock::time_point::max();
  clock::time_point resume_due_ = clock::time_point::max(); // reading paused until then
  clock::time_point resumed_at_;
  std::uint32_t join_misses_ = 0;
};

} // namespace

namespace {

void post_frame(connection_actor* c, const caf::actor& conn, std::string room_id, frame_ptr frame,
                std::int64_t received) {
  if (!c)
    return caf::anon_send(conn, deliver_frame{std::move(room_id), std::move(frame), received});
  c->post([id = std::move(room_id), f = std::move(frame), received](connection_actor& a) {
    a.deliver(id, f, received, true);
  });
}

} // namespace

void deliver_to_connection(const caf::actor& conn, std::string room_id, frame_ptr frame, std::int64_t received) {
  post_frame(connection_actor::from(conn), conn, std::move(room_id), std::move(frame), received);
}

void deliver_to_connection(const caf::actor& conn, std::string_view room_id, std::string_view frame,
                           std::int64_t received) {
  auto* c = connection_actor::from(conn);
  // On the connection's own thread (one I/O thread, or the Redis link's):
  // straight to its socket, as a local peer's frame goes.
  if (auto* t = c ? c->thread() : nullptr; t && t->is_current())
    return c->deliver(room_id, frame, received, true);
  post_frame(c, conn, std::string(room_id), std::make_shared<const std::string>(frame), received);
}

connection_handler_factory connection_actor_factory(node_context& ctx) {
  return [&ctx](connection_link& link) -> connection_handler* {
    caf::actor_config cfg;
    auto& sys = ctx.system;
    auto handle = caf::make_actor<connection_actor, caf::actor>(sys.next_actor_id(), sys.node(), &sys, cfg, ctx, link);
    auto* self = static_cast<connection_actor*>(caf::actor_cast<caf::abstract_actor*>(handle));
    self->start(std::move(handle));
    return self;
  };
}

} // namespace signaling
