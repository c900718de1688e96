// The small cryptography OAuth needs, all from OpenSSL's libcrypto: base64 and base64url,
// random values, PKCE (RFC 7636, S256) and the signed client assertion of private_key_jwt
// (RFC 7523; ES256 for EC keys, RS256 for RSA keys).
#pragma once

#include "common/error.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace mcpd::auth {

std::string base64(std::string_view bytes);
std::string base64url(std::string_view bytes);  // no padding
// The bytes of base64url text (padding optional); invalid_request on any other character.
Result<std::string> base64url_decode(std::string_view text);
// `bytes` random bytes from the CSPRNG, base64url-encoded.
std::string random_string(std::size_t bytes);

struct Pkce {
  std::string verifier;   // 43 characters of base64url (32 random bytes)
  std::string challenge;  // base64url(SHA-256(verifier))
  std::string method = "S256";
};
Pkce make_pkce();
std::string s256_challenge(std::string_view verifier);

// A JWT asserting `client_id` to the token endpoint `audience` (iss = sub = client_id, a
// fresh jti, valid for `lifetime`), signed with the PEM private key `key_pem`.
Result<std::string> client_assertion(const std::string& key_pem, const std::string& client_id,
                                     const std::string& audience,
                                     std::chrono::seconds lifetime = std::chrono::seconds(300));

}  // namespace mcpd::auth
