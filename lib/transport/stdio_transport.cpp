#include "transport/stdio_transport.hpp"

#include "transport/line_splitter.hpp"
#include "transport/oversized.hpp"
#include "transport/outbox.hpp"
#include "transport/process_group.hpp"

#include "common/thread_annotations.hpp"

#include <asio/read.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <deque>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace mcpd::transport {

StdioTransport::~StdioTransport() = default;

namespace {

using asio::posix::stream_descriptor;
using namespace std::chrono_literals;

// After the exit, how long to wait for the last output still in the pipes (see finish_when_drained).
constexpr auto kDrainWait = 200ms;

class StdioTransportImpl final : public StdioTransport,
                                 public std::enable_shared_from_this<StdioTransportImpl> {
 public:
  StdioTransportImpl(io::Strand strand, StdioOptions options)
      : strand_(std::move(strand)),
        opts_(std::move(options)),
        stdin_(strand_),
        stdout_(strand_),
        stderr_(strand_),
        pidfd_(strand_),
        timer_(strand_),
        drain_timer_(strand_) {
    if (!opts_.stderr_budget) opts_.stderr_budget = std::make_shared<SharedLogBudget>(120);
  }

  ~StdioTransportImpl() override {
    // Last resort when the owner never called close(): no process may outlive its transport.
    if (pid_ > 0 && !reaped_) {
      signal_group(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  const io::Strand& strand() const override { return strand_; }
  int pid() const override { return pid_.load(); }

  std::string describe() const override {
    std::string s = "stdio:" + opts_.command;
    for (const auto& a : opts_.args) s += " " + a;
    if (pid_ > 0) s += " (pid " + std::to_string(pid_.load()) + ")";
    return s;
  }

  void start(Handlers handlers) override {
    asio::post(strand_, [self = shared_from_this(), handlers = std::move(handlers)]() mutable {
      self->do_start(std::move(handlers));
    });
  }

  bool send(std::string message) override { return queue_or_write(std::move(message), false); }
  bool send_now(std::string message) override { return queue_or_write(std::move(message), true); }

  void close(std::function<void()> done) override {
    asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
      self->do_close(std::move(done));
    });
  }

 private:
  enum class State { idle, running, stopping, exited, stopped };

  void do_start(Handlers handlers) {
    handlers_ = std::move(handlers);
    SpawnSpec spec{opts_.command, opts_.args, child_environment(opts_.env, opts_.inherit_env), opts_.cwd};
    Spawned child;
    try {
      child = spawn_process(spec);
    } catch (const std::system_error& e) {
      state_ = State::stopped;
      reaped_ = true;
      accepting_ = false;
      Closed closed;
      closed.reason = std::string("cannot start: ") + e.what();
      spdlog::error("[{}] {}", opts_.name, closed.reason);
      report_closed(std::move(closed));
      return;
    }
    pid_ = child.pid;
    stdin_.assign(child.stdin_fd);
    stdout_.assign(child.stdout_fd);
    stderr_.assign(child.stderr_fd);
    pidfd_.assign(child.pidfd);
    stdin_.non_blocking(true);
    stdout_.non_blocking(true);
    stderr_.non_blocking(true);
    state_ = State::running;
    accepting_ = true;
    spdlog::info("[{}] started {}", opts_.name, describe());
    read_stdout();
    read_stderr();
    watch_exit();
    flush();
  }

  // --- stdin ---------------------------------------------------------------------------------
  // From any thread. `now`, while nothing is queued or being written: the message goes into the
  // pipe from the sending thread (a non-blocking write), with no hand-off to the loop. Else, or
  // for what does not fit (a full pipe), the outbox and one flush on the strand for the batch.
  bool queue_or_write(std::string message, bool now) {
    if (!accepting_.load()) return false;
    message.push_back('\n');
    MutexLock lock(write_mu_);
    if (now && direct_fd_ >= 0) {
      const ssize_t n = ::write(direct_fd_, message.data(), message.size());
      if (n == static_cast<ssize_t>(message.size())) return true;
      if (n > 0) message.erase(0, static_cast<std::size_t>(n));
      // The rest (or all of it, after EAGAIN or an error the strand's write will report) goes
      // through the outbox; nothing may overtake it until the strand has written it.
    }
    direct_fd_ = -1;
    if (outbox_.push(std::move(message))) asio::post(strand_, [self = shared_from_this()] { self->flush(); });
    return true;
  }

  void flush() {
    MutexLock lock(write_mu_);
    // Messages wait while a write is in flight (its completion flushes) or before the child runs.
    if (writing_ || state_ != State::running) return outbox_.defer();
    outbox_.take(writing_batch_);
    if (writing_batch_.empty()) {
      direct_fd_ = stdin_.native_handle();  // all written: senders may write directly again
      return;
    }
    writing_ = true;
    buffers_.clear();
    for (const auto& m : writing_batch_) buffers_.emplace_back(asio::buffer(m));
    asio::async_write(stdin_, buffers_, [self = shared_from_this()](const std::error_code& ec, std::size_t) {
      {
        MutexLock done(self->write_mu_);
        self->writing_ = false;
      }
      self->writing_batch_.clear();
      if (ec) {
        // EPIPE: the child closed stdin or died; its exit is reported by the pidfd watch.
        if (ec != asio::error::operation_aborted)
          spdlog::debug("[{}] write to stdin failed: {}", self->opts_.name, ec.message());
        self->accepting_ = false;
        return;
      }
      self->flush();
    });
  }

  // --- stdout --------------------------------------------------------------------------------
  void read_stdout() {
    stdout_.async_read_some(asio::buffer(read_buf_), [self = shared_from_this()](const std::error_code& ec,
                                                                                 std::size_t n) {
      if (n > 0) self->consume_stdout(n);
      if (ec) {
        self->stdout_eof_ = true;
        // A server that closes stdout is done talking even if its process lingers.
        if (self->state_ == State::running) {
          spdlog::warn("[{}] closed its stdout; stopping it", self->opts_.name);
          self->begin_stop(false);
        }
        self->finish_if_drained();
        return;
      }
      self->read_stdout();
    });
  }

  void consume_stdout(std::size_t n) {
    lines_.feed(
        std::string_view(read_buf_.data(), n), [this](std::string_view line) { deliver(line); },
        [this](OversizedLine&& big) { oversized(big); });
  }

  // A message over maxMessageBytes, seen by its ends only. An answer fails its call with
  // too_large and the session goes on; a notification or request from the server is dropped;
  // anything else stops the server (its calls in flight fail with too_large: any of them may
  // have been the one it answered).
  void oversized(const OversizedLine& big) {
    const std::string what = "a message of " + std::to_string(big.bytes) + " bytes, over its maxMessageBytes (" +
                             std::to_string(opts_.max_message_bytes) + ")";
    const auto m = inspect_oversized(big.head, big.tail);
    if (m.kind == OversizedMessage::Kind::response && m.id) {
      spdlog::warn("[{}] sent {} answering request {}: that call fails with too_large", opts_.name, what, *m.id);
      deliver(too_large_response(*m.id, "server '" + opts_.name + "' sent " + what, "stdio"));
      return;
    }
    if (m.kind == OversizedMessage::Kind::other) {
      spdlog::warn("[{}] sent {} that is not an answer (a notification or request); dropped", opts_.name, what);
      return;
    }
    if (state_ != State::running) return;
    spdlog::error("[{}] sent {} that cannot be matched to a request; stopping it", opts_.name, what);
    exit_.stopped_because = "sent " + what + " that cannot be matched to a request";
    exit_.too_large = true;
    begin_stop(false);
  }

  void deliver(std::string_view line) {
    if (handlers_.on_message && !closed_reported_) handlers_.on_message(line);
  }

  // --- stderr --------------------------------------------------------------------------------
  void read_stderr() {
    stderr_.async_read_some(asio::buffer(err_buf_), [self = shared_from_this()](const std::error_code& ec,
                                                                                std::size_t n) {
      if (n > 0) self->consume_stderr(std::string_view(self->err_buf_.data(), n));
      if (ec) {
        if (!self->err_line_.empty()) self->log_stderr_line(std::exchange(self->err_line_, {}));
        self->stderr_eof_ = true;
        self->finish_if_drained();
        return;
      }
      self->read_stderr();
    });
  }

  void consume_stderr(std::string_view chunk) {
    std::size_t start = 0;
    for (;;) {
      auto nl = chunk.find('\n', start);
      if (nl == std::string_view::npos) break;
      err_line_.append(chunk.substr(start, nl - start));
      log_stderr_line(std::exchange(err_line_, {}));
      start = nl + 1;
    }
    err_line_.append(chunk.substr(start));
    if (err_line_.size() > 8192) log_stderr_line(std::exchange(err_line_, {}));
  }

  void log_stderr_line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return;
    std::uint64_t suppressed = 0;
    bool ran_out = false;
    if (opts_.stderr_budget->allow(suppressed, ran_out)) {
      if (suppressed > 0) spdlog::info("[{}] stderr: {} more lines were not logged", opts_.name, suppressed);
      spdlog::info("[{}] stderr: {}", opts_.name, line);
    } else if (ran_out) {
      spdlog::warn("[{}] stderr: more than {} lines this minute; the rest are counted, not logged", opts_.name,
                   opts_.stderr_budget->burst());
    }
    stderr_tail_.push_back(std::move(line));
    while (stderr_tail_.size() > opts_.stderr_tail_lines) stderr_tail_.pop_front();
  }

  // --- exit ----------------------------------------------------------------------------------
  void watch_exit() {
    pidfd_.async_wait(stream_descriptor::wait_read, [self = shared_from_this()](const std::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      self->on_exit();
    });
  }

  void on_exit() {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) {  // spurious wake-up: not exited yet
      watch_exit();
      return;
    }
    reaped_ = true;
    accepting_ = false;
    exit_.requested = stop_requested_;
    if (r == pid_ && WIFEXITED(status)) {
      exit_.exit_status = WEXITSTATUS(status);
      exit_.reason = "exited with status " + std::to_string(*exit_.exit_status);
    } else if (r == pid_ && WIFSIGNALED(status)) {
      exit_.term_signal = WTERMSIG(status);
      exit_.reason = std::string("killed by signal ") + std::to_string(*exit_.term_signal) + " (" +
                     ::strsignal(*exit_.term_signal) + ")";
    } else {
      exit_.reason = "exited (status unknown)";
    }
    auto level = stop_requested_ ? spdlog::level::info : spdlog::level::warn;
    spdlog::log(level, "[{}] process {} {}", opts_.name, pid_.load(), exit_.reason);
    state_ = State::exited;
    timer_.cancel();
    // Grandchildren may remain in the group after the leader is gone: they go too.
    stop_group();
  }

