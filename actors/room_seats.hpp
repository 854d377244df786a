// The seats of one two-member room and the rules between them, as plain C++:
// who may take a seat, what a lost and a deliberate close do, where a member's
// frames go, when a parked seat comes back. The room actors (embedded:
// actors/room_actor.cpp; cluster: cluster/cluster_room.cpp) are thin CAF
// behaviours that act on what these rules decide. No CAF here, so the rules
// are unit-tested on their own (tests/unit/room_seats_test.cpp), with any
// type standing for a member.
//
// A seat, as this node sees it (docs/protocol.md, "Seats and resume"):
//
//   free ──seat_here/seat_away──▶ here | away ──park──▶ parked ──resume──▶ here | away
//                                      └─────── leave / grace over: the room ends ───────┘
#pragma once

#include "actors/link.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace signaling {

// The two seats of a two-member room.
enum class seat_role : std::uint8_t { host = 0, guest = 1 };

inline const char* role_name(seat_role r) {
  return r == seat_role::host ? "host" : "guest";
}
inline seat_role other(seat_role r) {
  return r == seat_role::host ? seat_role::guest : seat_role::host;
}

enum class seat_state : std::uint8_t {
  free,   // nobody holds it
  here,   // seated on this node: `member` is its connection
  away,   // seated on another node (cluster): `node`, `conn`
  parked, // its connection was lost: kept for a resume until its grace ends
};

enum class room_phase : std::uint8_t {
  open,     // members come and go by the rules below
  joining,  // cluster: the guest here waits until the host's node knows of it
  resuming, // cluster: made for a resume here, waiting for Redis's answer
  ended,    // nothing more happens; the actor stops
};

// What happens to a room when a member's connection is lost.
enum class lost_effect : std::uint8_t {
  ignore,   // not a member, or its seat is being parked by a drain already
  park,     // its seat waits for a resume
  end_room, // resume is off, or the room was not yet open: it ends, as in the seed
};

// What a member's frames go to.
enum class peer_kind : std::uint8_t {
  none,     // the other seat is free: no-peer
  member,   // the other member's connection, on this node
  stand_in, // the other seat is parked or on another node: the room (embedded) or a relay port (cluster)
};

template <class Member>
struct seat {
  seat_state state = seat_state::free;
  Member member{};        // here
  std::string node, conn; // away (cluster)
  std::string token;      // its resume token (embedded mode: checked here)
  std::int64_t joined_ms = 0;
  std::int64_t acked = -1;   // parked: messages it had relayed (-1: not known)
  std::uint64_t grace = 0;   // parked and watched here: our grace timer's generation
  bool fencing = false;      // cluster, parked by us: our park's fence is not back yet
  bool freezing = false;     // node drain: its connection was asked to stop relaying
  bool taken() const { return state != seat_state::free; }
};

template <class Member>
class room_seats {
public:
  explicit room_seats(room_phase phase = room_phase::open) : phase_(phase) {}

  room_phase phase() const { return phase_; }
  bool ended() const { return phase_ == room_phase::ended; }
  seat<Member>& at(seat_role r) { return seats_[static_cast<int>(r)]; }
  const seat<Member>& at(seat_role r) const { return seats_[static_cast<int>(r)]; }

  // The seat `who` holds on this node.
  std::optional<seat_role> role_of(const Member& who) const {
    for (auto r : {seat_role::host, seat_role::guest})
      if (at(r).state == seat_state::here && at(r).member == who)
        return r;
    return std::nullopt;
  }

  bool anyone_here() const { return here(seat_role::host) || here(seat_role::guest); }
  bool here(seat_role r) const { return at(r).state == seat_state::here; }

  // -- taking seats ---------------------------------------------------------------

  // A guest may join while the room is open, the host is here (its node
  // admits joiners) and the guest seat is free; never the host itself.
  bool may_seat_guest(const Member* who) const {
    return phase_ == room_phase::open && here(seat_role::host) && !at(seat_role::guest).taken() &&
           !(who && at(seat_role::host).member == *who);
  }

