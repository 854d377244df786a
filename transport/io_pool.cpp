#include "transport/io_pool.hpp"

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <type_traits>

namespace signaling::transport {

namespace {
// The io_context this thread is running (or polling) right now.
thread_local const boost::asio::io_context* running = nullptr;

struct running_guard {
  explicit running_guard(const boost::asio::io_context& ioc) : saved(running) { running = &ioc; }
  ~running_guard() { running = saved; }
  const boost::asio::io_context* saved;
};
} // namespace

// -- loop_thread -------------------------------------------------------------------

void loop_thread::post(std::function<void()> fn) {
  // Announce the post before looking at closed_, and close() sets closed_
  // before it waits for posting_: either close() waits for this post, or this
  // post sees closed_ (sequentially consistent both ways).
  posting_.fetch_add(1);
  if (!closed_.load())
    boost::asio::post(*ioc_, std::move(fn));
  posting_.fetch_sub(1);
  // A dropped `fn` is destroyed here, on the caller's thread.
}

bool loop_thread::is_current() const {
  return running == ioc_;
}

unsigned loop_thread::index() const {
  return owner_->index();
}

void loop_thread::close() {
  closed_.store(true);
  while (posting_.load() != 0)
    std::this_thread::yield();
}

static_assert(std::is_same_v<boost::asio::detail::reactor, boost::asio::detail::epoll_reactor>,
              "the plain sessions' readiness waits are written for Asio's epoll reactor");

// -- io_loop -----------------------------------------------------------------------

io_loop::io_loop(unsigned index, timer_wheel::clock::time_point base)
  : index_(index), thread_(std::make_shared<loop_thread>(ioc_, *this)), read_buffer_(new char[read_buffer_size]) {
  sessions_.prev = sessions_.next = &sessions_;
  wheel_.emplace(ioc_, base);
  reactor_ = &boost::asio::use_service<boost::asio::detail::reactor>(ioc_);
  work_.emplace(ioc_.get_executor());
}

io_loop::~io_loop() {
  thread_->close();
  wheel_->stop();
  work_.reset();
}

bool io_loop::current() const {
  return running == &ioc_;
}

void io_loop::add(session_hook& h) {
  h.prev = sessions_.prev;
  h.next = &sessions_;
  sessions_.prev->next = &h;
  sessions_.prev = &h;
}

void io_loop::remove(session_hook& h) {
  if (!h.next)
    return;
  h.prev->next = h.next;
  h.next->prev = h.prev;
  h.prev = h.next = nullptr;
}

void io_loop::run() {
  running_guard g{ioc_};
  ioc_.run();
  // Actors that still hold this loop post into nothing from now on.
  thread_->close();
}

void io_loop::stop() {
  ioc_.stop();
}

std::size_t io_loop::poll() {
  running_guard g{ioc_};
  ioc_.restart();
  return ioc_.poll();
}

// -- io_pool -----------------------------------------------------------------------

io_pool::io_pool(unsigned threads) {
  if (!threads)
    budget_ = usable_cpus();
  unsigned n = threads ? threads : io_threads_for(budget_->cpus);
  auto base = timer_wheel::clock::now();
  for (unsigned i = 0; i < n; ++i)
    loops_.push_back(std::make_unique<io_loop>(i, base));
}

io_pool::~io_pool() {
  stop();
  join();
}

io_loop& io_pool::pick() {
  // Least loaded; among equals, the next in turn, so a burst of connections
  // arriving before any has been counted still spreads.
  auto n = loops_.size();
  auto start = next_.fetch_add(1, std::memory_order_relaxed);
  io_loop* best = nullptr;
  int best_load = 0;
  for (std::size_t k = 0; k < n; ++k) {
    auto& l = *loops_[(start + k) % n];
    int load = l.load.load(std::memory_order_relaxed);
    if (!best || load < best_load) {
      best = &l;
      best_load = load;
    }
  }
  return *best;
}

void io_pool::start() {
  for (auto& l : loops_)
    threads_.emplace_back([loop = l.get()] { loop->run(); });
}

void io_pool::stop() {
  for (auto& l : loops_)
    l->stop();
}

void io_pool::join() {
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

void io_pool::poll() {
  for (auto& l : loops_)
    l->poll();
}

} // namespace signaling::transport
