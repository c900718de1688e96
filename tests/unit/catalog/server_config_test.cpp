// ServerConfig: JSON round trips, every validation rule and its message, ${VAR} expansion.
#include "catalog/server_config.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>

using namespace mcpd;
using namespace mcpd::catalog;
using Json = nlohmann::json;

namespace {

Json stdio_json() { return {{"name", "everything"}, {"command", "npx"}, {"args", {"-y", "server-everything"}}}; }
Json http_json() { return {{"name", "remote"}, {"transport", "http"}, {"url", "https://mcp.example.com/mcp"}}; }

// The message parse_server_config gives for `j`; fails the test if it parses.
std::string refusal(const Json& j) {
  auto r = parse_server_config(j);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_request);
  return r.error().message;
}

Json with(Json j, const std::string& key, Json value) {
  j[key] = std::move(value);
  return j;
}

}  // namespace

TEST_CASE("a minimal stdio config gets every default and round-trips through JSON") {
  auto r = parse_server_config(stdio_json());
  REQUIRE(r.ok());
  const ServerConfig& c = r.value();
  CHECK(c.transport == Transport::stdio);
  CHECK(c.args == std::vector<std::string>{"-y", "server-everything"});
  CHECK(c.connect_timeout_seconds == 30);
  CHECK(c.call_timeout_ms == 30000);
  CHECK(c.ping_interval_seconds == 30);
  CHECK(c.min_sessions == 1);
  CHECK(c.max_sessions == 4);
  CHECK(c.max_inflight_per_session == 32);
  CHECK(c.max_queue == 256);
  CHECK(c.isolation == Isolation::session);
  CHECK(c.max_isolated_sessions == 32);
  CHECK(c.idle_ttl_seconds == 300);
  CHECK(c.enabled);
  CHECK_FALSE(c.inherit_env);

  Json j = to_json(c);
  // Defaults are written out, and nothing of the http transport appears.
  CHECK(j["minSessions"] == 1);
  CHECK(j["isolation"] == "session");
  CHECK(j["inheritEnv"] == false);
  CHECK(j["env"] == Json::object());
  CHECK_FALSE(j.contains("url"));
  CHECK_FALSE(j.contains("tlsVerify"));
  auto back = parse_server_config(j);
  REQUIRE(back.ok());
  CHECK(back.value() == c);
}

TEST_CASE("a full stdio config round-trips with every field kept") {
  Json in = {{"name", "fs_1"},
             {"description", "files"},
             {"transport", "stdio"},
             {"command", "/usr/bin/node"},
             {"args", {"server.js", "--root", "/srv"}},
             {"env", {{"TOKEN", "${FS_TOKEN}"}, {"MODE", "ro"}}},
             {"inheritEnv", true},
             {"cwd", "/srv"},
             {"connectTimeoutSeconds", 5},
             {"callTimeoutMs", 1500},
             {"pingIntervalSeconds", 0},
             {"minSessions", 0},
             {"maxSessions", 8},
             {"maxInflightPerSession", 1},
             {"maxQueue", 0},
             {"isolation", "shared"},
             {"maxIsolatedSessions", 0},
             {"idleTtlSeconds", 60},
             {"maxMessageBytes", 1048576},
             {"enabled", false},
             {"revision", 42},
             {"createdAt", "2026-11-22T01:02:03.456Z"},
             {"updatedAt", "2026-11-22T01:02:04Z"}};
  auto r = parse_server_config(in);
  REQUIRE(r.ok());
  CHECK(r->env.at("TOKEN") == "${FS_TOKEN}");  // stored unexpanded
  CHECK(r->revision == 42);
  CHECK(to_json(r.value()) == in);
}

