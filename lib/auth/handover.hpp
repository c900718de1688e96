// Handing an OAuth grant to a node over NATS without it ever being readable there. Each node
// has an X25519 key pair of its own (NodeKey, a mode-0600 file beside its grants) and tells its
// public key to whoever asks; `mcpctl auth login` seals the grant to that key (an ephemeral
// X25519 key, HKDF-SHA256, AES-256-GCM) and only that node can open it. The associated data
// binds a sealed grant to one node and one server, so it cannot be replayed into another
// server's grant file or opened by another node.
#pragma once

#include "common/error.hpp"

#include <string>
#include <string_view>

namespace mcpd::auth {

// What travels on the bus; every field base64url.
struct Sealed {
  std::string epk;         // the sender's ephemeral X25519 public key (32 bytes)
  std::string nonce;       // AES-GCM nonce (12 bytes)
  std::string ciphertext;  // the sealed bytes followed by the 16-byte GCM tag
};

// The name of the scheme, as the node announces it next to its public key.
inline constexpr std::string_view kSealScheme = "X25519-HKDF-SHA256-A256GCM";

// The associated data of a grant for `server` sealed to node `node`.
std::string grant_context(std::string_view node, std::string_view server);

// Seals `plaintext` to `public_key` (base64url of a raw X25519 public key).
Result<Sealed> seal(std::string_view public_key, std::string_view plaintext, std::string_view context);

class NodeKey {
 public:
  // The key in `path`, created (0600, in a 0700 directory) when there is none yet.
  static Result<NodeKey> load_or_create(const std::string& path);
  // base64url of the raw public key.
  const std::string& public_key() const { return public_; }
  // The plaintext, or invalid_request when `sealed` was not sealed to this key with `context`
  // (or was changed on the way).
  Result<std::string> open(const Sealed& sealed, std::string_view context) const;

 private:
  std::string private_;  // raw, 32 bytes
  std::string public_;
};

}  // namespace mcpd::auth