  void seat_here(seat_role r, Member who, std::string token, std::int64_t now_ms) {
    auto& s = at(r);
    s = seat<Member>{};
    s.state = seat_state::here;
    s.member = std::move(who);
    s.token = std::move(token);
    s.joined_ms = now_ms;
  }

  void seat_away(seat_role r, std::string node, std::string conn, std::int64_t now_ms) {
    auto& s = at(r);
    auto token = std::move(s.token);
    s = seat<Member>{};
    s.state = seat_state::away;
    s.node = std::move(node);
    s.conn = std::move(conn);
    s.token = std::move(token);
    s.joined_ms = now_ms;
  }

  // Cluster: the guest joining from here is known to the host's node now.
  void open() {
    if (phase_ == room_phase::joining || phase_ == room_phase::resuming)
      phase_ = room_phase::open;
  }

  // Cluster: the joining guest could not be announced to the host's node, so
  // its seat is given back. A resume made here meanwhile is still on its way
  // to Redis: the room waits for its answer as a room made for a resume does.
  void join_failed() {
    at(seat_role::guest) = seat<Member>{};
    if (phase_ == room_phase::joining)
      phase_ = room_phase::resuming;
  }

  // -- losing and leaving -----------------------------------------------------------

  // Member `who`'s connection was lost (no close frame, a timeout, ...).
  // Also while a drain freezes it: the freeze's answer (its relayed count,
  // which the loss carries too) will not come from a closed connection.
  lost_effect on_lost(const Member& who, bool resume_enabled) const {
    auto r = role_of(who);
    if (!r || ended())
      return lost_effect::ignore;
    if (!resume_enabled || phase_ != room_phase::open)
      return lost_effect::end_room;
    return lost_effect::park;
  }

  // Seat `r` (here) is parked after its member relayed `acked` messages.
  void park(seat_role r, std::uint64_t acked) {
    auto& s = at(r);
    s.state = seat_state::parked;
    s.member = Member{};
    s.acked = static_cast<std::int64_t>(acked);
    s.grace = 0;
    s.freezing = false;
  }

  // Cluster: the member of seat `r` on another node lost its connection.
  bool park_away(seat_role r, const std::string& from_node) {
    auto& s = at(r);
    if (ended() || s.state != seat_state::away || s.node != from_node)
      return false;
    s.state = seat_state::parked;
    s.node.clear();
    s.conn.clear();
    s.grace = 0;
    return true;
  }

  // Embedded: the parked seat whose token is `token`, if any.
  std::optional<seat_role> parked_with_token(const std::string& token) const {
    if (token.empty() || ended())
      return std::nullopt;
    for (auto r : {seat_role::host, seat_role::guest})
      if (at(r).state == seat_state::parked && at(r).token == token)
        return r;
    return std::nullopt;
  }

  // How long such a resume waits for the loss; past it the seat's connection
  // is taken to be alive and the resume is refused, as any resume of a seat
  // that is not parked.
  static constexpr std::chrono::milliseconds loss_wait{2000};

  // A seat still here whose token is `token`, seated by another connection
  // than `resumer`: a resume made before the room heard of that connection's
  // loss (the client saw it first, or the loss is still on its way). The
  // resume waits for the loss, which parks the seat.
  std::optional<seat_role> here_with_token(const std::string& token, const Member& resumer) const {
    if (token.empty() || ended())
      return std::nullopt;
    for (auto r : {seat_role::host, seat_role::guest})
      if (at(r).state == seat_state::here && at(r).token == token && !(at(r).member == resumer))
        return r;
    return std::nullopt;
  }

  // Parked seat `r` is back, here.
  void resume_here(seat_role r, Member who, std::string new_token, std::int64_t now_ms) {
    seat_here(r, std::move(who), std::move(new_token), now_ms);
  }

  // Cluster: a parked seat came back on another node. Which one, if any.
  std::optional<seat_role> resume_away(std::string node, std::string conn, std::int64_t now_ms) {
    if (ended())
      return std::nullopt;
    for (auto r : {seat_role::host, seat_role::guest})
      if (at(r).state == seat_state::parked) {
        seat_away(r, std::move(node), std::move(conn), now_ms);
        return r;
      }
    return std::nullopt;
  }

