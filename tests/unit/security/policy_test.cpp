// The [security] policy: what a server registered at run time may run, reach and read.
#include "security/policy.hpp"

#include <catch2/catch.hpp>

using namespace mcpd;
using namespace mcpd::security;

namespace {

catalog::ServerConfig stdio(std::string command) {
  catalog::ServerConfig c;
  c.name = "s";
  c.command = std::move(command);
  return c;
}

catalog::ServerConfig http(std::string url) {
  catalog::ServerConfig c;
  c.name = "s";
  c.transport = catalog::Transport::http;
  c.url = std::move(url);
  return c;
}

// The refusal's message, or "(allowed)"; every refusal is `forbidden`.
std::string verdict(const Policy& p, const catalog::ServerConfig& c) {
  auto st = check_server(p, c);
  if (st.ok()) return "(allowed)";
  CHECK(st.error().code == Errc::forbidden);
  return st.error().message;
}

}  // namespace

TEST_CASE("allowed_commands: names and absolute paths and directories") {
  Policy p;
  CHECK(verdict(p, stdio("/bin/sh")) == "(allowed)");  // empty: any program
  p.allowed_commands = {"npx", "/usr/bin/node", "/opt/mcp/bin/"};
  CHECK(verdict(p, stdio("npx")) == "(allowed)");
  CHECK(verdict(p, stdio("/usr/bin/node")) == "(allowed)");
  CHECK(verdict(p, stdio("/opt/mcp/bin/weather")) == "(allowed)");
  CHECK(verdict(p, stdio("/bin/sh")) ==
        "server 's': command '/bin/sh' is not in [security] allowed_commands (npx, /usr/bin/node, /opt/mcp/bin/)");
  CHECK(verdict(p, stdio("/tmp/npx")).starts_with("server 's': command '/tmp/npx' is not in"));  // a name is not a basename
  CHECK(verdict(p, stdio("node")).starts_with("server 's': command 'node' is not in"));
  CHECK(verdict(p, stdio("/opt/mcp/bin/../../../bin/sh")).starts_with("server 's': command"));
  CHECK(verdict(p, stdio("/opt/mcp/bin/sub/x")).starts_with("server 's': command"));

  // What would change which program runs, or what it loads, is refused with them.
  auto c = stdio("npx");
  c.env["PATH"] = "/tmp/evil";
  CHECK(verdict(p, c).starts_with("server 's': env.PATH may not be set while [security] allowed_commands is in force"));
  c = stdio("npx");
  c.env["LD_PRELOAD"] = "/tmp/x.so";
  CHECK(verdict(p, c).starts_with("server 's': env.LD_PRELOAD may not be set"));
  c = stdio("npx");
  c.inherit_env = true;
  CHECK(verdict(p, c).starts_with("server 's': inheritEnv may not be set"));
}

TEST_CASE("allowed_urls: hosts and subdomain wildcards and ports") {
  Policy p;
  CHECK(verdict(p, http("https://anything.example.org/mcp")) == "(allowed)");
  p.allowed_urls = {"api.example.com", "*.tools.example.com", "127.0.0.1:8080", "[::1]:9000"};
  CHECK(verdict(p, http("https://api.example.com/mcp")) == "(allowed)");
  CHECK(verdict(p, http("https://API.Example.com:8443/mcp")) == "(allowed)");  // no port in the pattern: any port
  CHECK(verdict(p, http("https://a.tools.example.com/mcp")) == "(allowed)");
  CHECK(verdict(p, http("http://127.0.0.1:8080/mcp")) == "(allowed)");
  CHECK(verdict(p, http("http://[::1]:9000/mcp")) == "(allowed)");
  CHECK(verdict(p, http("https://tools.example.com/mcp")).starts_with("server 's': the host of url"));  // not a subdomain
  CHECK(verdict(p, http("https://api.example.com.evil.net/mcp")).starts_with("server 's': the host of url"));
  CHECK(verdict(p, http("http://127.0.0.1:8081/mcp")).starts_with("server 's': the host of url"));
  CHECK(verdict(p, http("http://169.254.169.254/latest/meta-data")) ==
        "server 's': the host of url 'http://169.254.169.254/latest/meta-data' is not in [security] allowed_urls "
        "(api.example.com, *.tools.example.com, 127.0.0.1:8080, [::1]:9000)");
}

