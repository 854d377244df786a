// The node's I/O threads: one io_context per thread (IO_THREADS), each with
// the timer wheel, the read buffer and the list of WebSocket sessions of the
// connections pinned to it, so nothing on a connection's path is shared with
// another thread or locked. Loop 0 also runs the node's control work (the
// listener, signals, the drain timer, the Redis runtime). A loop never runs a
// handler of another loop, and nothing here blocks.
#pragma once

#include "actors/link.hpp"
#include "transport/cpu_budget.hpp"
#include "transport/timer_wheel.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace boost::asio::detail {
class epoll_reactor;
}

namespace signaling::transport {

struct server_state;
class websocket_session;
class io_loop;

// What an actor holds of a loop (actors/link.hpp): it may outlive the loop,
// so it checks the loop is still there before posting to it.
class loop_thread final : public io_thread {
public:
  loop_thread(boost::asio::io_context& ioc, io_loop& owner) : ioc_(&ioc), owner_(&owner) {}
  void post(std::function<void()> fn) override;
  bool is_current() const override;
  unsigned index() const override;
  io_loop& owner() const { return *owner_; }
  // The loop is going: from now on post() drops what it is given. Returns
  // once no post() is still inside the io_context.
  void close();

private:
  friend class io_loop;
  boost::asio::io_context* ioc_;
  io_loop* owner_;
  std::atomic<bool> closed_{false};
  std::atomic<int> posting_{0};
};

// Intrusive list hook of a session in its loop's registry (for shutdown).
struct session_hook {
  session_hook* prev = nullptr;
  session_hook* next = nullptr;
};

class io_loop {
public:
  // Bytes read from a socket at once: enough for a whole message at the
  // default MAX_MESSAGE_BYTES; only what a read leaves unfinished is copied
  // to the connection.
  static constexpr std::size_t read_buffer_size = 64 * 1024;

  // `base`: tick 0 of its timer wheel, the same for every loop of a pool.
  io_loop(unsigned index, timer_wheel::clock::time_point base);
  ~io_loop();
  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  unsigned index() const { return index_; }
  boost::asio::io_context& context() { return ioc_; }
  const std::shared_ptr<loop_thread>& thread() const { return thread_; }
  timer_wheel& wheel() { return *wheel_; }
  char* read_buffer() { return read_buffer_.get(); }
  // Asio's reactor of this loop's io_context (the plain sessions' readiness
  // waits are started on it directly: websocket_session.cpp).
  boost::asio::detail::epoll_reactor& reactor() { return *reactor_; }
  // True on this loop's thread (or while the loop is polled at shutdown).
  bool current() const;

  // The WebSocket sessions on this loop (this thread only).
  void add(session_hook& h);
  void remove(session_hook& h);
  template <class F>
  void for_each_session(F&& f);

  // What the listener balances on: connections (HTTP and WebSocket) here.
  std::atomic<int> load{0};
  // Open WebSocket sessions here (read by any thread).
  std::atomic<int> sessions{0};
  // The server whose sessions run here (set once before the threads start).
  server_state* server = nullptr;

  void run();  // blocks until stop()
  void stop(); // any thread
  // Runs what is ready without waiting (the loop's thread is not running);
  // returns how many handlers ran.
  std::size_t poll();
  // Closes the loop to actors for good (see loop_thread::close).
  void close_thread() { thread_->close(); }

private:
  // Declared in this order so that handlers the io_context destroys (and the
  // sessions they held) still find the registry, and the wheel's timer goes
  // before its io_context.
  unsigned index_;
  session_hook sessions_; // sentinel
  boost::asio::io_context ioc_{1};
  std::shared_ptr<loop_thread> thread_;
  std::optional<timer_wheel> wheel_;
  std::unique_ptr<char[]> read_buffer_;
  boost::asio::detail::epoll_reactor* reactor_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
};

template <class F>
void io_loop::for_each_session(F&& f) {
  // The next one is taken first: `f` may end the session it is given.
  for (auto* h = sessions_.next; h != &sessions_;) {
    auto* next = h->next;
    f(*h);
    h = next;
  }
}

// IO_THREADS loops and their threads. Connections are spread over the loops
// by the listener (the least loaded at accept), and stay on theirs unless
// one moves to its peer's (PAIR_THREADS, websocket_session::move_to).
class io_pool {
public:
  explicit io_pool(unsigned threads); // 0: io_threads_for the CPUs this process may use (cpu_budget.hpp)
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  std::size_t size() const { return loops_.size(); }
  // What the thread count came from when it was 0 (none when it was given).
  const std::optional<cpu_budget>& budget() const { return budget_; }
  io_loop& loop(std::size_t i) { return *loops_[i]; }
  // Where the node's control work runs (loop 0).
  boost::asio::io_context& control() { return loops_[0]->context(); }
  // The loop to give a new connection: the least loaded.
  io_loop& pick();

  void start(); // one thread per loop
  void stop();  // any thread: every loop returns from run()
  void join();
  void poll(); // after join(): runs what is left on every loop

private:
  std::vector<std::unique_ptr<io_loop>> loops_;
  std::optional<cpu_budget> budget_;
  std::vector<std::thread> threads_;
  std::atomic<unsigned> next_{0};
};

} // namespace signaling::transport
