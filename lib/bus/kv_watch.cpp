// KvWatch and KeyValue::watch (see kv.hpp for the contract): a thread of its own per watch that
// delivers from a nats.c kvWatcher, and re-creates the watcher when it breaks or when the
// connection came back (nats.c's ordered consumer would only notice the gap much later).
#include "bus/kv.hpp"

#include "bus/kv_internal.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

namespace mcpd::bus {

namespace detail {

struct KvWatchState {
  std::shared_ptr<KvState> kv;
  std::string pattern;
  std::function<void(const KvEntry&)> on_entry;
  std::function<void()> on_initial_done;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;         // under mu
  kvWatcher* watcher = nullptr;  // under mu: the thread's current watcher, so stop() can wake it
  std::atomic<bool> stop_flag{false};
  std::atomic<std::uint64_t> restarts{0};

  std::mutex join_mu;  // serialises joining `thread`
  std::thread thread;
};

}  // namespace detail

namespace {

using detail::failure;
using detail::KvState;
using detail::KvWatchState;
using detail::last_detail;
using detail::or_missing;
using Kind = KvError::Kind;
using Clock = std::chrono::steady_clock;

constexpr auto kWatchPoll = std::chrono::milliseconds(250);
constexpr auto kRetryMin = std::chrono::milliseconds(100);
constexpr auto kRetryMax = std::chrono::milliseconds(2000);

std::string watch_what(const std::string& pattern) { return "watch '" + pattern + "'"; }

// A new nats.c watcher on `pattern`, or why not.
KvResult<kvWatcher*> new_watcher(const KvState& st, const std::string& pattern) {
  kvWatcher* w = nullptr;
  natsStatus s = kvStore_Watch(&w, st.kv, pattern.c_str(), nullptr);
  if (s != NATS_OK) {
    std::string what = watch_what(pattern);
    return or_missing(st, what, failure(st, what, s));
  }
  return w;
}

// Runs a user callback on the watch thread; an exception is logged, not propagated.
template <typename F>
void guarded(const KvWatchState& w, const char* which, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("[kv {}] watch '{}': {} threw: {}", w.kv->bucket(), w.pattern, which, e.what());
  } catch (...) {
    spdlog::error("[kv {}] watch '{}': {} threw a non-standard exception", w.kv->bucket(), w.pattern, which);
  }
}

std::uint64_t reconnect_count(const Connection& c) { return c.stats().reconnects; }

// Hands `w` to stop() (or, if stopping already, destroys it). False if stopping.
bool install(KvWatchState& ws, kvWatcher* w) {
  std::lock_guard lock(ws.mu);
  if (ws.stopping) {
    kvWatcher_Destroy(w);
    return false;
  }
  ws.watcher = w;
  return true;
}

void uninstall(KvWatchState& ws) {
  kvWatcher* w = nullptr;
  {
    std::lock_guard lock(ws.mu);
    w = std::exchange(ws.watcher, nullptr);
  }
  if (w) kvWatcher_Destroy(w);
}

// Waits `d` or until stop(); false if stopping.
bool pause(KvWatchState& ws, std::chrono::milliseconds d) {
  std::unique_lock lock(ws.mu);
  return !ws.cv.wait_for(lock, d, [&] { return ws.stopping; });
}

// The watch thread: delivers from the current watcher; re-creates it when it breaks or when the
// connection has been re-established since it was made.
void run_watch(std::shared_ptr<KvWatchState> self, std::uint64_t reconnects_at_start) {
  KvWatchState& ws = *self;
  const KvState& st = *ws.kv;
  bool have = true;  // the first watcher was installed by watch()
  std::uint64_t made_at = reconnects_at_start;
  auto next_check = Clock::now() + kWatchPoll;
  auto retry = kRetryMin;
  int failures = 0;

  while (!ws.stop_flag) {
    if (!have) {
      if (!st.conn->connected()) {
        if (!pause(ws, kRetryMin)) break;
        continue;
      }
      std::uint64_t reconnects = reconnect_count(*st.conn);
      KvResult<kvWatcher*> w = new_watcher(st, ws.pattern);
      if (!w.ok()) {
        if (failures++ == 0)
          spdlog::warn("[kv {}] cannot re-create the watch (retrying): {}", st.bucket(), w.error().message);
        else
          spdlog::debug("[kv {}] still cannot re-create the watch: {}", st.bucket(), w.error().message);
        if (!pause(ws, retry)) break;
        retry = std::min(retry * 2, kRetryMax);
        continue;
      }
      if (!install(ws, w.value())) break;
      have = true;
      made_at = reconnects;
      retry = kRetryMin;
      ws.restarts++;
      spdlog::info("[kv {}] watch '{}' re-established{}; delivering the current values again", st.bucket(),
                   ws.pattern, failures > 0 ? " after " + std::to_string(failures) + " failed attempts" : "");
      failures = 0;
    }

    kvWatcher* w = nullptr;
    {
      std::lock_guard lock(ws.mu);
      w = ws.watcher;
    }
    kvEntry* e = nullptr;
    natsStatus s = kvWatcher_Next(&e, w, kWatchPoll.count());
    if (s == NATS_OK) {
      if (ws.stop_flag) {
        kvEntry_Destroy(e);
        break;
      }
      if (e == nullptr) {
        if (ws.on_initial_done) guarded(ws, "on_initial_done", [&] { ws.on_initial_done(); });
      } else {
        KvEntry entry = detail::to_entry(e);
        kvEntry_Destroy(e);
        if (ws.on_entry) guarded(ws, "on_entry", [&] { ws.on_entry(entry); });
      }
    } else if (s == NATS_TIMEOUT) {
      // Nothing new; see below whether the connection came back since the watcher was made.
    } else if (ws.stop_flag) {
      break;  // NATS_ILLEGAL_STATE: stop() stopped the watcher
    } else {
      std::string why = last_detail(s);
      spdlog::warn("[kv {}] watch '{}' broke ({}{}{}); re-creating it", st.bucket(), ws.pattern,
                   natsStatus_GetText(s), why.empty() ? "" : ": ", why);
      uninstall(ws);
      have = false;
      continue;
    }
    // nats.c's ordered consumer heals a gap only when it notices it (a later message or missed
    // heartbeats, up to ~10 s); after a reconnect start afresh at once instead.
    if (Clock::now() >= next_check) {
      next_check = Clock::now() + kWatchPoll;
      if (reconnect_count(*st.conn) != made_at && st.conn->connected()) {
        spdlog::info("[kv {}] reconnected: re-creating watch '{}'", st.bucket(), ws.pattern);
        uninstall(ws);
        have = false;
      }
    }
  }
  uninstall(ws);
}

}  // namespace

