// The NATS contract's schemas: every example in proto-schemas/examples/ is judged as its
// directory says, failures read as a person would want, and the embedded text is the file's.
#include "schema/schema.hpp"

#include "schema/bundle.hpp"

#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

using mcpd::Errc;
using mcpd::schema::Payload;
using nlohmann::json;
namespace fs = std::filesystem;
namespace schema = mcpd::schema;

namespace {

const fs::path kSchemaDir = MCPD_SCHEMA_DIR;

std::vector<fs::path> examples(Payload payload, const char* kind) {
  std::vector<fs::path> out;
  fs::path dir = kSchemaDir / "examples" / std::string(schema::name(payload)) / kind;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".json") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

json load(const fs::path& file) { return json::parse(mcpd::test::read_file(file)); }

// The message, or "valid" when the value passes.
std::string verdict(Payload payload, const json& value) {
  auto status = schema::validate(payload, value);
  if (status.ok()) return "valid";
  CHECK(status.error().code == Errc::invalid_request);
  return status.error().message;
}

}  // namespace

TEST_CASE("every embedded schema loads") {
  auto status = schema::self_check();
  INFO((status.ok() ? std::string() : status.error().message));
  REQUIRE(status.ok());
}

TEST_CASE("every payload has its schema file embedded verbatim and examples of both kinds") {
  REQUIRE(schema::all_payloads().size() == 32);
  for (Payload payload : schema::all_payloads()) {
    std::string file = std::string(schema::name(payload)) + ".schema.json";
    INFO(file);
    REQUIRE(fs::exists(kSchemaDir / file));
    CHECK(schema::schema_text(payload) == mcpd::test::read_file(kSchemaDir / file));
    json doc = json::parse(schema::schema_text(payload));
    CHECK(doc.value("$schema", "") == "https://json-schema.org/draft/2020-12/schema");
    CHECK(doc.value("$id", "") == file);  // relative: references resolve to the sibling files
    CHECK(doc.contains("title"));
    CHECK(doc.contains("description"));
    CHECK(examples(payload, "valid").size() >= 1);
    CHECK(examples(payload, "invalid").size() >= 1);
  }
}

TEST_CASE("valid examples pass") {
  for (Payload payload : schema::all_payloads()) {
    for (const auto& file : examples(payload, "valid")) {
      INFO(file.string());
      CHECK(verdict(payload, load(file)) == "valid");
    }
  }
}

// Invalid examples are named <location>--<rule>.json and break exactly that one rule, so the
// message must name the location ("body" is the top level) and report a single problem.
TEST_CASE("invalid examples fail at the location their file name gives") {
  std::size_t checked = 0;
  for (Payload payload : schema::all_payloads()) {
    for (const auto& file : examples(payload, "invalid")) {
      INFO(file.string());
      std::string stem = file.stem().string();
      auto sep = stem.find("--");
      REQUIRE(sep != std::string::npos);
      std::string location = stem.substr(0, sep);
      std::string message = verdict(payload, load(file));
      INFO(message);
      REQUIRE(message != "valid");
      if (location == "body")
        CHECK(message.find(": ") == std::string::npos);
      else
        CHECK(message.starts_with(location + ": "));
      CHECK(message.find("more problem") == std::string::npos);
      ++checked;
    }
  }
  CHECK(checked >= 60);
}

