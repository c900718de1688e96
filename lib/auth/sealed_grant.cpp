#include "auth/sealed_grant.hpp"

#include <nlohmann/json.hpp>

namespace mcpd::auth {

std::string sealed_grant_text(const Grant& grant, std::int64_t sealed_at_ms) {
  auto j = grant_object(grant);
  j["sealedAt"] = sealed_at_ms;
  return j.dump();
}

Result<HandedGrant> read_sealed_grant(std::string_view text, std::int64_t now_ms) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  auto g = grant_from_object(j, "the sealed grant");
  if (!g.ok()) return make_error(Errc::invalid_request, g.error().message);
  auto at = j.find("sealedAt");
  if (at == j.end() || !at->is_number_integer())
    return make_error(Errc::invalid_request,
                      "the sealed grant says no sealedAt (when it was sealed): seal it with an mcpctl of this version");
  const std::int64_t sealed_at = at->get<std::int64_t>();
  const std::int64_t skew = std::chrono::milliseconds(kSealedGrantSkew).count();
  if (sealed_at < now_ms - skew || sealed_at > now_ms + skew) {
    const std::int64_t off_s = sealed_at / 1000 - now_ms / 1000;  // not (a - b) / 1000: that may overflow
    return make_error(Errc::invalid_request,
                      "the sealed grant was sealed " + std::to_string(off_s < 0 ? -off_s : off_s) + " s " +
                          (off_s < 0 ? "ago" : "ahead of this node's clock") + ", more than the " +
                          std::to_string(kSealedGrantSkew.count()) +
                          " minutes a node accepts: hand it over again (and check the clocks if this repeats)");
  }
  return HandedGrant{std::move(g).value(), sealed_at};
}

}  // namespace mcpd::auth
