#include "auth/crypto.hpp"

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cctype>
#include <memory>
#include <vector>

namespace mcpd::auth {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64url(std::string_view bytes) {
  std::string s = base64(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (auto& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return s;
}

Result<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return make_error(Errc::invalid_request, "not base64url: bad length");
  std::string b64(text);
  for (auto& c : b64) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!std::isalnum(static_cast<unsigned char>(c))) return make_error(Errc::invalid_request, "not base64url text");
  }
  const std::size_t pad = (4 - b64.size() % 4) % 4;
  b64.append(pad, '=');
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return make_error(Errc::invalid_request, "not base64url text");
  out.resize(static_cast<std::size_t>(n) - pad);  // EVP_DecodeBlock counts the padding as zero bytes
  return out;
}

std::string random_string(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("the system's random generator failed");
  return base64url(raw);
}

std::string s256_challenge(std::string_view verifier) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(verifier.data(), verifier.size(), md, &len, EVP_sha256(), nullptr);
  return base64url(std::string_view(reinterpret_cast<const char*>(md), len));
}

Pkce make_pkce() {
  Pkce p;
  p.verifier = random_string(32);
  p.challenge = s256_challenge(p.verifier);
  return p;
}

Result<std::string> client_assertion(const std::string& key_pem, const std::string& client_id,
                                     const std::string& audience, std::chrono::seconds lifetime) {
  auto fail = [](std::string why) { return make_error(Errc::unavailable, "private_key_jwt: " + std::move(why)); };
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr, &EVP_PKEY_free);
  if (!key) return fail("the client key is not a PEM private key");
  const int type = EVP_PKEY_base_id(key.get());
  std::string alg;
  if (type == EVP_PKEY_EC && EVP_PKEY_get_bits(key.get()) == 256) alg = "ES256";
  else if (type == EVP_PKEY_RSA) alg = "RS256";
  else return fail("only P-256 EC keys (ES256) and RSA keys (RS256) are supported");

  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}};
  nlohmann::json claims = {{"iss", client_id}, {"sub", client_id}, {"aud", audience},
                           {"iat", now}, {"exp", now + lifetime.count()}, {"jti", random_string(16)}};
  const std::string input = base64url(header.dump()) + "." + base64url(claims.dump());

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return fail("signing failed");
  std::vector<unsigned char> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return fail("signing failed");
  sig.resize(len);
  std::string raw(sig.begin(), sig.end());
  if (alg == "ES256") {  // JWS wants r || s, 32 bytes each, not OpenSSL's DER
    const unsigned char* p = sig.data();
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())),
                                                              &ECDSA_SIG_free);
    if (!es) return fail("signing failed");
    unsigned char rs[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), rs, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), rs + 32, 32);
    raw.assign(reinterpret_cast<const char*>(rs), 64);
  }
  return input + "." + base64url(raw);
}

}  // namespace mcpd::auth