// ---- KvWatch ------------------------------------------------------------------------------

KvWatch::KvWatch(Key, std::shared_ptr<detail::KvWatchState> state) : state_(std::move(state)) {}

KvWatch::~KvWatch() {
  KvWatchState& ws = *state_;
  if (ws.thread.get_id() == std::this_thread::get_id()) {
    // Destroyed from inside its own callback: the thread ends when the callback returns, and
    // nobody will be left to join it.
    stop();
    std::lock_guard join(ws.join_mu);
    if (ws.thread.joinable()) ws.thread.detach();
    return;
  }
  stop();
}

void KvWatch::stop() {
  KvWatchState& ws = *state_;
  {
    std::lock_guard lock(ws.mu);
    ws.stopping = true;
    ws.stop_flag = true;
    if (ws.watcher) kvWatcher_Stop(ws.watcher);  // wakes a kvWatcher_Next at once
  }
  ws.cv.notify_all();
  if (ws.thread.get_id() == std::this_thread::get_id()) return;  // from a callback: cannot wait for ourselves
  std::lock_guard join(ws.join_mu);
  if (ws.thread.joinable()) ws.thread.join();
}

std::uint64_t KvWatch::restarts() const { return state_->restarts; }

// ---- KeyValue::watch ----------------------------------------------------------------------

KvResult<std::unique_ptr<KvWatch>> KeyValue::watch(const std::string& pattern,
                                                   std::function<void(const KvEntry&)> on_entry,
                                                   std::function<void()> on_initial_done) {
  const KvState& st = *state_;
  std::string what = watch_what(pattern);
  if (!detail::valid_key(pattern, true))
    return detail::kv_error(st, what, Kind::invalid, Errc::invalid_request,
                            "invalid pattern (a key whose tokens may be '*', and the last one '>')");
  if (auto e = detail::precheck(st, what); !e.ok()) return e.error();

  auto ws = std::make_shared<KvWatchState>();
  ws->kv = state_;
  ws->pattern = pattern;
  ws->on_entry = std::move(on_entry);
  ws->on_initial_done = std::move(on_initial_done);
  std::uint64_t reconnects = reconnect_count(*st.conn);
  KvResult<kvWatcher*> w = new_watcher(st, pattern);
  if (!w.ok()) return w.error();
  ws->watcher = w.value();
  try {
    ws->thread = std::thread(run_watch, ws, reconnects);
  } catch (const std::system_error& e) {
    uninstall(*ws);
    return detail::kv_error(st, what, Kind::other, Errc::internal, std::string("cannot start a thread: ") + e.what());
  }
  return std::make_unique<KvWatch>(KvWatch::Key{}, std::move(ws));
}

}  // namespace mcpd::bus
