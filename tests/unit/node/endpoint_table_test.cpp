// The node's endpoint table without NATS: routing by pattern (captures, refusals, ignored
// subjects, the sentence an unknown subject gets), body limits, schema validation, the thread
// each endpoint runs on, and the counters $SRV.STATS reports.
#include "node/endpoint_table.hpp"

#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <mutex>
#include <thread>

using namespace mcpd;
using namespace mcpd::node;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

// A table whose replies land in a list; the loop and the blocking pool are real.
struct Fixture {
  io::Loop loop{1};
  io::BlockingPool blocking;
  std::mutex mu;
  std::vector<std::pair<std::string, Reply>> sent;
  std::int64_t reply_limit = 0;
  EndpointTable table;

  explicit Fixture(std::size_t max_request_bytes = 1024, std::size_t blocking_capacity = 4096)
      : blocking("test-blocking", 1, blocking_capacity),
        table(TableOptions{"mcp", "mcpd", max_request_bytes, 64, [this] { return reply_limit; }}, loop, blocking,
              [this](const std::string& subject, const Reply& reply) {
                std::lock_guard lock(mu);
                sent.emplace_back(subject, reply);
              }) {}
  ~Fixture() {
    blocking.stop();
    loop.stop();
  }

  // Dispatches one request and waits for its reply (the body as JSON, null if none came).
  Json request(const std::string& subject, const std::string& body = "{}", Via via = Via::queue) {
    const std::string inbox = "_INBOX." + std::to_string(++n_);
    table.dispatch(Inbound::copy(subject, inbox, body), via);
    Json out;
    wait_until(
        [&] {
          std::lock_guard lock(mu);
          for (const auto& [s, r] : sent)
            if (s == inbox) out = Json::parse(r.body);
          return !out.is_null();
        },
        5s, 1ms);
    return out;
  }
  int n_ = 0;
};

EndpointSpec echo_spec(std::string name, std::string pattern, RunsOn runs, Fixture& f, std::thread::id* ran_on = nullptr) {
  EndpointSpec s;
  s.name = std::move(name);
  s.pattern = std::move(pattern);
  s.runs = runs;
  s.handler = [&f, ran_on](Request r) {
    if (ran_on) *ran_on = std::this_thread::get_id();
    Json caps = r.captures;
    f.table.answer(r.reply_to, Reply{Json{{"captures", caps}, {"body", r.body}}.dump(), {}, std::nullopt});
  };
  return s;
}

}  // namespace

TEST_CASE("node table: a pattern routes its subject and captures the wildcard tokens") {
  Fixture f;
  f.table.add(echo_spec("execute", "*.execute", RunsOn::delivery, f));
  f.table.add(echo_spec("admin", "admin.servers.put", RunsOn::blocking, f));
  auto r = f.request("mcp.fake.execute", R"({"tool":"x"})");
  CHECK(r["captures"] == Json::array({"fake"}));
  CHECK(r["body"]["tool"] == "x");
  CHECK(f.request("mcp.admin.servers.put")["captures"] == Json::array());
  CHECK(f.request("mcp.other.execute", "   ")["body"] == Json::object());  // an empty body is {}
}

TEST_CASE("node table: unknown subjects get a sentence a person can act on") {
  Fixture f;
  f.table.add(echo_spec("execute", "*.execute", RunsOn::delivery, f));
  f.table.add(echo_spec("list-tools", "*.list-tools", RunsOn::delivery, f));
  for (const char* verb : {"put", "delete"}) f.table.add(echo_spec("admin", std::string("admin.servers.") + verb, RunsOn::loop, f));
  for (const char* verb : {"list", "read"})
    f.table.add(echo_spec(std::string("resources.") + verb, std::string("*.resources.") + verb, RunsOn::delivery, f));
  auto dotted = f.request("mcp.a.b.execute");
  CHECK(dotted["code"] == "invalid_request");
  CHECK(dotted["error"].get<std::string>().find("server name 'a.b' is invalid: it may not contain '.'") == 0);
  auto verb = f.request("mcp.admin.servers.explode");
  CHECK(verb["error"] == "unknown verb 'explode' for mcp.admin.servers (use put, delete)");
  auto unknown = f.request("mcp.fake.explode");
  CHECK(unknown["error"].get<std::string>().starts_with(
      "unknown subject 'mcp.fake.explode': use mcp.<server>.execute or mcp.<server>.list-tools or mcp.<server>.resources.* ("));
  // A verb a server's family does not have: the family's verbs are named.
  CHECK(f.request("mcp.fake.resources.explode")["error"] == "unknown verb 'explode' for mcp.fake.resources (use list, read)");
  CHECK(f.table.unmatched_problem("other.fake.execute", Via::queue) == "subject 'other.fake.execute' is not under 'mcp'");
}

