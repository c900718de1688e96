// KeyValue: JetStream KV buckets over nats.c 3.4.1 (see kv.hpp for the contract).
//
// Reads (get, keys, watch) go through nats.c's kvStore. Writes are JetStream publishes made here
// with js_PublishMsg, as kvStore_Put/Update/Delete make them, because only js_PublishMsg hands
// back the server's JetStream error code: that is how a compare-and-set conflict (10071, wrong
// last sequence) is told apart from everything else, and how erase_if() (which nats.c 3.4.1
// lacks: no kvStore_DeleteEx) is done at all.
#include "bus/kv.hpp"

#include "bus/nats_internal.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace mcpd::bus {

namespace detail {

// What a KeyValue and its watches share; the last of them to go releases nats.c's objects.
struct KvState {
  std::shared_ptr<Connection> conn;  // kept alive: nats.c's objects need it until destroyed
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  KvOptions options;
  std::string stream;  // "KV_<bucket>"
  std::string prefix;  // "$KV.<bucket>."

  KvState() = default;
  KvState(const KvState&) = delete;
  KvState& operator=(const KvState&) = delete;
  ~KvState() {
    if (kv) kvStore_Destroy(kv);
    if (js) jsCtx_Destroy(js);
  }
  const std::string& bucket() const { return options.bucket; }
};

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

using detail::KvState;
using detail::KvWatchState;
using Kind = KvError::Kind;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMaxHistory = 64;  // nats.c's and the server's limit
constexpr auto kWatchPoll = std::chrono::milliseconds(250);
constexpr auto kRetryMin = std::chrono::milliseconds(100);
constexpr auto kRetryMax = std::chrono::milliseconds(2000);
constexpr const char* kOpHeader = "KV-Operation";
// The server's max message size counts the headers too: a compare-and-set write or a delete
// marker carries up to ~100 bytes of them ("KV-Operation: DEL", "Nats-Expected-Last-Subject-
// Sequence: <n>"). The bucket's limit is max_value_bytes plus this, and max_value_bytes itself is
// enforced here, so that a value of exactly max_value_bytes can be updated and deleted.
constexpr std::int64_t kHeaderAllowance = 256;

KvError kv_error(Kind kind, Errc code, std::string message, std::uint64_t current_revision = 0) {
  KvError e;
  e.code = code;
  e.message = std::move(message);
  e.kind = kind;
  e.current_revision = current_revision;
  return e;
}

// nats.c's thread-local detail for `s`, without its "(file.c:line): " prefix; empty if it adds
// nothing to the status text. Call right after the failing call, on its thread.
std::string last_detail(natsStatus s) {
  natsStatus last = NATS_OK;
  const char* raw = nats_GetLastError(&last);
  std::string_view d = raw && last == s ? raw : "";
  if (!d.empty() && d.front() == '(') {
    if (auto end = d.find("): "); end != std::string_view::npos) d.remove_prefix(end + 3);
  }
  const char* text = natsStatus_GetText(s);
  if (text && d == text) return {};
  return std::string(d);
}

// The number at the end of the server's "wrong last sequence: 7"; 0 if there is none.
std::uint64_t trailing_number(std::string_view text) {
  std::size_t end = text.size();
  while (end > 0 && !std::isdigit(static_cast<unsigned char>(text[end - 1]))) --end;
  std::size_t start = end;
  while (start > 0 && std::isdigit(static_cast<unsigned char>(text[start - 1]))) --start;
  std::uint64_t n = 0;
  if (start < end) std::from_chars(text.data() + start, text.data() + end, n);
  return n;
}

// A nats.c failure as a KvError: "bucket B: <what>: <reason>".
KvError failure(const KvState& st, std::string_view what, natsStatus s, jsErrCode jerr, const std::string& detail) {
  std::string prefix = "bucket " + st.bucket() + ": " + std::string(what) + ": ";
  // NATS_ERR ("Error") carries the server's own words in the detail: say just those.
  std::string reason = natsStatus_GetText(s) ? natsStatus_GetText(s) : "unknown nats status";
  if (s == NATS_ERR && !detail.empty())
    reason = detail;
  else if (!detail.empty())
    reason += " (" + detail + ")";
  if (jerr == JSStreamNotFoundErr)
    return kv_error(Kind::not_found, Errc::unavailable, prefix + "the bucket does not exist (deleted?)");
  if (s == NATS_NO_RESPONDERS || jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr)
    return kv_error(Kind::unavailable, Errc::unavailable,
                    prefix + "no JetStream answered: JetStream is not enabled on the server, or not ready yet");
  if (jerr == JSClusterNotAvailErr)
    return kv_error(Kind::unavailable, Errc::unavailable,
                    prefix + "JetStream is temporarily unavailable (" + reason + ")");
  if (jerr == JSStreamMessageExceedsMaximumErr)
    return kv_error(Kind::invalid, Errc::too_large,
                    prefix + "the value exceeds the bucket's max_value_bytes (" + reason + ")");
  if (s == NATS_MAX_PAYLOAD)
    return kv_error(Kind::invalid, Errc::too_large,
                    prefix + "the value exceeds the server's max_payload of " +
                        std::to_string(natsConnection_GetMaxPayload(st.nc)) + " bytes");
  if (s == NATS_TIMEOUT)
    return kv_error(Kind::unavailable, Errc::timeout,
                    prefix + "no answer from JetStream within " + std::to_string(st.options.timeout.count()) + " ms");
  switch (detail::errc_for(s)) {
    case Errc::unavailable:
      return kv_error(Kind::unavailable, Errc::unavailable, prefix + reason);
    case Errc::invalid_request:
      return kv_error(Kind::invalid, Errc::invalid_request, prefix + reason);
    case Errc::too_large:
      return kv_error(Kind::invalid, Errc::too_large, prefix + reason);
    default:
      return kv_error(Kind::other, Errc::internal, prefix + reason);
  }
}

// A failure that may mean the bucket is gone (an operator deleted it): JetStream then answers a
// direct get with silence (a timeout), a write with no responders, a watch with "no stream
// matches subject". Asks the server whether the bucket exists, and says so if it does not.
KvError or_missing(const KvState& st, std::string_view what, KvError e) {
  if (e.kind != Kind::unavailable && e.kind != Kind::other) return e;
  if (!st.conn->connected()) return e;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::clamp<std::int64_t>(st.options.timeout.count(), 1, 2000);
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, st.js, st.stream.c_str(), &jo, &jerr);
  jsStreamInfo_Destroy(si);
  if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
    return kv_error(Kind::not_found, Errc::unavailable,
                    "bucket " + st.bucket() + ": " + std::string(what) + ": the bucket does not exist (deleted?)");
  return e;
}

