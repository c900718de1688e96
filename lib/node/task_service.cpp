#include "node/task_service.hpp"

#include "mcp/protocol.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpd::node {

using Json = nlohmann::json;
using tasks::TaskStatus;
using tasks::Task;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxCasRounds = 8;
constexpr std::int64_t kDefaultListLimit = 50, kMaxListLimit = 500;
// A progress notification is stored and published at most this often per task.
constexpr auto kProgressWriteEvery = std::chrono::milliseconds(500);
// Waiters look at the store this often too, in case a status event was missed.
constexpr auto kWaiterCheckEvery = std::chrono::seconds(2);

std::string owner_of(const Json& body) {
  if (auto o = body.find("owner"); o != body.end() && o->is_string()) return o->get<std::string>();
  if (auto s = body.find("session_id"); s != body.end() && s->is_string()) return s->get<std::string>();
  return {};
}

std::string progress_text(const Json& p) {
  std::string text;
  if (auto v = p.find("progress"); v != p.end() && v->is_number()) {
    text = v->dump();
    if (auto t = p.find("total"); t != p.end() && t->is_number()) text += "/" + t->dump();
  }
  if (auto m = p.find("message"); m != p.end() && m->is_string())
    text += (text.empty() ? "" : " ") + m->get<std::string>();
  return text;
}

// Ends `t` here and now (not through its run): `status`, with `error` as its final reply.
void end_task(Task& t, TaskStatus status, const std::string& message, Errc code) {
  t.status = status;
  t.status_message = message;
  t.input_request = nullptr;
  t.lease_until_ms = 0;
  Error e = make_error(code, "task " + t.id + (status == TaskStatus::cancelled ? " was " : " failed: ") + message);
  t.reply = tasks::StoredReply{error_reply(e).body, e};
}

// A final task's reply as execute would have sent it (an error reply with its headers).
Reply final_reply(const Task& t) {
  Reply r{t.reply->body, {}, t.reply->error};
  if (t.reply->error) r.headers = error_reply(*t.reply->error).headers;
  return r;
}

Error not_found(const std::string& id) {
  return make_error(Errc::not_found, "no task " + id +
                                         " (it may have expired, and a task is visible only to its owner: send the "
                                         "owner or session_id that created it)");
}

}  // namespace

TaskService::TaskService(TaskOptions options, io::Loop& loop, io::BlockingPool& blocking,
                         std::shared_ptr<bus::Connection> bus, Subjects subjects, std::string node_id,
                         EndpointTable& table)
    : opts_(options),
      blocking_(blocking),
      bus_(std::move(bus)),
      subjects_(std::move(subjects)),
      node_id_(std::move(node_id)),
      table_(table),
      engine_(loop) {}

TaskService::~TaskService() { stop(); }

Status TaskService::start(std::unique_ptr<tasks::TaskStore> store) {
  store_ = std::move(store);
  // What an earlier run of this node left unfinished cannot finish any more.
  if (auto all = store_->all(); all.ok()) {
    for (auto& v : all.value()) {
      if (v.task.node != node_id_ || tasks::is_terminal(v.task.status)) continue;
      auto t = mutate(v.task.id, [this](Task& t) {
        if (tasks::is_terminal(t.status)) return false;
        end_task(t, TaskStatus::failed, "node " + node_id_ + " restarted while running it", Errc::unavailable);
        return true;
      });
      if (t.ok() && t.value()) publish(*t.value());
    }
  } else {
    spdlog::warn("tasks: could not look for tasks an earlier run left unfinished: {}", all.error().message);
  }
  auto sub = bus_->subscribe(subjects_.task_events(), [this](bus::Message m) {
    // <prefix>.tasks.<id>.status: wake whoever waits for that task here.
    auto subject = std::string(m.subject());
    auto start = subjects_.prefix.size() + 7;  // "<prefix>.tasks."
    auto end = subject.rfind(".status");
    if (end == std::string::npos || end <= start) return;
    std::string id = subject.substr(start, end - start);
    {
      MutexLock lock(mu_);
      if (!waiters_.count(id)) return;
    }
    if (auto st = blocking_.post([this, id] { wake(id); }); !st.ok()) spdlog::debug("tasks: {}", st.error().message);
  });
  if (!sub.ok()) return sub.error();
  events_sub_ = std::move(sub).value();
  thread_ = std::thread([this] { tick(); });
  spdlog::info("tasks: kept in {} (default TTL {} ms, at most {} ms; lease {} ms)", store_->kind(),
               opts_.default_ttl.count(), opts_.max_ttl.count(), opts_.lease.count());
  return {};
}

