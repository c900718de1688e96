#include "catalog/server_config.hpp"

#include "catalog/references.hpp"
#include "catalog/secret_rules.hpp"
#include "common/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>

namespace mcpd::catalog {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::string_view, 4> kReservedNames = {"servers", "admin", "tasks", "nodes"};

// Every field of the MCPServer JSON, in the order the docs list them.
constexpr std::array<std::string_view, 29> kKnownFields = {
    "name", "description", "transport", "command", "args", "env", "inheritEnv", "cwd", "url",
    "headers", "auth", "caFile", "tlsVerify", "builtin", "connectTimeoutSeconds", "callTimeoutMs",
    "pingIntervalSeconds", "minSessions", "maxSessions", "maxInflightPerSession", "maxQueue",
    "isolation", "maxIsolatedSessions", "idleTtlSeconds", "maxMessageBytes", "enabled", "revision", "createdAt",
    "updatedAt"};
constexpr std::array<std::string_view, 5> kStdioFields = {"command", "args", "env", "inheritEnv", "cwd"};
constexpr std::array<std::string_view, 5> kHttpFields = {"url", "headers", "auth", "caFile", "tlsVerify"};

// The integer settings: one table drives parsing, range checks and to_json, so the three
// cannot disagree about a bound.
struct IntField {
  std::string_view key;
  int ServerConfig::*member;
  int min;
  int max;
};
constexpr std::array<IntField, 10> kIntFields = {{
    {"connectTimeoutSeconds", &ServerConfig::connect_timeout_seconds, 1, 600},
    {"callTimeoutMs", &ServerConfig::call_timeout_ms, 1, 3600000},
    {"pingIntervalSeconds", &ServerConfig::ping_interval_seconds, 0, 3600},
    {"minSessions", &ServerConfig::min_sessions, 0, 64},
    {"maxSessions", &ServerConfig::max_sessions, 1, 256},
    {"maxInflightPerSession", &ServerConfig::max_inflight_per_session, 1, 10000},
    {"maxQueue", &ServerConfig::max_queue, 0, 100000},
    {"maxIsolatedSessions", &ServerConfig::max_isolated_sessions, 0, 10000},
    {"idleTtlSeconds", &ServerConfig::idle_ttl_seconds, 1, 604800},
    {"maxMessageBytes", &ServerConfig::max_message_bytes, 1024, 256 << 20},
}};

Error invalid(std::string message) { return make_error(Errc::invalid_request, std::move(message)); }

std::string join(const auto& names) {
  std::string s;
  for (std::string_view n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

template <typename C>
bool contains(const C& c, std::string_view v) {
  for (std::string_view x : c)
    if (x == v) return true;
  return false;
}

// "min_sessions" or "MinSessions" → "minSessions": the usual slip when copying from TOML or Go.
std::string_view suggestion(std::string_view key) {
  auto fold = [](std::string_view s) {
    std::string f;
    for (char c : s)
      if (c != '_' && c != '-') f += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return f;
  };
  std::string k = fold(key);
  for (std::string_view known : kKnownFields)
    if (fold(known) == k) return known;
  return {};
}

std::string type_of(const Json& v) { return v.type_name(); }

bool valid_header_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos)
      return false;
  return true;
}

bool has_any(std::string_view s, std::string_view chars) { return s.find_first_of(chars) != std::string_view::npos; }
bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM): what Go's time.Time and our format_timestamp write.
bool valid_rfc3339(std::string_view s) {
  auto digits = [&](std::size_t pos, std::size_t n, int lo, int hi) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi;
  };
  if (s.size() < 20 || !digits(0, 4, 0, 9999) || s[4] != '-' || !digits(5, 2, 1, 12) || s[7] != '-' ||
      !digits(8, 2, 1, 31) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, 0, 23) || s[13] != ':' ||
      !digits(14, 2, 0, 59) || s[16] != ':' || !digits(17, 2, 0, 60))
    return false;
  std::size_t i = 19;
  if (s[i] == '.') {
    std::size_t start = ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  if (i < s.size() && (s[i] == '+' || s[i] == '-'))
    return i + 6 == s.size() && digits(i + 1, 2, 0, 23) && s[i + 3] == ':' && digits(i + 4, 2, 0, 59);
  return false;
}

