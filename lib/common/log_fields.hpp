// Fields a log line carries besides its message, for structured logs ([log] format = "json"
// writes them as members; text appends them as key=value): the server, tool, request_id,
// session, outcome code and duration of the call a line is about. A LogScope sets them for the
// lines logged on its thread while it lives; the daemon's formatter reads them. Nothing here
// depends on a logging library.
#pragma once

#include <string_view>

namespace mcpd {

struct LogFields {
  std::string_view server, tool, request_id, session, code, trace_id;
  double duration_ms = -1;  // < 0: none
};

// The fields of the LogScope alive on this thread, if any.
inline const LogFields*& current_log_fields() {
  thread_local const LogFields* fields = nullptr;
  return fields;
}

// Lines logged on this thread while it lives carry `fields` (which must outlive it).
class LogScope {
 public:
  explicit LogScope(const LogFields& fields) : outer_(current_log_fields()) { current_log_fields() = &fields; }
  ~LogScope() { current_log_fields() = outer_; }
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

 private:
  const LogFields* outer_;
};

}  // namespace mcpd