TEST_CASE("http and sse configs with headers and auth and TLS settings round-trip") {
  for (std::string transport : {"http", "sse"}) {
    Json in = {{"name", "remote-" + transport},
               {"transport", transport},
               {"url", "https://mcp.example.com/" + transport},
               {"headers", {{"X-Tenant", "acme"}, {"Authorization", "Bearer ${API_TOKEN}"}}},
               {"auth", {{"type", "bearer"}, {"tokenEnv", "MCP_TOKEN"}}},
               {"caFile", "/etc/ssl/private-ca.pem"},
               {"tlsVerify", false}};
    auto r = parse_server_config(in);
    REQUIRE(r.ok());
    CHECK(to_string(r->transport) == transport);
    REQUIRE(r->auth);
    CHECK(r->auth->token_env == "MCP_TOKEN");
    Json out = to_json(r.value());
    CHECK_FALSE(out.contains("command"));
    CHECK_FALSE(out.contains("env"));
    auto back = parse_server_config(out);
    REQUIRE(back.ok());
    CHECK(back.value() == r.value());
  }
  auto file = parse_server_config(with(http_json(), "auth", {{"type", "bearer"}, {"tokenFile", "/run/secrets/mcp"}}));
  REQUIRE(file.ok());
  CHECK(to_json(file.value())["auth"] == Json{{"type", "bearer"}, {"tokenFile", "/run/secrets/mcp"}});
}

TEST_CASE("null stands for an absent optional field as Go publishers write nil maps") {
  auto r = parse_server_config(with(with(stdio_json(), "env", nullptr), "args", nullptr));
  REQUIRE(r.ok());
  CHECK(r->env.empty());
  CHECK(r->args.empty());
}

TEST_CASE("names that cannot be a NATS subject token are refused with the rules spelled out") {
  const std::string rules =
      ": only lowercase letters, digits, '-' and '_' are allowed (must start with a letter or digit, at most 63 characters)";
  for (std::string bad : std::vector<std::string>{"a.b", "a*", "a>", "a b", "Upper", "-lead", "_lead", std::string(64, 'a')})
    CHECK(refusal(with(stdio_json(), "name", bad)) == "name '" + bad + "'" + rules);
  CHECK(check_server_name(std::string(63, 'a')).ok());
  CHECK(check_server_name("0-a_b").ok());
  CHECK(refusal(with(stdio_json(), "name", "")).starts_with("name must not be empty"));
  // Bytes that are not printable are escaped so the message stays valid JSON text.
  CHECK(refusal(with(stdio_json(), "name", "a\nb")) == "name 'a\\x0ab'" + rules);
  auto dotted = check_server_name("a.b");
  REQUIRE_FALSE(dotted.ok());
  CHECK(dotted.error().code == Errc::invalid_request);
  CHECK(dotted.error().message == "name 'a.b'" + rules);
}

TEST_CASE("reserved names are refused") {
  for (std::string name : {"servers", "admin", "tasks", "nodes"}) {
    std::string m = refusal(with(stdio_json(), "name", name));
    CHECK(m == "name '" + name + "' is reserved (servers, admin, tasks, nodes are mcpd's own subjects); choose another name");
  }
  CHECK(parse_server_config(with(stdio_json(), "name", "admins")).ok());
}

TEST_CASE("a missing name or a non-object or a wrongly typed name is refused") {
  Json j = stdio_json();
  j.erase("name");
  CHECK(refusal(j) == "name is required");
  CHECK(refusal(Json::array()) == "an MCPServer must be a JSON object, got array");
  CHECK(refusal(with(stdio_json(), "name", 7)) == "name: expected a string, got number");
}

TEST_CASE("unknown fields are refused naming the field and the known ones") {
  std::string m = refusal(with(stdio_json(), "colour", "red"));
  CHECK(m.starts_with("unknown field 'colour'; known fields: name, description, transport, command"));
  CHECK(m.find("idleTtlSeconds") != std::string::npos);
  CHECK(refusal(with(stdio_json(), "min_sessions", 2)).starts_with("unknown field 'min_sessions' (did you mean 'minSessions'?)"));
  CHECK(refusal(with(http_json(), "auth", {{"type", "bearer"}, {"tokenEnv", "X"}, {"scope", "a"}})) ==
        "auth: unknown field 'scope'; known fields: type, tokenEnv, tokenFile");
}

