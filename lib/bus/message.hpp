// A NATS message received from the bus: subject, reply subject, payload and headers, owning the
// underlying nats.c message so that a handler can keep it (or move it to another thread) for as
// long as it needs without copying the payload.
//
// Users of the bus never see nats.c: its handle types are only forward-declared here, spelled
// exactly as <nats/nats.h> does so that the two declarations agree.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern "C" {
typedef struct __natsMsg natsMsg;                    // NOLINT: nats.c's own spelling
typedef struct __natsSubscription natsSubscription;  // NOLINT
typedef struct __natsConnection natsConnection;      // NOLINT
}

namespace mcpd::bus {

// Headers to send with a message, in order. A key may repeat: each pair becomes one value.
using Headers = std::vector<std::pair<std::string, std::string>>;

// Header names the NATS service conventions use for errors (generic tooling reads them).
inline constexpr std::string_view kServiceErrorHeader = "Nats-Service-Error";
inline constexpr std::string_view kServiceErrorCodeHeader = "Nats-Service-Error-Code";

// The longest subject is_publish_subject() accepts. NATS itself has no fixed limit; inboxes
// are well under 100 bytes.
inline constexpr std::size_t kMaxPublishSubjectBytes = 512;

// True if a message can be published to `subject` as it is: at most kMaxPublishSubjectBytes,
// dot-separated tokens, none empty, of printable ASCII with no space and no wildcard ('*', '>').
// For a subject that arrived from the bus and will be published to (a reply subject in a header).
bool is_publish_subject(std::string_view subject);

namespace detail {
struct MessageAccess;
}

// Move-only; an empty (moved-from) message has empty fields. Not thread-safe: reading headers
// lets nats.c parse them lazily, so one message belongs to one thread at a time.
class Message {
 public:
  Message(Message&& other) noexcept : msg_(std::exchange(other.msg_, nullptr)) {}
  Message& operator=(Message&& other) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message();

  std::string_view subject() const;
  // Where an answer goes; empty for a plain publish. Copy it (std::string) to answer later.
  std::string_view reply() const;
  std::string_view data() const;
  // The first value of header `key` (case-sensitive, as nats.c 3.x is), if present.
  std::optional<std::string> header(std::string_view key) const;
  // Every header value, in the order the message carries them.
  Headers headers() const;
  bool empty() const { return msg_ == nullptr; }

 private:
  friend struct detail::MessageAccess;
  explicit Message(natsMsg* msg) : msg_(msg) {}
  natsMsg* msg_ = nullptr;
};

}  // namespace mcpd::bus
