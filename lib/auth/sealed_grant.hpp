// What a sealed hand-over carries (handover.hpp): the grant's JSON (token_cache.hpp) with
// "sealedAt", the time it was sealed in Unix milliseconds. Sealed, the time cannot be changed.
// A node takes a grant only if it was sealed within kSealedGrantSkew of its own clock and later
// than the last one it took for that server, so a sealed grant seen on the bus cannot be sent
// again later to put back an older grant (a refresh token since rotated or revoked).
#pragma once

#include "auth/token_cache.hpp"
#include "common/error.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcpd::auth {

// How far a grant's sealing time may be from the node's clock, either way (clock skew between the
// operator's machine and the node, and the time the hand-over takes).
inline constexpr std::chrono::minutes kSealedGrantSkew{10};

std::string sealed_grant_text(const Grant& grant, std::int64_t sealed_at_ms);

struct HandedGrant {
  Grant grant;
  std::int64_t sealed_at_ms = 0;
};
// The grant in an opened hand-over; invalid_request when it is not one, has no sealedAt, or was
// sealed further than kSealedGrantSkew from `now_ms`.
Result<HandedGrant> read_sealed_grant(std::string_view text, std::int64_t now_ms);

}  // namespace mcpd::auth
