#include "tasks/engine.hpp"

#include "mcp/protocol.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace mcpd::tasks {

using namespace std::chrono_literals;

namespace {
// A native task's server is asked for its status at its pollInterval, within these bounds.
constexpr std::int64_t kMinPollMs = 100, kMaxPollMs = 30'000;
// tasks/get failing this many times in a row (timeouts) fails the task.
constexpr int kMaxPollFailures = 5;
constexpr auto kRequestTimeout = 10s;
// How long the server may take to create its task (the tools/call with params.task).
constexpr auto kCreateTimeout = 30s;
}  // namespace

struct Engine::Run : std::enable_shared_from_this<Engine::Run> {
  Run(io::Loop& loop, RunSpec s, RunEvents e, std::function<void()> end_hook)
      : strand(loop.make_strand()),
        poll_timer(strand),
        deadline_timer(strand),
        spec(std::move(s)),
        ev(std::move(e)),
        on_end(std::move(end_hook)) {}

  io::Strand strand;
  asio::steady_timer poll_timer, deadline_timer;
  RunSpec spec;
  RunEvents ev;
  std::function<void()> on_end;
  std::shared_ptr<pool::CallCancel> cancel_token = std::make_shared<pool::CallCancel>();

  // Native only, on the strand.
  std::shared_ptr<mcp::ClientSession> session;
  std::string upstream;  // the server's task id
  std::int64_t poll_ms = 1000;
  TaskStatus last_status = TaskStatus::working;
  std::string last_message;
  std::string last_updated_at;
  bool result_asked = false;
  int poll_failures = 0;
  bool ended = false;

  std::mutex mu;  // guards pending_respond (input() comes from other threads)
  std::function<void(Result<Json>)> pending_respond;

  std::string what() const { return "task " + spec.id + " (" + spec.pool->name() + "/" + spec.call.tool + ")"; }

  void begin() {
    auto self = shared_from_this();
    deadline_timer.expires_after(spec.deadline);
    deadline_timer.async_wait([self](const std::error_code& ec) {
      if (ec || self->ended) return;
      self->cancel_upstream();
      self->end(make_error(Errc::timeout, self->what() + " did not finish within " +
                                              std::to_string(self->spec.deadline.count()) + " ms"));
    });
    pool::CallRequest call = std::move(spec.call);
    spec.call.tool = call.tool;
    call.cancel = cancel_token;
    if (!spec.native) {
      call.timeout = spec.deadline;
      // From the session's strand: through the run's own, so that nothing is told after the end.
      call.on_progress = [self](const Json& p) {
        asio::post(self->strand, [self, p] {
          if (!self->ended && self->ev.progress) self->ev.progress(p);
        });
      };
      spec.pool->call(std::move(call), [self](Result<pool::CallResult> r) {
        asio::post(self->strand, [self, r = std::move(r)]() mutable { self->end(std::move(r)); });
      });
      return;
    }
    call.task = Json{{"ttl", spec.ttl_ms}};
    call.timeout = std::min<std::chrono::milliseconds>(spec.deadline, kCreateTimeout);
    spec.pool->call(std::move(call), [self](Result<pool::CallResult> r) {
      asio::post(self->strand, [self, r = std::move(r)]() mutable { self->created(std::move(r)); });
    });
  }

