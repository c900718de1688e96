// The local node's credentials file as mcpctl's last source of a login: see local_login.hpp.
#include "local_login.hpp"

#include "credentials/local_credentials.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace mcpd::mcpctl {
namespace {

// True if `path` exists, or this user may not even look (a directory closed to it): worth
// reading, and worth naming when it cannot be read.
bool present(const std::filesystem::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 || errno == EACCES;
}

std::string normalized(std::string url) {
  while (!url.empty() && std::isspace(static_cast<unsigned char>(url.back()))) url.pop_back();
  url.erase(0, url.find_first_not_of(" \t"));
  std::transform(url.begin(), url.end(), url.begin(), [](unsigned char c) { return std::tolower(c); });
  if (url.find("://") == std::string::npos) url = "nats://" + url;
  while (url.ends_with("/")) url.pop_back();
  const auto host = url.find("://") + 3;
  const auto bracket = url.rfind(']');  // [::1]:4222
  const auto colon = url.rfind(':');
  if (colon < host || (bracket != std::string::npos && colon < bracket)) url += ":4222";
  return url;
}

}  // namespace

std::filesystem::path local_credentials_path() {
  if (const char* dir = std::getenv("MCPD_STATE_DIR"); dir && *dir) return credentials::credentials_file(dir);
  for (const char* dir : {"./.mcpd", "/var/lib/mcpd"}) {
    auto file = credentials::credentials_file(dir);
    if (present(file)) return file;
  }
  return {};
}

bool same_server(const std::string& a, const std::string& b) {
  if (a.find(',') != std::string::npos || b.find(',') != std::string::npos) return false;
  return normalized(a) == normalized(b);
}

void apply_local_login(ConnectOptions& nats, bool login_given) {
  // A login in the URL (nats://user:pass@host) is a login given too.
  if (nats.url.find('@') != std::string::npos) login_given = true;
  // Needed for its url, its login, or both.
  const auto file = login_given && !nats.url.empty() ? std::filesystem::path() : local_credentials_path();
  if (!file.empty()) {
    auto found = credentials::read(file);
    using Kind = credentials::ReadOutcome::Kind;
    if (found.kind == Kind::found) {
      if (nats.url.empty()) nats.url = found.login.url;
      if (!login_given && same_server(nats.url, found.login.url)) {
        nats.user = found.login.user;
        nats.password = found.login.password;
        nats.login_file = file.string();
      }
    } else if (!login_given && found.kind == Kind::unreadable) {
      nats.login_file_problem = found.problem + ": run mcpctl as its owner (e.g. with sudo), or give "
                                "--user/--password (or MCPD_NATS_USER/MCPD_NATS_PASSWORD)";
    } else if (!login_given && found.kind == Kind::malformed) {
      nats.login_file_problem =
          found.problem + " (fix it, or delete it and restart mcpd, which writes a new one; or give --user/--password)";
    }
  }
  if (nats.url.empty()) nats.url = "nats://127.0.0.1:4222";
}

}  // namespace mcpd::mcpctl
