#include "raw_pipe.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace mcpd::bench {
namespace {

using namespace std::chrono_literals;

// No progress for this long means the server hung: the run stops and says so.
constexpr auto kStallTimeout = 10s;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe2");
}

// Reaps `pid`, giving it `grace` to exit on its own (stdin EOF) before killing its group.
void reap(pid_t pid, std::chrono::milliseconds grace) {
  auto until = Clock::now() + grace;
  while (Clock::now() < until) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      ::kill(-pid, SIGKILL);  // grandchildren, if any
      return;
    }
    std::this_thread::sleep_for(5ms);
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string initialize_line() {
  Json msg = {{"jsonrpc", "2.0"},
              {"id", "init"},
              {"method", "initialize"},
              {"params",
               {{"protocolVersion", "2025-11-25"},
                {"capabilities", Json::object()},
                {"clientInfo", {{"name", "mcpd-bench-raw"}, {"version", "0"}}}}}};
  return msg.dump() + "\n";
}

}  // namespace

RawPipeClient::RawPipeClient(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("empty server command");
  int in[2], out[2];
  make_pipe(in);
  make_pipe(out);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);  // so the whole group can be killed
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int rc = ::posix_spawnp(&pid_, argv[0].c_str(), &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  in_fd_ = in[1];
  out_fd_ = out[0];
  if (rc != 0) {
    errno = rc;
    ::close(in_fd_);
    ::close(out_fd_);
    fail("cannot start '" + argv[0] + "'");
  }
  // Non-blocking stdin: a server busy writing replies must never deadlock our writes.
  ::fcntl(in_fd_, F_SETFL, ::fcntl(in_fd_, F_GETFL) | O_NONBLOCK);
}

RawPipeClient::~RawPipeClient() {
  ::close(in_fd_);  // EOF: a well-behaved server exits
  ::close(out_fd_);
  if (pid_ > 0) reap(pid_, 2000ms);
}

void RawPipeClient::handshake(std::chrono::milliseconds timeout) {
  outbox_ = initialize_line();
  bool answered = false;
  std::string error;
  auto on_line = [&](std::string_view line) {
    Json msg = Json::parse(line, nullptr, false);
    if (!msg.is_object() || msg.value("id", Json()) != "init") return;  // logs, notifications
    answered = true;
    if (msg.contains("error")) error = msg["error"].dump();
  };
  auto until = Clock::now() + timeout;
  while (!answered) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left <= 0ms || !pump(left, on_line)) throw std::runtime_error("raw: no answer to initialize");
  }
  if (!error.empty()) throw std::runtime_error("raw: initialize failed: " + error);
  outbox_ += R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n";
}

