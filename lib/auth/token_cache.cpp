#include "auth/token_cache.hpp"

#include "auth/crypto.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mcpd::auth {

void TokenCache::put(const TokenResponse& t, Clock::time_point now) {
  grant_.access_token = t.access_token;
  grant_.expires_at = t.expires_in.count() > 0 ? now + t.expires_in : Clock::time_point{};
  if (!t.refresh_token.empty()) grant_.refresh_token = t.refresh_token;
  if (!t.scope.empty()) grant_.scope = t.scope;
}

std::optional<std::string> TokenCache::fresh(Clock::time_point now) const {
  if (grant_.access_token.empty()) return std::nullopt;
  if (grant_.expires_at != Clock::time_point{} && grant_.expires_at - margin_ <= now) return std::nullopt;
  return grant_.access_token;
}

std::optional<std::string> TokenCache::usable(Clock::time_point now) const {
  if (grant_.access_token.empty()) return std::nullopt;
  if (grant_.expires_at != Clock::time_point{} && grant_.expires_at <= now) return std::nullopt;
  return grant_.access_token;
}

bool TokenCache::needs_refresh(Clock::time_point now) const {
  return !grant_.access_token.empty() && !fresh(now);
}

void TokenCache::drop_access() {
  grant_.access_token.clear();
  grant_.expires_at = {};
}

namespace {

std::int64_t to_unix(Clock::time_point t) {
  return t == Clock::time_point{} ? 0 : std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string grant_json(const Grant& g) { return grant_object(g).dump(2) + "\n"; }

nlohmann::json grant_object(const Grant& g) {
  return {{"accessToken", g.access_token}, {"expiresAt", to_unix(g.expires_at)},
                      {"refreshToken", g.refresh_token}, {"scope", g.scope}, {"tokenEndpoint", g.token_endpoint},
                      {"resource", g.resource}, {"clientId", g.client_id}, {"clientSecret", g.client_secret},
                      {"clientAuth", g.client_auth}};
}

Result<Grant> parse_grant(std::string_view text, const std::string& what) {
  return grant_from_object(nlohmann::json::parse(text, nullptr, false), what);
}

Result<Grant> grant_from_object(const nlohmann::json& j, const std::string& what) {
  if (j.is_discarded() || !j.is_object()) return make_error(Errc::unavailable, what + " is not a JSON object");
  Grant g;
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  g.access_token = str("accessToken");
  g.refresh_token = str("refreshToken");
  g.scope = str("scope");
  g.token_endpoint = str("tokenEndpoint");
  g.resource = str("resource");
  g.client_id = str("clientId");
  g.client_secret = str("clientSecret");
  g.client_auth = str("clientAuth");
  auto exp = j.find("expiresAt");
  if (exp != j.end() && exp->is_number_integer() && exp->get<std::int64_t>() > 0) {
    // Unix seconds; past the year 2200 it is not a time this clock can hold.
    constexpr std::int64_t kLatest = 7258118400;
    if (exp->get<std::int64_t>() > kLatest)
      return make_error(Errc::unavailable, what + ": expiresAt is out of range (Unix seconds up to " + std::to_string(kLatest) + ")");
    g.expires_at = Clock::time_point(std::chrono::seconds(exp->get<std::int64_t>()));
  }
  return g;
}

Result<std::optional<Grant>> load_grant(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::optional<Grant>();
    return make_error(Errc::unavailable, "cannot read the token file " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto g = parse_grant(ss.str(), "the token file " + path);
  if (!g.ok()) return g.error();
  return std::optional<Grant>(std::move(g).value());
}

Status save_grant(const std::string& path, const Grant& g) {
  namespace fs = std::filesystem;
  const fs::path file(path);
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  ::chmod(file.parent_path().c_str(), 0700);
  return write_private_file(path, grant_json(g), "the token file");
}

Status write_private_file(const std::string& path, std::string_view text, const std::string& what) {
  const std::string tmp = path + ".tmp-" + random_string(6);  // writers (a refresh, a hand-over) never share one
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_error(Errc::unavailable, "cannot write " + what + " " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);  // an old file of looser mode is tightened
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return make_error(Errc::unavailable, "cannot write " + what + " " + path + ": " + why);
  }
  return {};
}

}  // namespace mcpd::auth