TEST_CASE("node table: refused subjects are answered while ignored ones and publishes are dropped") {
  Fixture f;
  f.table.add(echo_spec("execute", "*.execute", RunsOn::delivery, f));
  f.table.refuse("servers.*", "an event subject");
  f.table.ignore("nodes.>");
  CHECK(f.request("mcp.servers.created")["error"] == "an event subject");
  f.table.dispatch(Inbound::copy("mcp.nodes.n1.fake.execute", "_INBOX.x", "{}"), Via::queue);
  f.table.dispatch(Inbound::copy("mcp.fake.execute", "", "{}"), Via::queue);  // a publish: nobody to answer
  // Both were dropped at once on this thread: nothing in flight, nothing counted.
  CHECK(f.table.in_flight() == 0);
  CHECK(f.table.requests() == 1);
}

TEST_CASE("node table: the body is bounded and parsed and validated before the handler runs") {
  Fixture f(/*max_request_bytes=*/200);
  auto spec = echo_spec("execute", "*.execute", RunsOn::delivery, f);
  spec.payload = schema::Payload::tool_request;
  spec.error_extra = Json{{"tools", Json::array()}};
  f.table.add(spec);
  auto big = f.request("mcp.fake.execute", std::string(300, ' '));
  CHECK(big["code"] == "too_large");
  CHECK(big["error"] == "request body is 300 bytes; this node accepts at most 200");
  CHECK(big["tools"] == Json::array());  // the endpoint's error shape
  auto garbage = f.request("mcp.fake.execute", "{nope");
  CHECK(garbage["code"] == "invalid_request");
  CHECK(garbage["error"].get<std::string>().starts_with("request body is not valid JSON"));
  auto invalid = f.request("mcp.fake.execute", R"({"tool": 5})");
  CHECK(invalid["code"] == "invalid_request");
  CHECK(invalid["error"].get<std::string>().starts_with("invalid tool-request: tool: expected a string"));
  CHECK(f.request("mcp.fake.execute", R"({"tool":"echo"})")["body"]["tool"] == "echo");
}

TEST_CASE("node table: each endpoint runs where it was registered to") {
  Fixture f;
  std::thread::id delivery, big, loop, blocking;
  f.table.add(echo_spec("a", "*.inline", RunsOn::delivery, f, &delivery));
  f.table.add(echo_spec("b", "*.big", RunsOn::delivery, f, &big));
  f.table.add(echo_spec("c", "*.loop", RunsOn::loop, f, &loop));
  f.table.add(echo_spec("d", "*.blocking", RunsOn::blocking, f, &blocking));
  REQUIRE(f.request("mcp.s.inline").is_object());
  REQUIRE(f.request("mcp.s.big", "{\"pad\": \"" + std::string(100, 'x') + "\"}").is_object());  // over inline_bytes (64)
  REQUIRE(f.request("mcp.s.loop").is_object());
  REQUIRE(f.request("mcp.s.blocking").is_object());
  CHECK(delivery == std::this_thread::get_id());
  CHECK(big != std::this_thread::get_id());
  CHECK(loop != std::this_thread::get_id());
  CHECK(blocking != std::this_thread::get_id());
  CHECK(blocking != loop);
  CHECK(big == loop);  // a large body goes to the loop
}

TEST_CASE("node table: a stopped blocking pool refuses with unavailable instead of leaving the caller waiting") {
  Fixture f;
  f.table.add(echo_spec("d", "*.blocking", RunsOn::blocking, f));
  f.blocking.stop();
  auto r = f.request("mcp.s.blocking");
  CHECK(r["code"] == "unavailable");
  CHECK(f.table.in_flight() == 0);
}

