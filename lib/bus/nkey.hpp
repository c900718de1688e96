// NATS NKeys: the public key that belongs to an NKey seed. nats.c's natsOptions_SetNKeyFromSeed()
// signs the server's nonce with the seed from a file but must be told the matching public key;
// with these, `[nats] nkey_seed_file` alone is enough (bus::Connection derives the public key).
//
// The formats (as nats-io/nkeys defines them), each base32 (RFC 4648 alphabet, no padding):
//   seed:       [2 prefix bytes][32-byte ed25519 seed][CRC-16/XMODEM, little-endian]  "SU..." (58 chars)
//   public key: [1 type byte][32-byte ed25519 public key][CRC-16/XMODEM, little-endian]  "U..." (56 chars)
// The seed's 2 prefix bytes hold 'S' (18 << 3) and the key type (user 'U' = 20 << 3, account 'A',
// operator 'O', server 'N', cluster 'C'), so its second character is the type's letter. The
// ed25519 public key is derived with OpenSSL. Error messages never contain a seed, and seed bytes
// copied along the way are wiped.
#pragma once

#include "common/error.hpp"

#include <span>
#include <string>
#include <string_view>

namespace mcpd::bus {

// The public key ("U...", "A...", ...) of an encoded seed ("SU...", "SA...", ...). Fails with
// invalid_request when `seed` is not valid base32, has the wrong length, fails its checksum, or
// is not a seed of a known ed25519 key type.
Result<std::string> nkey_public_from_seed(std::string_view seed);

// The public key of the seed in a file: either a bare seed (as `nk -gen user` writes it) or a
// decorated file (.nk, .creds) holding a -----BEGIN USER NKEY SEED----- block. The seed is the
// first line that, trimmed, starts with 'S' and a key type letter ("SU", "SA", "SO", "SN", "SC")
// and holds no blank. Files over 64 KiB are refused. Errors name the path, never the seed.
Result<std::string> nkey_public_from_seed_file(const std::string& path);

// As nkey_public_from_seed_file(), for handing the file to nats.c's natsOptions_SetNKeyFromSeed()
// to log in as a user: also refuses a seed that is not a user seed ("SU..."), and a file that
// nats.c (3.x) would read a different line from (a .creds file with a JWT before the seed, a seed
// line with a CR or blanks around it), which would otherwise only fail when connecting.
Result<std::string> nkey_user_public_for_nats_c(const std::string& path);

// Encodes a raw 32-byte ed25519 seed as an NKey seed of key type `type` ('U', 'A', 'O', 'N' or
// 'C'); fails with invalid_request for another type. For tests and tools.
Result<std::string> nkey_seed_encode(std::span<const unsigned char, 32> raw, char type = 'U');

}  // namespace mcpd::bus