bool valid_bucket(std::string_view b) {
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// nats.c's key rules (letters, digits, - _ / \ =, '.' between non-empty tokens); with
// `wildcards`, a token may also be "*", and the last one ">".
bool valid_key(std::string_view key, bool wildcards) {
  if (key.empty()) return false;
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = key.find('.', start);
    std::string_view token = key.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) return false;
    bool last = dot == std::string_view::npos;
    if (wildcards && (token == "*" || (token == ">" && last))) {
      // ok
    } else if (!std::all_of(token.begin(), token.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/' || c == '\\' ||
                        c == '=';
               })) {
      return false;
    }
    if (last) return true;
    start = dot + 1;
  }
}

KvError bad_key(const KvState& st, std::string_view what, const std::string& key) {
  return kv_error(Kind::invalid, Errc::invalid_request,
                  "bucket " + st.bucket() + ": " + std::string(what) + ": invalid key '" + key +
                      "' (allowed: letters, digits, - _ / \\ = and '.' between non-empty tokens)");
}

// Refuses what cannot work: a call on a nats.c thread, or while disconnected (nats.c would
// otherwise buffer the request and wait out the whole timeout).
std::optional<KvError> precheck(const KvState& st, std::string_view what) {
  if (detail::in_nats_callback())
    return kv_error(Kind::invalid, Errc::internal,
                    "bucket " + st.bucket() + ": " + std::string(what) +
                        ": KeyValue calls block and must not be made on a nats.c callback thread; hand the work to "
                        "another thread");
  if (!st.conn->connected())
    return kv_error(Kind::unavailable, Errc::unavailable,
                    "bucket " + st.bucket() + ": " + std::string(what) + ": not connected to NATS");
  return std::nullopt;
}