TEST_CASE("wrong types are refused with the expected and actual type") {
  CHECK(refusal(with(stdio_json(), "minSessions", "2")) == "minSessions: expected an integer, got string");
  CHECK(refusal(with(stdio_json(), "minSessions", 1.5)) == "minSessions: expected an integer, got 1.5");
  CHECK(parse_server_config(with(stdio_json(), "minSessions", 2.0))->min_sessions == 2);
  CHECK(refusal(with(stdio_json(), "enabled", "yes")) == "enabled: expected true or false, got string");
  CHECK(refusal(with(stdio_json(), "args", "-y")) == "args: expected an array of strings, got string");
  CHECK(refusal(with(stdio_json(), "args", {"a", 1})) == "args[1]: expected a string, got number");
  CHECK(refusal(with(stdio_json(), "env", {{"A", 1}})) == "env.A: expected a string, got number");
  CHECK(refusal(with(stdio_json(), "env", {"A"})) == "env: expected an object of strings, got array");
  CHECK(refusal(with(stdio_json(), "transport", "ws")) == "transport: expected one of 'stdio', 'http', 'sse', 'builtin', got 'ws'");
  CHECK(refusal(with(stdio_json(), "isolation", "none")) == "isolation: expected one of 'session', 'shared', got 'none'");
  CHECK(refusal(with(stdio_json(), "revision", "3")) == "revision: expected an integer, got string");
}

TEST_CASE("out-of-range numbers are refused with the bounds") {
  CHECK(refusal(with(stdio_json(), "maxSessions", 0)) == "maxSessions: must be between 1 and 256, got 0");
  CHECK(refusal(with(stdio_json(), "maxSessions", 257)) == "maxSessions: must be between 1 and 256, got 257");
  CHECK(refusal(with(stdio_json(), "minSessions", 65)) == "minSessions: must be between 0 and 64, got 65");
  CHECK(refusal(with(stdio_json(), "connectTimeoutSeconds", 0)) == "connectTimeoutSeconds: must be between 1 and 600, got 0");
  CHECK(refusal(with(stdio_json(), "callTimeoutMs", 3600001)) == "callTimeoutMs: must be between 1 and 3600000, got 3600001");
  CHECK(refusal(with(stdio_json(), "pingIntervalSeconds", -1)) == "pingIntervalSeconds: must be between 0 and 3600, got -1");
  CHECK(refusal(with(stdio_json(), "maxInflightPerSession", 10001)) == "maxInflightPerSession: must be between 1 and 10000, got 10001");
  CHECK(refusal(with(stdio_json(), "maxQueue", 100001)) == "maxQueue: must be between 0 and 100000, got 100001");
  CHECK(refusal(with(stdio_json(), "maxIsolatedSessions", -5)) == "maxIsolatedSessions: must be between 0 and 10000, got -5");
  CHECK(refusal(with(stdio_json(), "idleTtlSeconds", 604801)) == "idleTtlSeconds: must be between 1 and 604800, got 604801");
  // Values beyond int or int64 are range errors, not silent wrap-arounds.
  CHECK(refusal(with(stdio_json(), "maxSessions", 4294967297LL)) == "maxSessions: must be between 1 and 256, got 4294967297");
  CHECK(refusal(with(stdio_json(), "maxSessions", 18446744073709551615ULL)) ==
        "maxSessions: must be between 1 and 256, got 18446744073709551615");
  CHECK(refusal(with(stdio_json(), "revision", -1)) == "revision: must be 0 or more, got -1");
}

TEST_CASE("minSessions may not exceed maxSessions") {
  Json j = with(with(stdio_json(), "minSessions", 5), "maxSessions", 4);
  CHECK(refusal(j) == "minSessions (5) must not exceed maxSessions (4)");
  CHECK(parse_server_config(with(j, "maxSessions", 5)).ok());
}