// ---- JSON readers: each returns an Error naming the field, or fills `out` ----

Status read_string(const Json& v, const std::string& key, std::string& out) {
  if (!v.is_string()) return invalid(key + ": expected a string, got " + type_of(v));
  out = v.get<std::string>();
  return {};
}

Status read_bool(const Json& v, const std::string& key, bool& out) {
  if (!v.is_boolean()) return invalid(key + ": expected true or false, got " + type_of(v));
  out = v.get<bool>();
  return {};
}

std::string range_message(std::string_view key, std::int64_t lo, std::int64_t hi, const std::string& got) {
  if (hi == std::numeric_limits<std::int64_t>::max())
    return std::string(key) + ": must be " + std::to_string(lo) + " or more, got " + got;
  return std::string(key) + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + got;
}

Status read_int(const Json& v, std::string_view key, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  std::string k(key);
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    return invalid(range_message(key, lo, hi, v.dump()));
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
  } else if (v.is_number_float()) {
    // 30.0 is an integer that took a detour through a float-only language; 1.5 is not.
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) return invalid(k + ": expected an integer, got " + v.dump());
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) return invalid(range_message(key, lo, hi, v.dump()));
    out = static_cast<std::int64_t>(d);
  } else {
    return invalid(k + ": expected an integer, got " + type_of(v));
  }
  if (out < lo || out > hi) return invalid(range_message(key, lo, hi, std::to_string(out)));
  return {};
}

Status read_string_map(const Json& v, const std::string& key, std::map<std::string, std::string>& out) {
  if (!v.is_object()) return invalid(key + ": expected an object of strings, got " + type_of(v));
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_string())
      return invalid(key + "." + it.key() + ": expected a string, got " + type_of(it.value()));
    out[it.key()] = it.value().get<std::string>();
  }
  return {};
}