KvEntry to_entry(kvEntry* e) {
  KvEntry out;
  const char* key = kvEntry_Key(e);
  out.key = key ? key : "";
  const void* data = kvEntry_Value(e);
  int len = kvEntry_ValueLen(e);
  if (data && len > 0) out.value.assign(static_cast<const char*>(data), static_cast<std::size_t>(len));
  out.revision = kvEntry_Revision(e);
  switch (kvEntry_Operation(e)) {
    case kvOp_Delete:
      out.op = KvEntry::Op::del;
      break;
    case kvOp_Purge:
      out.op = KvEntry::Op::purge;
      break;
    default:
      out.op = KvEntry::Op::put;
      break;
  }
  out.created = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(kvEntry_Created(e))));
  return out;
}

// One JetStream publish to the key's subject, with the server's answer kept.
struct Published {
  natsStatus s = NATS_OK;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  std::uint64_t revision = 0;
  std::string detail;
  bool ok() const { return s == NATS_OK; }
  bool conflict() const { return jerr == JSStreamWrongLastSequenceErr; }
};

enum class Expect { nothing, no_message, revision };

Published publish(const KvState& st, const std::string& key, std::string_view data, bool del, Expect expect,
                  std::uint64_t revision = 0) {
  Published out;
  std::string subject = st.prefix + key;
  natsMsg* msg = nullptr;
  out.s = natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  if (out.s == NATS_OK && del) out.s = natsMsgHeader_Set(msg, kOpHeader, "DEL");
  if (out.s == NATS_OK) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = std::max<std::int64_t>(1, st.options.timeout.count());
    if (expect == Expect::no_message) po.ExpectNoMessage = true;
    if (expect == Expect::revision) po.ExpectLastSubjectSeq = revision;
    jsPubAck* ack = nullptr;
    out.s = js_PublishMsg(&ack, st.js, msg, &po, &out.jerr);
    if (out.s == NATS_OK && ack) out.revision = ack->Sequence;
    jsPubAck_Destroy(ack);
  }
  if (out.s != NATS_OK) out.detail = last_detail(out.s);
  natsMsg_Destroy(msg);
  return out;
}

// The revision of the key's latest write if that is a delete or purge marker; nullopt if the
// key has a value, or on any failure (the caller's conflict stands then).
std::optional<std::uint64_t> marker_revision(const KvState& st, const std::string& key) {
  std::string subject = st.prefix + key;
  natsMsg* msg = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&msg, st.js, st.stream.c_str(), subject.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return std::nullopt;
  std::optional<std::uint64_t> out;
  const char* op = nullptr;
  if (natsMsgHeader_Get(msg, kOpHeader, &op) == NATS_OK && op &&
      (std::strcmp(op, "DEL") == 0 || std::strcmp(op, "PURGE") == 0))
    out = natsMsg_GetSequence(msg);
  natsMsg_Destroy(msg);
  return out;
}

