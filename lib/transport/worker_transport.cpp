#include "transport/worker_transport.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <thread>

namespace mcpd::transport {

bool Channel::try_push(std::string message) {
  {
    std::lock_guard lock(mu_);
    if (closed_ || items_.size() >= capacity_) return false;
    items_.push_back(std::move(message));
  }
  cv_.notify_one();
  return true;
}

bool Channel::push(std::string message, std::stop_token stop) {
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait(lock, stop, [&] { return closed_ || items_.size() < capacity_; })) return false;
    if (closed_) return false;
    items_.push_back(std::move(message));
  }
  cv_.notify_all();
  return true;
}

std::optional<std::string> Channel::pop(std::stop_token stop) {
  std::unique_lock lock(mu_);
  if (!cv_.wait(lock, stop, [&] { return closed_ || !items_.empty(); })) return std::nullopt;
  if (items_.empty()) return std::nullopt;
  std::string m = std::move(items_.front());
  items_.pop_front();
  lock.unlock();
  cv_.notify_all();
  return m;
}

void Channel::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool Channel::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

WorkerTransport::~WorkerTransport() = default;

namespace {

class WorkerTransportImpl final : public WorkerTransport,
                                  public std::enable_shared_from_this<WorkerTransportImpl> {
 public:
  WorkerTransportImpl(io::Strand strand, WorkerOptions options, WorkerMain main)
      : strand_(std::move(strand)),
        opts_(std::move(options)),
        main_(std::move(main)),
        inbox_(opts_.inbox_capacity),
        outbox_(opts_.outbox_capacity),
        io_(*this) {}

  ~WorkerTransportImpl() override {
    thread_.request_stop();
    inbox_.close();
    outbox_.close();
    // jthread joins here; the worker honours its stop token.
  }

  const io::Strand& strand() const override { return strand_; }
  std::string describe() const override { return "worker:" + opts_.name; }

  void start(Handlers handlers) override {
    handlers_ = std::move(handlers);
    started_ = true;
    // The worker thread holds only a weak reference: the transport's owner decides its life.
    thread_ = std::jthread([this](std::stop_token) { run_worker(); });
    pump_ = std::jthread([this](std::stop_token st) { run_pump(st); });
  }

  bool send(std::string message) override { return started_ && inbox_.try_push(std::move(message)); }

  void close(std::function<void()> done) override { stop("closed", std::move(done)); }
  void cancel() override { stop("cancelled", {}); }


 private:
  // The worker's side of the two channels.
  class Io final : public WorkerIo {
   public:
    explicit Io(WorkerTransportImpl& t) : t_(t) {}
    std::optional<std::string> receive() override { return t_.inbox_.pop(t_.thread_.get_stop_token()); }
    bool send(std::string m) override { return t_.outbox_.push(std::move(m), t_.thread_.get_stop_token()); }
    std::stop_token stop_token() const override { return t_.thread_.get_stop_token(); }

   private:
    WorkerTransportImpl& t_;
  };

  void run_worker() {
    try {
      main_(io_);
    } catch (const std::exception& e) {
      spdlog::error("[{}] worker failed: {}", opts_.name, e.what());
      worker_error_ = e.what();
    }
    // The worker is done (returned, failed or stopped): nothing more will come.
    outbox_.close();
  }

  // Moves worker output onto the strand, in order, one message at a time.
  void run_pump(std::stop_token st) {
    while (auto m = outbox_.pop(st)) {
      asio::post(strand_, [self = weak_from_this(), msg = std::move(*m)] {
        if (auto s = self.lock(); s && !s->closed_reported_ && s->handlers_.on_message) s->handlers_.on_message(msg);
      });
    }
    asio::post(strand_, [self = weak_from_this()] {
      auto s = self.lock();
      if (!s) return;
      std::string reason;
      bool requested = false;
      {
        std::lock_guard lock(s->mu_);
        requested = s->stopping_;
        reason = requested ? s->stop_reason_ : s->worker_error_.empty() ? "worker exited" : "worker failed: " + s->worker_error_;
      }
      s->finish(reason, requested);
    });
  }

  void stop(std::string reason, std::function<void()> done) {
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        stopping_ = true;
        stop_reason_ = reason;
      }
      // Whoever waits for the close is told even when the owner lets go of the transport first
      // (a session closing on shutdown drops it right after asking).
      if (done) {
        waiters_.push_back(std::move(done));
        keep_alive_ = shared_from_this();
      }
    }
    thread_.request_stop();
    inbox_.close();
    outbox_.close();
    if (!started_) {
      asio::post(strand_, [self = shared_from_this()] { self->finish("closed", true); });
    } else {
      // A worker that already ended reported its close: the new waiters are told now.
      asio::post(strand_, [self = shared_from_this()] {
        if (self->closed_reported_) self->finish({}, true);
      });
    }
  }

  void finish(const std::string& reason, bool requested) {
    if (!closed_reported_) {
      closed_reported_ = true;
      Closed c;
      c.reason = reason;
      c.requested = requested;
      spdlog::info("[{}] worker {}", opts_.name, reason);
      if (handlers_.on_closed) handlers_.on_closed(c);
    }
    std::vector<std::function<void()>> waiters;
    std::shared_ptr<WorkerTransportImpl> keep_alive;  // released after the waiters are told
    {
      std::lock_guard lock(mu_);
      waiters.swap(waiters_);
      keep_alive.swap(keep_alive_);
    }
    for (auto& w : waiters) w();
  }

  io::Strand strand_;
  WorkerOptions opts_;
  WorkerMain main_;
  Handlers handlers_;
  Channel inbox_, outbox_;
  std::atomic<bool> started_{false};
  std::mutex mu_;
  bool stopping_ = false;
  std::string stop_reason_;
  std::string worker_error_;
  std::vector<std::function<void()>> waiters_;
  std::shared_ptr<WorkerTransportImpl> keep_alive_;  // while a close has waiters
  bool closed_reported_ = false;
  Io io_;
  std::jthread thread_;
  std::jthread pump_;
};

}  // namespace

std::shared_ptr<WorkerTransport> make_worker_transport(io::Strand strand, WorkerOptions options, WorkerMain main) {
  return std::make_shared<WorkerTransportImpl>(std::move(strand), std::move(options), std::move(main));
}

}  // namespace mcpd::transport
