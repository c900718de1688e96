// The token cache: fresh, usable and refresh-due tokens; the grant file and its mode.
#include "auth/token_cache.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace mcpd::auth;
using namespace std::chrono_literals;

namespace {
TokenResponse token(std::string access, std::chrono::seconds life, std::string refresh = "") {
  TokenResponse t;
  t.access_token = std::move(access);
  t.expires_in = life;
  t.refresh_token = std::move(refresh);
  return t;
}
}  // namespace

TEST_CASE("a token is fresh until the margin before expiry then due for refresh") {
  TokenCache c(60s);
  const auto t0 = Clock::now();
  CHECK_FALSE(c.fresh(t0));
  CHECK_FALSE(c.needs_refresh(t0));
  c.put(token("a", 3600s, "r"), t0);
  CHECK(c.fresh(t0) == "a");
  CHECK_FALSE(c.needs_refresh(t0 + 3500s));
  CHECK_FALSE(c.fresh(t0 + 3541s));
  CHECK(c.needs_refresh(t0 + 3541s));
  CHECK(c.usable(t0 + 3541s) == "a");  // still sent while the refresh runs
  CHECK_FALSE(c.usable(t0 + 3600s));
  CHECK(c.grant().refresh_token == "r");
}

TEST_CASE("a refresh answer without a refresh token keeps the old one") {
  TokenCache c;
  const auto t0 = Clock::now();
  c.put(token("a", 100s, "r1"), t0);
  c.put(token("b", 100s), t0);
  CHECK(c.grant().access_token == "b");
  CHECK(c.grant().refresh_token == "r1");
  c.put(token("c", 100s, "r2"), t0);
  CHECK(c.grant().refresh_token == "r2");
}

TEST_CASE("a token without a lifetime stays until the server refuses it") {
  TokenCache c;
  const auto t0 = Clock::now();
  c.put(token("a", 0s), t0);
  CHECK(c.fresh(t0 + 100000h) == "a");
  c.drop_access();
  CHECK_FALSE(c.usable(t0));
  CHECK_FALSE(c.needs_refresh(t0));
}

TEST_CASE("the grant file round-trips with mode 0600 in a 0700 directory") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mcpd-auth-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string path = (dir / "oauth" / "srv.json").string();
  auto none = load_grant(path);
  REQUIRE(none.ok());
  CHECK_FALSE(none.value());
  Grant g;
  g.access_token = "at";
  g.expires_at = Clock::time_point(std::chrono::seconds(1900000000));
  g.refresh_token = "rt";
  g.scope = "a b";
  g.token_endpoint = "https://as/token";
  g.resource = "https://m/mcp";
  g.client_id = "cid";
  g.client_secret = "cs";
  REQUIRE(save_grant(path, g).ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir / "oauth").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  auto back = load_grant(path);
  REQUIRE(back.ok());
  REQUIRE(back.value());
  CHECK(*back.value() == g);
  std::ofstream(path) << "garbage";
  CHECK_FALSE(load_grant(path).ok());
  fs::remove_all(dir);
}

TEST_CASE("lifetimes the clock cannot hold are refused in a grant file and capped in a token answer") {
  // Found by the oauth fuzz target: an expiresAt or expires_in this large overflowed the clock.
  auto g = parse_grant(R"({"accessToken":"at","expiresAt":1801800000000000})", "the grant");
  REQUIRE_FALSE(g.ok());
  CHECK_THAT(g.error().message, Catch::Contains("expiresAt is out of range"));
  CHECK(parse_grant(R"({"accessToken":"at","expiresAt":1801800000})", "the grant").ok());
  auto t = parse_token_response(R"({"access_token":"at","token_type":"Bearer","expires_in":1e300})");
  REQUIRE(t.ok());
  CHECK(t.value().expires_in == std::chrono::seconds(10LL * 365 * 24 * 3600));
  TokenCache cache;
  cache.put(t.value(), Clock::now());
  CHECK(cache.fresh(Clock::now()) == std::optional<std::string>("at"));
}
