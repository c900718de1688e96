// The embedded nats-server's login and configuration file: see embedded_credentials.hpp.
#include "embedded_credentials.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace mcpd::daemon {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUser = "mcpd";
constexpr const char* kRegenerate = "fix it, or delete it and mcpd generates a new login at its next start";

std::runtime_error system_error(const std::string& what, const fs::path& path, int err) {
  return std::runtime_error(what + " " + path.string() + ": " + std::strerror(err));
}

// Someone else's directory or file could be read or replaced by them: refuse it.
void check_owner(const struct stat& st, const fs::path& path) {
  if (st.st_uid == ::geteuid()) return;
  throw std::runtime_error(path.string() + " belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " +
                           std::to_string(::geteuid()) + "): the embedded nats-server's login must be this user's " +
                           "alone; remove it, or run mcpd as its owner");
}

void warn_tightened(const fs::path& path, mode_t was, mode_t now) {
  spdlog::warn("{} was open to other users (mode {:o}): changed it to {:o}", path.string(), was & 0777, now);
}

// The credentials directory, created 0700 or checked and tightened to 0700.
void ensure_private_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    if (::chmod(dir.c_str(), 0700) != 0) throw system_error("cannot set the mode of", dir, errno);
    return;
  }
  if (errno != EEXIST)
    throw std::runtime_error("cannot create " + dir.string() + ": " + std::strerror(errno) +
                             " (the directory of [store] path must be writable by mcpd's user)");
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) throw system_error("cannot inspect", dir, errno);
  if (S_ISLNK(st.st_mode))
    throw std::runtime_error(dir.string() + " is a symbolic link: mcpd keeps the NATS login only in a real directory; "
                             "remove the link");
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(dir.string() + " is not a directory: remove it");
  check_owner(st, dir);
  if ((st.st_mode & 0777) != 0700) {
    if (::chmod(dir.c_str(), 0700) != 0) throw system_error("cannot set the mode of", dir, errno);
    if (st.st_mode & 077) warn_tightened(dir, st.st_mode, 0700);
  }
}

// The existing local-nats file, tightened to 0600; nullopt when there is none.
std::optional<std::string> read_private_file(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == ELOOP)
      throw std::runtime_error(file.string() + " is a symbolic link: " + kRegenerate);
    throw system_error("cannot read", file, errno);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw system_error("cannot inspect", file, errno);
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(file.string() + " is not a regular file: remove it");
  check_owner(st, file);
  if ((st.st_mode & 0777) != 0600) {
    if (::fchmod(fd, 0600) != 0) throw system_error("cannot set the mode of", file, errno);
    if (st.st_mode & 077) warn_tightened(file, st.st_mode, 0600);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw system_error("cannot read", file, errno);
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > (64u << 10)) throw std::runtime_error(file.string() + " is far too large for a login: " + kRegenerate);
  }
  return text;
}

// 32 bytes from the kernel's CSPRNG, as 64 hex digits.
std::string random_password() {
  unsigned char bytes[32];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("cannot generate a password: getrandom: ") + std::strerror(errno));
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// A double-quoted string of nats-server's configuration format.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void write_private_file(const fs::path& path, std::string_view content) {
  std::string tmp = path.string() + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // O_CREAT | O_EXCL, mode 0600
  if (fd < 0) throw system_error("cannot create a temporary file beside", path, errno);
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return system_error(what, path, err);
  };
  if (::fchmod(fd, 0600) != 0) throw fail("cannot set the mode of");
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) throw fail("cannot write");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw system_error("cannot write", path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw system_error("cannot replace", path, err);
  }
}

credentials::LocalLogin ensure_local_login(const fs::path& state_dir, const std::string& url) {
  const fs::path dir = credentials::credentials_dir(state_dir);
  const fs::path file = credentials::credentials_file(state_dir);
  ensure_private_dir(dir);
  credentials::LocalLogin login{url, kUser, {}};
  if (auto text = read_private_file(file)) {
    auto parsed = credentials::parse(*text, file.string());
    if (!parsed.ok()) throw std::runtime_error(parsed.error().message + ": " + kRegenerate);
    if (!credentials::acceptable_password(parsed->password))
      throw std::runtime_error(file.string() + ": the password must be at least 32 printable characters without " +
                               "spaces, '\"' or '\\': " + kRegenerate);
    login.password = parsed->password;
    if (parsed->url == login.url && parsed->user == login.user) return login;
    write_private_file(file, credentials::format(login));
    spdlog::info("{}: the embedded nats-server now listens on {}: updated the url (same password)", file.string(), url);
    return login;
  }
  login.password = random_password();
  write_private_file(file, credentials::format(login));
  spdlog::info("generated the embedded nats-server's login in {} (readable by this user only; mcpctl finds it)",
               file.string());
  return login;
}

fs::path write_server_config(const fs::path& state_dir, const std::string& host, int port,
                             const std::string& jetstream_dir, const credentials::LocalLogin& login) {
  const fs::path file = credentials::credentials_dir(state_dir) / "nats-server.conf";
  std::string conf =
      "# The embedded nats-server of mcpd, written by mcpd at every start from [nats.embedded]: edits are lost.\n"
      "# Its login is also in local-nats beside this file.\n"
      "host: " + quoted(host) + "\nport: " + std::to_string(port) + "\n";
  if (!jetstream_dir.empty()) conf += "jetstream {\n  store_dir: " + quoted(jetstream_dir) + "\n}\n";
  conf += "authorization {\n  user: " + quoted(login.user) + "\n  password: " + quoted(login.password) + "\n}\n";
  write_private_file(file, conf);
  return file;
}

}  // namespace mcpd::daemon
