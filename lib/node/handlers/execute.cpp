// <prefix>.<server>.execute: a tool call, to this node's pool for the server, or — for a call
// with a session_id whose session another node owns — forwarded to that node, which accepts it
// and answers the caller directly. A forward nobody accepts is never left unanswered: an owner
// that NATS says is gone (no responders, or silent until its heartbeats time out) has its
// session taken over here (session_reset); one that is there but does not accept in time gets
// the caller an `unavailable` naming it. A call is never sent twice to the same owner: one taken
// for gone that still owns the session afterwards may have run it.
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"
#include "common/text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <random>

namespace mcpd::node {

using Json = nlohmann::json;

namespace {

struct Call {
  std::string server;
  Json body;
  ReplyTo to;
  TraceContext trace;
  bool forwarded = false;
  std::optional<Affinity::Decision> settled;  // the affinity decision, once made
  bool fetched = false;                        // the catalog of record was asked for `server`
};

void run(const std::shared_ptr<Node>& n, Call c);

// How long the owner has to acknowledge a forwarded call (forwarded.cpp does so on receipt).
constexpr std::chrono::milliseconds kAcceptWithin{1000};

enum class Handed {
  done,        // the owner has the call, or the caller has an answer
  owner_gone,  // nobody serves the owner any more (Membership knows now): settle the owner again
};

// On the blocking pool: hands a call to the node that owns its session, as a request the owner
// acknowledges before it answers the caller directly.
Handed forward(const std::shared_ptr<Node>& n, const std::string& owner, const Call& c) {
  const std::string subject = n->opts.subjects.node_execute(owner, c.server);
  bus::Headers headers{{std::string(kReplyToHeader), c.to.subject}};
  if (!c.trace.traceparent.empty()) headers.emplace_back(std::string(kTraceparentHeader), c.trace.traceparent);
  if (!c.trace.tracestate.empty()) headers.emplace_back(std::string(kTracestateHeader), c.trace.tracestate);
  auto r = n->bus->request(subject, c.body.dump(), kAcceptWithin, headers);
  if (r.ok()) {
    if (r.value().header(kAcceptedHeader)) {
      n->table.handed_off(c.to);
    } else {
      // Not an acknowledgement: the owner refused the call (a reply we pass on as it is) or,
      // an older node, answered it here instead of to the caller.
      n->table.answer(c.to, relayed_reply(r.value()));
    }
    return Handed::done;
  }
  auto& membership = n->cluster->membership();
  auto session = [&] {
    return "session '" + c.body.at("session_id").get<std::string>() + "' of server '" + c.server + "'";
  };
  // Sending again is safe only if the owner never ran the call; say why each time it happens.
  auto gone = [&](const std::string& why) {
    spdlog::warn("{}: node {} is taken for gone ({}); settling its owner again", session(), owner, why);
    return Handed::owner_gone;
  };
  if (bus::is_no_responders(r.error())) {
    // Rare: every node's <prefix>.> queue subscription matches the subject too (and ignores
    // it), so a dead owner mostly shows as a timeout, below.
    membership.mark_gone(owner, "nobody serves " + subject + " any more");
    return gone("no responders on " + subject);
  }
  if (r.error().code == Errc::timeout) {
    // Not accepted in time: the owner is dead (its $SRV.PING has no responders once NATS has
    // dropped its connection), or its connection outlives it, or it is stuck.
    switch (membership.probe(owner)) {
      case Membership::Presence::gone:
        return gone("no acknowledgement within " + std::to_string(kAcceptWithin.count()) +
                    " ms, and its $SRV.PING has no responders");
      case Membership::Presence::there:
        break;
      case Membership::Presence::unknown:
        // NATS cannot tell either: a dead owner's heartbeats stop, a stuck one's go on.
        if (membership.wait_gone(owner, membership.timeout() + std::chrono::milliseconds(100)))
          return gone("no acknowledgement within " + std::to_string(kAcceptWithin.count()) +
                      " ms, and its heartbeats stopped or it said goodbye");
        break;
    }
    n->table.answer(c.to, error_reply(make_error(Errc::unavailable,
                                                 "node " + owner + ", which owns " + session() +
                                                     ", is up but did not accept the call within " +
                                                     std::to_string(kAcceptWithin.count()) + " ms; try again"),
                                      c.to.error_extra));
    return Handed::done;
  }
  n->table.answer(c.to, error_reply(make_error(Errc::unavailable, "cannot forward to node " + owner + ", which owns " +
                                                                      session() + ": " + r.error().message),
                                    c.to.error_extra));
  return Handed::done;
}

// On the blocking pool: which node owns the call's session (key-value round trips), then the
// call goes there or runs here. A forwarded call asks too: that renews this node's ownership,
// and a node restarted under the same id learns that the session's state is gone (local_reset:
// the reply says session_reset).
void settle(const std::shared_ptr<Node>& n, Call c) {
  const std::string session_id = c.body["session_id"].get<std::string>();
  std::vector<std::string> tried;  // owners this call was sent to and taken for gone
  // One round, or a few when owners turn out to be gone (each one is then taken for gone).
  for (int round = 0; round < 3; ++round) {
    auto* affinity = n->affinity();
    auto route = affinity ? affinity->resolve(c.server, session_id) : Result<Affinity::Route>(Affinity::Route{});
    if (!route.ok()) return n->table.answer(c.to, error_reply(route.error(), c.to.error_extra));
    if (route->decision == Affinity::Decision::forward && !c.forwarded) {
      if (std::find(tried.begin(), tried.end(), route->owner) != tried.end()) {
        // Taken for gone, yet still the owner by every account: perhaps it was only slow (or
        // this node was), and it may have run the call. A second send could run it twice.
        spdlog::warn("session '{}' of server '{}': node {} did not acknowledge the call but still owns the session; "
                     "not sending it again",
                     session_id, c.server, route->owner);
        return n->table.answer(
            c.to, error_reply(make_error(Errc::unavailable,
                                         "node " + route->owner + ", which owns session '" + session_id +
                                             "' of server '" + c.server +
                                             "', did not acknowledge the call in time and still owns the session; "
                                             "the call may or may not have run there, so it is not sent again"),
                              c.to.error_extra));
      }
      if (forward(n, route->owner, c) == Handed::done) return;
      tried.push_back(route->owner);
      continue;  // its owner is gone: this time resolve() takes the session over
    }
    // A forwarded call is never forwarded again (no ping-pong while ownership moves).
    c.settled = route->decision == Affinity::Decision::forward ? Affinity::Decision::local : route->decision;
    return run(n, std::move(c));
  }
  n->table.answer(c.to, error_reply(make_error(Errc::unavailable, "could not settle which node owns session '" +
                                                                      session_id + "' of server '" + c.server +
                                                                      "' (its owners kept disappearing)"),
                                    c.to.error_extra));
}

// The progress-event for a progress notification's params (from the server: only what is well
// typed is passed on; a message is cut at 1 KiB, on a character boundary). Null if there is no number to report.
Json progress_event(const Json& params, const std::optional<std::string>& request_id) {
  auto progress = params.find("progress");
  if (progress == params.end() || !progress->is_number()) return nullptr;
  Json event = {{"progress", *progress}};
  if (auto t = params.find("total"); t != params.end() && t->is_number()) event["total"] = *t;
  if (auto m = params.find("message"); m != params.end() && m->is_string()) {
    const auto& text = m->get_ref<const std::string&>();
    event["message"] = text.size() > 1024 ? std::string(utf8_prefix(text, 1024)) + "…" : text;
  }
  if (request_id) event["request_id"] = *request_id;
  return event;
}

// Runs `step` on the blocking pool; a refused post is answered at once.
void off_loop(const std::shared_ptr<Node>& n, const ReplyTo& to, std::function<void()> step) {
  if (auto st = n->blocking.post(std::move(step)); !st.ok()) n->table.answer(to, error_reply(st.error(), to.error_extra));
}

void run(const std::shared_ptr<Node>& n, Call c) {
  auto p = n->registry.find(c.server);
  if (!p) {
    if (n->replicated() && !c.fetched) {
      // Perhaps created on another node a moment ago: ask the catalog of record before saying
      // it does not exist.
      auto to = c.to;
      off_loop(n, to, [n, c = std::make_shared<Call>(std::move(c))]() mutable {
        n->catalog.fetch(c->server);
        c->fetched = true;
        run(n, std::move(*c));
      });
      return;
    }
    n->table.answer(c.to, error_reply(n->unknown_server(c.server), c.to.error_extra));
    return;
  }
  if (c.to.server.empty()) {  // counted in /metrics (and logged) from here on: a server this node runs
    c.to.server = c.server;
    c.to.tool = c.body["tool"].get<std::string>();
    if (auto s = c.body.find("session_id"); s != c.body.end() && s->is_string()) c.to.session = s->get<std::string>();
    c.to.trace_id = c.trace.trace_id();
  }
  const bool affine = c.body.contains("session_id") && p->options().isolate_by_session_id;
  if (affine && !c.settled && n->affinity()) {
    auto to = c.to;
    off_loop(n, to, [n, c = std::make_shared<Call>(std::move(c))]() mutable { settle(n, std::move(*c)); });
    return;
  }
  if (c.body.contains("task")) {
    // A task: answered at once with the task; the call runs in the background.
    if (!n->tasks->started())
      return n->table.answer(c.to, error_reply(make_error(Errc::unavailable, "tasks are not available on this node yet (it is starting); retry in a moment"),
                                               c.to.error_extra));
    return n->tasks->create(std::move(p), std::move(c.server), std::move(c.body), std::move(c.to));
  }
  pool::CallRequest req;
  req.session_reset = c.settled == Affinity::Decision::local_reset;
  req.tool = c.body["tool"].get<std::string>();
  if (auto a = c.body.find("args"); a != c.body.end() && a->is_object()) req.arguments = std::move(*a);
  if (auto s = c.body.find("session_id"); s != c.body.end() && s->is_string()) req.session_id = s->get<std::string>();
  if (auto t = c.body.find("timeout_ms"); t != c.body.end() && t->is_number_integer())
    req.timeout = std::chrono::milliseconds(t->get<std::int64_t>());
  // W3C trace context: to the server in params._meta (and, by the HTTP transport, as headers).
  if (!c.trace.traceparent.empty()) {
    req.meta = Json{{"traceparent", c.trace.traceparent}};
    if (!c.trace.tracestate.empty()) req.meta["tracestate"] = c.trace.tracestate;
  }
  const ReplyFormat format = c.body.value("format", std::string("compat")) == "mcp" ? ReplyFormat::mcp : ReplyFormat::compat;
  std::optional<std::string> request_id;
  if (auto it = c.body.find("request_id"); it != c.body.end() && it->is_string()) request_id = it->get<std::string>();
  if (auto it = c.body.find("progress_subject"); it != c.body.end() && it->is_string()) {
    std::string subject = it->get<std::string>();
    if (auto problem = n->opts.subjects.caller_subject_problem("progress_subject", subject); !problem.empty())
      return n->table.answer(c.to, error_reply(make_error(Errc::invalid_request, problem), c.to.error_extra));
    // On the session's strand: a publish is buffered by nats.c, it does not wait for the network.
    req.on_progress = [bus = n->bus, subject = std::move(subject), request_id](const Json& params) {
      auto event = progress_event(params, request_id);
      if (event.is_null()) return;
      if (auto st = bus->publish(subject, event.dump(-1, ' ', false, Json::error_handler_t::replace)); !st.ok())
        spdlog::debug("progress to {} not published: {}", subject, st.error().message);
    };
  }
  // A tool the server runs only as a task: run it as one and answer when it ends.
  const auto mode = p->task_support(req.tool);
  if (mode == mcp::TaskSupport::required)
    return n->tasks->run_sync(std::move(p), std::move(req), format, request_id, false, std::move(c.to));
  if (mode) {  // the usual case: the tool list is known and the tool runs as a plain call
    p->call(std::move(req), [n, to = std::move(c.to), format, request_id](Result<pool::CallResult> r) {
      if (r.ok()) n->table.answer(to, tool_reply(r.value().result, format, r.value().session_reset, request_id));
      else n->table.answer(to, error_reply(r.error(), to.error_extra));
    });
    return;
  }
  // The tool list is not known yet (the pool's first call): keep the request, in case the
  // server runs this tool only as a task and refuses it (an error, or an isError result).
  auto retry = std::make_shared<pool::CallRequest>(req);
  p->call(std::move(req), [n, p, to = std::move(c.to), format, request_id, retry](Result<pool::CallResult> r) mutable {
    const bool refused = !r.ok() ? r.error().code == Errc::invalid_request : mcp::is_tool_error(r.value().result);
    if (refused && p->task_support(retry->tool) == mcp::TaskSupport::required)
      return n->tasks->run_sync(std::move(p), std::move(*retry), format, request_id,
                                r.ok() && r.value().session_reset, std::move(to));
    if (r.ok()) n->table.answer(to, tool_reply(r.value().result, format, r.value().session_reset, request_id));
    else n->table.answer(to, error_reply(r.error(), to.error_extra));
  });
}

}  // namespace

std::string new_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char id[24];
  std::snprintf(id, sizeof id, "mcpd-%016llx", static_cast<unsigned long long>(random()));
  return id;
}

void execute(const std::shared_ptr<Node>& node, std::string server, Json body, ReplyTo to, TraceContext trace,
             bool forwarded) {
  // Every reply of this call, and every log line about it, carries its request_id: the
  // caller's, or one made here (which a forwarded call takes along in its body).
  auto it = body.find("request_id");
  if (it == body.end() || !it->is_string()) it = body.emplace("request_id", new_request_id()).first;
  to.error_extra["request_id"] = *it;
  run(node, Call{std::move(server), std::move(body), std::move(to), std::move(trace), forwarded, std::nullopt, false});
}

void add_execute(const std::shared_ptr<Node>& node) {
  std::weak_ptr<Node> weak = node;
  node->table.add(EndpointSpec{
      .name = "execute",
      .pattern = "*.execute",
      .stats_subject = {},
      .payload = schema::Payload::tool_request,
      .runs = RunsOn::delivery,  // parse and hand to the pool: one thread hop less
      .via = Via::queue,
      .error_extra = Json::object(),
      .handler =
          [weak](Request r) {
            if (auto n = weak.lock())
              execute(n, std::move(r.captures[0]), std::move(r.body), std::move(r.reply_to), TraceContext::of(r.inbound), false);
          },
  });
}

}  // namespace mcpd::node