Status read_auth(const Json& v, std::optional<BearerAuth>& out) {
  if (!v.is_object())
    return invalid("auth: expected an object like {\"type\":\"bearer\",\"tokenEnv\":\"VAR\"} or {\"type\":\"oauth\"}, got " + type_of(v));
  BearerAuth auth;
  std::string type;
  if (auto t = v.find("type"); t != v.end()) {
    if (auto e = read_string(*t, "auth.type", type); !e.ok()) return e;
    if (type != "bearer" && type != "oauth") return invalid("auth.type: expected 'bearer' or 'oauth', got " + quote(type));
  } else {
    return invalid("auth.type is required: 'bearer' (a static token) or 'oauth' (OAuth 2.1 client credentials)");
  }
  const bool oauth = type == "oauth";
  auth.type = oauth ? AuthType::oauth : AuthType::bearer;
  const char* known = oauth ? "type, clientId, clientSecretEnv, clientSecretFile, scopes, tokenEndpointAuthMethod"
                            : "type, tokenEnv, tokenFile";
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    if (k == "type") continue;
    if (k == "token" || k == "value" || k == "clientSecret" || k == "privateKey")
      return invalid("auth." + k + ": a literal " + (k == "token" || k == "value" ? "token" : "secret") +
                     " is not accepted (it would be stored and published with the config); put it in an environment "
                     "variable or a file and use " +
                     std::string(oauth ? "clientSecretEnv or clientSecretFile" : "tokenEnv or tokenFile"));
    if (!oauth && k == "tokenEnv") {
      if (auto e = read_string(f, "auth.tokenEnv", auth.token_env); !e.ok()) return e;
    } else if (!oauth && k == "tokenFile") {
      if (auto e = read_string(f, "auth.tokenFile", auth.token_file); !e.ok()) return e;
    } else if (oauth && k == "clientSecretEnv") {
      if (auto e = read_string(f, "auth.clientSecretEnv", auth.token_env); !e.ok()) return e;
    } else if (oauth && k == "clientSecretFile") {
      if (auto e = read_string(f, "auth.clientSecretFile", auth.token_file); !e.ok()) return e;
    } else if (oauth && k == "clientId") {
      if (auto e = read_string(f, "auth.clientId", auth.client_id); !e.ok()) return e;
    } else if (oauth && k == "tokenEndpointAuthMethod") {
      if (auto e = read_string(f, "auth.tokenEndpointAuthMethod", auth.client_auth); !e.ok()) return e;
    } else if (oauth && k == "scopes") {
      if (!f.is_array()) return invalid("auth.scopes: expected an array of strings like [\"mcp:tools\"], got " + type_of(f));
      for (std::size_t i = 0; i < f.size(); ++i) {
        std::string scope;
        if (auto e = read_string(f[i], "auth.scopes[" + std::to_string(i) + "]", scope); !e.ok()) return e;
        auth.scopes.push_back(std::move(scope));
      }
    } else if (!oauth && (k == "tokenEnv" || k == "tokenFile" || k == "clientId" || k == "clientSecretEnv" ||
                          k == "clientSecretFile" || k == "scopes" || k == "tokenEndpointAuthMethod")) {
      return invalid("auth." + k + ": applies to auth type 'oauth', not 'bearer'");
    } else if (oauth && (k == "tokenEnv" || k == "tokenFile")) {
      return invalid("auth." + k + ": applies to auth type 'bearer'; an OAuth client secret is given with " +
                     (k == "tokenEnv" ? std::string("clientSecretEnv") : std::string("clientSecretFile")));
    } else {
      return invalid("auth: unknown field " + quote(k) + "; known fields: " + known);
    }
  }
  out = std::move(auth);
  return {};
}

template <typename E, std::size_t N>
Status read_enum(const Json& v, std::string_view key, const std::array<std::pair<std::string_view, E>, N>& values, E& out) {
  std::string s;
  if (auto e = read_string(v, std::string(key), s); !e.ok()) return e;
  std::string names;
  for (const auto& [n, e] : values) {
    if (n == s) {
      out = e;
      return {};
    }
    names += (names.empty() ? "'" : ", '") + std::string(n) + "'";
  }
  return invalid(std::string(key) + ": expected one of " + names + ", got " + quote(s));
}

constexpr std::array<std::pair<std::string_view, Transport>, 4> kTransports = {
    {{"stdio", Transport::stdio}, {"http", Transport::http}, {"sse", Transport::sse}, {"builtin", Transport::builtin}}};
constexpr std::array<std::pair<std::string_view, Isolation>, 2> kIsolations = {
    {{"session", Isolation::session}, {"shared", Isolation::shared}}};

// ---- checks shared by parse and validate ----

Status check_references(const std::string& key, const std::string& value) {
  if (auto refs = parse_references(value); !refs.ok()) return invalid(key + ": " + refs.error().message);
  return {};
}

Status check_path(const std::string& key, const std::string& path) {
  if (path.empty()) return invalid(key + ": must not be empty (leave it out instead)");
  if (has_nul(path)) return invalid(key + ": must not contain a NUL character");
  if (path[0] != '/') return invalid(key + ": must be an absolute path (the daemon's working directory is not fixed), got " + quote(path));
  return {};
}