std::optional<KvError> check_value(const KvState& st, std::string_view what, std::string_view value) {
  if (st.options.max_value_bytes > 0 && static_cast<std::int64_t>(value.size()) > st.options.max_value_bytes)
    return kv_error(Kind::invalid, Errc::too_large,
                    "bucket " + st.bucket() + ": " + std::string(what) + ": a value of " + std::to_string(value.size()) +
                        " bytes exceeds the bucket's max_value_bytes of " + std::to_string(st.options.max_value_bytes));
  if (value.size() > static_cast<std::size_t>(INT_MAX) ||
      static_cast<std::int64_t>(value.size()) > natsConnection_GetMaxPayload(st.nc))
    return kv_error(Kind::invalid, Errc::too_large,
                    "bucket " + st.bucket() + ": " + std::string(what) + ": a value of " + std::to_string(value.size()) +
                        " bytes exceeds the server's max_payload of " +
                        std::to_string(natsConnection_GetMaxPayload(st.nc)) + " bytes");
  return std::nullopt;
}

std::string quoted(const std::string& key) { return "'" + key + "'"; }

std::string revision_text(std::uint64_t current) {
  return current == 0 ? "the key does not exist" : "the key is at revision " + std::to_string(current);
}

// Logs how an existing bucket differs from what this node asked for.
void warn_if_different(const KvState& st) {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&si, st.js, st.stream.c_str(), nullptr, &jerr) != NATS_OK || !si || !si->Config) {
    jsStreamInfo_Destroy(si);
    spdlog::debug("[kv {}] cannot read the bucket's settings to compare them", st.bucket());
    return;
  }
  const jsStreamConfig& c = *si->Config;
  const KvOptions& o = st.options;
  std::string diff;
  auto note = [&](const char* name, std::string have, std::string want) {
    (diff.empty() ? diff : diff += ", ") += std::string(name) + " " + have + " (asked for " + want + ")";
  };
  if (c.MaxMsgsPerSubject != o.history) note("history", std::to_string(c.MaxMsgsPerSubject), std::to_string(o.history));
  std::int64_t want_ttl_ns = static_cast<std::int64_t>(o.ttl.count()) * 1'000'000;
  if (c.MaxAge != want_ttl_ns)
    note("ttl", std::to_string(c.MaxAge / 1'000'000) + " ms", std::to_string(o.ttl.count()) + " ms");
  if (c.Replicas != o.replicas) note("replicas", std::to_string(c.Replicas), std::to_string(o.replicas));
  std::int64_t have_max = c.MaxMsgSize <= 0 ? -1 : std::max<std::int64_t>(1, c.MaxMsgSize - kHeaderAllowance);
  std::int64_t want_max = o.max_value_bytes <= 0 ? -1 : o.max_value_bytes;
  if (have_max != want_max) note("max_value_bytes", std::to_string(have_max), std::to_string(want_max));
  jsStreamInfo_Destroy(si);
  if (!diff.empty())
    spdlog::warn("[kv {}] the bucket exists with other settings: {}; using it as is", st.bucket(), diff);
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
      kvWatcher* w = nullptr;
      natsStatus s = kvStore_Watch(&w, st.kv, ws.pattern.c_str(), nullptr);
      if (s != NATS_OK) {
        std::string what = "watch '" + ws.pattern + "'";
        KvError e = or_missing(st, what, failure(st, what, s, static_cast<jsErrCode>(0), last_detail(s)));
        if (failures++ == 0)
          spdlog::warn("[kv {}] cannot re-create the watch (retrying): {}", st.bucket(), e.message);
        else
          spdlog::debug("[kv {}] still cannot re-create the watch: {}", st.bucket(), e.message);
        if (!pause(ws, retry)) break;
        retry = std::min(retry * 2, kRetryMax);
        continue;
      }
      if (!install(ws, w)) break;
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
        KvEntry entry = to_entry(e);
        kvEntry_Destroy(e);
        if (ws.on_entry) guarded(ws, "on_entry", [&] { ws.on_entry(entry); });
      }
    } else if (s == NATS_TIMEOUT) {
      // Nothing new; see below whether the connection came back since the watcher was made.
    } else if (ws.stop_flag) {
      break;  // NATS_ILLEGAL_STATE: stop() stopped the watcher
    } else {
      spdlog::warn("[kv {}] watch '{}' broke ({}{}{}); re-creating it", st.bucket(), ws.pattern,
                   natsStatus_GetText(s), last_detail(s).empty() ? "" : ": ", last_detail(s));
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

// ---- KeyValue -----------------------------------------------------------------------------

KeyValue::KeyValue(Key, std::shared_ptr<detail::KvState> state) : state_(std::move(state)) {}

KeyValue::~KeyValue() = default;

const std::string& KeyValue::bucket() const { return state_->bucket(); }

KvResult<std::unique_ptr<KeyValue>> KeyValue::open(Connection& conn, KvOptions options) {
  auto st = std::make_shared<KvState>();
  st->conn = conn.shared_from_this();
  st->nc = detail::ConnectionAccess::raw(conn);
  st->options = std::move(options);
  const KvOptions& o = st->options;
  auto invalid = [&](std::string why) {
    return kv_error(Kind::invalid, Errc::invalid_request, "bucket " + o.bucket + ": cannot open: " + why);
  };
  if (!valid_bucket(o.bucket))
    return kv_error(Kind::invalid, Errc::invalid_request,
                    "invalid bucket name '" + o.bucket + "' (allowed: letters, digits, '-' and '_')");
  if (o.history < 1 || o.history > kMaxHistory)
    return invalid("history must be 1.." + std::to_string(kMaxHistory) + ", not " + std::to_string(o.history));
  if (o.replicas < 1 || o.replicas > 5) return invalid("replicas must be 1..5, not " + std::to_string(o.replicas));
  if (o.ttl.count() < 0) return invalid("ttl must not be negative");
  if (o.max_value_bytes == 0 || o.max_value_bytes < -1 || o.max_value_bytes > INT32_MAX - kHeaderAllowance)
    return invalid("max_value_bytes must be -1 (no limit) or 1.." + std::to_string(INT32_MAX - kHeaderAllowance));
  if (o.timeout.count() <= 0) return invalid("timeout must be positive");
  st->stream = "KV_" + o.bucket;
  st->prefix = "$KV." + o.bucket + ".";
  if (auto e = precheck(*st, "cannot open")) return *e;

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = o.timeout.count();
  if (natsStatus s = natsConnection_JetStream(&st->js, st->nc, &jo); s != NATS_OK)
    return failure(*st, "cannot open", s, static_cast<jsErrCode>(0), last_detail(s));

  natsStatus s = js_KeyValue(&st->kv, st->js, o.bucket.c_str());
  if (s == NATS_NOT_FOUND) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = o.bucket.c_str();
    cfg.History = static_cast<uint8_t>(o.history);
    cfg.TTL = static_cast<int64_t>(o.ttl.count()) * 1'000'000;  // nanoseconds
    cfg.MaxValueSize = o.max_value_bytes > 0 ? static_cast<int32_t>(o.max_value_bytes + kHeaderAllowance) : -1;
    cfg.Replicas = o.replicas;
    cfg.StorageType = js_FileStorage;
    s = js_CreateKeyValue(&st->kv, st->js, &cfg);
    if (s == NATS_OK) {
      spdlog::info("[kv {}] created the bucket (history {}, ttl {} ms, replicas {})", o.bucket, o.history,
                   o.ttl.count(), o.replicas);
      return std::make_unique<KeyValue>(Key{}, std::move(st));
    }
    KvError create_failed = failure(*st, "cannot create the bucket", s, static_cast<jsErrCode>(0), last_detail(s));
    if (s == NATS_ERR) {  // the server refused these settings (e.g. replicas > 1 without a cluster)
      create_failed.kind = Kind::invalid;
      create_failed.code = Errc::invalid_request;
    }
    // Another node may have created it in the meantime, with other settings: use theirs.
    if (js_KeyValue(&st->kv, st->js, o.bucket.c_str()) != NATS_OK) return create_failed;
    s = NATS_OK;
  }
  if (s != NATS_OK) return failure(*st, "cannot open", s, static_cast<jsErrCode>(0), last_detail(s));
  warn_if_different(*st);
  spdlog::debug("[kv {}] bound to the existing bucket", o.bucket);
  return std::make_unique<KeyValue>(Key{}, std::move(st));
}