Measurement RawPipeClient::run(const Workload& workload, const RunSpec& spec) {
  Recorder rec(spec.calls);
  const std::int64_t base = next_id_;
  std::vector<Clock::time_point> sent(spec.calls);
  std::vector<bool> answered(spec.calls, false);
  std::size_t issued = 0, done = 0;

  // The id doubles as the payload's sequence number, so ids and payloads never repeat.
  auto issue = [&] {
    const std::int64_t id = next_id_++;
    sent[issued++] = Clock::now();
    outbox_ += workload.request_line(id, static_cast<std::uint64_t>(id));
  };
  auto can_issue = [&] { return issued < spec.calls && Clock::now() < spec.deadline; };

  auto on_line = [&](std::string_view line) {
    Json msg = Json::parse(line, nullptr, false);
    // Noise on stdout is skipped, as the session's JSON-RPC peer skips it: it answers no call.
    if (!msg.is_object()) return;
    if (msg.contains("method")) return answer_server_request(msg);  // requests and notifications
    auto id = msg.value("id", Json());
    if (!id.is_number_integer() || id.get<std::int64_t>() < base ||
        id.get<std::int64_t>() >= base + static_cast<std::int64_t>(issued))
      return rec.error("raw: a response to an id we did not send: " + id.dump());
    const auto idx = static_cast<std::size_t>(id.get<std::int64_t>() - base);
    if (answered[idx]) return rec.error("raw: a second response to id " + id.dump());
    answered[idx] = true;
    ++done;
    const auto latency = Clock::now() - sent[idx];
    if (auto err = msg.find("error"); err != msg.end()) {
      rec.error(latency, "raw: JSON-RPC error " + err->dump());
    } else if (auto v = workload.check(msg["result"], id.get<std::uint64_t>()); v == Verdict::error) {
      rec.error(latency, "raw: isError: " + msg["result"].dump().substr(0, 200));
    } else if (v == Verdict::mismatch) {
      rec.mismatch(latency, "raw: reply does not carry its payload: " + std::string(line.substr(0, 200)));
    } else {
      rec.ok(latency);
    }
    if (can_issue()) issue();
  };

  const auto start = Clock::now();
  for (int i = 0; i < spec.concurrency && can_issue(); ++i) issue();
  while (done < issued) {
    if (!pump(kStallTimeout, on_line)) {
      for (std::size_t i = done; i < issued; ++i) rec.error("raw: no answer (server stalled or closed stdout)");
      break;
    }
  }
  return rec.finish("raw", spec.concurrency, Clock::now() - start);
}

bool RawPipeClient::pump(std::chrono::milliseconds timeout, const LineFn& on_line) {
  if (pending_output()) write_some();
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {in_fd_, static_cast<short>(pending_output() ? POLLOUT : 0), 0}};
  int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (n < 0) return errno == EINTR;
  if (n == 0) return false;
  if (fds[1].revents & (POLLOUT | POLLERR)) write_some();
  if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
    if (!read_some(on_line)) return false;
  }
  // Requests issued by the replies just read go out now rather than after the next poll.
  if (pending_output()) write_some();
  return true;
}

void RawPipeClient::write_some() {
  ssize_t n = ::write(in_fd_, outbox_.data() + written_, outbox_.size() - written_);
  // EAGAIN: the pipe is full, poll says when. EPIPE: the server died; the read side sees EOF.
  if (n <= 0) return;
  written_ += static_cast<std::size_t>(n);
  // Drop the sent prefix only once it is most of the outbox: erasing 64 KB off the front of a
  // many-MB outbox on every write would make big payloads quadratic.
  if (written_ * 2 >= outbox_.size()) {
    outbox_.erase(0, written_);
    written_ = 0;
  }
}

bool RawPipeClient::read_some(const LineFn& on_line) {
  char buf[64 * 1024];
  ssize_t n = ::read(out_fd_, buf, sizeof buf);
  if (n <= 0) return n < 0 && errno == EINTR;
  // Only the new bytes are searched for newlines; a long line is not rescanned on every read.
  std::size_t scan = inbox_.size();
  inbox_.append(buf, static_cast<std::size_t>(n));
  std::size_t from = 0;
  for (auto nl = inbox_.find('\n', scan); nl != std::string::npos; nl = inbox_.find('\n', from)) {
    std::string_view line(inbox_.data() + from, nl - from);
    from = nl + 1;
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) on_line(line);
  }
  inbox_.erase(0, from);
  return true;
}

// The server asked us something (roots/list, sampling, ping...): say we do not offer it, as
// mcpd does, so it never waits on us. Notifications (logs, progress) are ignored.
void RawPipeClient::answer_server_request(const Json& msg) {
  auto id = msg.find("id");
  if (id == msg.end() || id->is_null()) return;
  if (msg.value("method", "") == "ping") {
    outbox_ += Json{{"jsonrpc", "2.0"}, {"id", *id}, {"result", Json::object()}}.dump() + "\n";
    return;
  }
  outbox_ += Json{{"jsonrpc", "2.0"}, {"id", *id}, {"error", {{"code", -32601}, {"message", "not offered"}}}}.dump() +
             "\n";
}

}  // namespace mcpd::bench
