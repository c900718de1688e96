// Resources, prompts and completion over NATS (contract 1.1), end to end: a real nats-server,
// the real mcpd binary and the npm reference servers (everything offers all three; memory
// offers resources; filesystem offers none). Every reply is checked against its schema in
// proto-schemas/, as a caller in another language would.
#include "bus/connection.hpp"
#include "schema/schema.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

struct Answer {
  Json body;
  std::optional<std::string> error_header;
};

struct Node {
  TempDir scratch;
  NatsServer nats;
  std::unique_ptr<DaemonProcess> daemon;
  std::shared_ptr<bus::Connection> client;

  Node() {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = "test-client";
    client = bus::Connection::connect(o).value();
    daemon = std::make_unique<DaemonProcess>("[node]\nid = \"test-node\"\n[nats]\nurl = \"" + nats.url() + R"("
[[servers]]
name = "everything"
command = ")" + npm_bin("mcp-server-everything") + R"("

[[servers]]
name = "memory"
command = ")" + npm_bin("mcp-server-memory") + R"("
env = { MEMORY_FILE_PATH = ")" + (scratch.path() / "memory.jsonl").string() + R"(" }

[[servers]]
name = "filesystem"
command = ")" + npm_bin("mcp-server-filesystem") + R"("
args = [")" + scratch.path().string() + R"("]
)");
    daemon->wait_serving(*client);
  }
  ~Node() {
    daemon->signal(SIGTERM);
    daemon->wait_exit();
  }

  // A request to mcp.<server>.<verb>; the reply must satisfy `reply_schema` (success or failure).
  Answer ask(const std::string& server, const std::string& verb, const Json& body, schema::Payload reply_schema) {
    const std::string subject = "mcp." + server + "." + verb;
    auto r = client->request(subject, body.dump(), 60s);
    if (!r.ok()) FAIL("request to " << subject << " failed: " << r.error().message << "\nmcpd log:\n" << daemon->log());
    Answer a{Json::parse(r.value().data(), nullptr, false), r.value().header("Nats-Service-Error")};
    INFO(subject << " answered " << a.body.dump());
    auto st = schema::validate(reply_schema, a.body);
    CHECK(st.ok());
    if (!st.ok()) UNSCOPED_INFO(st.error().message);
    return a;
  }
};

void check_error(const Answer& a, const std::string& code, const std::string& fragment) {
  INFO(a.body.dump());
  CHECK(a.body["code"] == code);
  CHECK_THAT(a.body.value("error", std::string()), Catch::Contains(fragment, Catch::CaseSensitive::No));
  CHECK(a.error_header.has_value());
}

}  // namespace

TEST_CASE("resources - prompts and completion of the everything server over NATS") {
  Node n;
  using schema::Payload;

  auto resources = n.ask("everything", "resources.list", Json::object(), Payload::resource_list_reply);
  REQUIRE(resources.body["resources"].is_array());
  std::set<std::string> uris;
  for (const auto& r : resources.body["resources"]) uris.insert(r["uri"].get<std::string>());
  CHECK(uris.count("demo://resource/static/document/architecture.md") == 1);
  CHECK(resources.body["request_id"].get<std::string>().starts_with("mcpd-"));

  auto templates = n.ask("everything", "resources.templates", {{"request_id", "t-1"}}, Payload::resource_template_list_reply);
  CHECK(templates.body["request_id"] == "t-1");
  bool dynamic_text = false;
  for (const auto& t : templates.body["resourceTemplates"])
    dynamic_text = dynamic_text || t["uriTemplate"] == "demo://resource/dynamic/text/{resourceId}";
  CHECK(dynamic_text);

  auto read = n.ask("everything", "resources.read", {{"uri", "demo://resource/static/document/architecture.md"}},
                    Payload::resource_read_reply);
  REQUIRE(read.body["contents"].size() == 1);
  CHECK(read.body["contents"][0]["mimeType"] == "text/markdown");
  CHECK_THAT(read.body["contents"][0]["text"].get<std::string>(), Catch::Contains("Architecture"));
  // A blob from a template: base64, passed on untouched.
  auto blob = n.ask("everything", "resources.read", {{"uri", "demo://resource/dynamic/blob/7"}}, Payload::resource_read_reply);
  REQUIRE(blob.body["contents"].size() == 1);
  CHECK(blob.body["contents"][0]["blob"].is_string());

  auto prompts = n.ask("everything", "prompts.list", Json::object(), Payload::prompt_list_reply);
  std::set<std::string> names;
  for (const auto& p : prompts.body["prompts"]) names.insert(p["name"].get<std::string>());
  CHECK(names.count("simple-prompt") == 1);
  CHECK(names.count("args-prompt") == 1);

  auto prompt = n.ask("everything", "prompts.get", {{"name", "args-prompt"}, {"arguments", {{"city", "Lyon"}}}},
                      Payload::prompt_get_reply);
  REQUIRE(prompt.body["messages"].size() >= 1);
  CHECK(prompt.body["messages"][0]["role"] == "user");
  CHECK_THAT(prompt.body["messages"][0]["content"]["text"].get<std::string>(), Catch::Contains("Lyon"));

  auto complete = n.ask("everything", "complete",
                        {{"ref", {{"type", "ref/prompt"}, {"name", "completable-prompt"}}},
                         {"argument", {{"name", "department"}, {"value", "E"}}}},
                        Payload::complete_reply);
  CHECK(complete.body["completion"]["values"] == Json::array({"Engineering"}));

  // The server's refusals come back as errors a caller can act on.
  check_error(n.ask("everything", "prompts.get", {{"name", "no-such-prompt"}}, Payload::prompt_get_reply),
              "invalid_request", "no-such-prompt");
  check_error(n.ask("everything", "resources.read", {{"uri", "demo://no/such/thing"}}, Payload::resource_read_reply),
              "invalid_request", "server 'everything'");
}

