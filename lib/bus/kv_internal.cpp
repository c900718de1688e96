// The helpers kv.cpp and kv_watch.cpp share (see kv_internal.hpp): nats.c failures as KvErrors,
// the checks made before every call, and kvEntry to KvEntry.
#include "bus/kv_internal.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

namespace mcpd::bus::detail {

using Kind = KvError::Kind;

// What a JetStream "stream not found" means for a bucket.
constexpr const char* kNoBucket = "the bucket does not exist (deleted?)";

KvError kv_error(Kind kind, Errc code, std::string message, std::uint64_t current_revision) {
  KvError e;
  e.code = code;
  e.message = std::move(message);
  e.kind = kind;
  e.current_revision = current_revision;
  return e;
}

KvError kv_error(const KvState& st, std::string_view what, Kind kind, Errc code, std::string_view text) {
  // Counted once the bucket is open: the probe for JetStream at start (auto mode) is not a failure.
  if (kind != Kind::conflict && kind != Kind::not_found && st.conn && st.kv) ConnectionAccess::count_kv_error(*st.conn);
  return kv_error(kind, code, "bucket " + st.bucket() + ": " + std::string(what) + ": " + std::string(text));
}

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

KvError failure(const KvState& st, std::string_view what, natsStatus s, jsErrCode jerr, const std::string& detail) {
  auto fail = [&](Kind kind, Errc code, const std::string& text) { return kv_error(st, what, kind, code, text); };
  // NATS_ERR ("Error") carries the server's own words in the detail: say just those.
  std::string reason = natsStatus_GetText(s) ? natsStatus_GetText(s) : "unknown nats status";
  if (s == NATS_ERR && !detail.empty())
    reason = detail;
  else if (!detail.empty())
    reason += " (" + detail + ")";
  if (jerr == JSStreamNotFoundErr) return fail(Kind::not_found, Errc::unavailable, kNoBucket);
  if (s == NATS_NO_RESPONDERS || jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr)
    return fail(Kind::unavailable, Errc::unavailable,
                "no JetStream answered: JetStream is not enabled on the server, or not ready yet");
  if (jerr == JSClusterNotAvailErr)
    return fail(Kind::unavailable, Errc::unavailable, "JetStream is temporarily unavailable (" + reason + ")");
  if (jerr == JSStreamMessageExceedsMaximumErr)
    return fail(Kind::invalid, Errc::too_large, "the value exceeds the bucket's max_value_bytes (" + reason + ")");
  if (s == NATS_MAX_PAYLOAD)
    return fail(Kind::invalid, Errc::too_large,
                "the value exceeds the server's max_payload of " + std::to_string(natsConnection_GetMaxPayload(st.nc)) +
                    " bytes");
  if (s == NATS_TIMEOUT)
    return fail(Kind::unavailable, Errc::timeout,
                "no answer from JetStream within " + std::to_string(st.options.timeout.count()) + " ms");
  switch (errc_for(s)) {
    case Errc::unavailable:
      return fail(Kind::unavailable, Errc::unavailable, reason);
    case Errc::invalid_request:
      return fail(Kind::invalid, Errc::invalid_request, reason);
    case Errc::too_large:
      return fail(Kind::invalid, Errc::too_large, reason);
    default:
      return fail(Kind::other, Errc::internal, reason);
  }
}

KvError failure(const KvState& st, std::string_view what, natsStatus s) {
  std::string detail = last_detail(s);
  return failure(st, what, s, static_cast<jsErrCode>(0), detail);
}

// JetStream answers a direct get on a deleted bucket with silence (a timeout), a write with no
// responders, a watch with "no stream matches subject": none of them says "no such bucket".
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
    return kv_error(st, what, Kind::not_found, Errc::unavailable, kNoBucket);
  return e;
}

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

// Refused while disconnected because nats.c would otherwise buffer the request and wait out the
// whole timeout.
KvStatus precheck(const KvState& st, std::string_view what) {
  if (in_nats_callback())
    return kv_error(st, what, Kind::invalid, Errc::internal,
                    "KeyValue calls block and must not be made on a nats.c callback thread; hand the work to "
                    "another thread");
  if (!st.conn->connected()) return kv_error(st, what, Kind::unavailable, Errc::unavailable, "not connected to NATS");
  return {};
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

}  // namespace mcpd::bus::detail
