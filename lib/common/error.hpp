// Error values that cross async boundaries: a machine-readable code and a message a person
// can act on. The codes are the ones mcpd promises on the wire (see proto-schemas/).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mcpd {

enum class Errc {
  invalid_request,  // the caller sent something we cannot accept
  unknown_tool,     // the server has no tool of that name
  tool_error,       // the tool ran and reported failure (isError: true)
  timeout,          // the deadline passed before an answer arrived
  cancelled,        // the call was cancelled (by the caller or by shutdown)
  unavailable,      // the server cannot be reached: not started, crashed, closed, circuit open
  overloaded,       // backpressure: every slot and the queue are full
  too_large,        // a payload over the configured limit
  forbidden,        // the node's [security] policy refuses it
  not_found,        // no such task (never created, expired, or another owner's)
  internal,         // a bug or a protocol violation by the server
};

constexpr std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::invalid_request: return "invalid_request";
    case Errc::unknown_tool: return "unknown_tool";
    case Errc::tool_error: return "tool_error";
    case Errc::timeout: return "timeout";
    case Errc::cancelled: return "cancelled";
    case Errc::unavailable: return "unavailable";
    case Errc::overloaded: return "overloaded";
    case Errc::too_large: return "too_large";
    case Errc::forbidden: return "forbidden";
    case Errc::not_found: return "not_found";
    case Errc::internal: return "internal";
  }
  return "internal";
}

struct Error {
  Errc code = Errc::internal;
  std::string message;
  int rpc_code = 0;  // the JSON-RPC error code when the peer answered with an error, else 0
};

// A value or an error: the one result shape of every fallible call in mcpd (a "not found"
// that is not a failure is a value, e.g. Result<std::optional<T>>). Small on purpose:
// std::expected arrives with C++23. E is Error or a type derived from it (bus::KvError keeps
// the kind of a key-value failure), so `return r.error();` propagates into any Result or Status.
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(E error) : v_(std::move(error)) {}           // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const E& error() const { return std::get<1>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, E> v_;
};

// "No value, maybe an error": what an action that can fail returns. Default-constructed it is
// OK; an error converts to it. Check ok() before reading error(). E as for Result.
template <typename E = Error>
class [[nodiscard]] BasicStatus {
 public:
  BasicStatus() = default;
  BasicStatus(E error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit by design
  bool ok() const { return !failed_; }
  const E& error() const { return error_; }

 private:
  E error_;
  bool failed_ = false;
};
using Status = BasicStatus<Error>;

inline Error make_error(Errc code, std::string message, int rpc_code = 0) {
  return Error{code, std::move(message), rpc_code};
}

}  // namespace mcpd