TEST_CASE("a server without the capability is not asked - bad requests are refused with the rule") {
  Node n;
  using schema::Payload;

  // filesystem declares only tools: a clear refusal, and lists keep their array.
  auto none = n.ask("filesystem", "resources.list", Json::object(), Payload::resource_list_reply);
  check_error(none, "invalid_request", "server 'filesystem' does not offer resources");
  CHECK(none.body["resources"] == Json::array());
  check_error(n.ask("filesystem", "prompts.get", {{"name", "x"}}, Payload::prompt_get_reply), "invalid_request",
              "does not offer prompts");
  check_error(n.ask("filesystem", "complete",
                    {{"ref", {{"type", "ref/prompt"}, {"name", "x"}}}, {"argument", {{"name", "a"}, {"value", ""}}}},
                    Payload::complete_reply),
              "invalid_request", "does not offer completions");
  // Its tools still work beside it.
  auto tools = n.client->request("mcp.filesystem.list-tools", "{}", 60s);
  REQUIRE(tools.ok());
  CHECK(Json::parse(tools.value().data())["tools"].size() > 3);

  // memory offers resources: its knowledge graph, read through NATS.
  auto memory = n.ask("memory", "resources.list", Json::object(), Payload::resource_list_reply);
  REQUIRE(memory.body["resources"].size() >= 1);
  const std::string uri = memory.body["resources"][0]["uri"];
  auto graph = n.ask("memory", "resources.read", {{"uri", uri}}, Payload::resource_read_reply);
  REQUIRE(graph.body["contents"].size() == 1);
  CHECK(graph.body["contents"][0]["uri"] == uri);

  // Bad input: each refused by the contract before any server is asked.
  check_error(n.ask("everything", "resources.read", Json::object(), Payload::error_reply), "invalid_request", "uri");
  check_error(n.ask("everything", "prompts.get", {{"name", "args-prompt"}, {"arguments", {{"city", 3}}}}, Payload::error_reply),
              "invalid_request", "arguments.city");
  check_error(n.ask("everything", "complete", {{"ref", {{"type", "ref/resource"}}}, {"argument", {{"name", "a"}, {"value", ""}}}},
                    Payload::error_reply),
              "invalid_request", "ref.uri: required");
  check_error(n.ask("everything", "resources.list", {{"cursor", 5}}, Payload::resource_list_reply), "invalid_request",
              "cursor");
  check_error(n.ask("nosuch", "resources.list", Json::object(), Payload::resource_list_reply), "invalid_request",
              "nosuch");
  check_error(n.ask("everything", "resources.bogus", Json::object(), Payload::error_reply), "invalid_request",
              "unknown verb 'bogus' for mcp.everything.resources (use list, templates, read)");
  // A body that is not JSON.
  auto raw = n.client->request("mcp.everything.prompts.list", "{not json", 20s);
  REQUIRE(raw.ok());
  CHECK(Json::parse(raw.value().data())["code"] == "invalid_request");
  CHECK(Json::parse(raw.value().data())["prompts"] == Json::array());
}