  void created(Result<pool::CallResult> r) {
    if (ended) return;
    if (!r.ok()) return end(std::move(r));
    const Json& res = r.value().result;
    auto task = res.find("task");
    if (task == res.end() || !task->is_object() || !task->contains("taskId") || !(*task)["taskId"].is_string()) {
      // The server ran it at once and answered with the result itself.
      return end(std::move(r));
    }
    upstream = (*task)["taskId"].get<std::string>();
    session = r.value().session;
    note(*task);
    std::weak_ptr<Run> weak = weak_from_this();
    if (session) {
      session->on_related_request(upstream, [weak](const std::string& method, const Json& params,
                                                   std::function<void(Result<Json>)> respond) {
        auto self = weak.lock();
        if (!self) return respond(make_error(Errc::cancelled, "the task is gone"));
        asio::post(self->strand, [self, method, params, respond = std::move(respond)]() mutable {
          if (self->ended) return respond(make_error(Errc::cancelled, "the task has ended"));
          {
            std::lock_guard lock(self->mu);
            self->pending_respond = std::move(respond);
          }
          Json p = params;
          if (p.is_object() && p.contains("_meta")) p.erase("_meta");
          if (self->ev.input_request) self->ev.input_request(Json{{"method", method}, {"params", std::move(p)}});
        });
      });
      // A server that says when its status changes is followed at once; polling stays as the
      // fallback for what a notification does not carry (and for servers that send none).
      session->on_task_status(upstream, [weak](const Json& task) {
        if (auto self = weak.lock())
          asio::post(self->strand, [self, task] {
            if (self->ended) return;
            self->note(task);
            self->after_status();
          });
      });
    }
    if (is_terminal(last_status)) return after_status();
    schedule_poll();
  }

  // Takes the status a server reports ({status, statusMessage, pollInterval}) and tells the
  // node about changes.
  void note(const Json& t) {
    // A status older than one already seen (a poll answered before a notification overtook it)
    // is not news. ISO 8601 times from the same server compare as text.
    if (auto at = t.find("lastUpdatedAt"); at != t.end() && at->is_string()) {
      if (!last_updated_at.empty() && at->get<std::string>() < last_updated_at) return;
      last_updated_at = at->get<std::string>();
    }
    if (auto pi = t.find("pollInterval"); pi != t.end() && pi->is_number_integer())
      poll_ms = std::clamp<std::int64_t>(pi->get<std::int64_t>(), kMinPollMs, kMaxPollMs);
    auto st = status_from(t.value("status", std::string("working")));
    if (!st) st = TaskStatus::working;
    std::string msg = t.contains("statusMessage") && t["statusMessage"].is_string() ? t["statusMessage"].get<std::string>() : "";
    if (*st == last_status && msg == last_message) return;
    last_status = *st;
    last_message = msg;
    if (!is_terminal(*st) && ev.status) ev.status(*st, msg, poll_ms);
  }

  void schedule_poll() {
    auto self = shared_from_this();
    poll_timer.expires_after(std::chrono::milliseconds(poll_ms));
    poll_timer.async_wait([self](const std::error_code& ec) {
      if (ec || self->ended) return;
      self->session->request("tasks/get", Json{{"taskId", self->upstream}}, kRequestTimeout, [self](Result<Json> r) {
        asio::post(self->strand, [self, r = std::move(r)]() mutable { self->polled(std::move(r)); });
      });
    });
  }

  void polled(Result<Json> r) {
    if (ended) return;
    if (!r.ok()) {
      const Error& e = r.error();
      if (e.rpc_code == -32602)
        return end(make_error(Errc::unavailable, what() + ": the server no longer knows its task " + upstream +
                                                     " (" + e.message + ")"));
      if (e.code != Errc::timeout || ++poll_failures >= kMaxPollFailures)
        return end(make_error(e.code == Errc::timeout ? Errc::unavailable : e.code,
                              what() + ": asking the server for its status failed: " + e.message));
      return schedule_poll();
    }
    poll_failures = 0;
    note(r.value());
    after_status();
  }