KvResult<std::optional<KvEntry>> KeyValue::get(const std::string& key) {
  const KvState& st = *state_;
  std::string what = "get " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what)) return *e;
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, st.kv, key.c_str());
  if (s == NATS_NOT_FOUND) return std::optional<KvEntry>();
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s, static_cast<jsErrCode>(0), last_detail(s)));
  KvEntry entry = to_entry(e);
  kvEntry_Destroy(e);
  return std::optional<KvEntry>(std::move(entry));
}

KvResult<std::uint64_t> KeyValue::put(const std::string& key, std::string_view value) {
  const KvState& st = *state_;
  std::string what = "put " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what)) return *e;
  if (auto e = check_value(st, what, value)) return *e;
  Published p = publish(st, key, value, false, Expect::nothing);
  if (!p.ok()) return or_missing(st, what, failure(st, what, p.s, p.jerr, p.detail));
  return p.revision;
}

KvResult<std::uint64_t> KeyValue::create(const std::string& key, std::string_view value) {
  const KvState& st = *state_;
  std::string what = "create " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what)) return *e;
  if (auto e = check_value(st, what, value)) return *e;
  Published p = publish(st, key, value, false, Expect::no_message);
  // A delete or purge marker is the key's latest write when it was deleted: it counts as absent,
  // so write over it if nobody else does first (as kvStore_Create does).
  for (int attempt = 0; attempt < 3 && p.conflict(); ++attempt) {
    std::optional<std::uint64_t> marker = marker_revision(st, key);
    if (!marker) break;
    p = publish(st, key, value, false, Expect::revision, *marker);
  }
  if (p.ok()) return p.revision;
  if (p.conflict()) {
    std::uint64_t current = trailing_number(p.detail);
    std::string at = current ? " (revision " + std::to_string(current) + ")" : "";
    return kv_error(Kind::conflict, Errc::invalid_request,
                    "bucket " + st.bucket() + ": key " + quoted(key) + " already exists" + at, current);
  }
  return or_missing(st, what, failure(st, what, p.s, p.jerr, p.detail));
}