TEST_CASE("the transport decides which of command and url is needed and allowed") {
  Json no_command = stdio_json();
  no_command.erase("command");
  CHECK(refusal(no_command).starts_with("transport 'stdio' needs a command"));
  CHECK(refusal(with(stdio_json(), "command", "")).starts_with("transport 'stdio' needs a command"));

  Json no_url = http_json();
  no_url.erase("url");
  CHECK(refusal(no_url) == "transport 'http' needs a url (http:// or https://)");
  CHECK(refusal(with(no_url, "transport", "sse")) == "transport 'sse' needs a url (http:// or https://)");

  CHECK(refusal(with(http_json(), "command", "npx")) == "command is not allowed with transport 'http' (it applies to stdio servers)");
  CHECK(refusal(with(http_json(), "env", Json::object())) == "env is not allowed with transport 'http' (it applies to stdio servers)");
  CHECK(refusal(with(stdio_json(), "url", "http://x")) ==
        "url is not allowed with transport 'stdio' (it applies to http and sse servers)");
  CHECK(refusal(with(stdio_json(), "tlsVerify", true)) ==
        "tlsVerify is not allowed with transport 'stdio' (it applies to http and sse servers)");

  CHECK(refusal(with(http_json(), "url", "ftp://x")) == "url: must start with http:// or https://, got 'ftp://x'");
  CHECK(refusal(with(http_json(), "url", "https://")) == "url: names no host: 'https://'");
  CHECK(refusal(with(http_json(), "url", "http://a b")).starts_with("url: must not contain spaces"));
  CHECK(parse_server_config(with(http_json(), "url", "HTTP://localhost:8080/mcp")).ok());
}

TEST_CASE("a literal token is refused and points to tokenEnv or tokenFile") {
  std::string m = refusal(with(http_json(), "auth", {{"type", "bearer"}, {"token", "sk-secret"}}));
  CHECK(m.starts_with("auth.token: a literal token is not accepted"));
  CHECK(m.find("tokenEnv") != std::string::npos);
  CHECK(m.find("tokenFile") != std::string::npos);
  CHECK(m.find("sk-secret") == std::string::npos);  // the secret is not echoed into logs
  CHECK(refusal(with(http_json(), "authToken", "sk-secret")).starts_with("authToken: a literal token is not accepted"));
}

TEST_CASE("auth needs its type and exactly one token source") {
  CHECK(refusal(with(http_json(), "auth", {{"type", "bearer"}})).starts_with("auth: set exactly one of tokenEnv"));
  CHECK(refusal(with(http_json(), "auth", {{"type", "bearer"}, {"tokenEnv", "A"}, {"tokenFile", "/a"}}))
            .starts_with("auth: set exactly one of tokenEnv"));
  CHECK(refusal(with(http_json(), "auth", {{"tokenEnv", "A"}})) == "auth.type is required: 'bearer' (a static token) or 'oauth' (OAuth 2.1 client credentials)");
  CHECK(refusal(with(http_json(), "auth", {{"type", "oauth"}, {"tokenEnv", "A"}})) == "auth.tokenEnv: applies to auth type 'bearer'; an OAuth client secret is given with clientSecretEnv");
  CHECK(refusal(with(http_json(), "auth", {{"type", "bearer"}, {"tokenEnv", "1BAD"}})).starts_with("auth.tokenEnv: '1BAD' is not a variable name"));
  CHECK(refusal(with(http_json(), "auth", {{"type", "bearer"}, {"tokenFile", "./token.txt"}}))
            .starts_with("auth.tokenFile: must be the name of a file in the node's [security] secrets_dir"));
}

TEST_CASE("env names and header names and values that would break a spawn or a request are refused") {
  CHECK(refusal(with(stdio_json(), "env", {{"A=B", "x"}})) == "env: variable name 'A=B' must be non-empty and contain no '=' or NUL");
  CHECK(refusal(with(http_json(), "headers", {{"Bad Header", "x"}})) == "headers: 'Bad Header' is not a valid HTTP header name");
  CHECK(refusal(with(http_json(), "headers", {{"X-A", "a\r\nX-Injected: 1"}})) == "headers.X-A: must not contain CR, LF or NUL");
  CHECK(refusal(with(stdio_json(), "env", {{"A", "${UNCLOSED"}})).starts_with("env.A: unterminated '${'"));
  CHECK(refusal(with(stdio_json(), "cwd", "relative/dir")).starts_with("cwd: must be an absolute path"));
}

