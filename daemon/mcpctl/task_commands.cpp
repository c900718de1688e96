// mcpctl tasks ls | get | result | cancel | input | watch, and `call --task`: the tasks of the
// NATS contract 1.1. Requests go to <prefix>.tasks.<verb>; a task being followed (call --task,
// tasks watch) is read from its status events on <prefix>.tasks.<id>.status, subscribed to
// before the first look at it so that no change is missed.
#include "commands.hpp"

#include "output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mcpd::mcpctl {
namespace {

constexpr std::string_view kStatuses[] = {"working", "input_required", "completed", "failed", "cancelled"};

// How long to wait for mcpd to answer tasks.result with wait_ms beyond that wait.
constexpr std::chrono::milliseconds kResultMargin{10'000};
// How often a followed task is looked at (tasks.get) when no event came: its poll_interval_ms,
// kept within these bounds. Events make this a fallback for one that was lost.
constexpr std::chrono::milliseconds kMinLookEvery{1'000}, kMaxLookEvery{10'000};
// How long the follow loop waits for an event before it looks at Ctrl-C again.
constexpr std::chrono::milliseconds kInterruptCheckEvery{100};

bool is_final(std::string_view status) { return status == "completed" || status == "failed" || status == "cancelled"; }

std::string str(const Json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The task of a task-reply or status event ({"task": {...}}), or an empty object.
const Json& task_of(const Json& reply) {
  static const Json kNone = Json::object();
  auto it = reply.find("task");
  return it != reply.end() && it->is_object() ? *it : kNone;
}

// Where a task is, in one line: "working", "working: Gathering sources...", and for a progress
// event "working 3/30: step 3".
std::string describe(const Json& reply) {
  const Json& task = task_of(reply);
  std::string text = str(task, "status");
  std::string message = str(task, "status_message");
  if (auto p = reply.find("progress"); p != reply.end() && p->is_object()) {
    if (auto v = p->find("progress"); v != p->end() && v->is_number()) {
      text += " " + number_text(*v);
      if (auto t = p->find("total"); t != p->end() && t->is_number()) text += "/" + number_text(*t);
    }
    message = str(*p, "message");  // the task's status_message repeats the numbers
  }
  if (!message.empty()) text += ": " + first_line(message);
  return text;
}

// Seconds since the epoch of a task's time ("2026-12-02T17:05:16.123Z"), or -1.
std::time_t parse_time(const std::string& iso) {
  std::tm tm{};
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

// "12s ago" for a task's time; the time as sent when it cannot be read.
std::string ago(const std::string& iso) {
  const std::time_t t = parse_time(iso);
  if (t < 0) return iso;
  return human_duration(std::chrono::seconds(std::time(nullptr) - t)) + " ago";
}

// A task id names a subject token: anything but mcpd's 32 hex digits is refused here.
void check_task_id(const std::string& id) {
  const bool ok = id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
                    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                  });
  if (!ok)
    throw usage_error("'" + id +
                      "' is not a task id (32 lowercase hexadecimal digits, as `call --task` and `tasks ls` show)");
}

// Whose tasks a `tasks` command means: {"owner": O} (--owner), {"session_id": ID} (--session), or
// {} (anonymous: tasks created with neither).
Json owner_fields(const ParsedArgs& args) {
  if (args.has("owner") && args.has("session"))
    throw usage_error("give --owner or --session, not both (a task's owner is its --owner, else its --session)");
  for (const char* flag : {"owner", "session"}) {
    if (auto v = args.get(flag)) {
      if (v->empty()) throw usage_error("--" + std::string(flag) + " needs a non-empty value");
      return Json{{std::string(flag) == "owner" ? "owner" : "session_id", *v}};
    }
  }
  return Json::object();
}

// The owner of the task an execute request creates, as the tasks.* requests name it.
Json owner_of_request(const Json& request) {
  if (request.contains("owner")) return Json{{"owner", request["owner"]}};
  if (request.contains("session_id")) return Json{{"session_id", request["session_id"]}};
  return Json::object();
}

// The owner as the flags of a command mcpctl suggests: " --owner O", " --session ID" or "".
std::string owner_flags(const Json& owner) {
  if (owner.contains("owner")) return " --owner " + shell_quote(owner["owner"].get<std::string>());
  if (owner.contains("session_id")) return " --session " + shell_quote(owner["session_id"].get<std::string>());
  return {};
}

// {"task_id": id} and the owner: the body of tasks.get, cancel and result.
Json task_request(const std::string& id, const Json& owner) {
  Json req = owner;
  req["task_id"] = id;
  return req;
}

std::string tasks_subject(const Invocation& inv, std::string_view verb) {
  return inv.subjects().prefix + ".tasks." + std::string(verb);
}

// The operand ID, checked, and the owner flags of a `tasks` command.
std::pair<std::string, Json> target(const Invocation& inv) {
  const std::string& id = inv.args().operands.at(0);
  check_task_id(id);
  return {id, owner_fields(inv.args())};
}

// Whether a result ({"result": ...} of a task) is a whole MCP CallToolResult (the task was
// created with format mcp): content blocks, each with a type.
bool looks_like_mcp(const Json& reply) {
  auto r = reply.find("result");
  if (r == reply.end() || !r->is_object()) return false;
  auto c = r->find("content");
  return c != r->end() && c->is_array() &&
         std::all_of(c->begin(), c->end(), [](const Json& b) { return b.is_object() && b.contains("type"); });
}

// What the MCP server asks while a task is input_required (its input_request), and the command
// that answers it: for an elicitation, the fields it asks for and an accept to fill in.
std::string input_help(const std::string& id, const Json& task, const Json& owner) {
  const Json request = task.value("input_request", Json::object());
  const std::string method = str(request, "method");
  const Json params = request.contains("params") && request["params"].is_object() ? request["params"] : Json::object();
  const std::string message = str(params, "message");
  std::string out = "task " + id + " needs input" + (message.empty() ? " (" + method + ")" : ": " + message) + "\n";
  const std::string answer = "mcpctl tasks input " + id + owner_flags(owner) + " --response ";
  if (method != "elicitation/create")
    return out + "  answer with: " + answer + "'{...}' (the result of its " + method + " request)\n";
  Json content = Json::object();
  const Json schema = params.value("requestedSchema", Json::object());
  if (auto props = schema.find("properties"); props != schema.end() && props->is_object()) {
    for (auto it = props->begin(); it != props->end(); ++it) {
      content[it.key()] = "...";
      const Json& p = it.value();
      std::string line = "  " + it.key() + (str(p, "type").empty() ? "" : " (" + str(p, "type") + ")");
      std::string about = str(p, "description").empty() ? str(p, "title") : str(p, "description");
      if (!about.empty()) line += ": " + first_line(about);
      // The values it takes: "enum": [...], or "oneOf": [{"const": ..., "title": ...}, ...].
      std::string choices;
      for (const char* key : {"enum", "oneOf"}) {
        auto e = p.find(key);
        if (e == p.end() || !e->is_array()) continue;
        for (const auto& c : *e) {
          const Json& v = c.is_object() && c.contains("const") ? c["const"] : c;
          choices += (choices.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
      if (!choices.empty()) line += " (one of: " + choices + ")";
      out += line + "\n";
    }
  }
  return out + "  answer with: " + answer + shell_quote(Json{{"action", "accept"}, {"content", content}}.dump()) +
         "\n  or decline:  " + answer + shell_quote(R"({"action":"decline"})") + "\n";
}

// Ctrl-C (SIGINT) while a task is followed: noted instead of ending mcpctl, so that it can say
// how to find the task again. A second Ctrl-C ends mcpctl at once (the handler resets itself).
volatile std::sig_atomic_t g_interrupted = 0;
void note_interrupt(int) { g_interrupted = 1; }

class CtrlC {
 public:
  CtrlC() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = note_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old_);
  }
  ~CtrlC() { sigaction(SIGINT, &old_, nullptr); }
  CtrlC(const CtrlC&) = delete;
  CtrlC& operator=(const CtrlC&) = delete;
  bool pressed() const { return g_interrupted != 0; }

 private:
  struct sigaction old_ {};
};

// The task as it is now (tasks.get): a task-reply. An error reply ends mcpctl (not_found, ...).
Reply look(Invocation& inv, const std::string& id, const Json& owner) {
  return inv.ask(tasks_subject(inv, "get"), task_request(id, owner), kDefaultTimeout, /*echo_json=*/false);
}

std::chrono::milliseconds look_every(const Json& reply) {
  const Json& task = task_of(reply);
  std::int64_t ms = 0;
  if (auto p = task.find("poll_interval_ms"); p != task.end() && p->is_number_integer()) ms = p->get<std::int64_t>();
  return std::clamp(std::chrono::milliseconds(ms), kMinLookEvery, kMaxLookEvery);
}

// Whether `reply` (an event or a look) says something about the task that `latest` did not:
// not older (updated_at), and another status, message, input request or progress.
bool news(const Json& reply, const Json& latest) {
  const Json& t = task_of(reply);
  const Json& l = task_of(latest);
  if (str(t, "updated_at") < str(l, "updated_at")) return false;  // the same ISO form: compared as text
  if (is_final(str(l, "status"))) return false;                   // a final status never changes
  return reply.contains("progress") || str(t, "status") != str(l, "status") ||
         str(t, "status_message") != str(l, "status_message") ||
         t.value("input_request", Json()) != l.value("input_request", Json());
}

// Follows task `id` until it is final: calls `show` with the task as it is now (a look), then
// with each change (a status event, with "progress" for a progress notification, or a later
// look when no event came for the task's poll interval). Returns the last reply shown, whose
// task is final, or nullopt when Ctrl-C was pressed (the task goes on).
std::optional<Reply> follow(Invocation& inv, const std::string& id, const Json& owner,
                            const std::function<void(const Reply&)>& show) {
  CtrlC ctrl_c;
  // Subscribed first: whatever changes after the look below arrives as an event.
  auto events = inv.listen(inv.subjects().task_status(id));
  Reply latest = look(inv, id, owner);
  show(latest);
  auto last_heard = std::chrono::steady_clock::now();
  while (!is_final(str(task_of(latest.body), "status"))) {
    if (ctrl_c.pressed()) return std::nullopt;
    std::optional<Reply> next = events->next(kInterruptCheckEvery);
    if (!next) {
      if (std::chrono::steady_clock::now() - last_heard < look_every(latest.body)) continue;
      next = look(inv, id, owner);
    }
    last_heard = std::chrono::steady_clock::now();
    if (str(task_of(next->body), "task_id") != id || !news(next->body, latest.body)) continue;
    latest = std::move(*next);
    show(latest);
  }
  return latest;
}

// The final reply of task `id` (tasks.result): exactly what execute would have answered. An
// error reply (the tool's error, a cancel, ...) ends mcpctl as for `call`. With --json it is
// printed here.
Reply final_reply(Invocation& inv, const std::string& id, const Json& owner) {
  Json req = task_request(id, owner);
  req["wait_ms"] = 5'000;  // the record may be a moment behind the final event
  Reply reply = inv.ask(tasks_subject(inv, "result"), req, kResultMargin + std::chrono::milliseconds(5'000),
                        /*echo_json=*/false);
  if (!reply.body.contains("result") && reply.body.contains("task"))
    throw failure("task " + id + " is " + describe(reply.body) +
                  ", but its result is not there yet; try again with: mcpctl tasks result " + id + owner_flags(owner) +
                  " --wait 10000");
  if (inv.global().json) std::cout << pretty_verbatim(reply.raw) << '\n';
  return reply;
}

std::string still_running(const std::string& id, const Json& owner) {
  return "task " + id + " still running; see it with: mcpctl tasks get " + id + owner_flags(owner) + "\n";
}

// tasks get: one "key: value" record of the task.
void print_task(const Json& reply, const Json& owner) {
  const Json& t = task_of(reply);
  const std::string id = str(t, "task_id");
  Record r;
  r.emplace_back("task", id);
  r.emplace_back("status", str(t, "status"));
  if (auto m = str(t, "status_message"); !m.empty()) r.emplace_back("message", m);
  r.emplace_back("server", str(t, "server"));
  r.emplace_back("tool", str(t, "tool"));
  r.emplace_back("created", str(t, "created_at") + " (" + ago(str(t, "created_at")) + ")");
  r.emplace_back("updated", str(t, "updated_at") + " (" + ago(str(t, "updated_at")) + ")");
  if (auto ttl = t.find("ttl_ms"); ttl != t.end() && ttl->is_number_integer()) {
    std::string expires = std::to_string(ttl->get<std::int64_t>()) + " ms";
    if (const std::time_t created = parse_time(str(t, "created_at")); created >= 0)
      expires += " (expires in " +
                 human_duration(std::chrono::seconds(created + ttl->get<std::int64_t>() / 1000 - std::time(nullptr))) +
                 ")";
    r.emplace_back("ttl", expires);
  }
  if (auto p = t.find("poll_interval_ms"); p != t.end() && p->is_number())
    r.emplace_back("poll interval", p->dump() + " ms");
  print_record(std::cout, r);
  if (t.contains("input_request") && t["input_request"].is_object()) std::cout << '\n' << input_help(id, t, owner);
}

}  // namespace

int run_call_task(Invocation& inv, const std::string& server, const Json& request) {
  Reply created = inv.ask(inv.subjects().execute(server), request, kDefaultTimeout, /*echo_json=*/false);
  const std::string id = str(task_of(created.body), "task_id");
  if (id.empty())
    throw failure("the reply to " + inv.subjects().execute(server) +
                  " has no task (is this mcpd older than 1.1, which knows no tasks?)");
  const Json owner = owner_of_request(request);
  StatusLine line;
  std::string input_shown;  // the input request already explained
  auto shown = follow(inv, id, owner, [&](const Reply& r) {
    const Json& task = task_of(r.body);
    line.show("task " + id + ": " + describe(r.body));
    if (str(task, "status") != "input_required" || !task.contains("input_request")) return;
    if (std::string key = task["input_request"].dump(); key != input_shown) {
      input_shown = key;
      line.say(input_help(id, task, owner));
    }
  });
  line.done();
  if (!shown) {
    std::cerr << still_running(id, owner);
    return kInterruptedStatus;
  }
  Reply reply = final_reply(inv, id, owner);
  if (inv.global().json) return 0;
  return print_call_result(reply.body, request.value("format", "") == "mcp");
}

int run_tasks_ls(Invocation& inv) {
  const ParsedArgs& args = inv.args();
  const Json owner = owner_fields(args);
  Json req = owner;
  if (auto s = args.get("status")) {
    if (std::find(std::begin(kStatuses), std::end(kStatuses), *s) == std::end(kStatuses))
      throw usage_error("--status: expected working, input_required, completed, failed or cancelled, got '" + *s + "'");
    req["status"] = *s;
  }
  std::int64_t limit = args.has("limit") ? parse_int_option("limit", *args.get("limit"), 1, 1'000'000) : 0;
  if (owner.empty())
    std::cerr << "note: tasks created with neither --owner nor --session are never listed; give the --owner "
                 "or --session they were created with\n";
  // Page after page (newest first), until the last page or --limit.
  OrderedJson tasks = OrderedJson::array();  // as sent, for --json
  std::vector<Json> rows;
  std::set<std::string> cursors;
  for (std::string cursor;;) {
    req["limit"] = limit > 0 ? std::min<std::int64_t>(limit - static_cast<std::int64_t>(tasks.size()), 500) : 500;
    if (!cursor.empty()) req["cursor"] = cursor;
    Reply page = inv.ask(tasks_subject(inv, "list"), req, kDefaultTimeout, /*echo_json=*/false);
    OrderedJson doc = parse_ordered(page.raw);
    if (doc.contains("tasks") && doc["tasks"].is_array())
      for (auto& t : doc["tasks"]) tasks.push_back(std::move(t));
    if (auto it = page.body.find("tasks"); it != page.body.end() && it->is_array())
      rows.insert(rows.end(), it->begin(), it->end());
    cursor = str(page.body, "next_cursor");
    if (cursor.empty() || !cursors.insert(cursor).second) break;  // done (or a cursor seen before: stop)
    if (limit > 0 && static_cast<std::int64_t>(tasks.size()) >= limit) break;
  }
  if (inv.global().json) {
    std::cout << pretty(tasks) << '\n';
    return 0;
  }
  if (tasks.empty()) {
    std::cout << "no tasks" << (req.contains("status") ? " " + req["status"].get<std::string>() : std::string())
              << '\n';
    return 0;
  }
  Table table({"TASK", "STATUS", "SERVER", "TOOL", "UPDATED", "MESSAGE"});
  for (const auto& t : rows) {
    table.add({str(t, "task_id"), str(t, "status"), str(t, "server"), str(t, "tool"), ago(str(t, "updated_at")),
               first_line(str(t, "status_message"))});
  }
  table.print(std::cout, terminal_width());
  return 0;
}

int run_tasks_get(Invocation& inv) {
  auto [id, owner] = target(inv);
  Reply reply = inv.ask(tasks_subject(inv, "get"), task_request(id, owner));
  if (!inv.global().json) print_task(reply.body, owner);
  return 0;
}

int run_tasks_result(Invocation& inv) {
  auto [id, owner] = target(inv);
  Json req = task_request(id, owner);
  std::int64_t wait = 0;
  if (auto w = inv.args().get("wait")) wait = parse_int_option("wait", *w, 0, 600'000);
  if (wait > 0) req["wait_ms"] = wait;
  Reply reply = inv.ask(tasks_subject(inv, "result"), req, kResultMargin + std::chrono::milliseconds(wait));
  if (!reply.body.contains("result") && reply.body.contains("task")) {
    std::cout.flush();
    throw failure("task " + id + " is still " + describe(reply.body) +
                  " (wait for it with --wait MS, or follow it with: mcpctl tasks watch " + id + owner_flags(owner) +
                  ")");
  }
  if (inv.global().json) return 0;
  return print_call_result(reply.body, looks_like_mcp(reply.body));
}

int run_tasks_cancel(Invocation& inv) {
  auto [id, owner] = target(inv);
  // A look first: mcpd answers a cancel of a task that had ended with the task as it is, which
  // for one cancelled before looks the same as a cancel that worked.
  const bool ended = is_final(str(task_of(look(inv, id, owner).body), "status"));
  Reply reply = inv.ask(tasks_subject(inv, "cancel"), task_request(id, owner));
  if (inv.global().json) return 0;
  const bool cancelled = !ended && str(task_of(reply.body), "status") == "cancelled";
  std::cout << "task " << id << (cancelled ? ": " : " had already ended: ") << describe(reply.body) << '\n';
  return 0;
}

int run_tasks_input(Invocation& inv) {
  auto [id, owner] = target(inv);
  auto spec = inv.args().get("response");
  if (!spec)
    throw usage_error("tasks input needs --response JSON: the answer to the task's request (see mcpctl tasks get " +
                      id + owner_flags(owner) + ")");
  Json req = task_request(id, owner);
  req["response"] = parse_json_option("response", *spec, "the answer to the server's request",
                                      R"({"action": "accept", "content": {...}})");
  Reply reply = inv.ask(tasks_subject(inv, "input"), req);
  if (!inv.global().json) std::cout << "task " << id << ": " << describe(reply.body) << '\n';
  return 0;
}

int run_tasks_watch(Invocation& inv) {
  auto [id, owner] = target(inv);
  const bool json = inv.global().json;
  std::string input_shown;
  auto last = follow(inv, id, owner, [&](const Reply& r) {
    if (json) {
      std::cout << r.raw << std::endl;  // one event a line, as sent
      return;
    }
    char now[16];
    const std::time_t t = std::time(nullptr);
    std::strftime(now, sizeof now, "%H:%M:%S", std::localtime(&t));
    std::cout << now << "  " << describe(r.body) << '\n';
    const Json& task = task_of(r.body);
    if (str(task, "status") == "input_required" && task.contains("input_request")) {
      if (std::string key = task["input_request"].dump(); key != input_shown) {
        input_shown = key;
        std::cout << input_help(id, task, owner);
      }
    }
    std::cout.flush();
  });
  if (!last) {
    std::cerr << still_running(id, owner);
    return kInterruptedStatus;
  }
  return str(task_of(last->body), "status") == "completed" ? 0 : 1;
}

}  // namespace mcpd::mcpctl
