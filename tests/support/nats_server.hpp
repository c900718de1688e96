// A real nats-server for tests: started on a free loopback port (optionally with JetStream),
// stopped and started again on the same port to exercise reconnects, its log kept in a temporary
// directory and quoted in the failure message when it does not come up. Waits poll with
// deadlines; nothing sleeps as synchronisation.
//
// The server is started with fork/exec and PR_SET_PDEATHSIG, so it dies with the thread that
// started it even if the test process is killed: start it from the test's own thread (Catch2
// runs tests on the main thread), not from a short-lived helper thread.
#pragma once

#include "support/test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mcpd::test {

struct NatsServerOptions {
  bool jetstream = false;               // -js -sd <tempdir>/jetstream
  std::vector<std::string> extra_args;  // appended to the command line (must not move the port)
  bool start = true;                    // false: only reserve a port; call start() later
  std::string binary = "nats-server";   // a path, or a name looked up in PATH and the sbin dirs

  // A server whose port is reserved but which is not running yet.
  static NatsServerOptions not_started() {
    NatsServerOptions o;
    o.start = false;
    return o;
  }
};

// A port on 127.0.0.1 that was free a moment ago: bind to port 0, read the port, close.
// Another process may still take it before we use it; NatsServer::start() retries then.
inline int free_loopback_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (ok) return ntohs(addr.sin_port);
  }
  throw std::runtime_error("cannot find a free TCP port on 127.0.0.1");
}

// True if something accepts TCP connections on 127.0.0.1:port right now.
inline bool loopback_port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class NatsServer {
 public:
  explicit NatsServer(NatsServerOptions options = {}) : opts_(std::move(options)), port_(free_loopback_port()) {
    binary_ = resolve(opts_.binary);
    if (opts_.start) start();
  }
  ~NatsServer() {
    try {
      stop();
    } catch (...) {  // a destructor must not throw; stop() reaps even when a signal fails
    }
  }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Starts the server (again, on the same port) and returns once it accepts clients. Throws with
  // the server's log if it exits or is not ready within `timeout`.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (running()) return;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::string log_path = spawn();
      std::string failure = wait_ready(log_path, deadline);
      if (failure.empty()) {
        port_pinned_ = true;  // clients will reconnect here: never move after the first start
        return;
      }
      bool port_taken = failure.find("address already in use") != std::string::npos;
      if (port_taken && !port_pinned_ && std::chrono::steady_clock::now() < deadline) {
        port_ = free_loopback_port();  // another process took "our" free port: pick another
        continue;
      }
      if (port_taken && port_pinned_ && std::chrono::steady_clock::now() < deadline) {
        wait_a_moment();  // the old listener is still going away: try the same port again
        continue;
      }
      throw std::runtime_error(failure);
    }
  }

  // SIGTERM, then SIGKILL if it has not exited within `grace`; always reaps. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    if (!running()) return;
    if (paused_) resume();
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (!reaped() && std::chrono::steady_clock::now() < deadline) wait_a_moment();
    if (running()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
  }
  // An abrupt crash: SIGKILL and reap.
  void kill() { stop(std::chrono::milliseconds(0)); }
  // Freezes the server (SIGSTOP): connections and routes stay open, nothing is answered. A
  // frozen server is resumed (SIGCONT) before it is stopped.
  void pause() {
    if (running()) ::kill(pid_, SIGSTOP);
    paused_ = running();
  }
  void resume() {
    if (running()) ::kill(pid_, SIGCONT);
    paused_ = false;
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  // Everything the server wrote, across restarts.
  std::string log() const {
    std::string out;
    for (int i = 1; i <= starts_; ++i) out += read_file(log_path(i));
    return out;
  }

 private:
  static void wait_a_moment() { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }

  static std::string resolve(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/sbin:/usr/local/sbin:/sbin";
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t colon = path.find(':', start);
      if (colon == std::string::npos) colon = path.size();
      std::filesystem::path candidate = std::filesystem::path(path.substr(start, colon - start)) / name;
      if (colon > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
      start = colon + 1;
    }
    throw std::runtime_error(name + " not found in PATH or /usr/sbin: install the nats-server package");
  }

  std::filesystem::path log_path(int n) const { return dir_.path() / ("nats-server-" + std::to_string(n) + ".log"); }

  // Forks and execs the server with its output in a fresh log file; returns that file's path.
  std::string spawn() {
    std::vector<std::string> args = {binary_, "-a", "127.0.0.1", "-p", std::to_string(port_)};
    if (opts_.jetstream) {
      args.insert(args.end(), {"-js", "-sd", (dir_.path() / "jetstream").string()});
    }
    args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    std::string path = log_path(++starts_).string();
    int log_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      // Child of a multi-threaded process: async-signal-safe calls only until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int fork_errno = errno;
    ::close(log_fd);
    ::close(null_fd);
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(fork_errno));
    pid_ = pid;
    return path;
  }

  // Empty once the server is ready; otherwise why not (the server has been reaped then).
  std::string wait_ready(const std::string& log_file, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      if (reaped()) return "nats-server on port " + std::to_string(port_) + " exited at start:\n" + read_file(log_file);
      // "Server is ready" comes after the listener is up; the TCP probe makes sure it is ours.
      if (read_file(log_file).find("Server is ready") != std::string::npos && loopback_port_accepts(port_)) return {};
      if (std::chrono::steady_clock::now() >= deadline) {
        stop();
        return "nats-server on port " + std::to_string(port_) + " not ready in time:\n" + read_file(log_file);
      }
      wait_a_moment();
    }
  }

  // Reaps the server if it has exited.
  bool reaped() {
    if (pid_ <= 0) return true;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  NatsServerOptions opts_;
  TempDir dir_;
  std::string binary_;
  bool paused_ = false;
  int port_;
  bool port_pinned_ = false;
  int starts_ = 0;
  pid_t pid_ = -1;
};

}  // namespace mcpd::test
