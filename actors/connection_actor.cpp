#include "actors/connection_actor.hpp"

#include "actors/messages.hpp"
#include "actors/node_context.hpp"
#include "actors/protocol.hpp"
#include "common/log.hpp"

#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/detail/disposer.hpp>
#include <caf/scoped_execution_unit.hpp>
#include <nlohmann/json.hpp>

#include <chrono>

namespace signaling {

namespace {

using transport::close_code;
using transport::frame_ptr;
using protocol::error_code;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// Token bucket: `rate` tokens per second, at most `burst` saved up.
class token_bucket {
public:
  token_bucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
  bool take() {
    auto now = std::chrono::steady_clock::now();
    tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1)
      return false;
    tokens_ -= 1;
    return true;
  }

private:
  double rate_, burst_, tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

class connection_actor final : public transport::ws_handler {
public:
  connection_actor(node_context& ctx, std::shared_ptr<transport::ws_link> link)
    : ctx_(ctx),
      link_(link.get()),
      unit_(&ctx.system),
      bucket_(ctx.lim.rate_per_second, ctx.lim.rate_burst) {
    auto handle = ctx.system.spawn<caf::actor_companion>();
    self_ = caf::actor_cast<caf::actor_companion*>(handle);
    handle_ = std::move(handle);
    self_->context(&unit_);
    // Runs on the sender's thread: hand the message to our strand. The link
    // is held weakly (the session owns us); a message for a closed
    // connection is dropped with it.
    std::weak_ptr<transport::ws_link> weak = link;
    self_->on_enqueue([this, weak](caf::mailbox_element_ptr ptr) {
      if (auto l = weak.lock()) {
        std::shared_ptr<caf::mailbox_element> msg{ptr.release(), caf::detail::disposer{}};
        l->post([this, msg] { self_->activate(&unit_, *msg); });
      }
    });
    self_->become(behavior());
    ctx.conns->add(handle_);
    arm_join_deadline(ctx.lim.join_timeout);
  }

  ~connection_actor() override {
    if (handle_)
      on_closed(transport::close_cause::deliberate);
  }

  void on_text(frame_ptr frame) override {
    ++messages_in_;
    last_activity_ms_ = unix_ms();
    if (closing_)
      return;
    auto received = now_ns();
    if (!bucket_.take()) {
      if (++strikes_ > ctx_.lim.rate_strikes_before_close) {
        log::warn("event=rate_limit_close actor={}", handle_.id());
        closing_ = true;
        link_->close(close_code::policy_violation, "rate limit exceeded");
        return;
      }
      return send_error(error_code::rate_limited);
    }
    strikes_ = 0;
    auto res = protocol::parse(*frame, ctx_.lim.max_json_depth);
    if (!res.ok)
      return send_error(res.error, res.detail);
    auto& cmd = res.cmd;
    switch (cmd.type) {
      case protocol::msg_type::create_room: return create_room();
      case protocol::msg_type::join_room: return join_room(cmd.room_id);
      case protocol::msg_type::leave_room: return leave_room(cmd.room_id);
      case protocol::msg_type::signal:
      case protocol::msg_type::chat_message: return relay(cmd.room_id, std::move(frame), received);
      case protocol::msg_type::resume: return resume(cmd.room_id, cmd.resume_token);
    }
  }