  void stop_group() {
    if (!group_alive(pid_)) {
      finish_when_drained();
      return;
    }
    signal_group(pid_, SIGTERM);
    wait_group(std::chrono::steady_clock::now() + opts_.term_grace);
  }

  void wait_group(std::chrono::steady_clock::time_point kill_at) {
    timer_.expires_after(50ms);
    timer_.async_wait([self = shared_from_this(), kill_at](const std::error_code& ec) {
      if (ec) return;
      if (!group_alive(self->pid_)) {
        self->finish_when_drained();
      } else if (std::chrono::steady_clock::now() >= kill_at) {
        spdlog::warn("[{}] process group {} outlived SIGTERM; sending SIGKILL", self->opts_.name,
                     self->pid_.load());
        signal_group(self->pid_, SIGKILL);
        self->finish_when_drained();
      } else {
        self->wait_group(kill_at);
      }
    });
  }

  // The process group is gone, but what it wrote last may not have been read yet (a read can
  // complete alongside the exit and run after it): report the exit once both pipes reach EOF, so
  // its last response and stderr lines are in. Bounded: a process outside the group may hold a
  // pipe open.
  void finish_when_drained() {
    drain_wait_ = true;
    if (finish_if_drained()) return;
    drain_timer_.expires_after(kDrainWait);
    drain_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (!ec) self->finish();
    });
  }

  bool finish_if_drained() {
    if (!drain_wait_ || !stdout_eof_ || !stderr_eof_) return false;
    drain_timer_.cancel();
    finish();
    return true;
  }

  // Everything is gone: close descriptors, tell the owner, run close() continuations.
  void finish() {
    if (state_ == State::stopped) return;
    state_ = State::stopped;
    stop_direct_writes();
    std::error_code ignored;
    stdin_.close(ignored);
    stdout_.close(ignored);
    stderr_.close(ignored);
    pidfd_.close(ignored);
    exit_.stderr_tail.assign(stderr_tail_.begin(), stderr_tail_.end());
    report_closed(exit_);
    auto waiters = std::move(close_waiters_);
    for (auto& w : waiters)
      if (w) w();
  }

  void report_closed(Closed closed) {
    if (closed_reported_) return;
    closed_reported_ = true;
    if (handlers_.on_closed) handlers_.on_closed(closed);
  }

  // --- stop ----------------------------------------------------------------------------------
  // Before stdin closes: no sender may write to its descriptor (or to one that reuses the number).
  void stop_direct_writes() {
    MutexLock lock(write_mu_);
    direct_fd_ = -1;
  }

  void do_close(std::function<void()> done) {
    if (state_ == State::stopped || state_ == State::idle) {
      state_ = State::stopped;
      if (done) done();
      return;
    }
    close_waiters_.push_back(std::move(done));
    stop_requested_ = true;
    if (state_ == State::running) begin_stop(true);
  }

  // Close stdin → wait eof_grace → SIGTERM the group → wait term_grace → SIGKILL the group.
  void begin_stop(bool requested) {
    if (state_ != State::running) return;
    state_ = State::stopping;
    stop_requested_ = stop_requested_ || requested;
    accepting_ = false;
    stop_direct_writes();
    std::error_code ignored;
    stdin_.close(ignored);
    timer_.expires_after(opts_.eof_grace);
    timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (ec || self->state_ != State::stopping) return;
      spdlog::info("[{}] still running {} ms after stdin closed; sending SIGTERM", self->opts_.name,
                   self->opts_.eof_grace.count());
      signal_group(self->pid_, SIGTERM);
      self->timer_.expires_after(self->opts_.term_grace);
      self->timer_.async_wait([self](const std::error_code& ec2) {
        if (ec2 || self->state_ != State::stopping) return;
        spdlog::warn("[{}] still running {} ms after SIGTERM; sending SIGKILL", self->opts_.name,
                     self->opts_.term_grace.count());
        signal_group(self->pid_, SIGKILL);
      });
    });
  }

  io::Strand strand_;
  StdioOptions opts_;
  stream_descriptor stdin_, stdout_, stderr_, pidfd_;
  asio::steady_timer timer_;
  asio::steady_timer drain_timer_;  // bounds the wait for the pipes' EOF after the exit
  Handlers handlers_;
  std::atomic<int> pid_{-1};
  std::atomic<bool> accepting_{true};  // messages sent before the child runs wait in the outbox
  State state_ = State::idle;
  bool reaped_ = false;
  bool stop_requested_ = false;
  bool stdout_eof_ = false;
  bool stderr_eof_ = false;
  bool drain_wait_ = false;  // the group is gone: finish at both EOFs (or kDrainWait)
  bool closed_reported_ = false;
  Closed exit_;
  std::vector<std::function<void()>> close_waiters_;

  Outbox<std::string> outbox_;
  Mutex write_mu_;  // orders direct writes against the strand's: see queue_or_write()
  // stdin's descriptor while a sender may write to it directly: the child runs, nothing is
  // queued and no write is in flight. -1 otherwise.
  int direct_fd_ MCPD_GUARDED_BY(write_mu_) = -1;
  std::vector<std::string> writing_batch_;
  std::vector<asio::const_buffer> buffers_;
  bool writing_ MCPD_GUARDED_BY(write_mu_) = false;

  std::array<char, 64 * 1024> read_buf_{};
  LineSplitter lines_{opts_.max_message_bytes};
  std::array<char, 8 * 1024> err_buf_{};
  std::string err_line_;
  std::deque<std::string> stderr_tail_;
};

}  // namespace

std::shared_ptr<StdioTransport> make_stdio_transport(io::Strand strand, StdioOptions options) {
  return std::make_shared<StdioTransportImpl>(std::move(strand), std::move(options));
}

std::string Closed::describe() const {
  std::string s = stopped_because.empty() ? reason : stopped_because + " and was stopped (" + reason + ")";
  if (!stderr_tail.empty()) s += "; last stderr: " + stderr_tail.back();
  return s;
}

}  // namespace mcpd::transport