void TaskService::stop() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (events_sub_) events_sub_->unsubscribe();
  // Whoever waits for a result here hears now (the task as it is), not at the drain's end.
  std::map<std::string, std::vector<Waiter>> waiting;
  {
    MutexLock lock(mu_);
    waiting.swap(waiters_);
  }
  for (auto& [id, list] : waiting) {
    auto v = store_->get(id);
    for (auto& w : list) {
      if (v.ok() && v.value()) table_.answer(w.to, task_reply(v.value()->task));
      else table_.answer(w.to, error_reply(make_error(Errc::unavailable, "node " + node_id_ + " is stopping")));
    }
  }
  // What runs here cannot go on: the records say so before the runs are stopped.
  const std::string why = "node " + node_id_ + " stopped while running it";
  for (const auto& id : engine_.running()) {
    if (!store_ || id.rfind("call-", 0) == 0) continue;
    auto r = mutate(id, [&](Task& t) {
      if (tasks::is_terminal(t.status)) return false;
      end_task(t, TaskStatus::failed, why, Errc::unavailable);
      return true;
    });
    if (r.ok() && r.value()) publish(*r.value());
  }
  // The runs' events use this service: they must all have ended before it goes.
  engine_.stop_all(why, std::chrono::seconds(5));
}

// ---- blocking helpers ----------------------------------------------------------------------

Result<std::optional<Task>> TaskService::mutate(const std::string& id, const Mutation& change) {
  for (int round = 0; round < kMaxCasRounds; ++round) {
    auto v = store_->get(id);
    if (!v.ok()) return v.error();
    if (!v.value()) return std::optional<Task>{};
    Task t = std::move(v.value()->task);
    if (!change(t)) return std::optional<Task>{};
    t.updated_at_ms = tasks::now_ms();
    auto r = store_->update(t, v.value()->revision);
    if (!r.ok()) return r.error();
    if (r.value()) return std::optional<Task>{std::move(t)};
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * (round + 1)));  // someone else wrote: read again
  }
  return make_error(Errc::unavailable, "task " + id + " kept changing under us; try again");
}

Reply TaskService::task_reply(const Task& t, const Json& extra) const {
  Json body = extra.is_object() ? extra : Json::object();
  body["task"] = tasks::to_public(t);
  return Reply{body.dump(-1, ' ', false, Json::error_handler_t::replace), {}, std::nullopt};
}

void TaskService::publish(const Task& t, const Json* progress) {
  Json event = {{"task", tasks::to_public(t)}};
  if (progress) event["progress"] = *progress;
  const std::string data = event.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (auto st = bus_->publish(subjects_.task_status(t.id), data); !st.ok())
    spdlog::debug("tasks: status event of {} not sent: {}", t.id, st.error().message);
  if (!t.status_subject.empty()) (void)bus_->publish(t.status_subject, data);
}

void TaskService::fail_lost(Task& t) {
  const std::string why = "node " + t.node + ", which ran it, stopped renewing its lease (" +
                          std::to_string(opts_.lease.count()) + " ms): it left or died";
  auto r = mutate(t.id, [&](Task& cur) {
    if (!cur.lease_lost(tasks::now_ms())) return false;
    end_task(cur, TaskStatus::failed, why, Errc::unavailable);
    return true;
  });
  if (r.ok() && r.value()) {
    t = *r.value();
    spdlog::warn("tasks: task {} ({}/{}) failed: {}", t.id, t.server, t.tool, why);
    ++failed_;
    publish(t);
    answer_waiters(t);
  }
}

Result<Task> TaskService::lookup(const Json& body) {
  const std::string id = body.value("task_id", std::string());
  if (!tasks::valid_task_id(id)) return not_found(id);
  auto v = store_->get(id);
  if (!v.ok()) return v.error();
  if (!v.value()) return not_found(id);
  Task t = std::move(v.value()->task);
  const auto now = tasks::now_ms();
  if (t.expired(now)) return not_found(id);
  if (!t.owner.empty() && t.owner != owner_of(body)) return not_found(id);
  if (t.lease_lost(now)) fail_lost(t);
  return t;
}