  void on_closed(transport::close_cause cause) override {
    if (!handle_)
      return;
    // A lost connection keeps its seat for a resume; a deliberate close ends it.
    if (room_) {
      if (cause == transport::close_cause::lost)
        self_->send(room_, park_atom_v, handle_, relayed_);
      else
        self_->send(room_, leave_room_atom_v, handle_);
    }
    clear_room();
    // Terminates the actor: monitors (our room) get a down message. (CAF
    // 0.17.6 declares actor_companion::disconnect but never defines it; this
    // is its body, as in CAF's own actor_widget mixin.)
    self_->on_enqueue(nullptr);
    self_->cleanup(caf::error{}, &unit_);
    ctx_.conns->remove(handle_.id());
    handle_ = nullptr;
    self_ = nullptr;
  }

private:
  caf::behavior behavior() {
    return {
      [this](created_atom, std::string& id, caf::actor& room, const std::string& token) {
        pending_ = false;
        room_id_ = std::move(id);
        room_ = std::move(room);
        role_ = "host";
        write(protocol::room_created(room_id_, token));
      },
      [this](joined_atom, std::string& id, caf::actor& room, caf::actor& host, const std::string& token) {
        pending_ = false;
        room_id_ = std::move(id);
        room_ = std::move(room);
        peer_ = std::move(host);
        role_ = "guest";
        write(protocol::peer_joined(room_id_, token));
      },
      // Seat resume: the peer's connection was lost (frames for it now go to
      // the room, which keeps them), it came back, or we came back.
      [this](peer_gone_atom, const caf::actor& room) {
        if (room != room_)
          return;
        peer_ = room_;
        write(protocol::peer_disconnected(room_id_));
      },
      [this](peer_back_atom, const caf::actor& room, caf::actor& peer) {
        if (room != room_)
          return;
        peer_ = std::move(peer);
        write(protocol::peer_resumed(room_id_));
      },
      [this](resumed_atom, std::string& id, caf::actor& room, caf::actor& peer, const std::string& role,
             const std::string& token, std::vector<std::string>& frames, std::uint64_t dropped,
             bool peer_connected, std::int64_t acked) {
        pending_ = false;
        room_id_ = std::move(id);
        room_ = std::move(room);
        peer_ = std::move(peer);
        role_ = role == "host" ? "host" : "guest";
        relayed_ = acked > 0 ? static_cast<std::uint64_t>(acked) : 0;
        write(protocol::resumed(room_id_, role_, token, frames.size(), dropped, peer_connected, acked));
        for (auto& f : frames) {
          link_->send(std::make_shared<const std::string>(std::move(f)));
          count_out();
          ctx_.stats.relayed.fetch_add(1, std::memory_order_relaxed);
        }
      },
      [this](peer_joined_atom, const caf::actor& room, caf::actor& guest) {
        if (room != room_)
          return;
        peer_ = std::move(guest);
        write(protocol::peer_joined(room_id_));
      },
      [this](refused_atom, const std::string& code) {
        error_code c = error_code::unavailable;
        protocol::code_from_name(code, c);
        if (c == error_code::room_unavailable)
          return join_missed();
        pending_ = false;
        send_error(c);
      },
      [this](peer_left_atom, const caf::actor& room) {
        if (room != room_)
          return;
        auto id = room_id_;
        clear_room();
        write(protocol::peer_left(id));
      },
      [this](deliver_atom, const std::string& room_id, const frame_ptr& frame, std::int64_t received) {
        // Frames from a room we have since left are stale: drop them.
        if (!room_ || room_id != room_id_)
          return;
        link_->send(frame);
        count_out();
        ctx_.stats.relayed.fetch_add(1, std::memory_order_relaxed);
        ctx_.stats.relay_latency.observe(std::chrono::nanoseconds(now_ns() - received));
      },
      [this](relay_failed_atom, const std::string& room_id) {
        if (room_ && room_id == room_id_)
          send_error(error_code::unavailable, "relay to the peer's node failed");
      },
      // Node drain: our seat is about to be parked and this connection closed
      // (1012). From now on nothing is relayed; the count tells the client,
      // once it resumes (`acked`), which of its messages to send again.
      [this](park_all_atom) {
        frozen_ = true;
        return relayed_;
      },
      // The operator console (through the inspector): state, kick, room closed.
      [this](conn_atom) { return describe(); },
      [this](kick_atom) {
        if (!closing_) {
          log::warn("event=conn_kicked actor={} remote={}", handle_.id(), link_->remote_address());
          closing_ = true;
          link_->close(close_code::policy_violation, "kicked by operator");
        }
        return nlohmann::ordered_json{{"kicked", handle_.id()}, {"remote", link_->remote_address()}}.dump();
      },
      [this](room_closed_atom, const caf::actor& room) {
        if (room != room_)
          return;
        auto id = room_id_;
        clear_room();
        write(protocol::peer_left(id));
        closing_ = true;
        link_->close(close_code::normal, "room closed by operator");
      },
    };
  }

