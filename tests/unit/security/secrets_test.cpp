// SecretResolver: references become values only from allowed variables and from regular files
// inside the secrets directory, within the size cap; errors never carry a value.
#include "security/secrets.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace mcpd;
using namespace mcpd::security;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path root;
  TempDir() {
    char tmpl[] = "/tmp/mcpd-secrets-XXXXXX";
    root = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(root); }
  void write(const std::string& name, const std::string& content) { std::ofstream(root / name) << content; }
};

}  // namespace

TEST_CASE("variables resolve only when secret_env allows them") {
  ::setenv("MCPD_SECRET_RESOLVER_TEST", "canary-value-1", 1);
  ::setenv("RESOLVER_TEST_OTHER", "canary-value-2", 1);
  Policy p;
  SecretResolver r(p);
  CHECK(r.expand("Bearer ${MCPD_SECRET_RESOLVER_TEST}").value() == "Bearer canary-value-1");
  auto refused = r.expand("${RESOLVER_TEST_OTHER}");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::forbidden);
  CHECK_THAT(refused.error().message, !Catch::Contains("canary-value-2"));
  auto unset = r.expand("${MCPD_SECRET_RESOLVER_UNSET}");
  REQUIRE_FALSE(unset.ok());
  CHECK(unset.error().message == "environment variable 'MCPD_SECRET_RESOLVER_UNSET' is not set in mcpd's environment "
                                 "(referenced as ${MCPD_SECRET_RESOLVER_UNSET})");
  // The config file's own servers are the operator's: any variable.
  CHECK(SecretResolver(p, true).expand("${RESOLVER_TEST_OTHER}").value() == "canary-value-2");
}

TEST_CASE("files resolve inside the secrets directory only") {
  TempDir dir, outside;
  dir.write("api-token", "file-canary\n");
  outside.write("stolen", "outside-canary");
  fs::create_symlink(outside.root / "stolen", dir.root / "link");
  fs::create_directory(dir.root / "sub");
  Policy p;
  p.secrets_dir = dir.root.string();
  p.max_secret_file_bytes = 32;
  SecretResolver r(p);

  CHECK(r.expand("${file:api-token}").value() == "file-canary");  // one trailing newline dropped
  CHECK(r.bearer_token({"", "api-token"}).value() == "file-canary");
  CHECK(r.bearer_token({"", (dir.root / "api-token").string()}).value() == "file-canary");

  auto via_link = r.expand("${file:link}");
  REQUIRE_FALSE(via_link.ok());
  CHECK(via_link.error().code == Errc::forbidden);
  CHECK_THAT(via_link.error().message, Catch::Contains("is outside [security] secrets_dir"));
  auto absolute = r.bearer_token({"", (outside.root / "stolen").string()});
  REQUIRE_FALSE(absolute.ok());
  CHECK(absolute.error().code == Errc::forbidden);
  CHECK_THAT(absolute.error().message, !Catch::Contains("outside-canary"));

  auto directory = r.expand("${file:sub}");
  REQUIRE_FALSE(directory.ok());
  CHECK_THAT(directory.error().message, Catch::EndsWith("is not a regular file"));
  dir.write("big", std::string(33, 'x'));
  auto big = r.expand("${file:big}");
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error().message, Catch::EndsWith("is larger than 32 bytes"));
  auto missing = r.expand("${file:missing}");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::unavailable);

  p.secrets_dir.clear();
  auto none = SecretResolver(p).expand("${file:api-token}");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == Errc::forbidden);
}

TEST_CASE("a bearer token from an allowed variable and an empty one refused") {
  ::setenv("MCPD_SECRET_BEARER_TEST", "tok-1\n", 1);
  ::setenv("MCPD_SECRET_BEARER_EMPTY", "", 1);
  SecretResolver r{Policy{}};
  CHECK(r.bearer_token({"MCPD_SECRET_BEARER_TEST", ""}).value() == "tok-1");
  auto empty = r.bearer_token({"MCPD_SECRET_BEARER_EMPTY", ""});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message == "the bearer token (MCPD_SECRET_BEARER_EMPTY) is empty");
  CHECK(r.bearer_token({"HOME", ""}).error().code == Errc::forbidden);
}

TEST_CASE("a record's OAuth endpoints must be on allowed_urls unless the config file wrote it") {
  Policy p;
  p.allowed_urls = {"mcp.example.com", "*.auth.example.com"};
  SecretResolver r(p);
  CHECK(r.refuses_url("https://mcp.example.com/.well-known/oauth-protected-resource/mcp").empty());
  CHECK(r.refuses_url("https://login.auth.example.com/token").empty());
  const std::string why = r.refuses_url("http://169.254.169.254/latest/meta-data");
  CHECK_THAT(why, Catch::Contains("169.254.169.254") && Catch::Contains("[security] allowed_urls"));
  CHECK(SecretResolver(p, true).refuses_url("http://169.254.169.254/latest/meta-data").empty());
  CHECK(SecretResolver(Policy{}).refuses_url("https://anywhere.example.org/token").empty());  // no list: any host
}
