// Which way the frames for one seat on another node go, in their order: a
// plain PUBLISH to the seat's own channel while its member's node listens
// there (the direct path), else SEAT_FRAMES (the scripted path, which keeps
// frames for a parked seat). Pure logic, no Redis and no CAF: the owner gives
// the two ways to send and reports each direct send's answer, in the order
// sent (one Redis connection answers in order), with the envelope it sent:
// the Redis link holds it until the answer, so the route keeps no copy.
//
// A seat channel is never subscribed again once given up (redis_bridge), so
// the first direct send answered "nobody heard" means it and every later one
// sent there went nowhere: each is sent again through the scripted path as
// its answer comes in, and frames made meanwhile wait behind them. A direct
// send with no answer at all (the link dropped, or timed out) may or may not
// have run: it is not sent again (that could deliver it twice) but reported
// as failed, as a scripted send without an answer always was. Switching
// to a new channel (the seat resumed elsewhere) also waits until nothing is in
// flight to the old one. So the order in which Redis runs the sends is the
// order of frame() calls, whatever happens to the channel.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace signaling::cluster {

template <class Tag>
class direct_route {
public:
  // A channel, as the fixed part of its PUBLISH (made once per channel).
  using channel = std::shared_ptr<const std::vector<std::string>>;
  // The two ways out. Called with the route's lock held, so calls come in
  // order; they must only queue the send (and not call back into the route).
  using direct_fn = std::function<void(const channel&, std::string envelope)>;
  using scripted_fn = std::function<void(std::string envelope, const Tag& tag, bool resent)>;
  using failed_fn = std::function<void(const Tag& tag)>;
  enum class answer { heard, unheard, failed };

  struct counts {
    std::uint64_t direct = 0, scripted = 0, resent = 0, failed = 0;
  };

  direct_route(direct_fn direct, scripted_fn scripted, failed_fn failed = nullptr)
    : direct_(std::move(direct)), scripted_(std::move(scripted)), failed_(std::move(failed)) {}

  // A frame (its F envelope) from `tag`'s sender. Any thread.
  void frame(std::string envelope, Tag tag) {
    std::lock_guard<std::mutex> g{m_};
    if (current_ && held_.empty()) {
      in_flight_.push_back(std::move(tag));
      sent_to_ = current_;
      ++counts_.direct;
      return direct_(current_, std::move(envelope));
    }
    if (!in_flight_.empty())
      return held_.push_back({std::move(envelope), std::move(tag)});
    ++counts_.scripted;
    scripted_(std::move(envelope), tag, false);
  }

  // The answer to the oldest direct send not answered yet, and its envelope.
  void heard(answer a, std::string envelope) {
    std::lock_guard<std::mutex> g{m_};
    if (in_flight_.empty())
      return;
    auto tag = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (a != answer::heard) {
      // The channel lost its listener, for good (or we cannot tell: no
      // answer; it is not taken again either way).
      dead_ = (*sent_to_)[1];
      if (current_ == sent_to_)
        current_ = nullptr;
      if (a == answer::unheard) {
        ++counts_.resent;
        ++counts_.scripted;
        scripted_(std::move(envelope), tag, true);
      } else {
        ++counts_.failed;
        if (failed_)
          failed_(tag);
      }
    }
    settle();
  }

  // The seat's member listens on `ch` now (its node said so): direct from
  // now on, once nothing is in flight to an earlier channel. A channel that
  // already went unheard is not taken again.
  void open(channel ch) {
    std::lock_guard<std::mutex> g{m_};
    if (!ch || (*ch)[1] == dead_ || (current_ && (*current_)[1] == (*ch)[1]))
      return;
    current_ = nullptr;
    next_ = std::move(ch);
    settle();
  }

  // The seat is parked or gone: scripted from now on (frames already sent
  // directly are answered as they come).
  void close() {
    std::lock_guard<std::mutex> g{m_};
    current_ = nullptr;
    next_ = nullptr;
  }

  bool direct() const {
    std::lock_guard<std::mutex> g{m_};
    return current_ != nullptr;
  }

  counts totals() const {
    std::lock_guard<std::mutex> g{m_};
    return counts_;
  }

private:
  struct pending {
    std::string envelope;
    Tag tag;
  };

  // Once nothing direct is in flight: what waited goes the scripted way, in
  // order, and a new channel takes over.
  void settle() {
    if (!in_flight_.empty())
      return;
    while (!held_.empty()) {
      auto f = std::move(held_.front());
      held_.pop_front();
      ++counts_.scripted;
      scripted_(std::move(f.envelope), f.tag, false);
    }
    if (next_) {
      current_ = std::move(next_);
      next_ = nullptr;
    }
  }

  mutable std::mutex m_;
  direct_fn direct_;
  scripted_fn scripted_;
  failed_fn failed_;
  channel current_; // direct sends go here; null: scripted
  channel next_;    // opened while frames were in flight to the one before
  channel sent_to_; // where the frames in flight went (one channel at a time)
  std::string dead_; // the channel that went unheard
  std::deque<Tag> in_flight_; // the senders of the direct sends not answered yet
  std::deque<pending> held_;
  counts counts_;
};

} // namespace signaling::cluster
