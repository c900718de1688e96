// An echo responder with no nats.c reader or delivery thread: the main thread runs an epoll
// loop, nats.c reads and writes only when that loop calls ProcessReadEvent/ProcessWriteEvent,
// and the synchronous subscription is drained right after each read. A call costs this process
// epoll_wait, recv and send, with no hand-off between threads. See event_loop_responder.hpp.

#include "event_loop_responder.hpp"

#include <nats/nats.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace mcpd::bench {
namespace {

constexpr std::uint64_t kSocket = 1, kSignal = 2;  // epoll_event.data of the two fds

// What nats.c asked to poll for (its callbacks run with its connection lock held) and what
// epoll has. A change made on the loop thread is applied before the next epoll_wait, so a
// publish that asks for a write, flushed by the loop at once, costs no epoll_ctl; nats.c's own
// threads (ping timer, reconnect, close) apply theirs at once, which also wakes the loop.
struct Loop {
  int epfd = -1;
  std::thread::id owner = std::this_thread::get_id();
  std::mutex mu;
  int fd = -1;  // nats.c's socket; -1 once detached
  bool added = false, want_read = false, want_write = false;
  std::uint32_t registered = 0;

  void sync() {  // mu held
    const std::uint32_t events = (want_read ? static_cast<std::uint32_t>(EPOLLIN) : 0u) |
                                 (want_write ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
    if (fd < 0 || (added && events == registered)) return;
    epoll_event e{};
    e.events = events;
    e.data.u64 = kSocket;
    int rc = ::epoll_ctl(epfd, added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e);
    if (rc != 0 && errno == EEXIST) rc = ::epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
    if (rc != 0) return;  // a closed fd (EBADF): the next attach brings the new one
    added = true;
    registered = events;
  }
  // nats.c asks to poll (or not) for reads or writes: `which` is want_read or want_write.
  natsStatus want(bool Loop::*which, bool add) {
    std::lock_guard lock(mu);
    this->*which = add;
    if (std::this_thread::get_id() != owner) sync();
    return NATS_OK;
  }
};

// The first attach comes from natsConnection_Connect on the loop thread; a reconnect attaches
// the new socket from nats.c's reconnect thread (the old one is closed, so epoll dropped it).
// Reconnects are not exercised by the benchmark.
natsStatus on_attach(void** user, void* loop, natsConnection*, natsSock socket) {
  auto* l = static_cast<Loop*>(loop);
  std::lock_guard lock(l->mu);
  l->fd = socket;
  l->added = false;
  l->want_read = true;
  l->want_write = false;
  l->sync();
  *user = l;
  return NATS_OK;
}

natsStatus on_read(void* user, bool add) { return static_cast<Loop*>(user)->want(&Loop::want_read, add); }
natsStatus on_write(void* user, bool add) { return static_cast<Loop*>(user)->want(&Loop::want_write, add); }

natsStatus on_detach(void* user) {
  auto* l = static_cast<Loop*>(user);
  std::lock_guard lock(l->mu);
  l->fd = -1;
  l->added = false;
  return NATS_OK;
}

// Answers every message the last read queued. Only this thread parses, so the count cannot
// grow meanwhile; NextMsg with timeout 0 would also not block, but reports an empty queue as an
// error (NATS_TIMEOUT, recorded in nats.c's error stack).
void echo_pending(natsConnection* nc, natsSubscription* sub) {
  int pending = 0;
  if (natsSubscription_GetPending(sub, &pending, nullptr) != NATS_OK) return;
  while (pending-- > 0) {
    natsMsg* msg = nullptr;
    natsStatus s = natsSubscription_NextMsg(&msg, sub, 0);
    if (s == NATS_SLOW_CONSUMER) s = natsSubscription_NextMsg(&msg, sub, 0);  // reported once
    if (s != NATS_OK) return;
    if (const char* reply = natsMsg_GetReply(msg))
      (void)natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));  // a lost echo shows as a timeout
    natsMsg_Destroy(msg);
  }
}

}  // namespace

int run_event_loop_responder(const std::string& url, const std::string& subject) {
  // SIGTERM ends the loop through a signalfd; blocked before nats.c starts any thread.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  Loop loop;
  loop.epfd = ::epoll_create1(EPOLL_CLOEXEC);
  const int sigfd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = kSignal;
  if (loop.epfd < 0 || sigfd < 0 || ::epoll_ctl(loop.epfd, EPOLL_CTL_ADD, sigfd, &e) != 0) {
    std::perror("event-loop responder");
    return 1;
  }

  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  natsSubscription* sub = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);  // as bus::Connection; no flusher thread
  if (s == NATS_OK) s = natsOptions_SetEventLoop(opts, &loop, on_attach, on_read, on_write, on_detach);
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, nc, subject.c_str());
  for (bool running = s == NATS_OK; running;) {
    {
      std::lock_guard lock(loop.mu);
      loop.sync();
    }
    epoll_event events[4];
    const int n = ::epoll_wait(loop.epfd, events, 4, -1);
    if (n < 0 && errno != EINTR) break;
    bool readable = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kSignal) running = false;
      else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readable = true;
      // EPOLLOUT alone: the flush below.
    }
    if (readable) {
      natsConnection_ProcessReadEvent(nc);
      echo_pending(nc, sub);
    }
    // Flush whatever nats.c asked to write (the echoes) now rather than after another
    // epoll_wait: the socket is almost always writable, and if not, the write keeps EPOLLOUT.
    bool write = false;
    {
      std::lock_guard lock(loop.mu);
      write = loop.want_write && loop.fd >= 0;
    }
    if (write) natsConnection_ProcessWriteEvent(nc);
  }
  if (s != NATS_OK) std::fprintf(stderr, "event-loop responder: %s\n", natsStatus_GetText(s));
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);  // detaches
  natsOptions_Destroy(opts);
  ::close(sigfd);
  ::close(loop.epfd);
  return s == NATS_OK ? 0 : 1;
}

}  // namespace mcpd::bench