void TaskService::post(const ReplyTo& to, std::function<void()> work) {
  if (!store_) {
    table_.answer(to, error_reply(make_error(Errc::unavailable, "tasks are not available on this node yet (it is starting); retry in a moment")));
    return;
  }
  if (auto st = blocking_.post(std::move(work)); !st.ok()) table_.answer(to, error_reply(st.error()));
}

// ---- creating and running -------------------------------------------------------------------

void TaskService::create(std::shared_ptr<pool::SessionPool> pool, std::string server, Json body, ReplyTo to) {
  const Json& spec = body["task"];
  std::int64_t ttl = opts_.default_ttl.count();
  if (auto it = spec.find("ttl_ms"); it != spec.end() && it->is_number_integer()) ttl = it->get<std::int64_t>();
  if (ttl <= 0 || ttl > opts_.max_ttl.count())
    return table_.answer(to, error_reply(make_error(Errc::invalid_request,
                                                    "task.ttl_ms must be between 1 and " +
                                                        std::to_string(opts_.max_ttl.count()) +
                                                        " (this node's [tasks] max_ttl_ms); got " + std::to_string(ttl)),
                                         to.error_extra));
  // The node publishes there with its own rights: never onto mcpd's own subjects or the
  // system's ($SRV, $JS, $KV), only a plain subject of the caller's (e.g. one of its inboxes).
  std::string status_subject = body.value("status_subject", std::string());
  if (auto problem = status_subject.empty() ? std::string() : subjects_.caller_subject_problem("status_subject", status_subject);
      !problem.empty())
    return table_.answer(to, error_reply(make_error(Errc::invalid_request, problem), to.error_extra));
  if (static_cast<int>(engine_.size()) >= opts_.max_running)
    return table_.answer(to, error_reply(make_error(Errc::overloaded, "this node already runs " +
                                                                          std::to_string(opts_.max_running) +
                                                                          " tasks ([tasks] max_running); retry later"),
                                         to.error_extra));
  // Native or emulated: decided by the server's tool list (listed first if not known yet).
  const std::string tool = body["tool"].get<std::string>();
  auto decide = [this, pool, server, body = std::move(body), to, ttl, status_subject, tool](
                    Result<mcp::Tools> listed) mutable {
    if (!listed.ok()) return table_.answer(to, error_reply(listed.error(), to.error_extra));
    auto mode = pool->task_support(tool).value_or(mcp::TaskSupport::forbidden);
    post(to, [this, pool, server, body = std::move(body), to, ttl, status_subject, tool, mode]() mutable {
      Task t;
      t.id = tasks::new_task_id();
      t.owner = owner_of(body);
      t.server = server;
      t.tool = tool;
      t.created_at_ms = t.updated_at_ms = tasks::now_ms();
      t.ttl_ms = ttl;
      t.node = node_id_;
      t.lease_until_ms = t.created_at_ms + opts_.lease.count();
      t.native = mode != mcp::TaskSupport::forbidden;
      t.status_subject = status_subject;
      if (auto st = store_->create(t); !st.ok())
        return table_.answer(to, error_reply(make_error(st.error().code, "could not store the task: " + st.error().message),
                                             to.error_extra));
      ++created_;
      Json extra = Json::object();
      if (auto rid = body.find("request_id"); rid != body.end() && rid->is_string()) extra["request_id"] = *rid;
      table_.answer(to, task_reply(t, extra));
      publish(t);
      spdlog::debug("tasks: {} created for {}/{} ({}, owner {})", t.id, server, tool, t.native ? "native" : "emulated",
                    t.owner.empty() ? "anonymous" : "'" + t.owner + "'");

      tasks::RunSpec run;
      run.id = t.id;
      run.pool = pool;
      run.call.tool = tool;
      if (auto a = body.find("args"); a != body.end() && a->is_object()) run.call.arguments = *a;
      if (auto s = body.find("session_id"); s != body.end() && s->is_string()) run.call.session_id = s->get<std::string>();
      run.native = t.native;
      run.deadline = std::chrono::milliseconds(ttl);
      run.ttl_ms = ttl;
      const ReplyFormat format = body.value("format", std::string("compat")) == "mcp" ? ReplyFormat::mcp : ReplyFormat::compat;
      std::optional<std::string> request_id;
      if (auto rid = body.find("request_id"); rid != body.end() && rid->is_string()) request_id = rid->get<std::string>();
      const std::string id = t.id;
      // A run's events are stored in the order it told them: a late "working" must not undo the
      // "input_required" after it.
      tasks::RunEvents ev;
      ev.status = [this, id](TaskStatus st, const std::string& message, std::int64_t poll) {
        (void)blocking_.post_in_order(id, [this, id, st, message, poll] {
          auto r = mutate(id, [&](Task& cur) {
            if (tasks::is_terminal(cur.status)) return false;
            // While the server's request waits for an answer, its question is the message.
            if (st == TaskStatus::input_required && !cur.input_request.is_null()) return false;
            cur.status = st;
            cur.status_message = message;
            cur.poll_interval_ms = poll;
            if (st != TaskStatus::input_required) cur.input_request = nullptr;
            return true;
          });
          if (r.ok() && r.value()) publish(*r.value());
        });
      };
      ev.progress = [this, id](const Json& p) {
        // At most one every kProgressWriteEvery is stored and published: a server that floods
        // progress must not flood the store or the blocking pool. The next one carries newer news.
        {
          MutexLock lock(mu_);
          auto& last = progress_written_[id];
          if (Clock::now() - last < kProgressWriteEvery) return;
          last = Clock::now();
        }
        const std::string text = progress_text(p);
        (void)blocking_.post_in_order(id, [this, id, p, text] {
          auto r = mutate(id, [&](Task& cur) {
            if (tasks::is_terminal(cur.status)) return false;
            cur.status_message = text;
            return true;
          });
          if (r.ok() && r.value()) publish(*r.value(), &p);
        });
      };
      ev.input_request = [this, id](const Json& request) {
        (void)blocking_.post_in_order(id, [this, id, request] {
          auto r = mutate(id, [&](Task& cur) {
            if (tasks::is_terminal(cur.status)) return false;
            cur.status = TaskStatus::input_required;
            cur.input_request = request;
            if (auto m = request["params"].find("message"); m != request["params"].end() && m->is_string())
              cur.status_message = m->get<std::string>();
            return true;
          });
          if (r.ok() && r.value()) publish(*r.value());
        });
      };
      ev.done = [this, id, format, request_id](Result<pool::CallResult> outcome) {
        TaskStatus status = TaskStatus::completed;
        Reply reply;
        if (outcome.ok()) {
          reply = tool_reply(outcome.value().result, format, outcome.value().session_reset, request_id);
          if (reply.error) status = TaskStatus::failed;
        } else {
          Json extra = Json::object();
          if (request_id) extra["request_id"] = *request_id;
          reply = error_reply(outcome.error(), extra);
          status = outcome.error().code == Errc::cancelled ? TaskStatus::cancelled : TaskStatus::failed;
        }
        (void)blocking_.post_in_order(
            id, [this, id, reply = std::move(reply), status]() mutable { finish(id, std::move(reply), status); });
      };
      engine_.start(std::move(run), std::move(ev));
    });
  };
  if (pool->task_support(tool)) return decide(mcp::Tools{});
  pool->list_tools(std::move(decide));
}

