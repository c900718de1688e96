#include "auth/internal/flow.hpp"

#include "auth/crypto.hpp"
#include "common/text.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpd::auth::internal {
namespace {

Error failure(std::string message) { return make_error(Errc::unavailable, std::move(message)); }

std::string http_problem(const FetchResponse& r) {
  if (r.status == 0) return r.error;
  return "HTTP " + std::to_string(r.status) + (r.body.empty() ? "" : ": " + excerpt(r.body));
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

FetchResponse get(const std::string& name, const std::string& url, const FetchOptions& fo) {
  FetchRequest r;
  r.url = url;
  r.headers = {"Accept: application/json", "MCP-Protocol-Version: 2025-11-25"};
  FetchResponse resp = fetch(r, fo);
  spdlog::debug("[{}] OAuth: GET {} -> {}", name, url, resp.status ? std::to_string(resp.status) : resp.error);
  return resp;
}

}  // namespace

Result<Discovered> discover(const std::string& name, const std::string& server_url, const Challenge& ch,
                            const FetchOptions& fo) {
  std::optional<ProtectedResource> prm;
  for (const auto& url : protected_resource_metadata_urls(server_url, ch.resource_metadata)) {
    FetchResponse r = get(name, url, fo);
    if (r.status != 200) continue;
    auto p = parse_protected_resource(r.body);
    if (!p.ok()) {
      spdlog::debug("[{}] OAuth: {}: {}", name, url, p.error().message);
      continue;
    }
    prm = std::move(p).value();
    break;
  }
  Discovered d;
  std::string issuer = origin_of(server_url);
  d.resource = canonical_resource(server_url);
  if (prm) {
    if (!prm->resource.empty() && !resource_matches(prm->resource, server_url))
      return failure("OAuth: the server's protected-resource metadata is for " + prm->resource + ", not " + d.resource +
                     "; not authorizing");
    issuer = prm->authorization_servers.front();
    if (!prm->resource.empty()) d.resource = prm->resource;
    d.scopes_supported = prm->scopes_supported;
  }
  for (const auto& url : authorization_server_metadata_urls(issuer)) {
    FetchResponse r = get(name, url, fo);
    if (r.status == 0 && r.error.starts_with(kNotFetched))  // the node's policy: say so, not "not found"
      return failure("OAuth: the authorization server " + issuer + " named by the server's metadata: " + r.error);
    if (r.status != 200) continue;
    auto a = parse_auth_server(r.body);
    if (!a.ok()) continue;
    d.as = std::move(a).value();
    d.metadata = true;
    break;
  }
  if (!d.metadata) {
    if (prm) return failure("OAuth: no authorization-server metadata found for " + issuer);
    d.as = default_endpoints(server_url);  // the 2025-03-26 fallback
  }
  if (d.as.issuer.empty()) d.as.issuer = issuer;
  return d;
}

FetchResponse probe(const std::string& server_url, const FetchOptions& fo) {
  FetchRequest r;
  r.method = "POST";
  r.url = server_url;
  r.headers = {"Content-Type: application/json", "Accept: application/json, text/event-stream"};
  r.body = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
           R"("capabilities":{},"clientInfo":{"name":"mcpctl","version":"1"}}})";
  return fetch(r, fo);
}

Result<Client> register_client(const std::string& name, const AuthServer& as, const Registration& reg,
                               const FetchOptions& fo) {
  if (as.registration_endpoint.empty())
    return failure("OAuth: no clientId is configured and the authorization server " + as.issuer +
                   " offers no dynamic client registration; register a client there and set auth.clientId");
  const auto& methods = as.token_endpoint_auth_methods_supported;
  std::string method = methods.empty() || contains(methods, "client_secret_basic") ? "client_secret_basic"
                       : contains(methods, "client_secret_post")                   ? "client_secret_post"
                                                                                     : "none";
  nlohmann::json req = {{"client_name", "mcpd"}, {"grant_types", reg.grant_types}, {"token_endpoint_auth_method", method}};
  if (!reg.redirect_uris.empty()) {
    req["redirect_uris"] = reg.redirect_uris;
    req["response_types"] = {"code"};
  }
  if (!reg.scope.empty()) req["scope"] = reg.scope;
  FetchRequest r;
  r.method = "POST";
  r.url = as.registration_endpoint;
  r.headers = {"Content-Type: application/json", "Accept: application/json"};
  r.body = req.dump();
  FetchResponse resp = fetch(r, fo);
  if (resp.status != 200 && resp.status != 201)
    return failure("OAuth: client registration at " + as.registration_endpoint + " failed: " + http_problem(resp));
  auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("client_id") || !j["client_id"].is_string())
    return failure("OAuth: the client registration answer has no client_id");
  Client c;
  c.id = j["client_id"].get<std::string>();
  if (j.contains("client_secret") && j["client_secret"].is_string()) c.secret = j["client_secret"].get<std::string>();
  c.method = j.contains("token_endpoint_auth_method") && j["token_endpoint_auth_method"].is_string()
                 ? j["token_endpoint_auth_method"].get<std::string>()
                 : method;
  if (c.method != "none" && c.secret.empty()) c.method = "none";  // nothing to authenticate with
  spdlog::info("[{}] OAuth: registered client {} at {}", name, c.id, as.registration_endpoint);
  return c;
}

std::string pick_method(const Client& c, const std::vector<std::string>& supported) {
  if (c.secret.empty()) return "none";
  if (c.secret.find("-----BEGIN") != std::string::npos) return "private_key_jwt";
  if (supported.empty() || contains(supported, "client_secret_basic")) return "client_secret_basic";
  if (contains(supported, "client_secret_post")) return "client_secret_post";
  return "client_secret_basic";
}

Result<TokenResponse> token_request(const std::string& endpoint, const std::string& audience, std::string body,
                                    const Client& c, const FetchOptions& fo, const std::string& grant) {
  FetchRequest r;
  r.method = "POST";
  r.url = endpoint;
  r.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  if (c.method == "client_secret_basic") {
    r.headers.push_back("Authorization: Basic " + base64(form_encode(c.id) + ":" + form_encode(c.secret)));
  } else if (c.method == "client_secret_post") {
    body += "&client_id=" + form_encode(c.id) + "&client_secret=" + form_encode(c.secret);
  } else if (c.method == "private_key_jwt") {
    auto jwt = client_assertion(c.secret, c.id, audience);
    if (!jwt.ok()) return jwt.error();
    body += "&client_id=" + form_encode(c.id) +
            "&client_assertion_type=" + form_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
            "&client_assertion=" + form_encode(jwt.value());
  } else {
    body += "&client_id=" + form_encode(c.id);
  }
  r.body = std::move(body);
  FetchResponse resp = fetch(r, fo);
  if (resp.status != 200) {
    std::string why = http_problem(resp);
    if (resp.status >= 400) {
      auto parsed = parse_token_response(resp.body);
      if (!parsed.ok()) why = parsed.error().message;
    }
    return failure("OAuth: the token request (" + grant + ") to " + endpoint + " failed: " + why);
  }
  return parse_token_response(resp.body);
}

}  // namespace mcpd::auth::internal
