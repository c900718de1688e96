// PKCE (RFC 7636), base64url and private_key_jwt client assertions.
#include "auth/crypto.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

using namespace mcpd::auth;

TEST_CASE("base64url has no padding and the URL-safe alphabet") {
  CHECK(base64("\xfb\xff") == "+/8=");
  CHECK(base64url("\xfb\xff") == "-_8");
  CHECK(base64url("") == "");
  CHECK(base64url("abc") == "YWJj");
}

TEST_CASE("the S256 challenge is base64url of the verifier's SHA-256") {
  // Expected value from Python: base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=")
  CHECK(s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjOEjXk") == "VYFANLqdx_HDV6BqEhluZJ63rtrIPROSSFdB3P6G83I");
}

TEST_CASE("a PKCE pair is fresh each time and its challenge is the verifier's") {
  Pkce a = make_pkce(), b = make_pkce();
  CHECK(a.verifier.size() == 43);
  CHECK(a.verifier != b.verifier);
  CHECK(a.challenge == s256_challenge(a.verifier));
  CHECK(a.method == "S256");
  CHECK(a.verifier.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos);
}

namespace {

std::string decode_part(const std::string& part) {
  std::string b64 = part;
  for (auto& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (b64.size() % 4) b64 += '=';
  std::string out(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  out.resize(static_cast<std::size_t>(n) - (part.size() % 4 == 2 ? 2 : part.size() % 4 == 3 ? 1 : 0));
  return out;
}

std::string new_ec_key_pem() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

TEST_CASE("a client assertion is an ES256 JWT naming the client and the audience") {
  auto jwt = client_assertion(new_ec_key_pem(), "client-1", "https://as.example.com");
  REQUIRE(jwt.ok());
  const std::string& t = jwt.value();
  auto d1 = t.find('.'), d2 = t.rfind('.');
  REQUIRE(d1 != d2);
  auto header = nlohmann::json::parse(decode_part(t.substr(0, d1)));
  auto claims = nlohmann::json::parse(decode_part(t.substr(d1 + 1, d2 - d1 - 1)));
  CHECK(header["alg"] == "ES256");
  CHECK(claims["iss"] == "client-1");
  CHECK(claims["sub"] == "client-1");
  CHECK(claims["aud"] == "https://as.example.com");
  CHECK(claims["exp"].get<long long>() > claims["iat"].get<long long>());
  CHECK(decode_part(t.substr(d2 + 1)).size() == 64);  // r || s, not DER
}

TEST_CASE("a client assertion needs a PEM private key") {
  auto jwt = client_assertion("not a key", "c", "https://as");
  REQUIRE_FALSE(jwt.ok());
  CHECK(jwt.error().message.find("PEM private key") != std::string::npos);
}
