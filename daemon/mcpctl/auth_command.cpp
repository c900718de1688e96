// mcpctl auth login NAME: authorizes mcpd toward a remote MCP server whose authorization server
// wants a person's consent (the authorization-code flow with PKCE; lib/auth/login.hpp), then
// hands the grant to the nodes over NATS sealed to each node's own key (auth/handover.hpp), so
// it is never readable on the bus; with --state-dir it writes the grant file of a node on this
// machine instead (the bus is not used). mcpctl auth handover NAME --grant-file FILE hands an
// existing grant (another node's file) the same way, e.g. to a node that joined later.
#include "commands.hpp"

#include "auth/handover.hpp"
#include "auth/login.hpp"
#include "auth/sealed_grant.hpp"
#include "auth/token_cache.hpp"
#include "catalog/server_config.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace mcpd::mcpctl {
namespace {

// Runs `command URL` (a browser, or a test's stand-in for one) without a shell.
void run_browser(const std::string& command, const std::string& url) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("/bin/sh", "sh", "-c", (command + " \"$0\"").c_str(), url.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Not waited for here: the browser may outlive the login; reaped below once the login ends.
}

// Hands `grant` to the nodes named by --node, else to every live node, each copy sealed to that
// node's public key. Prints a line per node; false if any did not take it.
bool hand_over(Invocation& inv, const std::string& name, const auth::Grant& grant) {
  std::vector<std::string> live;
  for (const auto& n : node_stats(inv, gather_window(inv))) live.push_back(node_id(n));
  std::vector<std::string> ids = inv.args().all("node");
  if (ids.empty()) ids = live;
  if (live.empty())
    throw failure("no mcpd node answered on " + inv.global().nats.url +
                  " to hand the grant to: start one, or run this on the node with --state-dir (the directory of its "
                  "catalog) to write its grant file directly");
  const auto sealed_at =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string text = auth::sealed_grant_text(grant, sealed_at);
  bool all = true;
  Json results = Json::array();
  std::string live_list;
  for (const auto& id : live) live_list += (live_list.empty() ? "" : ", ") + id;
  for (const auto& id : ids) {
    try {
      if (std::find(live.begin(), live.end(), id) == live.end())
        throw failure("no such live node (live: " + live_list + ")");
      Reply key = inv.ask(inv.subjects().node_oauth(id, "key"), Json::object(), kDefaultTimeout, false);
      auto sealed = auth::seal(key.body.value("public_key", ""), text, auth::grant_context(id, name));
      if (!sealed.ok()) throw failure("node " + id + ": " + sealed.error().message);
      Reply stored = inv.ask(inv.subjects().node_oauth(id, "grant"),
                             Json{{"server", name}, {"epk", sealed->epk}, {"nonce", sealed->nonce},
                                  {"ciphertext", sealed->ciphertext}},
                             kDefaultTimeout, false);
      std::cerr << "node " << id << ": grant for '" << name << "' stored (sealed to the node's key on the way)\n";
      results.push_back(stored.body);
    } catch (const CliError& e) {
      std::cerr << "node " << id << ": not handed over: " << e.what() << "\n";
      results.push_back(Json{{"node", id}, {"error", e.what()}});
      all = false;
    }
  }
  if (inv.global().json) std::cout << Json{{"server", name}, {"nodes", results}}.dump() << '\n';
  return all;
}

}  // namespace

int run_auth_handover(Invocation& inv) {
  const std::string& name = inv.args().operands[0];
  if (auto st = catalog::check_server_name(name); !st.ok()) throw usage_error(st.error().message);
  const auto file = inv.args().get("grant-file");
  if (!file) throw usage_error("--grant-file FILE is required (a node's <catalog dir>/oauth/" + name + ".json)");
  auto g = auth::load_grant(*file);
  if (!g.ok()) throw failure(g.error().message);
  if (!g.value()) throw failure("no grant file at " + *file);
  if (g.value()->access_token.empty() && g.value()->refresh_token.empty())
    throw failure(*file + " holds neither an access nor a refresh token");
  return hand_over(inv, name, *g.value()) ? 0 : 1;
}

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
      if (std::string env = au.value("clientSecretEnv", ""); !env.empty() && !a.has("client-secret-env")) {
        const char* v = std::getenv(env.c_str());
        if (!v)
          throw failure("the record's client secret is read from " + env + ", which is not set here: the login "
                        "exchanges the code from this machine, so set " + env + " here too, or name another "
                        "variable with --client-secret-env");
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
  if (auto w = a.get("redirect-wait")) {
    char* end = nullptr;
    long s = std::strtol(w->c_str(), &end, 10);
    if (!end || *end || s <= 0) throw usage_error("--redirect-wait: expected a number of seconds, got " + *w);
    o.wait = std::chrono::seconds(s);
  }
  // --state-dir: this machine's node reads the file; else the grant goes to the nodes over NATS.
  if (auto dir = a.get("state-dir")) o.store_path = *dir + "/oauth/" + name + ".json";
  const auto browser = a.get("browser-command");
  o.open = [&](const std::string& url) {
    std::cerr << "Open this URL to authorize mcpd for '" << name << "':\n\n  " << url << "\n\nWaiting for the redirect...\n";
    if (browser) run_browser(*browser, url);
  };
  auto grant = auth::login(o);
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  if (!grant.ok()) throw failure(grant.error().message);
  std::cerr << "Authorized" << (grant->refresh_token.empty() ? "" : " (with a refresh token)") << ".\n";
  if (o.store_path.empty()) return hand_over(inv, name, grant.value()) ? 0 : 1;
  std::cerr << "The grant for '" << name << "' is in " << o.store_path << ", where the node reads it.\n";
  if (inv.global().json)
    std::cout << Json{{"server", name}, {"stored", o.store_path}, {"scope", grant->scope},
                      {"refreshToken", !grant->refresh_token.empty()}}.dump() << '\n';
  return 0;
}

}  // namespace mcpd::mcpctl