  // The room ends: nothing is seated any more.
  void end() { phase_ = room_phase::ended; }

  // -- while open ---------------------------------------------------------------------

  // Where the member of seat `r` sends its frames.
  peer_kind peer_of(seat_role r) const {
    const auto& o = at(other(r));
    if (o.state == seat_state::here)
      return peer_kind::member;
    return o.taken() ? peer_kind::stand_in : peer_kind::none;
  }

  // Whether the other member of seat `r` is connected (here or on another node).
  bool peer_connected(seat_role r) const {
    auto s = at(other(r)).state;
    return s == seat_state::here || s == seat_state::away;
  }

  // Seats parked and watched here (none once the room has ended).
  int parked_count() const {
    if (ended())
      return 0;
    int n = 0;
    for (auto r : {seat_role::host, seat_role::guest})
      n += at(r).state == seat_state::parked ? 1 : 0;
    return n;
  }

  // No park of ours is waiting for its fence, no drain for a connection.
  bool settled() const {
    for (auto r : {seat_role::host, seat_role::guest})
      if (at(r).fencing || at(r).freezing)
        return false;
    return true;
  }

  // For the operator console.
  const char* state_name() const {
    if (phase_ == room_phase::ended)
      return "ended";
    if (phase_ == room_phase::joining)
      return "joining";
    if (phase_ == room_phase::resuming)
      return "resuming";
    auto h = at(seat_role::host).state, g = at(seat_role::guest).state;
    if (h == seat_state::parked || g == seat_state::parked)
      return "parked";
    return at(seat_role::host).taken() && at(seat_role::guest).taken() ? "paired" : "waiting";
  }

private:
  room_phase phase_;
  seat<Member> seats_[2];
};

// One room's part of the node's gauge of parked seats (node_stats::
// parked_seats). `update` brings the gauge in line with the room's seats as
// they are now, so a room calls it after anything that may park or free a
// seat (a call too many changes nothing); the part goes back when the room
// does, however it ends.
class parked_share {
public:
  parked_share() = default;
  parked_share(const parked_share&) = delete;
  parked_share& operator=(const parked_share&) = delete;
  ~parked_share() { set(0); }

  // `gauge` is the same on every call (null: nothing is counted).
  template <class Member>
  void update(const room_seats<Member>& seats, std::atomic<std::int64_t>* gauge) {
    gauge_ = gauge;
    set(seats.parked_count());
  }

private:
  void set(int n) {
    if (gauge_ && n != held_)
      gauge_->fetch_add(n - held_, std::memory_order_relaxed);
    held_ = n;
  }
  std::atomic<std::int64_t>* gauge_ = nullptr;
  int held_ = 0;
};

// The frames kept for a parked seat in embedded mode (cluster mode keeps
// them in Redis): oldest first, at most `max_frames` and `max_bytes`, the
// oldest dropped past either bound. Allocates nothing until a frame is kept.
class kept_frames {
public:
  kept_frames(std::size_t max_frames, std::size_t max_bytes) : max_frames_(max_frames), max_bytes_(max_bytes) {}

  void push(frame_ptr frame) {
    if (!frames_)
      frames_ = std::make_unique<std::deque<frame_ptr>>();
    bytes_ += frame->size();
    frames_->push_back(std::move(frame));
    while (!frames_->empty() && (frames_->size() > max_frames_ || bytes_ > max_bytes_)) {
      bytes_ -= frames_->front()->size();
      frames_->pop_front();
      ++dropped_;
    }
  }

  // Hands the frames over (oldest first) and starts empty again.
  std::vector<std::string> take() {
    std::vector<std::string> out;
    if (frames_)
      for (auto& f : *frames_)
        out.push_back(*f);
    frames_.reset();
    bytes_ = 0;
    dropped_ = 0;
    return out;
  }

  std::uint64_t dropped() const { return dropped_; }
  std::size_t size() const { return frames_ ? frames_->size() : 0; }
  std::size_t bytes() const { return bytes_; }

private:
  std::size_t max_frames_, max_bytes_;
  std::unique_ptr<std::deque<frame_ptr>> frames_;
  std::size_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
};

} // namespace signaling