KvResult<std::uint64_t> KeyValue::update(const std::string& key, std::string_view value, std::uint64_t last_revision) {
  const KvState& st = *state_;
  std::string what = "update " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what)) return *e;
  if (auto e = check_value(st, what, value)) return *e;
  Published p = publish(st, key, value, false, last_revision == 0 ? Expect::no_message : Expect::revision,
                        last_revision);
  if (p.ok()) return p.revision;
  if (p.conflict()) {
    std::uint64_t current = trailing_number(p.detail);
    return kv_error(Kind::conflict, Errc::invalid_request,
                    "bucket " + st.bucket() + ": wrong last revision for key " + quoted(key) + ": expected " +
                        std::to_string(last_revision) + " (" + revision_text(current) + ")",
                    current);
  }
  return or_missing(st, what, failure(st, what, p.s, p.jerr, p.detail));
}

std::optional<KvError> KeyValue::erase(const std::string& key) {
  const KvState& st = *state_;
  std::string what = "delete " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what)) return e;
  Published p = publish(st, key, {}, true, Expect::nothing);
  if (!p.ok()) return or_missing(st, what, failure(st, what, p.s, p.jerr, p.detail));
  return std::nullopt;
}

std::optional<KvError> KeyValue::erase_if(const std::string& key, std::uint64_t last_revision) {
  const KvState& st = *state_;
  std::string what = "delete " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (last_revision == 0)
    return kv_error(Kind::invalid, Errc::invalid_request,
                    "bucket " + st.bucket() + ": " + what + ": a conditional delete needs the revision to expect (> 0)");
  if (auto e = precheck(st, what)) return e;
  Published p = publish(st, key, {}, true, Expect::revision, last_revision);
  if (p.ok()) return std::nullopt;
  if (p.conflict()) {
    std::uint64_t current = trailing_number(p.detail);
    return kv_error(Kind::conflict, Errc::invalid_request,
                    "bucket " + st.bucket() + ": cannot delete: wrong last revision for key " + quoted(key) +
                        ": expected " + std::to_string(last_revision) + " (" + revision_text(current) + ")",
                    current);
  }
  return or_missing(st, what, failure(st, what, p.s, p.jerr, p.detail));
}