  void after_status() {
    if (last_status == TaskStatus::cancelled && !result_asked)
      return end(make_error(Errc::cancelled, what() + " was cancelled by the server" +
                                                 (last_message.empty() ? "" : ": " + last_message)));
    if ((is_terminal(last_status) || last_status == TaskStatus::input_required) && !result_asked) {
      // Final: fetch the result now. input_required: the server delivers its request while a
      // tasks/result is open, which then waits for the end of the task.
      result_asked = true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_timer.expiry() -
                                                                         std::chrono::steady_clock::now());
      auto self = shared_from_this();
      session->request("tasks/result", Json{{"taskId", upstream}}, std::max(left, std::chrono::milliseconds(1000)),
                       [self](Result<Json> r) {
                         asio::post(self->strand, [self, r = std::move(r)]() mutable { self->fetched(std::move(r)); });
                       });
    }
    if (!is_terminal(last_status)) schedule_poll();
  }

  void fetched(Result<Json> r) {
    if (ended) return;
    if (!r.ok()) {
      Error e = r.error();
      if (last_status == TaskStatus::cancelled || e.rpc_code != 0) e.message = what() + ": " + e.message;
      return end(std::move(e));
    }
    Json result = std::move(r).value();
    if (result.is_object() && result.contains("_meta") && result["_meta"].is_object()) {
      result["_meta"].erase(std::string(mcp::kRelatedTaskMeta));
      if (result["_meta"].empty()) result.erase("_meta");
    }
    end(pool::CallResult{std::move(result), false, session});
  }

  void cancel_upstream() {
    if (session && !upstream.empty())
      session->request("tasks/cancel", Json{{"taskId", upstream}}, kRequestTimeout, [](Result<Json>) {});
  }

  void cancel(const std::string& reason) {
    if (ended) return;
    spdlog::debug("tasks: {} cancelled: {}", what(), reason);
    cancel_upstream();
    cancel_token->cancel(reason);
    end(make_error(Errc::cancelled, what() + " cancelled: " + reason));
  }

  Status input(const Json& response) {
    std::function<void(Result<Json>)> respond;
    {
      std::lock_guard lock(mu);
      respond = std::move(pending_respond);
      pending_respond = nullptr;
    }
    if (!respond) return make_error(Errc::invalid_request, what() + " is not waiting for input");
    respond(response);
    return {};
  }

  void end(Result<pool::CallResult> outcome) {
    if (ended) return;
    ended = true;
    poll_timer.cancel();
    deadline_timer.cancel();
    if (session && !upstream.empty()) session->forget_related(upstream);
    std::function<void(Result<Json>)> respond;
    {
      std::lock_guard lock(mu);
      respond = std::move(pending_respond);
      pending_respond = nullptr;
    }
    if (respond) respond(make_error(Errc::cancelled, "the task has ended"));
    if (ev.done) ev.done(std::move(outcome));
    if (on_end) on_end();
  }
};

Engine::Engine(io::Loop& loop) : loop_(loop) {}
Engine::~Engine() { stop_all("the node is stopping"); }

void Engine::start(RunSpec spec, RunEvents events) {
  const std::string id = spec.id;
  std::weak_ptr<Runs> weak = runs_;
  auto run = std::make_shared<Run>(loop_, std::move(spec), std::move(events), [weak, id] {
    if (auto runs = weak.lock()) {
      std::lock_guard lock(runs->mu);
      runs->by_id.erase(id);
    }
  });
  {
    std::lock_guard lock(runs_->mu);
    runs_->by_id[id] = run;
  }
  asio::post(run->strand, [run] { run->begin(); });
}

std::shared_ptr<Engine::Run> Engine::find(const std::string& id) const {
  std::lock_guard lock(runs_->mu);
  auto it = runs_->by_id.find(id);
  return it == runs_->by_id.end() ? nullptr : it->second;
}

bool Engine::cancel(const std::string& id, const std::string& reason) {
  auto run = find(id);
  if (!run) return false;
  asio::post(run->strand, [run, reason] { run->cancel(reason); });
  return true;
}

Status Engine::input(const std::string& id, const Json& response) {
  auto run = find(id);
  if (!run) return make_error(Errc::not_found, "task " + id + " is not running on this node");
  return run->input(response);
}

std::vector<std::string> Engine::running() const {
  std::lock_guard lock(runs_->mu);
  std::vector<std::string> ids;
  for (const auto& [id, run] : runs_->by_id) ids.push_back(id);
  return ids;
}

std::size_t Engine::size() const {
  std::lock_guard lock(runs_->mu);
  return runs_->by_id.size();
}

void Engine::stop_all(const std::string& reason, std::chrono::milliseconds wait) {
  std::vector<std::shared_ptr<Run>> runs;
  {
    std::lock_guard lock(runs_->mu);
    for (auto& [id, run] : runs_->by_id) runs.push_back(run);
  }
  for (auto& run : runs) asio::post(run->strand, [run, reason] { run->cancel(reason); });
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (size() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

}  // namespace mcpd::tasks
