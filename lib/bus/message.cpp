// Message accessors and the small nats.c helpers shared by the bus's translation units.
#include "bus/message.hpp"

#include "bus/nats_internal.hpp"

#include <cstdlib>
#include <string>

namespace mcpd::bus {

Message& Message::operator=(Message&& other) noexcept {
  if (this != &other) {
    if (msg_) natsMsg_Destroy(msg_);
    msg_ = std::exchange(other.msg_, nullptr);
  }
  return *this;
}

Message::~Message() {
  if (msg_) natsMsg_Destroy(msg_);
}

namespace {
std::string_view view(const char* s) { return s ? std::string_view(s) : std::string_view(); }
}  // namespace

std::string_view Message::subject() const { return msg_ ? view(natsMsg_GetSubject(msg_)) : std::string_view(); }

std::string_view Message::reply() const { return msg_ ? view(natsMsg_GetReply(msg_)) : std::string_view(); }

std::string_view Message::data() const {
  if (!msg_) return {};
  const char* d = natsMsg_GetData(msg_);
  int n = natsMsg_GetDataLength(msg_);
  return d && n > 0 ? std::string_view(d, static_cast<std::size_t>(n)) : std::string_view();
}

std::optional<std::string> Message::header(std::string_view key) const {
  if (!msg_) return std::nullopt;
  const char* value = nullptr;
  // nats.c parses headers lazily and so takes a non-const message; the message is ours.
  natsStatus s = natsMsgHeader_Get(msg_, std::string(key).c_str(), &value);
  if (s != NATS_OK || value == nullptr) return std::nullopt;
  return std::string(value);
}

Headers Message::headers() const {
  Headers out;
  if (!msg_) return out;
  const char** keys = nullptr;
  int nkeys = 0;
  if (natsMsgHeader_Keys(msg_, &keys, &nkeys) != NATS_OK) return out;
  for (int i = 0; i < nkeys; ++i) {
    const char** values = nullptr;
    int nvalues = 0;
    if (natsMsgHeader_Values(msg_, keys[i], &values, &nvalues) != NATS_OK) continue;
    for (int j = 0; j < nvalues; ++j) out.emplace_back(keys[i], values[j]);
    std::free(static_cast<void*>(values));  // the arrays are ours, the strings nats.c's
  }
  std::free(static_cast<void*>(keys));
  return out;
}

bool is_publish_subject(std::string_view subject) {
  if (subject.empty() || subject.size() > kMaxPublishSubjectBytes) return false;
  if (subject.front() == '.' || subject.back() == '.') return false;
  char previous = 0;
  for (char c : subject) {
    // Printable ASCII only: no space, no control character, nothing a header could not carry.
    if (c <= ' ' || c > '~' || c == '*' || c == '>') return false;
    if (c == '.' && previous == '.') return false;  // an empty token
    previous = c;
  }
  return true;
}

namespace detail {

Errc errc_for(natsStatus s) {
  switch (s) {
    case NATS_TIMEOUT:
      return Errc::timeout;
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
    case NATS_SSL_ERROR:
    case NATS_DRAINING:
    case NATS_NO_SERVER_SUPPORT:
      return Errc::unavailable;
    case NATS_MAX_PAYLOAD:
      return Errc::too_large;
    case NATS_INSUFFICIENT_BUFFER:  // the reconnect buffer is full
    case NATS_SLOW_CONSUMER:
      return Errc::overloaded;
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_ARG:
    case NATS_INVALID_QUEUE_NAME:
    case NATS_INVALID_TIMEOUT:
    case NATS_ADDRESS_MISSING:
      return Errc::invalid_request;
    default:
      return Errc::internal;
  }
}

Error status_error(natsStatus s, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  const char* text = natsStatus_GetText(s);
  msg += text ? text : "unknown nats status";
  natsStatus last = NATS_OK;
  const char* raw = nats_GetLastError(&last);
  std::string_view detail = raw && last == s ? raw : "";
  // nats.c prefixes its detail with "(file.c:line): ", which means nothing to an operator.
  if (!detail.empty() && detail.front() == '(') {
    if (auto end = detail.find("): "); end != std::string_view::npos) detail.remove_prefix(end + 3);
  }
  if (!detail.empty() && detail != std::string_view(text ? text : "")) (msg += " (") += std::string(detail) + ")";
  return make_error(errc_for(s), std::move(msg));
}

namespace {
thread_local int callback_depth = 0;
}  // namespace

bool in_nats_callback() { return callback_depth > 0; }
CallbackScope::CallbackScope() { ++callback_depth; }
CallbackScope::~CallbackScope() { --callback_depth; }

natsMsg* make_msg(const char* subject, const char* reply, std::string_view data, const Headers& headers,
                  natsStatus& err) {
  natsMsg* msg = nullptr;
  err = natsMsg_Create(&msg, subject, reply, data.data(), static_cast<int>(data.size()));
  for (const auto& [key, value] : headers) {
    if (err != NATS_OK) break;
    err = natsMsgHeader_Add(msg, key.c_str(), value.c_str());
  }
  if (err != NATS_OK) {
    natsMsg_Destroy(msg);  // accepts nullptr
    return nullptr;
  }
  return msg;
}

}  // namespace detail
}  // namespace mcpd::bus