TEST_CASE("references may read only allowed variables and the secrets directory") {
  Policy p;  // defaults: MCPD_SECRET_* and /etc/mcpd/secrets
  auto c = http("https://api.example.com/mcp");
  c.headers["Authorization"] = "Bearer ${MCPD_SECRET_API}";
  CHECK(verdict(p, c) == "(allowed)");
  c.headers["Authorization"] = "Bearer ${AWS_SECRET_ACCESS_KEY}";
  CHECK(verdict(p, c) ==
        "server 's': headers.Authorization: ${AWS_SECRET_ACCESS_KEY} is not allowed by [security] secret_env "
        "(MCPD_SECRET_*): name the secret so that it matches, or add it there");
  p.secret_env = {"AWS_SECRET_ACCESS_KEY", "TEAM_*"};
  CHECK(verdict(p, c) == "(allowed)");

  auto s = stdio("npx");
  s.env["TOKEN"] = "${HOME}";
  CHECK(verdict(p, s).starts_with("server 's': env.TOKEN: ${HOME} is not allowed by [security] secret_env"));
  s.env["TOKEN"] = "${file:token}";
  CHECK(verdict(p, s) == "(allowed)");
  p.secrets_dir.clear();
  CHECK(verdict(p, s) ==
        "server 's': env.TOKEN: ${file:token} reads a secret file, but [security] secrets_dir is not set on this node");

  p = Policy{};
  c = http("https://api.example.com/mcp");
  c.auth = catalog::BearerAuth{"HOME", ""};
  CHECK(verdict(p, c).starts_with("server 's': auth.tokenEnv HOME is not allowed by [security] secret_env"));
  c.auth = catalog::BearerAuth{"", "/root/.ssh/id_ed25519"};
  CHECK(verdict(p, c) ==
        "server 's': auth.tokenFile '/root/.ssh/id_ed25519' is outside [security] secrets_dir (/etc/mcpd/secrets): put "
        "the file there and give its name");
  c.auth = catalog::BearerAuth{"", "/etc/mcpd/secrets/../../../root/x"};
  CHECK(verdict(p, c).starts_with("server 's': auth.tokenFile"));
  c.auth = catalog::BearerAuth{"", "/etc/mcpd/secrets/api"};
  CHECK(verdict(p, c) == "(allowed)");
  c.auth = catalog::BearerAuth{"", "api"};
  CHECK(verdict(p, c) == "(allowed)");
  // An OAuth record's fields are named as the record names them: they hold the client's secret.
  c.auth = catalog::BearerAuth{"HOME", "", catalog::AuthType::oauth};
  CHECK(verdict(p, c).starts_with("server 's': auth.clientSecretEnv HOME is not allowed by [security] secret_env"));
  c.auth = catalog::BearerAuth{"", "/root/.ssh/id_ed25519", catalog::AuthType::oauth};
  CHECK(verdict(p, c).starts_with("server 's': auth.clientSecretFile '/root/.ssh/id_ed25519' is outside"));
}

TEST_CASE("remote_registration = false refuses every change from the bus") {
  Policy p;
  CHECK(check_remote_change(p, "a created event").ok());
  p.remote_registration = false;
  auto st = check_remote_change(p, "a created event");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::forbidden);
  CHECK(st.error().message ==
        "a created event is refused: [security] remote_registration = false (this node's servers come from its config file only)");
}

TEST_CASE("allowed_urls: a pattern's port matches the scheme's default port") {
  Policy p;
  p.allowed_urls = {"api.example.com:443"};
  CHECK(verdict(p, http("https://api.example.com/mcp")) == "(allowed)");
  CHECK(verdict(p, http("http://api.example.com/mcp")).starts_with("server 's': the host of url"));
}

TEST_CASE("a builtin server reaches nothing outside mcpd: allowed_urls and allowed_commands do not refuse it") {
  Policy p;
  p.allowed_urls = {"api.example.com"};
  p.allowed_commands = {"/usr/bin/"};
  catalog::ServerConfig c;
  c.name = "cluster";
  c.transport = catalog::Transport::builtin;
  c.builtin = "mcpd";
  CHECK(check_server(p, c).ok());
}
