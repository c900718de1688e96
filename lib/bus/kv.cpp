// KeyValue: JetStream KV buckets over nats.c 3.4.1 (see kv.hpp for the contract). Opening a
// bucket and the single-key calls live here; watches are in kv_watch.cpp, the helpers both use
// in kv_internal.cpp.
//
// Reads (get, keys, watch) go through nats.c's kvStore. Writes are JetStream publishes made here
// with js_PublishMsg, as kvStore_Put/Update/Delete make them, because only js_PublishMsg hands
// back the server's JetStream error code: that is how a compare-and-set conflict (10071, wrong
// last sequence) is told apart from everything else, and how erase_if() (which nats.c 3.4.1
// lacks: no kvStore_DeleteEx) is done at all.
#include "bus/kv.hpp"

#include "bus/kv_internal.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cstring>
#include <set>

namespace mcpd::bus {

namespace {

using detail::failure;
using detail::kv_error;
using detail::KvState;
using detail::last_detail;
using detail::or_missing;
using detail::precheck;
using detail::valid_key;
using Kind = KvError::Kind;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMaxHistory = 64;  // nats.c's and the server's limit
constexpr const char* kOpHeader = "KV-Operation";
// The server's max message size counts the headers too: a compare-and-set write or a delete
// marker carries up to ~100 bytes of them ("KV-Operation: DEL", "Nats-Expected-Last-Subject-
// Sequence: <n>"). The bucket's limit is max_value_bytes plus this, and max_value_bytes itself is
// enforced here, so that a value of exactly max_value_bytes can be updated and deleted.
constexpr std::int64_t kHeaderAllowance = 256;

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

bool valid_bucket(std::string_view b) {
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

KvError bad_key(const KvState& st, std::string_view what, const std::string& key) {
  return kv_error(st, what, Kind::invalid, Errc::invalid_request,
                  "invalid key '" + key + "' (allowed: letters, digits, - _ / \\ = and '.' between non-empty tokens)");
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

// A failed publish (not a conflict) as a KvError.
KvError write_failure(const KvState& st, std::string_view what, const Published& p) {
  return or_missing(st, what, failure(st, what, p.s, p.jerr, p.detail));
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

KvStatus check_value(const KvState& st, std::string_view what, std::string_view value) {
  auto too_large = [&](const std::string& limit) {
    return kv_error(st, what, Kind::invalid, Errc::too_large,
                    "a value of " + std::to_string(value.size()) + " bytes exceeds " + limit);
  };
  if (st.options.max_value_bytes > 0 && static_cast<std::int64_t>(value.size()) > st.options.max_value_bytes)
    return too_large("the bucket's max_value_bytes of " + std::to_string(st.options.max_value_bytes));
  if (value.size() > static_cast<std::size_t>(INT_MAX) ||
      static_cast<std::int64_t>(value.size()) > natsConnection_GetMaxPayload(st.nc))
    return too_large("the server's max_payload of " + std::to_string(natsConnection_GetMaxPayload(st.nc)) + " bytes");
  return {};
}

std::string quoted(const std::string& key) { return "'" + key + "'"; }

// The conflict of a compare-and-set write or delete that expected `expected`:
// "bucket B: <lead>wrong last revision for key 'k': expected 5 (the key is at revision 7)".
KvError wrong_revision(const KvState& st, std::string_view lead, const std::string& key, std::uint64_t expected,
                       const Published& p) {
  std::uint64_t current = trailing_number(p.detail);
  std::string now = current == 0 ? "the key does not exist" : "the key is at revision " + std::to_string(current);
  return kv_error(Kind::conflict, Errc::invalid_request,
                  "bucket " + st.bucket() + ": " + std::string(lead) + "wrong last revision for key " + quoted(key) +
                      ": expected " + std::to_string(expected) + " (" + now + ")",
                  current);
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

}  // namespace

KeyValue::KeyValue(Key, std::shared_ptr<detail::KvState> state) : state_(std::move(state)) {}

KeyValue::~KeyValue() = default;

const std::string& KeyValue::bucket() const { return state_->bucket(); }

KvResult<std::unique_ptr<KeyValue>> KeyValue::open(Connection& conn, KvOptions options) {
  auto st = std::make_shared<KvState>();
  st->conn = conn.shared_from_this();
  st->nc = detail::ConnectionAccess::raw(conn);
  st->options = std::move(options);
  const KvOptions& o = st->options;
  const std::string what = "cannot open";
  auto invalid = [&](const std::string& why) { return kv_error(*st, what, Kind::invalid, Errc::invalid_request, why); };
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
  if (auto e = precheck(*st, what); !e.ok()) return e.error();

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = o.timeout.count();
  if (natsStatus s = natsConnection_JetStream(&st->js, st->nc, &jo); s != NATS_OK) return failure(*st, what, s);

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
    KvError create_failed = failure(*st, "cannot create the bucket", s);
    if (s == NATS_ERR) {  // the server refused these settings (e.g. replicas > 1 without a cluster)
      create_failed.kind = Kind::invalid;
      create_failed.code = Errc::invalid_request;
    }
    // Another node may have created it in the meantime, with other settings: use theirs.
    if (js_KeyValue(&st->kv, st->js, o.bucket.c_str()) != NATS_OK) return create_failed;
    s = NATS_OK;
  }
  if (s != NATS_OK) return failure(*st, what, s);
  warn_if_different(*st);
  spdlog::debug("[kv {}] bound to the existing bucket", o.bucket);
  return std::make_unique<KeyValue>(Key{}, std::move(st));
}

KvResult<std::optional<KvEntry>> KeyValue::get(const std::string& key) {
  const KvState& st = *state_;
  std::string what = "get " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what); !e.ok()) return e.error();
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, st.kv, key.c_str());
  if (s == NATS_NOT_FOUND) return std::optional<KvEntry>();
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s));
  KvEntry entry = detail::to_entry(e);
  kvEntry_Destroy(e);
  return std::optional<KvEntry>(std::move(entry));
}

