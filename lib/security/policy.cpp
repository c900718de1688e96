#include "security/policy.hpp"

#include "common/text.hpp"


namespace mcpd::security {
namespace {

Error forbidden(std::string message) { return make_error(Errc::forbidden, std::move(message)); }

std::string list(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s.empty() ? "(none)" : s;
}

bool has_dotdot(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

bool command_allowed(const Policy& p, std::string_view command) {
  if (p.allowed_commands.empty()) return true;
  const bool bare = command.find('/') == std::string_view::npos;
  for (const auto& allowed : p.allowed_commands) {
    if (allowed == command) return true;
    // A directory: any program directly in it.
    if (!bare && allowed.ends_with('/') && command.starts_with(allowed) && !has_dotdot(command) &&
        command.substr(allowed.size()).find('/') == std::string_view::npos)
      return true;
  }
  return false;
}

// The host (lowercase, IPv6 without brackets) and port ("" when none) of an http(s) URL.
void host_and_port(std::string_view url, std::string& host, std::string& port) {
  std::string_view authority = url_authority(url);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    host = ascii_lower(authority.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
    if (close != std::string_view::npos && close + 1 < authority.size() && authority[close + 1] == ':')
      port = std::string(authority.substr(close + 2));
    return;
  }
  auto colon = authority.rfind(':');
  host = ascii_lower(authority.substr(0, colon));
  if (colon != std::string_view::npos) port = std::string(authority.substr(colon + 1));
}

}  // namespace

bool url_allowed(const Policy& p, std::string_view url) {
  if (p.allowed_urls.empty()) return true;
  std::string host, port;
  host_and_port(url, host, port);
  if (port.empty()) port = ascii_lower(url.substr(0, 8)).starts_with("https://") ? "443" : "80";
  for (const auto& pattern : p.allowed_urls) {
    std::string want_host, want_port;
    host_and_port(pattern, want_host, want_port);  // a pattern is written like a URL's host[:port]
    if (!want_port.empty() && want_port != port) continue;
    if (want_host.starts_with("*.")) {
      std::string_view suffix = std::string_view(want_host).substr(1);  // ".example.com"
      if (host.size() > suffix.size() && host.ends_with(suffix)) return true;
    } else if (host == want_host) {
      return true;
    }
  }
  return false;
}

bool env_name_allowed(const Policy& p, std::string_view name) {
  for (const auto& allowed : p.secret_env) {
    if (allowed.ends_with('*') ? name.starts_with(std::string_view(allowed).substr(0, allowed.size() - 1)) : name == allowed)
      return true;
  }
  return false;
}

bool inside_secrets_dir(const Policy& p, std::string_view path) {
  if (p.secrets_dir.empty() || has_dotdot(path)) return false;
  std::string dir = p.secrets_dir;
  if (!dir.ends_with('/')) dir += '/';
  return path.starts_with(dir) && path.size() > dir.size();
}

Status check_reference(const Policy& p, const catalog::Reference& ref) {
  if (ref.kind == catalog::Reference::Kind::env) {
    if (!env_name_allowed(p, ref.name))
      return forbidden(ref.text() + " is not allowed by [security] secret_env (" + list(p.secret_env) +
                       "): name the secret so that it matches, or add it there");
    return {};
  }
  if (p.secrets_dir.empty())
    return forbidden(ref.text() + " reads a secret file, but [security] secrets_dir is not set on this node");
  return {};
}

Status check_remote_change(const Policy& p, std::string_view what) {
  if (p.remote_registration) return {};
  return forbidden(std::string(what) +
                   " is refused: [security] remote_registration = false (this node's servers come from its config file only)");
}

Status check_server(const Policy& p, const catalog::ServerConfig& c) {
  const std::string who = "server '" + c.name + "': ";
  if (c.transport == catalog::Transport::stdio) {
    if (!command_allowed(p, c.command))
      return forbidden(who + "command " + quote(c.command) + " is not in [security] allowed_commands (" +
                       list(p.allowed_commands) + ")");
    if (!p.allowed_commands.empty()) {
      for (std::string_view var : {"PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT"})
        if (c.env.contains(std::string(var)))
          return forbidden(who + "env." + std::string(var) +
                           " may not be set while [security] allowed_commands is in force (it would change which "
                           "program runs, or what it loads)");
      if (c.inherit_env)
        return forbidden(who + "inheritEnv may not be set while [security] allowed_commands is in force (it passes "
                               "mcpd's whole environment, secrets included, to the program)");
    }
  } else if (c.transport != catalog::Transport::builtin && !url_allowed(p, c.url)) {  // builtin: in-process, nothing to reach
    return forbidden(who + "the host of url " + quote(c.url) + " is not in [security] allowed_urls (" +
                     list(p.allowed_urls) + ")");
  }
  auto refs_in = [&](const std::string& field, const std::string& value) -> Status {
    auto refs = catalog::parse_references(value);
    if (!refs.ok()) return refs.error();
    for (const auto& r : refs.value())
      if (auto st = check_reference(p, r); !st.ok()) return forbidden(who + field + ": " + st.error().message);
    return {};
  };
  for (const auto& [k, v] : c.env)
    if (auto st = refs_in("env." + k, v); !st.ok()) return st;
  for (const auto& [k, v] : c.headers)
    if (auto st = refs_in("headers." + k, v); !st.ok()) return st;
  if (c.auth) {
    // The record's own field names: for oauth the two hold the client's secret.
    const bool oauth = c.auth->type == catalog::AuthType::oauth;
    const std::string env_field = oauth ? "auth.clientSecretEnv" : "auth.tokenEnv";
    const std::string file_field = oauth ? "auth.clientSecretFile" : "auth.tokenFile";
    if (!c.auth->token_env.empty() && !env_name_allowed(p, c.auth->token_env))
      return forbidden(who + env_field + " " + c.auth->token_env + " is not allowed by [security] secret_env (" +
                       list(p.secret_env) + ")");
    if (!c.auth->token_file.empty()) {
      if (p.secrets_dir.empty())
        return forbidden(who + file_field + " needs [security] secrets_dir, which is not set on this node");
      if (c.auth->token_file.starts_with('/') && !inside_secrets_dir(p, c.auth->token_file))
        return forbidden(who + file_field + " " + quote(c.auth->token_file) + " is outside [security] secrets_dir (" +
                         p.secrets_dir + "): put the file there and give its name");
    }
  }
  return {};
}

}  // namespace mcpd::security