Status check_stdio(const ServerConfig& c) {
  if (c.command.empty()) return invalid("transport 'stdio' needs a command (the program to start, e.g. \"npx\")");
  if (has_nul(c.command)) return invalid("command: must not contain a NUL character");
  for (std::size_t i = 0; i < c.args.size(); ++i)
    if (has_nul(c.args[i])) return invalid("args[" + std::to_string(i) + "]: must not contain a NUL character");
  for (const auto& [k, v] : c.env) {
    if (k.empty() || has_any(k, std::string_view("=\0", 2)))
      return invalid("env: variable name " + quote(k) + " must be non-empty and contain no '=' or NUL");
    if (has_nul(v)) return invalid("env." + k + ": must not contain a NUL character");
    if (auto e = check_references("env." + k, v); !e.ok()) return e;
  }
  if (!c.cwd.empty())
    if (auto e = check_path("cwd", c.cwd); !e.ok()) return e;
  if (!c.builtin.empty()) return invalid("builtin is not allowed with transport 'stdio' (it applies to builtin servers)");
  auto refuse = [](std::string_view field) {
    return invalid(std::string(field) + " is not allowed with transport 'stdio' (it applies to http and sse servers)");
  };
  if (!c.url.empty()) return refuse("url");
  if (!c.headers.empty()) return refuse("headers");
  if (c.auth) return refuse("auth");
  if (!c.ca_file.empty()) return refuse("caFile");
  if (!c.tls_verify) return refuse("tlsVerify");
  return {};
}

Status check_http(const ServerConfig& c) {
  std::string t(to_string(c.transport));
  if (c.url.empty()) return invalid("transport '" + t + "' needs a url (http:// or https://)");
  std::string lower;
  for (char ch : c.url.substr(0, 8)) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::size_t host = lower.starts_with("http://") ? 7 : lower.starts_with("https://") ? 8 : 0;
  if (host == 0) return invalid("url: must start with http:// or https://, got " + quote(c.url));
  if (c.url.size() == host || c.url[host] == '/') return invalid("url: names no host: " + quote(c.url));
  for (char ch : c.url)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f)
      return invalid("url: must not contain spaces or control characters (percent-encode them): " + quote(c.url));
  for (const auto& [k, v] : c.headers) {
    if (!valid_header_name(k)) return invalid("headers: " + quote(k) + " is not a valid HTTP header name");
    if (has_any(v, std::string_view("\r\n\0", 3))) return invalid("headers." + k + ": must not contain CR, LF or NUL");
    if (auto e = check_references("headers." + k, v); !e.ok()) return e;
  }
  if (c.auth) {
    const auto& a = *c.auth;
    const bool oauth = a.type == AuthType::oauth;
    const std::string env_key = oauth ? "auth.clientSecretEnv" : "auth.tokenEnv";
    const std::string file_key = oauth ? "auth.clientSecretFile" : "auth.tokenFile";
    if (!oauth && a.token_env.empty() == a.token_file.empty())
      return invalid("auth: set exactly one of tokenEnv (an environment variable holding the token) or tokenFile (a file holding it)");
    if (oauth && !a.token_env.empty() && !a.token_file.empty())
      return invalid("auth: set at most one of clientSecretEnv or clientSecretFile");
    if (!a.token_env.empty() && !valid_env_name(a.token_env))
      return invalid(env_key + ": " + quote(a.token_env) + " is not a variable name (letters, digits and '_', not starting with a digit)");
    // A file in the node's secrets directory: its name there, or its absolute path.
    if (!a.token_file.empty() && !valid_secret_file_name(a.token_file)) {
      if (a.token_file[0] != '/')
        return invalid(file_key + ": must be the name of a file in the node's [security] secrets_dir (letters, "
                       "digits, '.', '_' and '-') or an absolute path, got " + quote(a.token_file));
      if (auto e = check_path(file_key, a.token_file); !e.ok()) return e;
    }
    if (oauth) {
      if (c.transport != Transport::http)
        return invalid("auth type 'oauth' works with transport 'http' (Streamable HTTP) only");
      for (char ch : a.client_id)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return invalid("auth.clientId: must not contain control characters");
      for (std::size_t i = 0; i < a.scopes.size(); ++i)
        if (a.scopes[i].empty() || a.scopes[i].find_first_of(" \t\r\n\"\\") != std::string::npos)
          return invalid("auth.scopes[" + std::to_string(i) + "]: a scope is one non-empty word (no spaces, quotes or backslashes), got " + quote(a.scopes[i]));
      static constexpr std::array<std::string_view, 4> kMethods = {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"};
      if (!a.client_auth.empty() && std::find(kMethods.begin(), kMethods.end(), a.client_auth) == kMethods.end())
        return invalid("auth.tokenEndpointAuthMethod: expected one of 'client_secret_basic', 'client_secret_post', "
                       "'private_key_jwt', 'none', got " + quote(a.client_auth));
      const bool has_secret = !a.token_env.empty() || !a.token_file.empty();
      if (a.client_id.empty() && has_secret)
        return invalid("auth: a client secret needs its clientId (without clientId mcpd registers a client itself)");
      if (!a.client_auth.empty() && a.client_auth != "none" && !a.client_id.empty() && !has_secret)
        return invalid("auth.tokenEndpointAuthMethod " + quote(a.client_auth) + " needs the client's secret "
                       "(clientSecretEnv or clientSecretFile)");
    } else if (!a.client_id.empty() || !a.scopes.empty() || !a.client_auth.empty()) {
      return invalid("auth: clientId, scopes and tokenEndpointAuthMethod apply to auth type 'oauth'");
    }
  }
  if (!c.ca_file.empty())
    if (auto e = check_path("caFile", c.ca_file); !e.ok()) return e;
  auto refuse = [&](std::string_view field) {
    return invalid(std::string(field) + " is not allowed with transport '" + t + "' (it applies to stdio servers)");
  };
  if (!c.command.empty()) return refuse("command");
  if (!c.args.empty()) return refuse("args");
  if (!c.env.empty()) return refuse("env");
  if (c.inherit_env) return refuse("inheritEnv");
  if (!c.cwd.empty()) return refuse("cwd");
  if (!c.builtin.empty()) return invalid("builtin is not allowed with transport '" + t + "' (it applies to builtin servers)");
  return {};
}