KvResult<std::optional<KvEntry>> KeyValue::get_latest(const std::string& key) {
  const KvState& st = *state_;
  std::string what = "get " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what); !e.ok()) return e.error();
  const std::string subject = st.prefix + key;
  natsMsg* msg = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&msg, st.js, st.stream.c_str(), subject.c_str(), nullptr, &jerr);
  if (s == NATS_NOT_FOUND) return std::optional<KvEntry>();
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s, jerr, ""));
  KvEntry entry;
  entry.key = key;
  const char* op = nullptr;
  if (natsMsgHeader_Get(msg, kOpHeader, &op) == NATS_OK && op &&
      (std::strcmp(op, "DEL") == 0 || std::strcmp(op, "PURGE") == 0)) {
    natsMsg_Destroy(msg);
    return std::optional<KvEntry>();
  }
  if (const char* data = natsMsg_GetData(msg); data && natsMsg_GetDataLength(msg) > 0)
    entry.value.assign(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  entry.revision = natsMsg_GetSequence(msg);
  entry.created = std::chrono::system_clock::time_point(std::chrono::nanoseconds(natsMsg_GetTime(msg)));
  natsMsg_Destroy(msg);
  return std::optional<KvEntry>(std::move(entry));
}

KvResult<std::uint64_t> KeyValue::put(const std::string& key, std::string_view value) {
  const KvState& st = *state_;
  std::string what = "put " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what); !e.ok()) return e.error();
  if (auto e = check_value(st, what, value); !e.ok()) return e.error();
  Published p = publish(st, key, value, false, Expect::nothing);
  if (!p.ok()) return write_failure(st, what, p);
  return p.revision;
}

KvResult<std::uint64_t> KeyValue::create(const std::string& key, std::string_view value) {
  const KvState& st = *state_;
  std::string what = "create " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what); !e.ok()) return e.error();
  if (auto e = check_value(st, what, value); !e.ok()) return e.error();
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
  return write_failure(st, what, p);
}

KvResult<std::uint64_t> KeyValue::update(const std::string& key, std::string_view value, std::uint64_t last_revision) {
  const KvState& st = *state_;
  std::string what = "update " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what); !e.ok()) return e.error();
  if (auto e = check_value(st, what, value); !e.ok()) return e.error();
  Published p = publish(st, key, value, false, last_revision == 0 ? Expect::no_message : Expect::revision,
                        last_revision);
  if (p.ok()) return p.revision;
  if (p.conflict()) return wrong_revision(st, "", key, last_revision, p);
  return write_failure(st, what, p);
}

KvStatus KeyValue::erase(const std::string& key) {
  const KvState& st = *state_;
  std::string what = "delete " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (auto e = precheck(st, what); !e.ok()) return e;
  Published p = publish(st, key, {}, true, Expect::nothing);
  if (!p.ok()) return write_failure(st, what, p);
  return {};
}

KvStatus KeyValue::erase_if(const std::string& key, std::uint64_t last_revision) {
  const KvState& st = *state_;
  std::string what = "delete " + quoted(key);
  if (!valid_key(key, false)) return bad_key(st, what, key);
  if (last_revision == 0)
    return kv_error(st, what, Kind::invalid, Errc::invalid_request,
                    "a conditional delete needs the revision to expect (> 0)");
  if (auto e = precheck(st, what); !e.ok()) return e;
  Published p = publish(st, key, {}, true, Expect::revision, last_revision);
  if (p.ok()) return {};
  if (p.conflict()) return wrong_revision(st, "cannot delete: ", key, last_revision, p);
  return write_failure(st, what, p);
}

KvResult<std::vector<std::string>> KeyValue::keys() {
  const KvState& st = *state_;
  const std::string what = "list keys";
  if (auto e = precheck(st, what); !e.ok()) return e.error();
  // Not kvStore_Keys: in nats.c 3.4.1 it subtracts the time elapsed since the start once per key
  // from its deadline (so a big bucket "times out" early), and without a timeout it can block
  // for ever. The same watcher, with a deadline of our own.
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.IgnoreDeletes = true;
  wo.MetaOnly = true;
  kvWatcher* w = nullptr;
  natsStatus s = kvStore_Watch(&w, st.kv, ">", &wo);
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s));
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
  std::string detail = s == NATS_OK ? std::string() : last_detail(s);  // right after the failing call
  kvWatcher_Destroy(w);
  if (s != NATS_OK) return or_missing(st, what, failure(st, what, s, static_cast<jsErrCode>(0), detail));
  return std::vector<std::string>(keys.begin(), keys.end());
}

}  // namespace mcpd::bus