KvResult<std::vector<std::string>> KeyValue::keys() {
  const KvState& st = *state_;
  const std::string what = "list keys";
  if (auto e = precheck(st, what)) return *e;
  // Not kvStore_Keys: in nats.c 3.4.1 it subtracts the time elapsed since the start once per key
  // from its deadline (so a big bucket "times out" early), and without a timeout it can block
  // for ever. The same watcher, with a deadline of our own.
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.IgnoreDeletes = true;
  wo.MetaOnly = true;
  kvWatcher* w = nullptr;
  natsStatus s = kvStore_Watch(&w, st.kv, ">", &wo);
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s, static_cast<jsErrCode>(0), last_detail(s)));
  std::set<std::string> keys;
  auto deadline = Clock::now() + st.options.timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      s = NATS_TIMEOUT;
      break;
    }
    kvEntry* e = nullptr;
    s = kvWatcher_Next(&e, w, left);
    if (s != NATS_OK) break;
    if (e == nullptr) break;  // every current key seen
    if (const char* k = kvEntry_Key(e)) keys.insert(k);
    kvEntry_Destroy(e);
  }
  std::string detail = s == NATS_OK ? std::string() : last_detail(s);
  kvWatcher_Destroy(w);
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s, static_cast<jsErrCode>(0), detail));
  return std::vector<std::string>(keys.begin(), keys.end());
}

KvResult<std::unique_ptr<KvWatch>> KeyValue::watch(const std::string& pattern,
                                                   std::function<void(const KvEntry&)> on_entry,
                                                   std::function<void()> on_initial_done) {
  const KvState& st = *state_;
  std::string what = "watch '" + pattern + "'";
  if (!valid_key(pattern, true))
    return kv_error(Kind::invalid, Errc::invalid_request,
                    "bucket " + st.bucket() + ": " + what +
                        ": invalid pattern (a key whose tokens may be '*', and the last one '>')");
  if (auto e = precheck(st, what)) return *e;

  auto ws = std::make_shared<KvWatchState>();
  ws->kv = state_;
  ws->pattern = pattern;
  ws->on_entry = std::move(on_entry);
  ws->on_initial_done = std::move(on_initial_done);
  std::uint64_t reconnects = reconnect_count(*st.conn);
  kvWatcher* w = nullptr;
  natsStatus s = kvStore_Watch(&w, st.kv, pattern.c_str(), nullptr);
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s, static_cast<jsErrCode>(0), last_detail(s)));
  ws->watcher = w;
  try {
    ws->thread = std::thread(run_watch, ws, reconnects);
  } catch (const std::system_error& e) {
    uninstall(*ws);
    return kv_error(Kind::other, Errc::internal,
                    "bucket " + st.bucket() + ": " + what + ": cannot start a thread: " + e.what());
  }
  return std::make_unique<KvWatch>(KvWatch::Key{}, std::move(ws));
}

}  // namespace mcpd::bus
