// Sealing a grant to one node's key: only that node opens it, only for the server it was
// sealed for, and any change on the way is refused; the node key is created once, mode 0600.
#include "auth/handover.hpp"

#include "auth/crypto.hpp"
#include "auth/sealed_grant.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

using namespace mcpd;
using namespace mcpd::auth;
namespace fs = std::filesystem;

namespace {

struct KeyDir {
  fs::path root = fs::temp_directory_path() / ("mcpd-handover-test-" + std::to_string(::getpid()));
  KeyDir() { fs::remove_all(root); }
  ~KeyDir() { fs::remove_all(root); }
  std::string key(const std::string& name) const { return (root / "oauth" / name).string(); }
};

}  // namespace

TEST_CASE("base64url decodes what it encodes and refuses other text") {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\xfe\x01", 4)})
    CHECK(base64url_decode(base64url(s)).value() == s);
  CHECK(base64url_decode("aGk=").value() == "hi");  // padding is accepted
  CHECK_FALSE(base64url_decode("a+b/").ok());       // base64, not base64url
  CHECK_FALSE(base64url_decode("abcde").ok());      // a length no encoding has
}

TEST_CASE("a grant sealed to a node opens only there and only for its server") {
  KeyDir dir;
  auto node = NodeKey::load_or_create(dir.key("node.key"));
  REQUIRE(node.ok());
  auto other = NodeKey::load_or_create(dir.key("other.key"));
  REQUIRE(other.ok());
  CHECK(node.value().public_key() != other.value().public_key());

  const std::string grant = R"({"accessToken":"at-secret","refreshToken":"rt-secret"})";
  auto sealed = seal(node.value().public_key(), grant, grant_context("node-1", "crm"));
  REQUIRE(sealed.ok());
  CHECK(sealed.value().ciphertext.find("secret") == std::string::npos);
  CHECK(base64url_decode(sealed.value().ciphertext).value().find("secret") == std::string::npos);
  CHECK(node.value().open(sealed.value(), grant_context("node-1", "crm")).value() == grant);

  // Another node's key, another server, another node id: refused.
  auto wrong_key = other.value().open(sealed.value(), grant_context("node-1", "crm"));
  REQUIRE_FALSE(wrong_key.ok());
  CHECK(wrong_key.error().code == Errc::invalid_request);
  CHECK_FALSE(node.value().open(sealed.value(), grant_context("node-1", "billing")).ok());
  CHECK_FALSE(node.value().open(sealed.value(), grant_context("node-2", "crm")).ok());

  // One bit changed anywhere: refused.
  Sealed tampered = sealed.value();
  std::string raw = base64url_decode(tampered.ciphertext).value();
  raw[0] = static_cast<char>(raw[0] ^ 1);
  tampered.ciphertext = base64url(raw);
  CHECK_FALSE(node.value().open(tampered, grant_context("node-1", "crm")).ok());
  Sealed bad_nonce = sealed.value();
  bad_nonce.nonce = "short";
  CHECK_THAT(node.value().open(bad_nonce, grant_context("node-1", "crm")).error().message, Catch::Contains("nonce"));
  CHECK_FALSE(seal("not-a-key", grant, "x").ok());
}

TEST_CASE("the node key is made once with mode 0600 and read back the same") {
  KeyDir dir;
  const std::string path = dir.key("node.key");
  auto first = NodeKey::load_or_create(path);
  REQUIRE(first.ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(fs::path(path).parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  auto again = NodeKey::load_or_create(path);
  REQUIRE(again.ok());
  CHECK(again.value().public_key() == first.value().public_key());
  // A grant sealed before the restart still opens after it.
  auto sealed = seal(first.value().public_key(), "g", grant_context("n", "s"));
  CHECK(again.value().open(sealed.value(), grant_context("n", "s")).value() == "g");

  std::ofstream(path, std::ios::trunc) << "garbage\n";
  auto broken = NodeKey::load_or_create(path);
  REQUIRE_FALSE(broken.ok());
  CHECK_THAT(broken.error().message, Catch::Contains("move it away"));
}

TEST_CASE("a sealed grant carries its sealing time and a node reads it only within the allowed skew") {
  Grant g;
  g.access_token = "at-1";
  g.refresh_token = "rt-1";
  const std::int64_t now = 1'800'000'000'000;
  auto read = read_sealed_grant(sealed_grant_text(g, now - 1000), now);
  REQUIRE(read.ok());
  CHECK(read.value().grant == g);
  CHECK(read.value().sealed_at_ms == now - 1000);
  const std::int64_t skew = std::chrono::milliseconds(kSealedGrantSkew).count();
  CHECK(read_sealed_grant(sealed_grant_text(g, now - skew), now).ok());
  CHECK(read_sealed_grant(sealed_grant_text(g, now + skew), now).ok());
  auto old = read_sealed_grant(sealed_grant_text(g, now - skew - 1000), now);
  REQUIRE_FALSE(old.ok());
  CHECK(old.error().code == Errc::invalid_request);
  CHECK(old.error().message.find("sealed 601 s ago") != std::string::npos);
  auto ahead = read_sealed_grant(sealed_grant_text(g, now + 3'600'000), now);
  REQUIRE_FALSE(ahead.ok());
  CHECK(ahead.error().message.find("3600 s ahead of this node's clock") != std::string::npos);
  // No time, a time that is not an integer, the far past: refused, never an overflow.
  CHECK(read_sealed_grant(R"({"accessToken":"a"})", now).error().message.find("no sealedAt") != std::string::npos);
  CHECK_FALSE(read_sealed_grant(R"({"accessToken":"a","sealedAt":"now"})", now).ok());
  CHECK_FALSE(read_sealed_grant(R"({"accessToken":"a","sealedAt":-9223372036854775808})", now).ok());
  CHECK_FALSE(read_sealed_grant(R"({"accessToken":"a","sealedAt":18446744073709551615})", now).ok());
  CHECK_FALSE(read_sealed_grant("not json", now).ok());
}