TEST_CASE("node table: a handler reads the request's headers") {
  Fixture f;
  std::promise<std::pair<std::optional<std::string>, std::optional<std::string>>> seen;
  EndpointSpec spec;
  spec.name = "h";
  spec.pattern = "*.headers";
  spec.handler = [&](Request r) {
    seen.set_value({r.inbound.header("Mcpd-Reply-To"), r.inbound.header("Absent")});
    f.table.answer(r.reply_to, Reply{"{}", {}, std::nullopt});
  };
  f.table.add(std::move(spec));
  f.table.dispatch(Inbound::copy("mcp.s.headers", "_INBOX.h", "{}", {{"Mcpd-Reply-To", "_INBOX.caller"}}), Via::queue);
  auto got = seen.get_future();
  REQUIRE(got.wait_for(5s) == std::future_status::ready);
  auto [reply_to, absent] = got.get();
  CHECK(reply_to == std::optional<std::string>("_INBOX.caller"));
  CHECK_FALSE(absent.has_value());
}

TEST_CASE("node table: a full blocking pool refuses with overloaded instead of leaving the caller waiting") {
  Fixture f(1024, 1);
  f.table.add(echo_spec("d", "*.blocking", RunsOn::blocking, f));
  // The pool's one thread is held, and its queue (room for one) is full.
  std::promise<void> entered, go;
  auto held = go.get_future().share();
  REQUIRE(f.blocking.post([&entered, held] {
                      entered.set_value();
                      held.wait();
                    })
              .ok());
  REQUIRE(entered.get_future().wait_for(10s) == std::future_status::ready);
  REQUIRE(f.blocking.post([] {}).ok());
  auto r = f.request("mcp.s.blocking");
  CHECK(r["code"] == "overloaded");
  CHECK(f.table.in_flight() == 0);
  go.set_value();
  // Drained, it serves again.
  CHECK(f.request("mcp.s.blocking").is_object());
  CHECK(f.table.in_flight() == 0);
}

TEST_CASE("node table: requests and errors and the last error and processing time are counted per endpoint name") {
  Fixture f;
  EndpointSpec failing = echo_spec("admin", "admin.servers.get", RunsOn::delivery, f);
  failing.handler = [&f](Request r) {
    f.table.answer(r.reply_to, error_reply(make_error(Errc::invalid_request, "no MCP server named 'x'")));
  };
  f.table.add(echo_spec("execute", "*.execute", RunsOn::delivery, f));
  f.table.add(failing);
  f.table.add(echo_spec("admin", "admin.servers.list", RunsOn::delivery, f));  // shares the admin counter
  f.request("mcp.fake.execute");
  f.request("mcp.fake.execute");
  f.request("mcp.admin.servers.get");
  f.request("mcp.admin.servers.list");
  f.request("mcp.nowhere");  // unrouted: counted in the totals, under no endpoint
  auto stats = f.table.stats();
  REQUIRE(stats.size() == 2);
  CHECK(stats[0].name == "execute");
  CHECK(stats[0].subject == "mcp.*.execute");
  CHECK(stats[0].requests == 2);
  CHECK(stats[0].errors == 0);
  CHECK(stats[1].name == "admin");
  CHECK(stats[1].requests == 2);
  CHECK(stats[1].errors == 1);
  CHECK(stats[1].last_error == "no MCP server named 'x'");
  CHECK(stats[1].processing_time.count() > 0);
  CHECK(f.table.requests() == 5);
  CHECK(f.table.errors() == 2);
  CHECK(f.table.in_flight() == 0);
}

