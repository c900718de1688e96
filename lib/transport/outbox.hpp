// Outbox<T>: the messages a transport's send() queued from any thread, waiting for one flush
// on the transport's strand. A burst of sends schedules a single flush, which takes the whole
// batch at once: under load many messages share one write instead of one post each.
#pragma once

#include <mutex>
#include <utility>
#include <vector>

namespace mcpd::transport {

template <class T>
class Outbox {
 public:
  // Queues `item` after those already queued (any thread). True when no flush is pending: the
  // caller must schedule one, and later pushes ride along with it.
  [[nodiscard]] bool push(T item) {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(item));
    return !std::exchange(flush_pending_, true);
  }

  // The flush runs: moves everything queued, in order, into `batch` (emptied first; the two
  // vectors trade storage, so buffers are reused from flush to flush). The next push schedules
  // a new flush.
  void take(std::vector<T>& batch) {
    batch.clear();
    std::lock_guard lock(mu_);
    flush_pending_ = false;
    batch.swap(items_);
  }

  std::vector<T> take() {
    std::vector<T> batch;
    take(batch);
    return batch;
  }

  // The flush runs but cannot send yet (not started, a write in progress, stopped): the items
  // stay queued for a later take(), and the next push schedules a new flush.
  void defer() {
    std::lock_guard lock(mu_);
    flush_pending_ = false;
  }

 private:
  std::mutex mu_;
  std::vector<T> items_;        // guarded by mu_
  bool flush_pending_ = false;  // guarded by mu_
};

}  // namespace mcpd::transport