Status check_builtin(const ServerConfig& c) {
  if (c.builtin.empty())
    return invalid("transport 'builtin' needs builtin: the name of one of mcpd's built-in servers (" +
                   join(kBuiltinServers) + ")");
  if (!contains(kBuiltinServers, c.builtin))
    return invalid("builtin: no built-in server named " + quote(c.builtin) + " (built-in servers: " +
                   join(kBuiltinServers) + ")");
  if (!c.command.empty() || !c.args.empty() || !c.env.empty() || c.inherit_env || !c.cwd.empty() || !c.url.empty() ||
      !c.headers.empty() || c.auth || !c.ca_file.empty() || !c.tls_verify)
    return invalid("transport 'builtin' takes only builtin (no command, args, env, cwd, url, headers, auth or TLS "
                   "settings: the server runs inside mcpd)");
  return {};
}

}  // namespace

std::string_view to_string(Transport t) {
  switch (t) {
    case Transport::stdio: return "stdio";
    case Transport::http: return "http";
    case Transport::sse: return "sse";
    case Transport::builtin: return "builtin";
  }
  return "stdio";
}

std::string_view to_string(Isolation i) { return i == Isolation::shared ? "shared" : "session"; }

Status check_server_name(std::string_view name) {
  auto fail = [](std::string message) -> Status { return invalid(std::move(message)); };
  constexpr std::string_view rules = "only lowercase letters, digits, '-' and '_' are allowed (must start with a letter or digit, at most 63 characters)";
  if (name.empty()) return fail("name must not be empty: " + std::string(rules));
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = name.size() <= 63 && lower_or_digit(name[0]);
  for (char c : name) ok = ok && (lower_or_digit(c) || c == '-' || c == '_');
  if (!ok) return fail("name " + quote(name) + ": " + std::string(rules));
  if (contains(kReservedNames, name))
    return fail("name " + quote(name) + " is reserved (" + join(kReservedNames) + " are mcpd's own subjects); choose another name");
  return {};
}