TEST_CASE("node table: a reply over the bus's limit becomes too_large and a hand-off counts without a reply") {
  Fixture f;
  f.reply_limit = 8192;
  EndpointSpec huge = echo_spec("execute", "*.execute", RunsOn::delivery, f);
  huge.handler = [&f](Request r) {
    f.table.answer(r.reply_to, Reply{Json{{"result", std::string(10000, 'x')}}.dump(), {}, std::nullopt});
  };
  f.table.add(huge);
  auto r = f.request("mcp.fake.execute");
  CHECK(r["code"] == "too_large");
  CHECK(r["error"].get<std::string>().find("more than NATS accepts (max_payload 8192)") != std::string::npos);
  CHECK(f.table.errors() == 1);

  EndpointSpec forward = echo_spec("fwd", "*.forward", RunsOn::delivery, f);
  forward.handler = [&f](Request r) { f.table.handed_off(r.reply_to); };
  f.table.add(forward);
  f.table.dispatch(Inbound::copy("mcp.s.forward", "_INBOX.fwd", "{}"), Via::queue);
  CHECK(f.table.in_flight() == 0);
  CHECK(f.table.stats()[1].requests == 1);
  std::lock_guard lock(f.mu);
  for (const auto& [s, reply] : f.sent) CHECK(s != "_INBOX.fwd");
}

TEST_CASE("node table: a node subscription routes only node endpoints") {
  Fixture f;
  f.table.add(echo_spec("execute", "*.execute", RunsOn::delivery, f));
  auto fwd = echo_spec("execute", "nodes.n1.*.execute", RunsOn::delivery, f);
  fwd.via = Via::node;
  f.table.add(fwd);
  CHECK(f.request("mcp.nodes.n1.fake.execute", "{}", Via::node)["captures"] == Json::array({"fake"}));
  CHECK(f.request("mcp.fake.execute", "{}", Via::node)["code"] == "invalid_request");
  CHECK(f.request("mcp.fake.execute")["captures"] == Json::array({"fake"}));
  CHECK(f.table.stats().size() == 1);  // the queue and node endpoints both count as execute
  CHECK(f.table.stats()[0].requests == 2);  // the unrouted one is in the totals only
  CHECK(f.table.requests() == 3);
}

TEST_CASE("node table: the gate sees every routed and valid request before its handler and may refuse it") {
  Fixture f;
  f.table.add(echo_spec("execute", "*.execute", RunsOn::delivery, f));
  f.table.add(echo_spec("admin", "admin.servers.put", RunsOn::blocking, f));
  std::vector<std::string> seen;
  std::mutex mu;
  f.table.set_gate([&](const EndpointSpec& e, const Request& r) -> Status {
    std::lock_guard lock(mu);
    seen.push_back(e.name + ":" + (r.captures.empty() ? "" : r.captures[0]));
    if (e.name == "admin") return make_error(Errc::invalid_request, "admin is closed here");
    return {};
  });
  CHECK(f.request("mcp.fake.execute")["captures"] == Json::array({"fake"}));
  CHECK(f.request("mcp.admin.servers.put")["error"] == "admin is closed here");
  CHECK(f.request("mcp.fake.execute", "{nope")["code"] == "invalid_request");  // invalid: never reaches the gate
  std::lock_guard lock(mu);
  CHECK(seen == std::vector<std::string>{"execute:fake", "admin:"});
}

TEST_CASE("node table: a body nested 100000 deep is refused invalid_request - 50 deep passes") {
  Fixture f(/*max_request_bytes=*/1u << 20);
  auto spec = echo_spec("execute", "*.execute", RunsOn::delivery, f);
  spec.payload = schema::Payload::tool_request;
  f.table.add(spec);
  auto deep = f.request("mcp.fake.execute", R"({"tool":"echo","args":{"a":)" + std::string(100000, '[') +
                                                std::string(100000, ']') + "}}");
  CHECK(deep["code"] == "invalid_request");
  CHECK(deep["error"] == "request body refused: JSON nesting deeper than 128 levels");
  // Unterminated as well as too deep: refused too.
  CHECK(f.request("mcp.fake.execute", std::string(100000, '['))["code"] == "invalid_request");
  auto fifty = f.request("mcp.fake.execute", R"({"tool":"echo","args":{"a":)" + std::string(48, '[') +
                                                 std::string(48, ']') + "}}");  // 1 + 1 + 48 levels
  REQUIRE(fifty.contains("body"));
  CHECK(json::depth_of(fifty["body"]) == 50);
  CHECK(f.table.errors() == 2);
}
