#include "auth/discovery.hpp"

#include "common/text.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <memory>

namespace mcpd::auth {
namespace {

using Json = nlohmann::json;

struct UrlParts {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "/mcp", "" for the root
};

// Parsed with libcurl's URL API, the same parser that will fetch it.
std::optional<UrlParts> split(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  auto part = [&](CURLUPart what, unsigned flags = 0) -> std::string {
    char* p = nullptr;
    if (curl_url_get(u.get(), what, &p, flags) != CURLUE_OK || !p) return {};
    std::string s(p);
    curl_free(p);
    return s;
  };
  std::string scheme = ascii_lower(part(CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  std::string host = ascii_lower(part(CURLUPART_HOST));
  if (host.empty()) return std::nullopt;
  std::string port = part(CURLUPART_PORT);  // absent when the URL gives none
  if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) port.clear();
  UrlParts out;
  out.origin = scheme + "://" + host + (port.empty() ? "" : ":" + port);
  out.path = part(CURLUPART_PATH);
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  return out;
}

std::vector<std::string> strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::string string_of(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Json> parse_object(std::string_view body, const char* what) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::unavailable, std::string(what) + " is not a JSON object");
  return j;
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

std::optional<Challenge> parse_www_authenticate(std::string_view h) {
  // challenge = scheme 1*SP [ token68 / #auth-param ]; several challenges are comma-separated,
  // so after "Bearer" read name=value pairs until a bare token starts the next challenge.
  std::size_t i = 0;
  auto skip = [&](std::string_view chars) {
    while (i < h.size() && chars.find(h[i]) != std::string_view::npos) ++i;
  };
  auto token = [&] {
    std::size_t start = i;
    while (i < h.size() && h[i] != ' ' && h[i] != '\t' && h[i] != ',' && h[i] != '=') ++i;
    return h.substr(start, i - start);
  };
  while (i < h.size()) {
    skip(" \t,");
    std::string_view scheme = token();
    if (scheme.empty()) break;
    const bool bearer = ascii_lower(scheme) == "bearer";
    Challenge c;
    for (;;) {
      skip(" \t,");
      std::size_t mark = i;
      std::string_view name = token();
      skip(" \t");
      if (name.empty() || i >= h.size() || h[i] != '=') {  // the next challenge's scheme
        i = mark;
        break;
      }
      ++i;
      skip(" \t");
      std::string value;
      if (i < h.size() && h[i] == '"') {
        for (++i; i < h.size() && h[i] != '"'; ++i) {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value += h[i];
        }
        if (i < h.size()) ++i;  // the closing quote, when the server sent one
      } else {
        value = std::string(token());
      }
      std::string n = ascii_lower(name);
      if (n == "resource_metadata") c.resource_metadata = value;
      else if (n == "scope") c.scope = value;
      else if (n == "error") c.error = value;
    }
    if (bearer) return c;
  }
  return std::nullopt;
}

std::vector<std::string> protected_resource_metadata_urls(const std::string& server_url,
                                                          const std::string& from_challenge) {
  std::vector<std::string> out;
  if (!from_challenge.empty()) out.push_back(from_challenge);
  if (auto u = split(server_url)) {
    if (!u->path.empty()) out.push_back(u->origin + "/.well-known/oauth-protected-resource" + u->path);
    out.push_back(u->origin + "/.well-known/oauth-protected-resource");
  }
  return out;
}

std::vector<std::string> authorization_server_metadata_urls(const std::string& issuer) {
  auto u = split(issuer);
  if (!u) return {};
  if (u->path.empty())
    return {u->origin + "/.well-known/oauth-authorization-server", u->origin + "/.well-known/openid-configuration"};
  return {u->origin + "/.well-known/oauth-authorization-server" + u->path,
          u->origin + "/.well-known/openid-configuration" + u->path,
          u->origin + u->path + "/.well-known/openid-configuration"};
}

std::string origin_of(const std::string& url) {
  auto u = split(url);
  return u ? u->origin : std::string();
}

std::string canonical_resource(const std::string& server_url) {
  auto u = split(server_url);
  return u ? u->origin + u->path : server_url;
}

bool resource_matches(const std::string& resource, const std::string& server_url) {
  auto r = split(resource);
  auto s = split(server_url);
  if (!r || !s || r->origin != s->origin) return false;
  if (r->path.empty() || r->path == s->path) return true;
  return s->path.starts_with(r->path) && s->path[r->path.size()] == '/';
}

Result<ProtectedResource> parse_protected_resource(std::string_view body) {
  auto j = parse_object(body, "the protected-resource metadata");
  if (!j.ok()) return j.error();
  ProtectedResource p;
  p.resource = string_of(j.value(), "resource");
  p.authorization_servers = strings(j.value(), "authorization_servers");
  p.scopes_supported = strings(j.value(), "scopes_supported");
  if (p.authorization_servers.empty())
    return make_error(Errc::unavailable, "the protected-resource metadata names no authorization_servers");
  return p;
}

Result<AuthServer> parse_auth_server(std::string_view body) {
  auto j = parse_object(body, "the authorization-server metadata");
  if (!j.ok()) return j.error();
  const Json& m = j.value();
  AuthServer a;
  a.issuer = string_of(m, "issuer");
  a.authorization_endpoint = string_of(m, "authorization_endpoint");
  a.token_endpoint = string_of(m, "token_endpoint");
  a.registration_endpoint = string_of(m, "registration_endpoint");
  a.grant_types_supported = strings(m, "grant_types_supported");
  a.token_endpoint_auth_methods_supported = strings(m, "token_endpoint_auth_methods_supported");
  a.scopes_supported = strings(m, "scopes_supported");
  a.code_challenge_methods_supported = strings(m, "code_challenge_methods_supported");
  auto cimd = m.find("client_id_metadata_document_supported");
  a.client_id_metadata_document_supported = cimd != m.end() && cimd->is_boolean() && cimd->get<bool>();
  if (a.token_endpoint.empty())
    return make_error(Errc::unavailable, "the authorization-server metadata has no token_endpoint");
  return a;
}

AuthServer default_endpoints(const std::string& server_url) {
  const std::string o = origin_of(server_url);
  AuthServer a;
  a.issuer = o;
  a.authorization_endpoint = o + "/authorize";
  a.token_endpoint = o + "/token";
  a.registration_endpoint = o + "/register";
  return a;
}

Result<TokenResponse> parse_token_response(std::string_view body) {
  auto j = parse_object(body, "the token endpoint's answer");
  if (!j.ok()) return j.error();
  const Json& m = j.value();
  if (std::string err = string_of(m, "error"); !err.empty()) {
    std::string d = string_of(m, "error_description");
    return make_error(Errc::unavailable, "the authorization server refused: " + err + (d.empty() ? "" : " (" + d + ")"));
  }
  TokenResponse t;
  t.access_token = string_of(m, "access_token");
  t.token_type = string_of(m, "token_type");
  t.refresh_token = string_of(m, "refresh_token");
  t.scope = string_of(m, "scope");
  // A lifetime past ten years is taken as ten years: the clock arithmetic stays in range.
  constexpr double kMaxLifetime = 10.0 * 365 * 24 * 3600;
  if (auto e = m.find("expires_in"); e != m.end() && e->is_number() && e->get<double>() > 0)
    t.expires_in = std::chrono::seconds(static_cast<long long>(std::min(e->get<double>(), kMaxLifetime)));
  if (t.access_token.empty()) return make_error(Errc::unavailable, "the token endpoint's answer has no access_token");
  if (!t.token_type.empty() && ascii_lower(t.token_type) != "bearer")
    return make_error(Errc::unavailable, "the token endpoint gave a token of type '" + t.token_type + "', not Bearer");
  return t;
}

std::string select_scope(const std::vector<std::string>& configured, const std::string& challenge_scope,
                         const std::vector<std::string>& scopes_supported) {
  std::vector<std::string> words = configured;
  auto add = [&](const std::vector<std::string>& more) {
    for (const auto& w : more)
      if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
  };
  if (!challenge_scope.empty()) add(split_words(challenge_scope));
  else if (configured.empty()) add(scopes_supported);
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

}  // namespace mcpd::auth
