// BlockingPool: a small, named set of threads for work that waits — SQLite writes, JetStream
// key-value round trips, anything that may take milliseconds to seconds. Such work never runs
// on the event loop (it would stall every pipe and timer of every server) nor on a NATS
// delivery thread (it would stall every subscription sharing it). The queue is bounded: a full
// queue refuses new work with `overloaded`, a stopped pool with `unavailable`, so a caller can
// always answer instead of waiting forever.
//
// Thread-safe. Jobs run on the pool's threads, taken in FIFO order but run side by side; jobs
// that must not overtake each other (the events of one task) share a key in post_in_order().
// A job that throws is logged and the thread goes on.
#pragma once

#include "common/error.hpp"
#include "common/thread_annotations.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mcpd::io {

class BlockingPool {
 public:
  // `name` shows in thread names (top -H) and log lines; `capacity` is the most queued jobs.
  BlockingPool(std::string name, unsigned threads, std::size_t capacity = 4096);
  ~BlockingPool();  // stop()
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Queues `work`. Any thread, never blocks. Refused once stop() began or the queue is full.
  Status post(std::function<void()> work) MCPD_EXCLUDES(mu_);
  // Like post(), but jobs posted with the same `key` run one at a time, in the order posted.
  Status post_in_order(const std::string& key, std::function<void()> work) MCPD_EXCLUDES(mu_);
  // Runs what is queued, then joins the threads. Idempotent; must not run on a pool thread.
  void stop() MCPD_EXCLUDES(mu_);

  const std::string& name() const { return name_; }
  std::size_t queued() const MCPD_EXCLUDES(mu_);
  bool running_in_this_thread() const;

 private:
  void run();
  void run_in_order(const std::string& key) MCPD_EXCLUDES(mu_);
  Status admit() const MCPD_REQUIRES(mu_);
  std::size_t waiting_jobs() const MCPD_REQUIRES(mu_);

  const std::string name_;
  const std::size_t capacity_;
  mutable Mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::function<void()>> queue_ MCPD_GUARDED_BY(mu_);
  // post_in_order: the jobs of each key not yet finished (the front one may be running).
  std::unordered_map<std::string, std::deque<std::function<void()>>> ordered_ MCPD_GUARDED_BY(mu_);
  std::size_t ordered_jobs_ MCPD_GUARDED_BY(mu_) = 0;
  bool stopping_ MCPD_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace mcpd::io
