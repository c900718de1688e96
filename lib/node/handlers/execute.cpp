// <prefix>.<server>.execute: a tool call, to this node's pool for the server, or — for a call
// with a session_id whose session another node owns — forwarded to that node, which accepts it
// and answers the caller directly. A forward nobody accepts is never left unanswered: an owner
// that NATS says is gone (no responders, or silent until its heartbeats time out) has its
// session taken over here (session_reset); one that is there but does not accept in time gets
// the caller an `unavailable` naming it.
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

#include <spdlog/spdlog.h>

namespace mcpd::node {

using Json = nlohmann::json;

namespace {

struct Call {
  std::string server;
  Json body;
  ReplyTo to;
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
  auto r = n->bus->request(subject, c.body.dump(), kAcceptWithin, {{std::string(kReplyToHeader), c.to.subject}});
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
  if (bus::is_no_responders(r.error())) {
    // Rare: every node's <prefix>.> queue subscription matches the subject too (and ignores
    // it), so a dead owner mostly shows as a timeout, below.
    membership.mark_gone(owner, "nobody serves " + subject + " any more");
    return Handed::owner_gone;
  }
  if (r.error().code == Errc::timeout) {
    // Not accepted in time: the owner is dead (its $SRV.PING has no responders once NATS has
    // dropped its connection), or its connection outlives it, or it is stuck.
    switch (membership.probe(owner)) {
      case Membership::Presence::gone:
        return Handed::owner_gone;
      case Membership::Presence::there:
        break;
      case Membership::Presence::unknown:
        // NATS cannot tell either: a dead owner's heartbeats stop, a stuck one's go on.
        if (membership.wait_gone(owner, membership.timeout() + std::chrono::milliseconds(100))) return Handed::owner_gone;
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
  // One round, or a few when owners turn out to be gone (each one is then taken for gone).
  for (int round = 0; round < 3; ++round) {
    auto* affinity = n->affinity();
    auto route = affinity ? affinity->resolve(c.server, session_id) : Result<Affinity::Route>(Affinity::Route{});
    if (!route.ok()) return n->table.answer(c.to, error_reply(route.error(), c.to.error_extra));
    if (route->decision == Affinity::Decision::forward && !c.forwarded) {
      if (forward(n, route->owner, c) == Handed::done) return;
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
  const ReplyFormat format = c.body.value("format", std::string("compat")) == "mcp" ? ReplyFormat::mcp : ReplyFormat::compat;
  std::optional<std::string> request_id;
  if (auto it = c.body.find("request_id"); it != c.body.end() && it->is_string()) request_id = it->get<std::string>();
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

void execute(const std::shared_ptr<Node>& node, std::string server, Json body, ReplyTo to, bool forwarded) {
  // Every error reply of this call echoes the caller's request_id.
  if (auto it = body.find("request_id"); it != body.end() && it->is_string()) to.error_extra["request_id"] = *it;
  run(node, Call{std::move(server), std::move(body), std::move(to), forwarded, std::nullopt, false});
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
            if (auto n = weak.lock()) execute(n, std::move(r.captures[0]), std::move(r.body), std::move(r.reply_to), false);
          },
  });
}

}  // namespace mcpd::node
