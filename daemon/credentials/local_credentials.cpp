// The local-nats file: see local_credentials.hpp.
#include "credentials/local_credentials.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mcpd::credentials {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::filesystem::path credentials_dir(const std::filesystem::path& state_dir) { return state_dir / kDirName; }

std::filesystem::path credentials_file(const std::filesystem::path& state_dir) {
  return credentials_dir(state_dir) / kFileName;
}

bool acceptable_password(std::string_view password) {
  if (password.size() < 32) return false;
  for (char c : password)
    if (c <= ' ' || c > '~' || c == '"' || c == '\\') return false;
  return true;
}

Result<LocalLogin> parse(std::string_view text, const std::string& path) {
  LocalLogin login;
  bool has_url = false, has_user = false, has_password = false;
  int number = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return make_error(Errc::invalid_request,
                        path + ":" + std::to_string(number) + ": expected key=value (url, user or password)");
    std::string_view key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "url") {
      login.url = value;
      has_url = true;
    } else if (key == "user") {
      login.user = value;
      has_user = true;
    } else if (key == "password") {
      login.password = value;
      has_password = true;
    }
  }
  const char* missing = !has_url ? "url" : !has_user ? "user" : !has_password ? "password" : nullptr;
  if (missing) return make_error(Errc::invalid_request, path + ": has no " + missing + "= line");
  if (login.user.empty() || login.password.empty() || login.url.empty())
    return make_error(Errc::invalid_request, path + ": url, user and password must not be empty");
  return login;
}

std::string format(const LocalLogin& login) {
  return "# The NATS login of the local mcpd node's embedded nats-server, written by mcpd.\n"
         "# mcpctl reads it when no login is given; keep it readable by its owner only.\n"
         "url=" + login.url + "\nuser=" + login.user + "\npassword=" + login.password + "\n";
}

ReadOutcome read(const std::filesystem::path& file) {
  ReadOutcome out;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return out;
    out.kind = ReadOutcome::Kind::unreadable;
    out.problem = err == EACCES ? "credentials file " + file.string() + " is not readable by this user"
                                : "cannot read credentials file " + file.string() + ": " + std::strerror(err);
    return out;
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || text.size() > (64u << 10)) break;  // a login is a few lines: stop at 64 KiB
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto parsed = parse(text, file.string());
  if (!parsed.ok()) {
    out.kind = ReadOutcome::Kind::malformed;
    out.problem = "credentials file " + parsed.error().message;
    return out;
  }
  out.kind = ReadOutcome::Kind::found;
  out.login = std::move(parsed).value();
  return out;
}

}  // namespace mcpd::credentials
