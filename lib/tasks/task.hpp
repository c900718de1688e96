// A task of the NATS contract 1.1: a tool call that runs in the background, owned by the
// caller that created it, kept (with its final reply) until its TTL passes. This is the record
// every node reads and writes through a TaskStore (store.hpp), and its two JSON forms: the
// stored one (everything) and the public one callers see ({"task": {...}}).
//
// Statuses, as in MCP: working → input_required ↔ working → completed | failed | cancelled.
// The final reply is exactly what mcp.<server>.execute would have answered (body, and the
// error it reports if it is an error reply).
#pragma once

#include "common/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::tasks {

using Json = nlohmann::json;

enum class TaskStatus { working, input_required, completed, failed, cancelled };
std::string_view to_string(TaskStatus s);
std::optional<TaskStatus> status_from(std::string_view s);
inline bool is_terminal(TaskStatus s) { return s == TaskStatus::completed || s == TaskStatus::failed || s == TaskStatus::cancelled; }

// Milliseconds since the Unix epoch, the clock every node agrees on (roughly).
std::int64_t now_ms();
// "2026-12-02T17:05:16.123Z"
std::string iso8601(std::int64_t ms);

// 128 random bits from the OS, as 32 lowercase hex digits.
std::string new_task_id();
// A task id as callers must send it (what new_task_id() makes): anything else is not a task.
bool valid_task_id(std::string_view id);

struct StoredReply {
  std::string body;             // the JSON body execute would have sent
  std::optional<Error> error;   // set when it is an error reply (for its Nats-Service-Error headers)
};

struct Task {
  std::string id;
  std::string owner;                 // empty: anonymous (reachable by id alone, never listed)
  std::string server, tool;
  TaskStatus status = TaskStatus::working;
  std::string status_message;
  std::int64_t created_at_ms = 0, updated_at_ms = 0;
  std::int64_t ttl_ms = 0;           // counted from creation; the task is removed after it
  std::int64_t poll_interval_ms = 1000;
  std::string node;                  // the node running it
  std::int64_t lease_until_ms = 0;   // the running node renews this while the task is not final
  bool native = false;               // the MCP server runs it as a task of its own
  Json input_request;                // input_required: the server's request {method, params}
  std::optional<StoredReply> reply;  // once final
  std::string status_subject;        // the caller's extra subject for status events, if any

  bool expired(std::int64_t now) const { return now >= created_at_ms + ttl_ms; }
  bool lease_lost(std::int64_t now) const { return !is_terminal(status) && lease_until_ms > 0 && now > lease_until_ms; }
};

// Everything, for the store.
Json to_stored(const Task& t);
Result<Task> from_stored(std::string_view text);

// What a caller sees: {task_id, status, status_message?, created_at, updated_at, ttl_ms,
// poll_interval_ms, server, tool, input_request?}.
Json to_public(const Task& t);

}  // namespace mcpd::tasks
