// Private to the KV part of lib/bus (kv.cpp: bucket operations, kv_watch.cpp: watches): the
// state a KeyValue and its watches share, and the nats.c helpers both need — a nats.c failure as
// a KvError, the checks every call makes first, and kvEntry to KvEntry. Defined in
// kv_internal.cpp.
#pragma once

#include "bus/kv.hpp"
#include "bus/nats_internal.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::bus::detail {

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

KvError kv_error(KvError::Kind kind, Errc code, std::string message, std::uint64_t current_revision = 0);
// "bucket B: <what>: <text>".
KvError kv_error(const KvState& st, std::string_view what, KvError::Kind kind, Errc code, std::string_view text);

// nats.c's thread-local detail for `s`, without its "(file.c:line): " prefix; empty if it adds
// nothing to the status text. Call right after the failing call, on its thread.
std::string last_detail(natsStatus s);

// A nats.c failure as a KvError: "bucket B: <what>: <reason>".
KvError failure(const KvState& st, std::string_view what, natsStatus s, jsErrCode jerr, const std::string& detail);
// The same for a call that gives no JetStream error code; takes last_detail(s), so call it right
// after the failing call, on its thread.
KvError failure(const KvState& st, std::string_view what, natsStatus s);

// A failure that may mean the bucket is gone (an operator deleted it): asks the server whether
// the bucket exists, and says so if it does not; else `e` as is.
KvError or_missing(const KvState& st, std::string_view what, KvError e);

// nats.c's key rules (letters, digits, - _ / \ =, '.' between non-empty tokens); with
// `wildcards`, a token may also be "*", and the last one ">".
bool valid_key(std::string_view key, bool wildcards);

// Refuses what cannot work: a call on a nats.c thread, or while disconnected.
KvStatus precheck(const KvState& st, std::string_view what);

KvEntry to_entry(kvEntry* e);

}  // namespace mcpd::bus::detail
