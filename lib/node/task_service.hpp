// TaskService: the tasks of the NATS contract 1.1 on one node (handlers/tasks.cpp serves its
// subjects). It creates a task for an execute that asks for one, runs it on this node's
// tasks::Engine, and keeps its record in the TaskStore (JetStream key-value when the cluster
// has it, else SQLite): any node answers get, result, list and cancel from there.
//
//  - Owner: the request's `owner`, else its `session_id`, else anonymous. Another owner's task
//    is not_found; anonymous tasks are reachable by id alone and never listed.
//  - Status events: every change and progress notification is published to
//    <prefix>.tasks.<id>.status (and the caller's status_subject) as {"task": {...}}, with
//    "progress" for a progress notification.
//  - result with wait_ms waits for the end here, woken by status events from whichever node
//    runs the task (and by a periodic look at the store, in case one was missed).
//  - Lease: the running node renews lease_until every lease/3; a task whose lease passed is
//    marked failed by whichever node sees it first (a read, or the sweep every lease/2). A
//    node that starts fails the tasks an earlier run of it left unfinished.
//  - Expiry: a task past its TTL is not_found and removed by the sweep.
//
// Thread-safe. Store round trips run on the node's blocking pool or on the service's own
// thread ("mcpd-tasks": sweeps, leases, waiters' deadlines), never on NATS delivery threads.
#pragma once

#include "bus/connection.hpp"
#include "common/thread_annotations.hpp"
#include "io/blocking_pool.hpp"
#include "io/loop.hpp"
#include "node/endpoint_table.hpp"
#include "node/replies.hpp"
#include "node/subjects.hpp"
#include "pool/session_pool.hpp"
#include "tasks/engine.hpp"
#include "tasks/store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace mcpd::node {

struct TaskOptions {
  std::chrono::milliseconds default_ttl{3'600'000};  // a task's TTL when the caller gives none
  std::chrono::milliseconds max_ttl{86'400'000};     // a larger ttl_ms is refused
  std::chrono::milliseconds lease{15'000};           // a running node's silence that fails its tasks
  int max_running = 1000;                            // tasks running on this node at once
};

class TaskService {
 public:
  TaskService(TaskOptions options, io::Loop& loop, io::BlockingPool& blocking, std::shared_ptr<bus::Connection> bus,
              Subjects subjects, std::string node_id, EndpointTable& table);
  ~TaskService();

  // Takes the store, fails what an earlier run of this node left running, subscribes to status
  // events and starts the service's thread. Blocking (the manager's start()).
  Status start(std::unique_ptr<tasks::TaskStore> store);
  // Cancels the tasks running here (their records say so) and stops the thread.
  void stop();
  bool started() const { return store_ != nullptr; }
  const tasks::TaskStore* store() const { return store_.get(); }

  // execute with "task": creates the task, answers {"task": {...}} at once, runs it.
  void create(std::shared_ptr<pool::SessionPool> pool, std::string server, nlohmann::json body, ReplyTo to);
  // A plain execute of a tool whose taskSupport is "required": runs it as a native task and
  // answers with its result when it ends, within the call's timeout. No record is kept.
  void run_sync(std::shared_ptr<pool::SessionPool> pool, pool::CallRequest call, ReplyFormat format,
                std::optional<std::string> request_id, bool session_reset, ReplyTo to);

  void get(nlohmann::json body, ReplyTo to);
  void result(nlohmann::json body, ReplyTo to);
  void list(nlohmann::json body, ReplyTo to);
  void cancel(nlohmann::json body, ReplyTo to);
  void input(nlohmann::json body, ReplyTo to);
  // From the node that received an input or cancel for a task running here.
  void input_here(nlohmann::json body, ReplyTo to);
  void cancel_here(const std::string& task_id);

  nlohmann::json stats() const;

 private:
  struct Waiter {
    ReplyTo to;
    std::chrono::steady_clock::time_point deadline;
  };
  using Mutation = std::function<bool(tasks::Task&)>;

  // Blocking helpers (blocking pool or the service thread).
  Result<std::optional<tasks::Task>> mutate(const std::string& id, const Mutation& change);
  // The caller's task, or the reply to give instead (not_found, ...); fails a task whose lease passed.
  Result<tasks::Task> lookup(const nlohmann::json& body);
  void publish(const tasks::Task& t, const nlohmann::json* progress = nullptr);
  void finish(const std::string& id, Reply reply, tasks::TaskStatus status);
  void fail_lost(tasks::Task& t);
  void wake(const std::string& id);
  void answer_waiters(const tasks::Task& t);
  void sweep();
  void renew_leases();
  void tick();
  void post(const ReplyTo& to, std::function<void()> work);
  Reply task_reply(const tasks::Task& t, const nlohmann::json& extra = nlohmann::json::object()) const;

  TaskOptions opts_;
  io::BlockingPool& blocking_;
  std::shared_ptr<bus::Connection> bus_;
  Subjects subjects_;
  std::string node_id_;
  EndpointTable& table_;
  std::unique_ptr<tasks::TaskStore> store_;
  tasks::Engine engine_;
  std::unique_ptr<bus::Subscription> events_sub_;

  mutable Mutex mu_;
  std::condition_variable_any cv_;
  bool stopping_ MCPD_GUARDED_BY(mu_) = false;
  bool sweep_now_ MCPD_GUARDED_BY(mu_) = false;
  std::map<std::string, std::vector<Waiter>> waiters_ MCPD_GUARDED_BY(mu_);
  std::map<std::string, std::chrono::steady_clock::time_point> progress_written_ MCPD_GUARDED_BY(mu_);
  std::thread thread_;
  std::atomic<std::uint64_t> created_{0}, completed_{0}, failed_{0}, cancelled_{0};
};

}  // namespace mcpd::node