  // This actor's state as JSON for the operator console.
  std::string describe() const {
    auto now = unix_ms();
    nlohmann::ordered_json j;
    j["actor"] = handle_.id();
    j["node"] = ctx_.node_id;
    j["remote"] = link_->remote_address();
    j["room"] = room_ ? nlohmann::ordered_json(room_id_) : nlohmann::ordered_json(nullptr);
    j["role"] = room_ ? nlohmann::ordered_json(role_) : nlohmann::ordered_json(nullptr);
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

  void create_room() {
    if (pending_)
      return send_error(error_code::busy);
    if (link_->grant().restricted && !link_->grant().may_create)
      return send_error(error_code::forbidden, "creating rooms");
    leave_current();
    pending_ = true;
    self_->send(ctx_.directory, create_atom_v, handle_);
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
      return send_error(error_code::rate_limited, "too many failed joins from this address; retry later");
    leave_current();
    pending_ = true;
    self_->send(ctx_.directory, join_room_atom_v, id, handle_);
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
      return send_error(error_code::rate_limited, "too many failed joins from this address; retry later");
    leave_current();
    pending_ = true;
    self_->send(ctx_.directory, resume_atom_v, id, token, handle_);
  }

  void leave_room(const std::string& id) {
    if (!room_ || id != room_id_)
      return send_error(error_code::not_a_member);
    leave_current();
    write(protocol::room_left(id));
  }

  void relay(const std::string& id, frame_ptr frame, std::int64_t received) {
    if (!room_ || id != room_id_)
      return send_error(error_code::not_a_member);
    if (!peer_)
      return send_error(error_code::no_peer);
    if (frozen_)
      return; // the node is draining us: the client sends it again after its resume
    ++relayed_;
    self_->send(peer_, deliver_atom_v, room_id_, std::move(frame), received);
  }

  void leave_current() {
    if (!room_)
      return;
    self_->send(room_, leave_room_atom_v, handle_);
    clear_room();
  }

  void clear_room() {
    room_ = nullptr;
    peer_ = nullptr;
    room_id_.clear();
    relayed_ = 0;
    roomless_since_ = std::chrono::steady_clock::now();
  }

  // JOIN_TIMEOUT_MS: a connection out of any room that long is closed. One
  // timer at a time: it looks again while the connection is in a room, and
  // otherwise sleeps until the deadline of the current roomless stretch.
  void arm_join_deadline(std::chrono::steady_clock::duration in) {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(in);
    link_->after(ms, [this] { check_join_deadline(); });
  }

  void check_join_deadline() {
    if (closing_ || !handle_)
      return;
    const auto timeout = ctx_.lim.join_timeout;
    if (room_)
      return arm_join_deadline(timeout);
    if (pending_) // the answer is on its way (or held back, see join_missed)
      return arm_join_deadline(std::min<std::chrono::steady_clock::duration>(timeout, std::chrono::seconds(1)));
    auto due = roomless_since_ + timeout;
    auto now = std::chrono::steady_clock::now();
    if (now < due)
      return arm_join_deadline(due - now);
    log::info("event=join_timeout actor={} remote={}", handle_.id(), link_->remote_address());
    closing_ = true;
    link_->close(close_code::policy_violation, "no room joined in time");
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
      log::warn("event=join_miss_close actor={} remote={} misses={}", handle_.id(), link_->remote_address(),
                join_misses_);
      closing_ = true;
      link_->close(close_code::policy_violation, "too many failed joins");
      return;
    }
    if (join_misses_ == 1 || ctx_.lim.join_miss_delay.count() == 0) {
      pending_ = false;
      return send_error(error_code::room_unavailable);
    }
    link_->after(ctx_.lim.join_miss_delay, [this] {
      pending_ = false;
      send_error(error_code::room_unavailable);
    });
  }

  void write(std::string text) {
    link_->send(std::make_shared<const std::string>(std::move(text)));
    count_out();
  }

  void count_out() {
    ++messages_out_;
    last_activity_ms_ = unix_ms();
    ctx_.stats.messages_out.fetch_add(1, std::memory_order_relaxed);
  }

  void send_error(error_code c, const std::string& detail = {}) {
    ctx_.stats.errors[static_cast<std::size_t>(c)].fetch_add(1, std::memory_order_relaxed);
    write(protocol::error(c, detail));
  }

  node_context& ctx_;
  transport::ws_link* link_; // owns us; valid for our whole life
  caf::scoped_execution_unit unit_;
  caf::actor handle_;
  caf::actor_companion* self_ = nullptr;
  token_bucket bucket_;
  std::uint32_t strikes_ = 0;
  bool pending_ = false; // a create/join is waiting for its answer
  bool closing_ = false; // we closed the link; ignore what still arrives
  bool frozen_ = false;  // node drain: our seat is parked, relay nothing more
  std::string room_id_;
  caf::actor room_;
  caf::actor peer_;
  // What the operator console shows (see describe()).
  const char* role_ = "host"; // in room_id_: "host" or "guest"
  std::uint64_t messages_in_ = 0;
  std::uint64_t messages_out_ = 0;
  std::uint64_t relayed_ = 0; // frames this member relayed into its current room
  std::int64_t connected_at_ms_ = unix_ms();
  std::int64_t last_activity_ms_ = connected_at_ms_;
  // Deadlines against idle sockets and room-code guessing (see join_missed).
  std::chrono::steady_clock::time_point roomless_since_ = std::chrono::steady_clock::now();
  std::uint32_t join_misses_ = 0;
};

} // namespace

transport::ws_handler_factory connection_actor_factory(node_context& ctx) {
  return [&ctx](std::shared_ptr<transport::ws_link> link) -> std::unique_ptr<transport::ws_handler> {
    return std::make_unique<connection_actor>(ctx, std::move(link));
  };
}

} // namespace signaling