void TaskService::finish(const std::string& id, Reply reply, TaskStatus status) {
  {
    MutexLock lock(mu_);
    progress_written_.erase(id);
  }
  // Leave room for the record's other fields beside the reply.
  const std::size_t room = store_->max_record_bytes() > 4096 ? store_->max_record_bytes() - 4096 : 0;
  if (reply.body.size() > room) {
    Error e = make_error(Errc::too_large, "task " + id + " failed: its result (" + std::to_string(reply.body.size()) +
                                              " bytes) is larger than the task store holds (" + std::to_string(room) +
                                              " bytes)");
    reply = error_reply(e);
    status = TaskStatus::failed;
  }
  auto r = mutate(id, [&](Task& cur) {
    if (tasks::is_terminal(cur.status)) return false;  // cancelled meanwhile: that stands
    cur.status = status;
    cur.input_request = nullptr;
    cur.lease_until_ms = 0;
    cur.status_message = status == TaskStatus::completed ? "" : reply.error ? reply.error->message : "";
    cur.reply = tasks::StoredReply{reply.body, reply.error};
    return true;
  });
  if (!r.ok()) {
    spdlog::error("tasks: the end of task {} could not be stored: {}", id, r.error().message);
    return;
  }
  if (!r.value()) return;
  status == TaskStatus::completed ? ++completed_ : status == TaskStatus::cancelled ? ++cancelled_ : ++failed_;
  publish(*r.value());
  answer_waiters(*r.value());
}