TEST_CASE("failures are worded for a person") {
  SECTION("wrong type") {
    CHECK(verdict(Payload::tool_request, {{"tool", 5}}) == "tool: expected a string, got number");
    CHECK(verdict(Payload::tool_request, {{"tool", "echo"}, {"args", json::array()}}) ==
          "args: expected an object or null, got array");
    CHECK(verdict(Payload::tool_request, {{"tool", "echo"}, {"timeout_ms", 1.5}}) ==
          "timeout_ms: expected an integer, got 1.5");
    CHECK(verdict(Payload::tool_request, json::array()) == "expected an object, got array");
  }
  SECTION("bounds") {
    CHECK(verdict(Payload::server, {{"name", "x"}, {"maxSessions", 1000}}) ==
          "maxSessions: must be at most 256, got 1000");
    CHECK(verdict(Payload::tool_request, {{"tool", ""}}) == "tool: must not be empty");
    CHECK(verdict(Payload::tool_request, {{"tool", std::string(300, 't')}}) ==
          "tool: must be at most 256 characters long, got 300");
  }
  SECTION("allowed values and patterns") {
    CHECK(verdict(Payload::tool_request, {{"tool", "echo"}, {"format", "raw"}}) ==
          "format: must be one of \"compat\", \"mcp\", got \"raw\"");
    CHECK(verdict(Payload::server, {{"name", "every.thing"}}) ==
          "name: must match the pattern ^[a-z0-9][a-z0-9_-]{0,62}$, got \"every.thing\"");
    CHECK(verdict(Payload::error_reply, {{"error", "x"}, {"code", "nope"}}).starts_with(
        "code: must be one of \"invalid_request\", \"unknown_tool\","));
  }
  SECTION("missing and unknown fields") {
    CHECK(verdict(Payload::tool_request, {{"args", json::object()}}) == "tool: required field is missing");
    CHECK(verdict(Payload::server, {{"name", "x"}, {"auth", {{"type", "bearer"}, {"token", "s3cr3t"}}}}) ==
          "auth.token: unknown field (allowed: clientId, clientSecretEnv, clientSecretFile, scopes, tokenEndpointAuthMethod, tokenEnv, tokenFile, type)");
    CHECK(verdict(Payload::server, {{"name", "x"}, {"maxSession", 4}}) ==
          "maxSession: unknown field (did you mean maxSessions?)");
    CHECK(verdict(Payload::admin_list_reply, {{"servers", {{{"name", "a"}}, {{"transport", "stdio"}}}}}) ==
          "servers[1].name: required field is missing");
  }
  SECTION("lengths count characters, not bytes") {
    std::string e_acute = "\xC3\xA9";
    std::string id;
    for (int i = 0; i < 256; ++i) id += e_acute;
    CHECK(verdict(Payload::tool_request, {{"tool", "echo"}, {"session_id", id}}) == "valid");
    CHECK(verdict(Payload::tool_request, {{"tool", "echo"}, {"session_id", id + e_acute}}) ==
          "session_id: must be at most 256 characters long, got 257");
  }
  SECTION("keys that are not identifiers are quoted, long values cut short") {
    CHECK(verdict(Payload::server, {{"name", "x"}, {"env", {{"A.B", 1}}}}) ==
          "env[\"A.B\"]: expected a string, got number");
    std::string message = verdict(Payload::server, {{"name", std::string(500, 'A')}});
    CHECK(message.size() < 160);
    CHECK(message.ends_with("...\""));
  }
  SECTION("several problems: the first, and how many more") {
    CHECK(verdict(Payload::tool_request, {{"tool", 5}, {"timeout_ms", 0}, {"format", "x"}}) ==
          "format: must be one of \"compat\", \"mcp\", got \"x\" (and 2 more problems)");
    CHECK(verdict(Payload::server, {{"maxSessions", 0}}).ends_with("(and 1 more problem)"));
  }
  SECTION("the secret in a refused auth.token is not repeated back") {
    CHECK(verdict(Payload::server, {{"name", "x"}, {"auth", {{"type", "bearer"}, {"token", "s3cr3t"}}}})
              .find("s3cr3t") == std::string::npos);
  }
}

TEST_CASE("compatibility rules of the contract") {
  // Requests tolerate fields they do not know (older and newer callers); the server record
  // refuses them, so a misspelt setting is not silently ignored.
  CHECK(verdict(Payload::tool_request, {{"tool", "echo"}, {"future", {1, 2}}}) == "valid");
  CHECK(verdict(Payload::tool_request, {{"tool", "echo"}, {"args", nullptr}}) == "valid");
  CHECK(verdict(Payload::tool_list_reply, {{"tools", json::array()}}) == "valid");
  CHECK(verdict(Payload::tool_list_reply, {{"tools", nullptr}}) == "tools: expected an array, got null");
  // The server schema is referenced by the admin replies, not copied: a rule of it applies there.
  CHECK(verdict(Payload::admin_server_reply, {{"server", {{"name", "x"}, {"maxSessions", 257}}}}) ==
        "server.maxSessions: must be at most 256, got 257");
  CHECK(verdict(Payload::server_deleted_event, {{"name", "Bad"}}).starts_with("name: must match the pattern"));
}

