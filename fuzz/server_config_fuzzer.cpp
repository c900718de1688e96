// Fuzz target: catalog::parse_server_config, the validation of every MCPServer record (admin
// put, catalog events, the config file's [[servers]]), on arbitrary JSON. Properties: nothing
// crashes; a refusal is invalid_request with a message that is valid UTF-8; an accepted
// record passes validate(), and to_json() of it parses back to an equal record, whose own
// to_json() is the same document and survives a strict dump and parse. Every accepted record
// also goes through the [security] policy (its URL and command matching, its references): a
// decision is ok or forbidden with a message.
#include "catalog/server_config.hpp"
#include "common/json_limits.hpp"
#include "fuzz_support.hpp"
#include "security/policy.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string_view>

using namespace mcpd;
using fuzz::check;
using Json = nlohmann::json;

namespace {

bool valid_utf8(const std::string& s) {
  try {
    (void)Json(s).dump();  // strict: throws on invalid UTF-8
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), json::kDefaultMaxDepth);
  if (!doc.ok()) return 0;
  auto parsed = catalog::parse_server_config(doc.value());
  if (!parsed.ok()) {
    check(parsed.error().code == Errc::invalid_request, "a refused record is invalid_request");
    check(!parsed.error().message.empty() && valid_utf8(parsed.error().message), "a refusal says why, in UTF-8");
    return 0;
  }
  const catalog::ServerConfig& config = parsed.value();
  check(catalog::validate(config).ok(), "an accepted record validates");
  const Json out = catalog::to_json(config);
  auto again = catalog::parse_server_config(out);
  check(again.ok(), "to_json of an accepted record is accepted");
  check(again.value() == config, "to_json parses back to an equal record");
  check(catalog::to_json(again.value()) == out, "to_json is stable");
  check(Json::parse(out.dump()) == out, "to_json survives a strict dump and parse");
  check(catalog::same_definition(config, again.value()), "a record has the same definition as itself");
  static const security::Policy strict = [] {
    security::Policy p;
    p.allowed_commands = {"npx", "/usr/bin/node", "/opt/mcp/bin/"};
    p.allowed_urls = {"api.example.com", "*.example.org", "127.0.0.1:8080", "[::1]:9000"};
    return p;
  }();
  for (const auto* policy : {&strict, static_cast<const security::Policy*>(nullptr)}) {
    auto verdict = security::check_server(policy ? *policy : security::Policy{}, config);
    check(verdict.ok() || (verdict.error().code == Errc::forbidden && valid_utf8(verdict.error().message)),
          "a policy decision is ok or forbidden with a message in UTF-8");
  }
  return 0;
}
