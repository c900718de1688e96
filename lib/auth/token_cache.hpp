// A server's OAuth grant as this node keeps it: the access token and when it expires, the
// refresh token, and the client a dynamic registration gave us. TokenCache decides when a
// token is fresh and when to refresh it; load_grant/save_grant keep it in a file of mode 0600
// (in a directory of mode 0700) under the node's state directory, written atomically. Nothing
// here is ever put on the bus or in the catalog.
#pragma once

#include "auth/discovery.hpp"
#include "common/error.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::auth {

using Clock = std::chrono::system_clock;

struct Grant {
  std::string access_token;
  Clock::time_point expires_at{};  // epoch: the server gave no lifetime (valid until refused)
  std::string refresh_token;
  std::string scope;               // what was granted (or asked for)
  std::string token_endpoint;      // where refresh_token is redeemed
  std::string resource;            // the RFC 8707 resource it is for
  std::string client_id;           // the client that holds it (registered dynamically or configured)
  std::string client_secret;       // a dynamically registered client's secret, if it got one
  std::string client_auth;         // ... and the token endpoint auth method it registered with
  bool operator==(const Grant&) const = default;
};

class TokenCache {
 public:
  // A token is refreshed once less than `margin` of its life is left.
  explicit TokenCache(std::chrono::seconds margin = std::chrono::seconds(60)) : margin_(margin) {}

  const Grant& grant() const { return grant_; }
  void set(Grant g) { grant_ = std::move(g); }
  // Takes a token endpoint's answer; a refresh answer without a new refresh token keeps the old one.
  void put(const TokenResponse& t, Clock::time_point now);
  // The access token, if it has more than the margin left.
  std::optional<std::string> fresh(Clock::time_point now) const;
  // The access token, if it has not expired (it may be inside the margin).
  std::optional<std::string> usable(Clock::time_point now) const;
  // There is a token, and it is inside the margin or expired.
  bool needs_refresh(Clock::time_point now) const;
  // The server refused the access token: forget it (the refresh token stays).
  void drop_access();

 private:
  std::chrono::seconds margin_;
  Grant grant_;
};

// A grant as the JSON text of its file, and back (`what` names the source in errors).
std::string grant_json(const Grant& grant);
Result<Grant> parse_grant(std::string_view text, const std::string& what);
// The same as a JSON object, for texts that carry a grant beside other members.
nlohmann::json grant_object(const Grant& grant);
Result<Grant> grant_from_object(const nlohmann::json& j, const std::string& what);

// Writes `text` to `path` atomically (a temporary file of its own, fsync, rename) with mode 0600,
// tightening an older file's; `what` names the file in errors ("the token file").
Status write_private_file(const std::string& path, std::string_view text, const std::string& what);

// nullopt when there is no file yet; an error when it exists but cannot be read or parsed.
Result<std::optional<Grant>> load_grant(const std::string& path);
Status save_grant(const std::string& path, const Grant& grant);

}  // namespace mcpd::auth
