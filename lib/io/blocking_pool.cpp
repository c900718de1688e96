#include "io/blocking_pool.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace mcpd::io {

BlockingPool::BlockingPool(std::string name, unsigned threads, std::size_t capacity)
    : name_(std::move(name)), capacity_(capacity == 0 ? 1 : capacity) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { run(); });
    // Linux thread names are at most 15 characters.
    (void)pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());  // cosmetic only
  }
}

BlockingPool::~BlockingPool() { stop(); }

Status BlockingPool::admit() const {
  if (stopping_) return make_error(Errc::unavailable, "the node is stopping (" + name_ + " pool closed)");
  const std::size_t waiting = waiting_jobs();
  if (waiting >= capacity_)
    return make_error(Errc::overloaded, "the node's " + name_ + " pool has " + std::to_string(waiting) +
                                            " jobs waiting; try again shortly");
  return {};
}

Status BlockingPool::post(std::function<void()> work) {
  {
    MutexLock lock(mu_);
    if (auto st = admit(); !st.ok()) return st;
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
  return {};
}

Status BlockingPool::post_in_order(const std::string& key, std::function<void()> work) {
  {
    MutexLock lock(mu_);
    if (auto st = admit(); !st.ok()) return st;
    auto& jobs = ordered_[key];
    jobs.push_back(std::move(work));
    ++ordered_jobs_;
    if (jobs.size() > 1) return {};  // the key's runner takes it after those before it
    queue_.push_back([this, key] { run_in_order(key); });
  }
  cv_.notify_one();
  return {};
}

// Runs the key's jobs until none is left; a job posted meanwhile joins the line.
void BlockingPool::run_in_order(const std::string& key) {
  for (;;) {
    std::function<void()> job;
    {
      MutexLock lock(mu_);
      job = std::move(ordered_[key].front());
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("{} pool: a job failed: {}", name_, e.what());
    }
    MutexLock lock(mu_);
    auto it = ordered_.find(key);
    it->second.pop_front();
    --ordered_jobs_;
    if (it->second.empty()) {
      ordered_.erase(it);
      return;
    }
  }
}

// Each key with jobs has one runner, queued (and then its jobs all wait) or running (and then its
// front job is not waiting): either way the runner stands for one of them.
std::size_t BlockingPool::waiting_jobs() const { return queue_.size() + ordered_jobs_ - ordered_.size(); }

std::size_t BlockingPool::queued() const {
  MutexLock lock(mu_);
  return waiting_jobs();
}

bool BlockingPool::running_in_this_thread() const {
  for (const auto& t : threads_)
    if (t.get_id() == std::this_thread::get_id()) return true;
  return false;
}

void BlockingPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      MutexLock lock(mu_);
      cv_.wait(mu_, [this]() MCPD_REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("{} pool: a job failed: {}", name_, e.what());
    }
  }
}

void BlockingPool::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace mcpd::io
