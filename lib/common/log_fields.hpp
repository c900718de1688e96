// Fields a log line carries besides its message, for structured logs ([log] format = "json"
// writes them as members; text appends them as key=value): the server, tool, request_id,
// session, outcome code and duration of the call a line is about. A LogScope sets them for the
// lines logged on its thread while it lives; the daemon's formatter reads them. Nothing here
// depends on a logging library.
#pragma once

#include <string_view>
#include <utility>

namespace mcpd {

struct LogFields {
  std::string_view server, tool, request_id, session, code, trace_id;
  double duration_ms = -1;  // < 0: none
};

// Calls visit(key, value) for each text field of `f` that is set, in one order for every
// formatter (duration_ms, a number, is the caller's to write).
template <typename Visit>
void for_each_text_field(const LogFields& f, Visit&& visit) {
  const std::pair<std::string_view, std::string_view> fields[] = {
      {"tool", f.tool}, {"request_id", f.request_id}, {"session", f.session}, {"code", f.code}, {"trace_id", f.trace_id}};
  for (const auto& [key, value] : fields)
    if (!value.empty()) visit(key, value);
}

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
