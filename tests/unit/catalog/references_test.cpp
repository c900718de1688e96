// Secret references (${NAME}, ${file:NAME}) and the rules that refuse a literal credential in
// a server record.
#include "catalog/references.hpp"
#include "catalog/secret_rules.hpp"
#include "catalog/server_config.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>

using namespace mcpd;
using namespace mcpd::catalog;
using Json = nlohmann::json;

namespace {

// The error message parsing `j` gives, or "(valid)".
std::string problem_with(const Json& j) {
  auto r = parse_server_config(j);
  return r.ok() ? std::string("(valid)") : r.error().message;
}

Json http_server(Json extra) {
  Json j = {{"name", "remote"}, {"transport", "http"}, {"url", "https://api.example.com/mcp"}};
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

Json stdio_server(Json env) { return {{"name", "local"}, {"command", "npx"}, {"env", std::move(env)}}; }

}  // namespace

TEST_CASE("references expand through the lookup with an escape for a literal and errors named") {
  std::map<std::string, std::string> vars = {{"TOKEN", "abc"}, {"EMPTY", ""}, {"file:api.key", "from-file"}};
  ReferenceLookup lookup = [&](const Reference& r) -> Result<std::string> {
    auto key = r.kind == Reference::Kind::file ? "file:" + r.name : r.name;
    auto it = vars.find(key);
    if (it == vars.end()) return make_error(Errc::unavailable, r.text() + " is not set");
    return it->second;
  };
  auto expand = [&](std::string_view v) { return expand_references(v, lookup); };
  auto problem = [&](std::string_view v) {
    auto r = expand(v);
    return r.ok() ? std::string("(expanded)") : r.error().message;
  };
  CHECK(expand("Bearer ${TOKEN}").value() == "Bearer abc");
  CHECK(expand("${TOKEN}${TOKEN}-${EMPTY}x").value() == "abcabc-x");
  CHECK(expand("key=${file:api.key}").value() == "key=from-file");
  CHECK(expand("$${TOKEN} costs $5 and $$").value() == "${TOKEN} costs $5 and $$");
  CHECK(expand("").value().empty());

  CHECK(problem("a ${MISSING} b") == "${MISSING} is not set");
  CHECK(expand("${MISSING}").error().code == Errc::unavailable);  // the lookup's own error
  CHECK(problem("${TOKEN").starts_with("unterminated '${' at offset 0"));
  CHECK(problem("${}").starts_with("'${}' is not a valid reference"));
  CHECK(problem("${file:../etc/passwd}").starts_with("'${file:../etc/passwd}' is not a valid file reference"));
  CHECK(problem("${file:.hidden}").starts_with("'${file:.hidden}' is not a valid file reference"));
  CHECK(expand("${1X}").error().code == Errc::invalid_request);
}

TEST_CASE("parse_references lists each reference and literal_text keeps the rest") {
  auto refs = parse_references("Bearer ${MCPD_SECRET_A} and ${file:b.txt}");
  REQUIRE(refs.ok());
  REQUIRE(refs->size() == 2);
  CHECK(refs.value()[0] == Reference{Reference::Kind::env, "MCPD_SECRET_A"});
  CHECK(refs.value()[1] == Reference{Reference::Kind::file, "b.txt"});
  CHECK(refs.value()[1].text() == "${file:b.txt}");
  CHECK(literal_text("Bearer ${X}") == "Bearer ");
  CHECK(literal_text("$${X}") == "${X}");
  CHECK(literal_text("${unterminated") == "${unterminated");
}

TEST_CASE("credential headers must reference their secret") {
  CHECK(is_credential_header("Authorization"));
  CHECK(is_credential_header("proxy-authorization"));
  CHECK(is_credential_header("Cookie"));
  CHECK(is_credential_header("X-Api-Key"));
  CHECK(is_credential_header("X-Auth-Token"));
  CHECK_FALSE(is_credential_header("X-Tenant"));
  CHECK_FALSE(is_credential_header("Accept"));

  auto literal = problem_with(http_server({{"headers", {{"Authorization", "Bearer sk-live-123456"}}}}));
  CHECK(literal.starts_with("headers.Authorization: a credential header must reference its secret"));
  CHECK_THAT(literal, Catch::Contains("${MCPD_SECRET_API_TOKEN}"));
  CHECK_THAT(literal, !Catch::Contains("sk-live-123456"));  // the value is never echoed back
  CHECK(problem_with(http_server({{"headers", {{"x-api-key", "abcdef"}}}})).starts_with("headers.x-api-key:"));
  CHECK(problem_with(http_server({{"headers", {{"Cookie", "session=abc123"}}}})).starts_with("headers.Cookie:"));
  // A reference beside a long literal is still a literal secret.
  CHECK(problem_with(http_server({{"headers", {{"Authorization", "Bearer ${MCPD_SECRET_X}-and-a-long-literal-suffix"}}}}))
            .starts_with("headers.Authorization:"));

  CHECK(problem_with(http_server({{"headers", {{"Authorization", "Bearer ${MCPD_SECRET_API_TOKEN}"}}}})) == "(valid)");
  CHECK(problem_with(http_server({{"headers", {{"X-Api-Key", "${file:api-key}"}}}})) == "(valid)");
  CHECK(problem_with(http_server({{"headers", {{"Cookie", "session=${MCPD_SECRET_SESSION}"}}}})) == "(valid)");
  CHECK(problem_with(http_server({{"headers", {{"X-Tenant", "acme"}}}})) == "(valid)");  // not a credential
}

TEST_CASE("env entries named like secrets must reference them") {
  for (const char* name : {"GITHUB_TOKEN", "CLIENT_SECRET", "DB_PASSWORD", "OPENAI_API_KEY", "SIGNING_KEY", "apikey"})
    CHECK(is_secret_env_name(name));
  for (const char* name : {"MEMORY_FILE_PATH", "LOG_LEVEL", "KEYBOARD", "PATH"}) CHECK_FALSE(is_secret_env_name(name));

  auto literal = problem_with(stdio_server({{"GITHUB_TOKEN", "ghp_abcdef123456"}}));
  CHECK(literal.starts_with("env.GITHUB_TOKEN: a variable whose name says it holds a secret must reference it"));
  CHECK_THAT(literal, Catch::Contains("${MCPD_SECRET_GITHUB_TOKEN}"));
  CHECK_THAT(literal, !Catch::Contains("ghp_abcdef123456"));
  CHECK(problem_with(stdio_server({{"GITHUB_TOKEN", "${MCPD_SECRET_GITHUB_TOKEN}"}})) == "(valid)");
  CHECK(problem_with(stdio_server({{"GITHUB_TOKEN", ""}})) == "(valid)");  // nothing to hide
  CHECK(problem_with(stdio_server({{"LOG_LEVEL", "debug"}})) == "(valid)");
}

TEST_CASE("URLs carry no password and no credential-like query parameter") {
  auto url = [](std::string u) { return problem_with(http_server({{"url", std::move(u)}})); };
  CHECK(url("https://user:hunter2@api.example.com/mcp").starts_with("url: a user name or password in the URL"));
  CHECK_THAT(url("https://user:hunter2@api.example.com/mcp"), !Catch::Contains("hunter2"));
  CHECK(url("https://api.example.com/mcp?api_key=abc").starts_with("url: the query parameter 'api_key' looks like a credential"));
  CHECK(url("https://api.example.com/mcp?x=1&access_token=abc").starts_with("url: the query parameter 'access_token'"));
  CHECK(url("https://api.example.com/mcp?sig=abc#frag").starts_with("url: the query parameter 'sig'"));
  CHECK(url("https://api.example.com/mcp?tenant=acme&region=eu") == "(valid)");
  CHECK(url("https://api.example.com/mcp/path@v2") == "(valid)");  // '@' in the path is no userinfo
  CHECK(url("https://api.example.com/mcp?token=") == "(valid)");   // empty: carries nothing
}

TEST_CASE("auth.tokenFile is a name in the secrets directory or an absolute path") {
  auto auth = [](std::string file) {
    return problem_with(http_server({{"auth", {{"type", "bearer"}, {"tokenFile", std::move(file)}}}}));
  };
  CHECK(auth("api-token") == "(valid)");
  CHECK(auth("/etc/mcpd/secrets/api-token") == "(valid)");
  CHECK(auth("../api-token").starts_with("auth.tokenFile: must be the name of a file in the node's [security] secrets_dir"));
  CHECK(auth("dir/api-token").starts_with("auth.tokenFile: must be the name of a file"));
}
