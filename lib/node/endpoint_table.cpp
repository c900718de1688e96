#include "node/endpoint_table.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpd::node {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto dot = s.find('.');
    parts.push_back(s.substr(0, dot));
    if (dot == std::string_view::npos) return parts;
    s.remove_prefix(dot + 1);
  }
}

std::vector<std::string> tokens_of(std::string_view pattern) {
  std::vector<std::string> out;
  for (auto t : split(pattern)) out.emplace_back(t);
  return out;
}

std::string join(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  std::string s;
  for (std::size_t i = from; i < to; ++i) s += (i > from ? "." : "") + std::string(parts[i]);
  return s;
}

Status parse_body(std::string_view data, std::optional<schema::Payload> payload, std::size_t max_depth, Json& out) {
  if (data.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    out = Json::object();
  } else {
    // Pruned rather than stopped at the first level too deep, to tell the two failures apart.
    bool too_deep = false;
    auto doc = json::parse_pruned(data, max_depth, too_deep);
    if (!doc.ok()) return make_error(Errc::invalid_request, "request body is not valid JSON: " + doc.error().message);
    if (too_deep) return make_error(Errc::invalid_request, "request body refused: " + json::too_deep_message(max_depth));
    out = std::move(doc).value();
  }
  if (!payload) return {};
  if (auto st = schema::validate(*payload, out); !st.ok()) {
    Error e = st.error();
    e.message = "invalid " + std::string(schema::name(*payload)) + ": " + e.message;
    return e;
  }
  return {};
}

}  // namespace

Inbound Inbound::from(bus::Message msg) {
  auto owned = std::make_shared<bus::Message>(std::move(msg));
  return Inbound{owned->subject(), owned->reply(), owned->data(), owned, owned.get(), nullptr};
}

Inbound Inbound::copy(std::string subject, std::string reply, std::string data, bus::Headers headers) {
  struct Strings {
    std::string subject, reply, data;
    bus::Headers headers;
  };
  auto owned =
      std::make_shared<Strings>(Strings{std::move(subject), std::move(reply), std::move(data), std::move(headers)});
  return Inbound{owned->subject, owned->reply, owned->data, owned, nullptr, &owned->headers};
}

std::optional<std::string> Inbound::header(std::string_view key) const {
  if (message) return message->header(key);
  if (headers)
    for (const auto& [k, v] : *headers)
      if (k == key) return v;
  return std::nullopt;
}