Status validate(const ServerConfig& c) {
  if (auto e = check_server_name(c.name); !e.ok()) return e;
  if (has_nul(c.description)) return invalid("description: must not contain a NUL character");
  auto checked = c.transport == Transport::stdio     ? check_stdio(c)
                 : c.transport == Transport::builtin ? check_builtin(c)
                                                     : check_http(c);
  if (!checked.ok()) return checked;
  for (const auto& f : kIntFields) {
    int v = c.*f.member;
    if (v < f.min || v > f.max) return invalid(range_message(f.key, f.min, f.max, std::to_string(v)));
  }
  if (c.min_sessions > c.max_sessions)
    return invalid("minSessions (" + std::to_string(c.min_sessions) + ") must not exceed maxSessions (" +
                   std::to_string(c.max_sessions) + ")");
  if (auto e = check_secrets_by_reference(c); !e.ok()) return e;
  if (c.revision < 0) return invalid(range_message("revision", 0, std::numeric_limits<std::int64_t>::max(), std::to_string(c.revision)));
  for (auto [key, ts] : {std::pair<std::string_view, const std::string*>{"createdAt", &c.created_at}, {"updatedAt", &c.updated_at}})
    if (!ts->empty() && !valid_rfc3339(*ts))
      return invalid(std::string(key) + ": expected an RFC 3339 timestamp like \"2026-11-22T01:02:03.456Z\", got " + quote(*ts));
  return {};
}