void TaskService::run_sync(std::shared_ptr<pool::SessionPool> pool, pool::CallRequest call, ReplyFormat format,
                           std::optional<std::string> request_id, bool session_reset, ReplyTo to) {
  tasks::RunSpec run;
  run.id = "call-" + tasks::new_task_id();
  run.pool = std::move(pool);
  run.native = true;
  run.deadline = call.timeout.count() > 0 ? call.timeout : run.pool->options().call_timeout;
  run.ttl_ms = std::max<std::int64_t>(run.deadline.count(), 60'000);
  run.call = std::move(call);
  tasks::RunEvents ev;
  ev.done = [this, to, format, request_id, session_reset](Result<pool::CallResult> r) {
    if (r.ok()) table_.answer(to, tool_reply(r.value().result, format, session_reset || r.value().session_reset, request_id));
    else table_.answer(to, error_reply(r.error(), to.error_extra));
  };
  engine_.start(std::move(run), std::move(ev));
}

// ---- the subjects ------------------------------------------------------------------------------

void TaskService::get(Json body, ReplyTo to) {
  post(to, [this, body = std::move(body), to] {
    auto t = lookup(body);
    if (!t.ok()) return table_.answer(to, error_reply(t.error()));
    table_.answer(to, task_reply(t.value()));
  });
}

void TaskService::result(Json body, ReplyTo to) {
  post(to, [this, body = std::move(body), to] {
    auto t = lookup(body);
    if (!t.ok()) return table_.answer(to, error_reply(t.error()));
    if (tasks::is_terminal(t->status) && t->reply) return table_.answer(to, final_reply(t.value()));
    const std::int64_t wait = std::clamp<std::int64_t>(body.value("wait_ms", std::int64_t{0}), 0, 600'000);
    if (wait == 0) return table_.answer(to, task_reply(t.value()));
    MutexLock lock(mu_);
    waiters_[t->id].push_back(Waiter{to, Clock::now() + std::chrono::milliseconds(wait)});
  });
}

void TaskService::wake(const std::string& id) {
  auto v = store_->get(id);
  if (!v.ok() || !v.value()) return;
  Task t = v.value()->task;
  if (t.lease_lost(tasks::now_ms())) fail_lost(t);
  if (tasks::is_terminal(t.status)) answer_waiters(t);
}

void TaskService::answer_waiters(const Task& t) {
  std::vector<Waiter> ready;
  {
    MutexLock lock(mu_);
    auto it = waiters_.find(t.id);
    if (it == waiters_.end()) return;
    ready = std::move(it->second);
    waiters_.erase(it);
  }
  if (!t.reply) return;
  for (auto& w : ready) table_.answer(w.to, final_reply(t));
}

void TaskService::list(Json body, ReplyTo to) {
  post(to, [this, body = std::move(body), to] {
    const std::string owner = owner_of(body);
    Json out = {{"tasks", Json::array()}};
    if (owner.empty()) return table_.answer(to, Reply{out.dump(), {}, std::nullopt});  // anonymous: never listed
    auto all = store_->all();
    if (!all.ok()) return table_.answer(to, error_reply(all.error()));
    std::optional<TaskStatus> want;
    if (auto s = body.find("status"); s != body.end() && s->is_string()) want = tasks::status_from(s->get<std::string>());
    const auto now = tasks::now_ms();
    std::vector<Task> mine;
    for (auto& v : all.value()) {
      Task& t = v.task;
      if (t.owner != owner || t.expired(now)) continue;
      if (t.lease_lost(now)) fail_lost(t);
      if (want && t.status != *want) continue;
      mine.push_back(std::move(t));
    }
    // Newest first; the cursor is the last one shown ("<created_at_ms>-<task_id>").
    std::sort(mine.begin(), mine.end(), [](const Task& a, const Task& b) {
      return a.created_at_ms != b.created_at_ms ? a.created_at_ms > b.created_at_ms : a.id > b.id;
    });
    auto key = [](const Task& t) { return std::to_string(t.created_at_ms) + "-" + t.id; };
    std::size_t begin = 0;
    if (auto c = body.find("cursor"); c != body.end() && c->is_string() && !c->get<std::string>().empty()) {
      const std::string cursor = c->get<std::string>();
      auto dash = cursor.find('-');
      std::int64_t at = 0;
      try {
        at = std::stoll(cursor.substr(0, dash));
      } catch (...) {
        return table_.answer(to, error_reply(make_error(Errc::invalid_request, "cursor '" + cursor + "' is not one mcpd gave")));
      }
      const std::string after_id = dash == std::string::npos ? "" : cursor.substr(dash + 1);
      while (begin < mine.size() && (mine[begin].created_at_ms > at || (mine[begin].created_at_ms == at && mine[begin].id >= after_id)))
        ++begin;
    }
    const auto limit = static_cast<std::size_t>(
        std::clamp<std::int64_t>(body.value("limit", kDefaultListLimit), 1, kMaxListLimit));
    for (std::size_t i = begin; i < mine.size() && i < begin + limit; ++i) out["tasks"].push_back(tasks::to_public(mine[i]));
    if (begin + limit < mine.size()) out["next_cursor"] = key(mine[begin + limit - 1]);
    table_.answer(to, Reply{out.dump(-1, ' ', false, Json::error_handler_t::replace), {}, std::nullopt});
  });
}

void TaskService::cancel(Json body, ReplyTo to) {
  post(to, [this, body = std::move(body), to] {
    auto t = lookup(body);
    if (!t.ok()) return table_.answer(to, error_reply(t.error()));
    if (tasks::is_terminal(t->status)) return table_.answer(to, task_reply(t.value()));
    auto r = mutate(t->id, [&](Task& cur) {
      if (tasks::is_terminal(cur.status)) return false;
      end_task(cur, TaskStatus::cancelled, "cancelled by its owner", Errc::cancelled);
      return true;
    });
    if (!r.ok()) return table_.answer(to, error_reply(r.error()));
    if (!r.value()) {  // finished meanwhile
      auto again = lookup(body);
      return table_.answer(to, again.ok() ? task_reply(again.value()) : error_reply(again.error()));
    }
    const Task& c = *r.value();
    ++cancelled_;
    publish(c);
    answer_waiters(c);
    if (c.node == node_id_) {
      engine_.cancel(c.id, "cancelled by its owner");
    } else {
      // The running node stops it (and tells its server); its own writes would find it final anyway.
      (void)bus_->publish(subjects_.node_task(c.node, "cancel"), Json{{"task_id", c.id}}.dump());
    }
    table_.answer(to, task_reply(c));
  });
}

void TaskService::input(Json body, ReplyTo to) {
  post(to, [this, body = std::move(body), to] {
    auto t = lookup(body);
    if (!t.ok()) return table_.answer(to, error_reply(t.error()));
    if (t->status != TaskStatus::input_required)
      return table_.answer(to, error_reply(make_error(Errc::invalid_request, "task " + t->id + " is not waiting for input (it is " +
                                                                                 std::string(tasks::to_string(t->status)) + ")")));
    if (t->node == node_id_) return input_here(body, to);
    auto r = bus_->request(subjects_.node_task(t->node, "input"), body.dump(), std::chrono::seconds(5));
    if (!r.ok())
      return table_.answer(to, error_reply(make_error(Errc::unavailable, "node " + t->node + ", which runs task " + t->id +
                                                                             ", did not take the input: " + r.error().message)));
    table_.answer(to, relayed_reply(r.value()));
  });
}

void TaskService::input_here(Json body, ReplyTo to) {
  auto work = [this, body = std::move(body), to] {
    const std::string id = body.value("task_id", std::string());
    auto t = lookup(body);
    if (!t.ok()) return table_.answer(to, error_reply(t.error()));
    if (auto st = engine_.input(id, body.value("response", Json::object())); !st.ok())
      return table_.answer(to, error_reply(st.error()));
    auto r = mutate(id, [](Task& cur) {
      if (cur.status != TaskStatus::input_required) return false;
      cur.status = TaskStatus::working;
      cur.status_message = "input received";
      cur.input_request = nullptr;
      return true;
    });
    if (r.ok() && r.value()) {
      publish(*r.value());
      return table_.answer(to, task_reply(*r.value()));
    }
    auto again = lookup(body);
    table_.answer(to, again.ok() ? task_reply(again.value()) : error_reply(again.error()));
  };
  work();
}

void TaskService::cancel_here(const std::string& task_id) { engine_.cancel(task_id, "cancelled by its owner"); }

// ---- the service thread ------------------------------------------------------------------------

void TaskService::renew_leases() {
  for (const auto& id : engine_.running()) {
    if (id.rfind("call-", 0) == 0) continue;  // synchronous calls keep no record
    auto r = mutate(id, [this](Task& cur) {
      if (tasks::is_terminal(cur.status) || cur.node != node_id_) return false;
      cur.lease_until_ms = tasks::now_ms() + opts_.lease.count();
      return true;
    });
    if (!r.ok()) {
      spdlog::warn("tasks: could not renew the lease of task {}: {}", id, r.error().message);
      continue;
    }
    if (!r.value()) {
      // Final in the store (cancelled through another node) or gone: stop running it.
      auto v = store_->get(id);
      if (v.ok() && (!v.value() || tasks::is_terminal(v.value()->task.status))) engine_.cancel(id, "cancelled by its owner");
    }
  }
}

void TaskService::sweep() {
  auto all = store_->all();
  if (!all.ok()) {
    spdlog::debug("tasks: sweep skipped: {}", all.error().message);
    return;
  }
  const auto now = tasks::now_ms();
  for (auto& v : all.value()) {
    Task& t = v.task;
    if (t.expired(now)) {
      if (t.node == node_id_) engine_.cancel(t.id, "its TTL passed");
      (void)store_->erase(t.id);
      spdlog::debug("tasks: task {} expired and was removed", t.id);
      continue;
    }
    if (t.lease_lost(now)) fail_lost(t);
  }
}

void TaskService::tick() {
  const auto renew_every = std::max<std::chrono::milliseconds>(opts_.lease / 3, std::chrono::milliseconds(100));
  const auto sweep_every = std::max<std::chrono::milliseconds>(opts_.lease / 2, std::chrono::milliseconds(200));
  auto next_renew = Clock::now() + renew_every, next_sweep = Clock::now() + sweep_every,
       next_check = Clock::now() + kWaiterCheckEvery;
  for (;;) {
    bool sweep_now = false;
    std::vector<std::pair<std::string, Waiter>> expired;
    std::vector<std::string> check;
    {
      MutexLock lock(mu_);
      cv_.wait_for(mu_, std::chrono::milliseconds(100), [this]() MCPD_REQUIRES(mu_) { return stopping_ || sweep_now_; });
      if (stopping_) return;
      sweep_now = std::exchange(sweep_now_, false);
      const auto now = Clock::now();
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        auto& list = it->second;
        for (auto w = list.begin(); w != list.end();) {
          if (w->deadline <= now) {
            expired.emplace_back(it->first, std::move(*w));
            w = list.erase(w);
          } else {
            ++w;
          }
        }
        if (list.empty()) {
          it = waiters_.erase(it);
        } else {
          if (now >= next_check) check.push_back(it->first);
          ++it;
        }
      }
      if (now >= next_check) next_check = now + kWaiterCheckEvery;
    }
    // A waiter whose time is up gets the task as it is now.
    for (auto& [id, w] : expired) {
      auto v = store_->get(id);
      if (v.ok() && v.value()) {
        const Task& t = v.value()->task;
        table_.answer(w.to, tasks::is_terminal(t.status) && t.reply ? final_reply(t) : task_reply(t));
      } else {
        table_.answer(w.to, error_reply(v.ok() ? not_found(id) : v.error()));
      }
    }
    for (const auto& id : check) wake(id);
    const auto now = Clock::now();
    if (now >= next_renew) {
      renew_leases();
      next_renew = now + renew_every;
    }
    if (sweep_now || now >= next_sweep) {
      sweep();
      next_sweep = now + sweep_every;
    }
  }
}

Json TaskService::stats() const {
  return Json{{"store", store_ ? store_->kind() : "none"},
              {"running", engine_.size()},
              {"created", created_.load()},
              {"completed", completed_.load()},
              {"failed", failed_.load()},
              {"cancelled", cancelled_.load()}};
}

}  // namespace mcpd::node