TEST_CASE("references to other files are bundled into one self-contained schema") {
  using mcpd::schema::detail::bundle;
  mcpd::schema::detail::SchemaFiles files;
  files["a.schema.json"] = json::parse(R"({"$id": "a.schema.json", "type": "object",
      "properties": {"b": {"$ref": "b.schema.json"}, "c": {"$ref": "c.schema.json#/$defs/x"},
                     "self": {"$ref": "#/$defs/local"}},
      "$defs": {"local": {"type": "string"}}})");
  files["b.schema.json"] = json::parse(R"({"$schema": "https://json-schema.org/draft/2020-12/schema",
      "$id": "b.schema.json", "type": "array", "items": {"$ref": "#/$defs/item"},
      "$defs": {"item": {"$ref": "https://example.com/v1/c.schema.json#/$defs/x"}}})");
  files["c.schema.json"] = json::parse(R"({"$defs": {"x": {"type": "integer"}}})");

  json out = bundle("a.schema.json", files);
  CHECK(out["properties"]["b"]["$ref"] == "#/$defs/b.schema.json");
  CHECK(out["properties"]["c"]["$ref"] == "#/$defs/c.schema.json/$defs/x");
  CHECK(out["properties"]["self"]["$ref"] == "#/$defs/local");
  // b's own pointers now lead into its copy; c is included once although two files refer to it.
  CHECK(out["$defs"]["b.schema.json"]["items"]["$ref"] == "#/$defs/b.schema.json/$defs/item");
  CHECK(out["$defs"]["b.schema.json"]["$defs"]["item"]["$ref"] == "#/$defs/c.schema.json/$defs/x");
  CHECK_FALSE(out["$defs"]["b.schema.json"].contains("$schema"));
  CHECK(out["$defs"]["c.schema.json"]["$defs"]["x"]["type"] == "integer");
  CHECK(out["$defs"].size() == 3);  // local, b, c

  files["d.schema.json"] = json::parse(R"({"$ref": "missing.schema.json"})");
  CHECK_THROWS_WITH(bundle("d.schema.json", files), Catch::Contains("missing.schema.json"));
  files["e.schema.json"] = json::parse(R"({"$ref": "#anchor"})");
  CHECK_THROWS_WITH(bundle("e.schema.json", files), Catch::Contains("anchors are not supported"));
}

TEST_CASE("a schema keyword the daemon's validator would ignore is refused at load") {
  using mcpd::schema::detail::check_keywords;
  CHECK_NOTHROW(check_keywords("ok.schema.json", json::parse(R"({"type": "object",
      "properties": {"format": {"enum": ["a"]}, "items": {"type": "array", "items": {"type": "string"}}},
      "additionalProperties": {"anyOf": [{"type": "string"}, true]}})")));
  CHECK_THROWS_WITH(check_keywords("x.schema.json", json::parse(R"({"properties": {"a": {"type": "array",
      "prefixItems": [{"type": "string"}]}}})")),
                    Catch::StartsWith("x.schema.json at \"/properties/a\": keyword \"prefixItems\" is not supported"));
  CHECK_THROWS_WITH(check_keywords("x.schema.json", json::parse(R"({"unevaluatedProperties": false})")),
                    Catch::Contains("unevaluatedProperties"));
  CHECK_THROWS_WITH(check_keywords("x.schema.json", json::parse(R"({"type": "string", "format": "date-time"})")),
                    Catch::Contains("\"format\""));
  CHECK_THROWS_WITH(check_keywords("x.schema.json", json::parse(R"({"items": [{"type": "string"}]})")),
                    Catch::Contains("array form"));
}

TEST_CASE("validation is safe from many threads at once") {
  std::vector<std::pair<Payload, json>> cases;
  for (Payload payload : schema::all_payloads())
    for (const char* kind : {"valid", "invalid"})
      for (const auto& file : examples(payload, kind)) cases.emplace_back(payload, load(file));
  std::vector<std::string> expected;
  for (const auto& [payload, value] : cases) {
    auto status = schema::validate(payload, value);
    expected.push_back(status.ok() ? "valid" : status.error().message);
  }

  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (std::size_t i = 0; i < cases.size(); ++i) {
          std::size_t k = (i + static_cast<std::size_t>(t) * 7) % cases.size();
          auto status = schema::validate(cases[k].first, cases[k].second);
          if ((status.ok() ? "valid" : status.error().message) != expected[k]) ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(mismatches == 0);
}