Result<ServerConfig> parse_server_config(const Json& j) {
  if (!j.is_object()) return invalid("an MCPServer must be a JSON object, got " + type_of(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (contains(kKnownFields, k)) continue;
    if (k == "authToken" || k == "token")
      return invalid(k + ": a literal token is not accepted (it would be stored and published with the config); "
                         "use auth: {\"type\":\"bearer\",\"tokenEnv\":\"VAR\"} or {\"type\":\"bearer\",\"tokenFile\":\"/path\"}");
    std::string message = "unknown field " + quote(k);
    if (auto s = suggestion(k); !s.empty()) message += " (did you mean '" + std::string(s) + "'?)";
    return invalid(message + "; known fields: " + join(kKnownFields));
  }
  // null stands for "not given" (Go publishers write nil maps and slices as null).
  auto field = [&](std::string_view key) -> const Json* {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };

  ServerConfig c;
  const Json* name = field("name");
  if (!name) return invalid("name is required");
  if (auto e = read_string(*name, "name", c.name); !e.ok()) return e.error();
  if (auto e = check_server_name(c.name); !e.ok()) return e.error();

  if (const Json* v = field("transport"))
    if (auto e = read_enum(*v, "transport", kTransports, c.transport); !e.ok()) return e.error();
  bool stdio = c.transport == Transport::stdio;
  const bool builtin = c.transport == Transport::builtin;
  auto not_allowed = [&](std::string_view k, std::string_view applies) {
    return invalid(std::string(k) + " is not allowed with transport '" + std::string(to_string(c.transport)) +
                   "' (it applies to " + std::string(applies) + ")");
  };
  for (std::string_view k : stdio ? kHttpFields : kStdioFields)
    if (field(k)) return not_allowed(k, stdio ? "http and sse servers" : "stdio servers");
  if (builtin)
    for (std::string_view k : kHttpFields)
      if (field(k)) return not_allowed(k, "http and sse servers");
  if (!builtin && field("builtin")) return not_allowed("builtin", "builtin servers");

  Status e;
  auto str = [&](std::string_view key, std::string& out) {
    if (const Json* v = field(key); v && e.ok()) e = read_string(*v, std::string(key), out);
  };
  auto boolean = [&](std::string_view key, bool& out) {
    if (const Json* v = field(key); v && e.ok()) e = read_bool(*v, std::string(key), out);
  };
  auto map = [&](std::string_view key, std::map<std::string, std::string>& out) {
    if (const Json* v = field(key); v && e.ok()) e = read_string_map(*v, std::string(key), out);
  };
  str("description", c.description);
  str("command", c.command);
  if (const Json* v = field("args"); v && e.ok()) {
    if (!v->is_array()) return invalid("args: expected an array of strings, got " + type_of(*v));
    for (std::size_t i = 0; i < v->size() && e.ok(); ++i)
      e = read_string((*v)[i], "args[" + std::to_string(i) + "]", c.args.emplace_back());
  }
  map("env", c.env);
  boolean("inheritEnv", c.inherit_env);
  str("cwd", c.cwd);
  str("url", c.url);
  map("headers", c.headers);
  if (const Json* v = field("auth"); v && e.ok()) e = read_auth(*v, c.auth);
  str("caFile", c.ca_file);
  boolean("tlsVerify", c.tls_verify);
  str("builtin", c.builtin);
  for (const auto& f : kIntFields) {
    const Json* v = field(f.key);
    if (!v || !e.ok()) continue;
    std::int64_t n = 0;
    e = read_int(*v, f.key, f.min, f.max, n);
    c.*f.member = static_cast<int>(n);  // within [min, max] unless e is set, and then unused
  }
  if (const Json* v = field("isolation"); v && e.ok()) e = read_enum(*v, "isolation", kIsolations, c.isolation);
  boolean("enabled", c.enabled);
  if (const Json* v = field("revision"); v && e.ok()) e = read_int(*v, "revision", 0, std::numeric_limits<std::int64_t>::max(), c.revision);
  str("createdAt", c.created_at);
  str("updatedAt", c.updated_at);
  if (!e.ok()) return e.error();
  if (auto err = validate(c); !err.ok()) return err.error();
  return c;
}

Json to_json(const ServerConfig& c) {
  Json j = Json::object();
  j["name"] = c.name;
  if (!c.description.empty()) j["description"] = c.description;
  j["transport"] = to_string(c.transport);
  if (c.transport == Transport::stdio) {
    j["command"] = c.command;
    j["args"] = c.args;
    j["env"] = c.env;
    j["inheritEnv"] = c.inherit_env;
    if (!c.cwd.empty()) j["cwd"] = c.cwd;
  } else if (c.transport == Transport::builtin) {
    j["builtin"] = c.builtin;
  } else {
    j["url"] = c.url;
    j["headers"] = c.headers;
    if (c.auth && c.auth->type == AuthType::oauth) {
      Json a = {{"type", "oauth"}};
      if (!c.auth->client_id.empty()) a["clientId"] = c.auth->client_id;
      if (!c.auth->token_env.empty()) a["clientSecretEnv"] = c.auth->token_env;
      if (!c.auth->token_file.empty()) a["clientSecretFile"] = c.auth->token_file;
      if (!c.auth->scopes.empty()) a["scopes"] = c.auth->scopes;
      if (!c.auth->client_auth.empty()) a["tokenEndpointAuthMethod"] = c.auth->client_auth;
      j["auth"] = std::move(a);
    } else if (c.auth) {
      Json a = {{"type", "bearer"}};
      if (!c.auth->token_env.empty()) a["tokenEnv"] = c.auth->token_env;
      if (!c.auth->token_file.empty()) a["tokenFile"] = c.auth->token_file;
      j["auth"] = std::move(a);
    }
    if (!c.ca_file.empty()) j["caFile"] = c.ca_file;
    j["tlsVerify"] = c.tls_verify;
  }
  for (const auto& f : kIntFields) j[std::string(f.key)] = c.*f.member;
  j["isolation"] = to_string(c.isolation);
  j["enabled"] = c.enabled;
  j["revision"] = c.revision;
  if (!c.created_at.empty()) j["createdAt"] = c.created_at;
  if (!c.updated_at.empty()) j["updatedAt"] = c.updated_at;
  return j;
}

bool same_definition(const ServerConfig& a, const ServerConfig& b) {
  auto strip = [](ServerConfig c) {
    c.revision = 0;
    c.created_at.clear();
    c.updated_at.clear();
    return c;
  };
  return strip(a) == strip(b);
}

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int millis = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

}  // namespace mcpd::catalog