namespace {

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool valid_traceparent(std::string_view t) {
  if (t.size() != 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return false;
  if (!lower_hex(t.substr(0, 2)) || !lower_hex(t.substr(3, 32)) || !lower_hex(t.substr(36, 16)) || !lower_hex(t.substr(53, 2)))
    return false;
  // Version ff is invalid; an all-zero trace id or parent id is too.
  return t.substr(0, 2) != "ff" && t.substr(3, 32) != std::string(32, '0') && t.substr(36, 16) != std::string(16, '0');
}

}  // namespace

TraceContext TraceContext::of(const Inbound& in) {
  TraceContext t;
  auto parent = in.header(kTraceparentHeader);
  if (!parent || !valid_traceparent(*parent)) return t;
  t.traceparent = std::move(*parent);
  if (auto state = in.header(kTracestateHeader);
      state && !state->empty() && state->size() <= 512 &&
      std::all_of(state->begin(), state->end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
    t.tracestate = std::move(*state);
  return t;
}

EndpointTable::EndpointTable(TableOptions options, io::Loop& loop, io::BlockingPool& blocking, Sink sink)
    : opts_(std::move(options)), loop_(loop), blocking_(blocking), sink_(std::move(sink)) {
  auto unrouted = std::make_unique<Counter>();
  unrouted->name = "(unrouted)";
  counters_.push_back(std::move(unrouted));
}

void EndpointTable::add(EndpointSpec spec) {
  Entry e;
  e.tokens = tokens_of(spec.pattern);
  e.via = spec.via;
  // Endpoints sharing a name share a counter: the first registration names its subject.
  e.counter = counters_.size();
  for (std::size_t i = 1; i < counters_.size(); ++i)
    if (counters_[i]->name == spec.name) e.counter = i;
  if (e.counter == counters_.size()) {
    auto c = std::make_unique<Counter>();
    c->name = spec.name;
    c->subject = opts_.prefix + "." + (spec.stats_subject.empty() ? spec.pattern : spec.stats_subject);
    counters_.push_back(std::move(c));
  }
  e.spec = std::move(spec);
  entries_.push_back(std::move(e));
}

void EndpointTable::refuse(std::string pattern, std::string message, Via via) {
  Entry e;
  e.kind = Entry::Kind::refuse;
  e.tokens = tokens_of(pattern);
  e.via = via;
  e.message = std::move(message);
  entries_.push_back(std::move(e));
}

void EndpointTable::ignore(std::string pattern, Via via) {
  Entry e;
  e.kind = Entry::Kind::ignore;
  e.tokens = tokens_of(pattern);
  e.via = via;
  entries_.push_back(std::move(e));
}

const EndpointTable::Entry* EndpointTable::match(const std::vector<std::string_view>& tokens, Via via,
                                                 std::vector<std::string>& captures) const {
  for (const auto& e : entries_) {
    if (e.via != via) continue;
    captures.clear();
    bool ok = true;
    std::size_t i = 0;
    for (; i < e.tokens.size() && ok; ++i) {
      if (e.tokens[i] == ">") {
        i = tokens.size();  // matches the rest (one token at least)
        ok = e.tokens.size() - 1 < tokens.size();
        break;
      }
      if (i >= tokens.size()) ok = false;
      else if (e.tokens[i] == "*") captures.emplace_back(tokens[i]);
      else ok = e.tokens[i] == tokens[i];
    }
    if (ok && i == tokens.size()) return &e;
  }
  return nullptr;
}

std::string EndpointTable::unmatched_problem(std::string_view subject, Via via) const {
  const std::string head = opts_.prefix + ".";
  if (!subject.starts_with(head))
    return "subject '" + std::string(subject) + "' is not under '" + opts_.prefix + "'";
  auto parts = split(subject.substr(head.size()));
  std::string usage;
  for (const auto& e : entries_) {
    if (e.kind != Entry::Kind::endpoint || e.via != via || e.tokens.size() < 2 || e.tokens[0] != "*") continue;
    // A family of verbs is named once: mcp.<server>.resources.*
    const std::string verb = e.tokens.size() == 2 ? e.tokens[1] : e.tokens[1] + ".*";
    if (usage.ends_with("." + verb)) continue;
    usage += (usage.empty() ? "" : " or ") + opts_.prefix + ".<server>." + verb;
  }
  usage = "use " + usage + " (server names: lowercase letters, digits, '-' and '_')";
  for (const auto& e : entries_) {
    if (e.kind != Entry::Kind::endpoint || e.via != via) continue;
    // <server>.<verb> with dots in the server name.
    if (e.tokens.size() == 2 && e.tokens[0] == "*" && parts.size() > 2 && parts.back() == e.tokens[1])
      return "server name '" + join(parts, 0, parts.size() - 1) + "' is invalid: it may not contain '.'; " + usage;
    // A family whose last token (the verb) is unknown: name the verbs it has.
    if (e.tokens.size() == parts.size() && e.tokens.size() >= 2) {
      bool same_family = true;
      for (std::size_t i = 0; i + 1 < parts.size() && same_family; ++i)
        same_family = e.tokens[i] == "*" || e.tokens[i] == parts[i];
      // (a <server>.<family>.<verb> family too, e.g. everything.resources.bogus)
      if (same_family && e.tokens.back() != "*" && (e.tokens[0] != "*" || e.tokens.size() >= 3)) {
        std::string verbs;
        for (const auto& f : entries_)
          if (f.kind == Entry::Kind::endpoint && f.via == via && f.tokens.size() == e.tokens.size() &&
              std::equal(f.tokens.begin(), f.tokens.end() - 1, e.tokens.begin()))
            verbs += (verbs.empty() ? "" : ", ") + f.tokens.back();
        return "unknown verb '" + std::string(parts.back()) + "' for " + opts_.prefix + "." +
               join(parts, 0, parts.size() - 1) + " (use " + verbs + ")";
      }
    }
  }
  return "unknown subject '" + std::string(subject) + "': " + usage;
}

void EndpointTable::dispatch(Inbound in, Via via) {
  if (in.reply.empty()) return;  // a publish, not a request: nothing to answer
  const std::string head = opts_.prefix + ".";
  std::vector<std::string> captures;
  const Entry* e = nullptr;
  if (in.subject.starts_with(head)) e = match(split(in.subject.substr(head.size())), via, captures);
  if (e && e->kind == Entry::Kind::ignore) return;

  ++in_flight_;
  ++requests_;
  ReplyTo to{std::string(in.reply), 0, Clock::now(), Json::object()};
  if (!e) return refuse_now(to, make_error(Errc::invalid_request, unmatched_problem(in.subject, via)));
  if (e->kind == Entry::Kind::refuse) return refuse_now(to, make_error(Errc::invalid_request, e->message));

  to.endpoint = e->counter;
  to.error_extra = e->spec.error_extra;
  Request req{Json(), std::move(captures), std::move(to), std::move(in)};
  switch (e->spec.runs) {
    case RunsOn::delivery:
      if (req.inbound.data.size() <= opts_.inline_bytes) return run(*e, std::move(req));
      [[fallthrough]];  // a big body takes a while to parse: not on the delivery thread
    case RunsOn::loop:
      asio::post(loop_.context(), [this, e, r = std::make_shared<Request>(std::move(req))] { run(*e, std::move(*r)); });
      return;
    case RunsOn::blocking: {
      auto r = std::make_shared<Request>(std::move(req));
      if (auto st = blocking_.post([this, e, r] { run(*e, std::move(*r)); }); !st.ok()) refuse_now(r->reply_to, st.error());
      return;
    }
  }
}

void EndpointTable::run(const Entry& entry, Request req) {
  if (req.inbound.data.size() > opts_.max_request_bytes)
    return refuse_now(req.reply_to, make_error(Errc::too_large, "request body is " + std::to_string(req.inbound.data.size()) +
                                                                    " bytes; this node accepts at most " +
                                                                    std::to_string(opts_.max_request_bytes)));
  if (auto st = parse_body(req.inbound.data, entry.spec.payload, opts_.json_max_depth, req.body); !st.ok())
    return refuse_now(req.reply_to, st.error());
  if (gate_)
    if (auto st = gate_(entry.spec, req); !st.ok()) return refuse_now(req.reply_to, st.error());
  entry.spec.handler(std::move(req));
}

void EndpointTable::refuse_now(const ReplyTo& to, Error error) { answer(to, error_reply(error, to.error_extra)); }

void EndpointTable::answer(const ReplyTo& to, const Reply& reply_in) {
  constexpr std::size_t kHeaderRoom = 4096;
  const std::int64_t limit = opts_.reply_limit ? opts_.reply_limit() : 0;
  std::optional<Reply> too_large;
  if (limit > 0 && reply_in.body.size() + kHeaderRoom > static_cast<std::size_t>(limit))
    too_large = error_reply(
        make_error(Errc::too_large, "the reply is " + std::to_string(reply_in.body.size()) +
                                        " bytes, more than NATS accepts (max_payload " + std::to_string(limit) +
                                        "); ask the tool for less, or raise max_payload on the NATS servers"),
        to.error_extra);
  const Reply& reply = too_large ? *too_large : reply_in;
  // Counted before the reply leaves: a caller that asks $SRV.STATS once answered sees its call.
  auto& c = count(to);
  if (reply.error) {
    ++errors_;
    ++c.errors;
    MutexLock lock(c.mu);
    c.last_error = reply.error->message;
  }
  if (!to.server.empty() && opts_.on_call) opts_.on_call(to, reply);
  sink_(to.subject, reply);
  --in_flight_;
}

void EndpointTable::handed_off(const ReplyTo& to) {
  count(to);
  --in_flight_;
}

EndpointTable::Counter& EndpointTable::count(const ReplyTo& to) {
  auto& c = *counters_[to.endpoint];
  ++c.requests;
  c.processing_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - to.start).count();
  return c;
}

std::vector<EndpointStats> EndpointTable::stats() const {
  std::vector<EndpointStats> out;
  for (std::size_t i = 1; i < counters_.size(); ++i) {
    const auto& c = *counters_[i];
    EndpointStats e;
    e.name = c.name;
    e.subject = c.subject;
    e.queue_group = opts_.queue_group;
    e.requests = c.requests;
    e.errors = c.errors;
    e.processing_time = std::chrono::nanoseconds(c.processing_ns.load());
    {
      MutexLock lock(c.mu);
      e.last_error = c.last_error;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace mcpd::node
