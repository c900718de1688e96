// mcpctl auth login NAME: authorizes mcpd toward a remote MCP server whose authorization server
// wants a person's consent (the authorization-code flow with PKCE; lib/auth/login.hpp). Run it
// on the node (as mcpd's user): the grant is written to the node's grant file, mode 0600,
// where the node picks it up; tokens never cross the bus.
#include "commands.hpp"

#include "auth/login.hpp"
#include "catalog/server_config.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace mcpd::mcpctl {
namespace {

// The directory of the node's catalog, where the node keeps its OAuth grants (`oauth/` in it),
// found as for the local credentials file: --state-dir, MCPD_STATE_DIR, ./.mcpd (the quick
// start) when it holds a catalog, else /var/lib/mcpd (beside the default catalog).
std::string state_dir(const ParsedArgs& a) {
  if (auto d = a.get("state-dir")) return *d;
  if (const char* v = std::getenv("MCPD_STATE_DIR"); v && *v) return v;
  std::error_code ec;
  if (std::filesystem::exists("./.mcpd/catalog.db", ec)) return "./.mcpd";
  return "/var/lib/mcpd";
}

// Runs `command URL` (a browser, or a test's stand-in for one) without a shell.
void run_browser(const std::string& command, const std::string& url) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("/bin/sh", "sh", "-c", (command + " \"$0\"").c_str(), url.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Not waited for here: the browser may outlive the login; reaped below once the login ends.
}

}  // namespace

int run_auth_login(Invocation& inv) {
  const ParsedArgs& a = inv.args();
  const std::string& name = inv.args().operands[0];
  if (auto st = catalog::check_server_name(name); !st.ok()) throw usage_error(st.error().message);
  auth::LoginOptions o;
  o.name = name;
  if (auto url = a.get("url")) {
    o.server_url = *url;
  } else {
    // The record says where the server is and which client to use; its secret stays on the node.
    Reply reply = inv.ask(inv.subjects().admin("get"), Json{{"name", name}}, kDefaultTimeout, /*echo_json=*/false);
    const Json& server = reply.body.contains("server") ? reply.body["server"] : reply.body;
    o.server_url = server.value("url", "");
    if (o.server_url.empty()) throw failure("server '" + name + "' has no url: OAuth applies to remote servers");
    o.ca_file = server.value("caFile", "");
    o.tls_verify = server.value("tlsVerify", true);
    if (server.contains("auth") && server["auth"].is_object()) {
      const Json& au = server["auth"];
      o.client_id = au.value("clientId", "");
      if (au.contains("scopes") && au["scopes"].is_array())
        for (const auto& s : au["scopes"])
          if (s.is_string()) o.scopes.push_back(s.get<std::string>());
      if (std::string env = au.value("clientSecretEnv", ""); !env.empty()) {
        const char* v = std::getenv(env.c_str());
        if (!v) throw failure("the record's client secret is in " + env + ", which is not set here: run this on the node, "
                              "in mcpd's environment, or give --client-secret-env");
        o.client_secret = v;
      }
    }
  }
  if (auto id = a.get("client-id")) o.client_id = *id;
  if (auto env = a.get("client-secret-env")) {
    const char* v = std::getenv(env->c_str());
    if (!v) throw usage_error("--client-secret-env: environment variable " + *env + " is not set");
    o.client_secret = v;
  }
  for (const auto& s : a.all("scope")) o.scopes.push_back(s);
  if (auto u = a.get("client-metadata-url")) o.client_metadata_url = *u;
  if (auto ca = a.get("ca-file")) o.ca_file = *ca;
  if (a.has("insecure")) o.tls_verify = false;
  if (auto p = a.get("port")) {
    char* end = nullptr;
    long port = std::strtol(p->c_str(), &end, 10);
    if (!end || *end || port < 0 || port > 65535) throw usage_error("--port: expected 0..65535, got " + *p);
    o.port = static_cast<int>(port);
  }
  if (auto w = a.get("wait")) {
    char* end = nullptr;
    long s = std::strtol(w->c_str(), &end, 10);
    if (!end || *end || s <= 0) throw usage_error("--wait: expected a number of seconds, got " + *w);
    o.wait = std::chrono::seconds(s);
  }
  o.store_path = state_dir(a) + "/oauth/" + name + ".json";
  const auto browser = a.get("browser-command");
  o.open = [&](const std::string& url) {
    std::cerr << "Open this URL to authorize mcpd for '" << name << "':\n\n  " << url << "\n\nWaiting for the redirect...\n";
    if (browser) run_browser(*browser, url);
  };
  auto grant = auth::login(o);
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  if (!grant.ok()) throw failure(grant.error().message);
  std::cerr << "Authorized: the node's grant for '" << name << "' is in " << o.store_path
            << (grant->refresh_token.empty() ? "" : " (with a refresh token)") << ".\n";
  if (inv.global().json)
    std::cout << Json{{"server", name}, {"stored", o.store_path}, {"scope", grant->scope},
                      {"refreshToken", !grant->refresh_token.empty()}}.dump() << '\n';
  return 0;
}

}  // namespace mcpd::mcpctl