TEST_CASE("timestamps must be RFC 3339") {
  CHECK(parse_server_config(with(stdio_json(), "createdAt", "2024-01-15T10:00:00.123456789+02:00")).ok());
  CHECK(refusal(with(stdio_json(), "updatedAt", "yesterday")) ==
        "updatedAt: expected an RFC 3339 timestamp like \"2026-11-22T01:02:03.456Z\", got 'yesterday'");
  CHECK(refusal(with(stdio_json(), "createdAt", "2026-13-01T00:00:00Z")).starts_with("createdAt: expected an RFC 3339"));
  CHECK(format_timestamp(std::chrono::system_clock::time_point(std::chrono::milliseconds(1795309323456))) ==
        "2026-11-22T01:02:03.456Z");
}

TEST_CASE("validate applies the same rules to configs built in code") {
  ServerConfig c;
  c.name = "built";
  c.command = "npx";
  CHECK(validate(c).ok());
  c.max_sessions = 0;
  REQUIRE_FALSE(validate(c).ok());
  CHECK(validate(c).error().message == "maxSessions: must be between 1 and 256, got 0");
  c.max_sessions = 4;
  c.url = "http://x";
  REQUIRE_FALSE(validate(c).ok());
  CHECK(validate(c).error().message == "url is not allowed with transport 'stdio' (it applies to http and sse servers)");
  c.transport = Transport::http;
  c.url = "http://x";
  REQUIRE_FALSE(validate(c).ok());
  CHECK(validate(c).error().message == "command is not allowed with transport 'http' (it applies to stdio servers)");
  c.command.clear();
  CHECK(validate(c).ok());
  c.name = "Bad";
  REQUIRE_FALSE(validate(c).ok());
  CHECK(validate(c).error().code == Errc::invalid_request);
}

TEST_CASE("same_definition ignores revision and timestamps only") {
  ServerConfig a = parse_server_config(stdio_json()).value();
  ServerConfig b = a;
  b.revision = 9;
  b.created_at = "2026-01-01T00:00:00Z";
  b.updated_at = "2026-01-02T00:00:00Z";
  CHECK(same_definition(a, b));
  b.args.push_back("--verbose");
  CHECK_FALSE(same_definition(a, b));
  b = a;
  b.enabled = false;
  CHECK_FALSE(same_definition(a, b));
}

TEST_CASE("a builtin config names one of mcpd's own servers and nothing of the other transports") {
  const Json builtin = {{"name", "cluster"}, {"transport", "builtin"}, {"builtin", "mcpd"}};
  auto r = parse_server_config(builtin);
  REQUIRE(r.ok());
  CHECK(r.value().transport == Transport::builtin);
  CHECK(r.value().builtin == "mcpd");
  Json j = to_json(r.value());
  CHECK(j["builtin"] == "mcpd");
  CHECK_FALSE(j.contains("command"));
  CHECK_FALSE(j.contains("url"));
  CHECK(parse_server_config(j).value() == r.value());

  CHECK(refusal(with(builtin, "builtin", "shell")) == "builtin: no built-in server named 'shell' (built-in servers: mcpd)");
  CHECK(refusal(Json{{"name", "cluster"}, {"transport", "builtin"}}).starts_with("transport 'builtin' needs builtin"));
  CHECK(refusal(with(builtin, "command", "/bin/sh")) ==
        "command is not allowed with transport 'builtin' (it applies to stdio servers)");
  CHECK(refusal(with(builtin, "url", "http://x")) ==
        "url is not allowed with transport 'builtin' (it applies to http and sse servers)");
  CHECK(refusal(with(stdio_json(), "builtin", "mcpd")) ==
        "builtin is not allowed with transport 'stdio' (it applies to builtin servers)");
}
