// Engine: the tasks this node runs, and how each one runs.
//
//  - Native: the server declares tasks for tools/call and the tool's taskSupport allows one.
//    The call goes out with params.task; the server answers with its own task at once, which
//    is polled (tasks/get) at the server's pollInterval on the very session that created it.
//    Once it is final its result is fetched (tasks/result) and handed over at once (servers
//    forget results on their own schedule). A task that needs input (input_required) gets
//    tasks/result sent early: that is where the server delivers its request (an
//    elicitation/create tied to the task), which waits for input() and is answered with it.
//  - Emulated: any other tool. A plain tools/call in the background with the task's TTL as its
//    deadline; progress notifications become status messages.
//
// Cancel sends tasks/cancel to a native task's server and notifications/cancelled for an
// emulated call. Every run ends with exactly one Events::done.
//
// Thread-safe. Events run on session strands or the run's own strand: they must not block.
#pragma once

#include "common/error.hpp"
#include "io/loop.hpp"
#include "pool/session_pool.hpp"
#include "tasks/task.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mcpd::tasks {

struct RunEvents {
  // A new status or status message while the task runs (working or input_required); the
  // server's poll interval when it says one.
  std::function<void(TaskStatus status, const std::string& message, std::int64_t poll_interval_ms)> status;
  // A progress notification's params ({progress, total?, message?}).
  std::function<void(const Json& progress)> progress;
  // The server asks for input: {method, params} (answer with Engine::input).
  std::function<void(const Json& request)> input_request;
  // The end: the tool's CallToolResult, or why there is none (cancelled, timeout, ...).
  std::function<void(Result<pool::CallResult> outcome)> done;
};

struct RunSpec {
  std::string id;  // mcpd's task id
  std::shared_ptr<pool::SessionPool> pool;
  pool::CallRequest call;                   // tool, arguments, session_id
  bool native = false;
  std::chrono::milliseconds deadline{0};    // from now: the task's TTL, or a synchronous call's timeout
  std::int64_t ttl_ms = 0;                  // asked of a native server
};

class Engine {
 public:
  explicit Engine(io::Loop& loop);
  ~Engine();

  void start(RunSpec spec, RunEvents events);
  // False if the task does not run here (any more).
  bool cancel(const std::string& id, const std::string& reason);
  // Answers the server's pending request of task `id` with `response`.
  Status input(const std::string& id, const Json& response);
  // The ids running here (for lease renewal).
  std::vector<std::string> running() const;
  std::size_t size() const;
  // Cancels every run (shutdown) and waits up to `wait` for them to end: after that no event
  // of theirs runs any more (the event loop must be running for them to end).
  void stop_all(const std::string& reason, std::chrono::milliseconds wait = std::chrono::milliseconds(0));

  struct Run;  // engine.cpp

 private:
  // Shared with the runs, which leave it when they end (possibly after the Engine is gone).
  struct Runs {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<Run>> by_id;
  };
  std::shared_ptr<Run> find(const std::string& id) const;

  io::Loop& loop_;
  std::shared_ptr<Runs> runs_ = std::make_shared<Runs>();
};

}  // namespace mcpd::tasks
