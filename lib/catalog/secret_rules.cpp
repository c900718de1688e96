#include "catalog/secret_rules.hpp"

#include "catalog/references.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <array>

namespace mcpd::catalog {
namespace {

// What may stand beside the reference in a credential's value: a scheme word such as
// "Bearer " or a cookie's "session=", not a secret.
constexpr std::size_t kMaxLiteralBesideReference = 24;

Error invalid(std::string message) { return make_error(Errc::invalid_request, std::move(message)); }

std::string how_to_reference(std::string_view example) {
  return "put the secret in an environment variable of mcpd allowed by [security] secret_env (e.g. "
         "MCPD_SECRET_" + std::string(example) + ") and write ${MCPD_SECRET_" + std::string(example) +
         "}, or in a file in [security] secrets_dir and write ${file:NAME}";
}

// A credential's value is a reference, with at most a short scheme word beside it. An empty
// value carries nothing.
bool is_reference_value(std::string_view value) {
  if (value.empty()) return true;
  auto refs = parse_references(value);
  if (!refs.ok() || refs->empty()) return false;
  return literal_text(value).size() <= kMaxLiteralBesideReference;
}

// Query parameter names that carry credentials: access_token, api_key, apikey, key, secret,
// password, sig, signature, auth, X-Amz-Credential…
bool is_credential_parameter(std::string_view name) {
  const std::string n = ascii_lower(name);
  constexpr std::array<std::string_view, 7> parts = {"token", "key", "secret", "passw", "auth", "signature", "credential"};
  for (auto p : parts)
    if (n.find(p) != std::string::npos) return true;
  return n == "sig" || n == "pwd";
}

Status check_url(std::string_view url) {
  if (url.find("://") == std::string_view::npos) return {};
  if (url_authority(url).find('@') != std::string_view::npos)
    return invalid("url: a user name or password in the URL (user:password@host) is not accepted: it would be stored "
                   "and published with the record; send it as a header instead, e.g. headers: {\"Authorization\": "
                   "\"Basic ${MCPD_SECRET_BASIC_AUTH}\"} (" + how_to_reference("BASIC_AUTH") + ")");
  auto q = url.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = url.substr(q + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    auto eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!value.empty() && is_credential_parameter(name))
      return invalid("url: the query parameter '" + std::string(name.substr(0, 64)) +
                     "' looks like a credential, which would be stored and published with the record; send it as a "
                     "header instead (e.g. headers: {\"X-Api-Key\": \"${MCPD_SECRET_API_KEY}\"}; " +
                     how_to_reference("API_KEY") + ")");
  }
  return {};
}

}  // namespace

bool is_credential_header(std::string_view name) {
  const std::string n = ascii_lower(name);
  return n == "authorization" || n == "proxy-authorization" || n == "cookie" || n == "api-key" ||
         n.ends_with("-api-key") || n.ends_with("-token") || n.ends_with("-apikey");
}

bool is_secret_env_name(std::string_view name) {
  const std::string n = ascii_upper(name);
  for (std::string_view part : {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY"})
    if (n.find(part) != std::string::npos) return true;
  return n.ends_with("_KEY");
}

Status check_secrets_by_reference(const ServerConfig& c) {
  for (const auto& [name, value] : c.headers)
    if (is_credential_header(name) && !is_reference_value(value))
      return invalid("headers." + name + ": a credential header must reference its secret, not hold it (the record is "
                     "stored and published as written): " + how_to_reference("API_TOKEN") +
                     " — e.g. \"Bearer ${MCPD_SECRET_API_TOKEN}\"");
  for (const auto& [name, value] : c.env)
    if (is_secret_env_name(name) && !is_reference_value(value))
      return invalid("env." + name + ": a variable whose name says it holds a secret must reference it, not hold it (the "
                     "record is stored and published as written): " + how_to_reference(ascii_upper(name)));
  if (!c.url.empty())
    if (auto st = check_url(c.url); !st.ok()) return st;
  return {};
}

}  // namespace mcpd::catalog
