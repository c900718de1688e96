#include "security/secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>

namespace mcpd::security {
namespace {

Error unavailable(std::string message) { return make_error(Errc::unavailable, std::move(message)); }

// realpath(3) or "" when the path does not resolve.
std::string real_path(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> p(::realpath(path.c_str(), nullptr), &std::free);
  return p ? std::string(p.get()) : std::string();
}

}  // namespace

Result<std::string> SecretResolver::read_file(const std::string& path_or_name, const std::string& what) const {
  // A name is looked up in secrets_dir; only the config file's own servers may name a path elsewhere.
  if (policy_.secrets_dir.empty() && (!trusted_ || !path_or_name.starts_with('/')))
    return make_error(Errc::forbidden, what + " reads a secret file, but [security] secrets_dir is not set on this node");
  const std::string path = path_or_name.starts_with('/') ? path_or_name : policy_.secrets_dir + "/" + path_or_name;
  const std::string real = real_path(path);
  if (real.empty()) return unavailable(what + ": cannot open " + path + " (it does not exist or is not readable)");
  if (!trusted_) {
    const std::string dir = real_path(policy_.secrets_dir);
    if (dir.empty() || !real.starts_with(dir + "/"))
      return make_error(Errc::forbidden, what + ": " + path + " is outside [security] secrets_dir (" + policy_.secrets_dir + ")");
  }
  int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return unavailable(what + ": cannot open " + path);
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return unavailable(what + ": " + path + " is not a regular file");
  if (static_cast<std::size_t>(st.st_size) > policy_.max_secret_file_bytes)
    return unavailable(what + ": " + path + " is larger than " + std::to_string(policy_.max_secret_file_bytes) + " bytes");
  std::string out(policy_.max_secret_file_bytes + 1, '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) return unavailable(what + ": cannot read " + path);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > policy_.max_secret_file_bytes)
    return unavailable(what + ": " + path + " is larger than " + std::to_string(policy_.max_secret_file_bytes) + " bytes");
  out.resize(got);
  if (out.ends_with('\n')) out.pop_back();
  if (out.ends_with('\r')) out.pop_back();
  return out;
}

Result<std::string> SecretResolver::resolve(const catalog::Reference& ref) const {
  if (ref.kind == catalog::Reference::Kind::file) return read_file(ref.name, ref.text());
  if (!trusted_)
    if (auto st = check_reference(policy_, ref); !st.ok()) return st.error();
  const char* v = std::getenv(ref.name.c_str());
  if (!v) return unavailable("environment variable '" + ref.name + "' is not set in mcpd's environment (referenced as " + ref.text() + ")");
  return std::string(v);
}

Result<std::string> SecretResolver::expand(std::string_view value) const {
  return catalog::expand_references(value, [this](const catalog::Reference& r) { return resolve(r); });
}

Result<std::string> SecretResolver::bearer_token(const catalog::BearerAuth& auth) const {
  Result<std::string> token = std::string();
  if (!auth.token_env.empty()) {
    token = resolve(catalog::Reference{catalog::Reference::Kind::env, auth.token_env});
  } else {
    token = read_file(auth.token_file, "auth.tokenFile");
  }
  if (!token.ok()) return token;
  std::string t = std::move(token).value();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty()) return unavailable("the bearer token (" + (auth.token_env.empty() ? auth.token_file : auth.token_env) + ") is empty");
  return t;
}

std::string SecretResolver::refuses_url(const std::string& url) const {
  if (trusted_ || url_allowed(policy_, url)) return {};
  std::string hosts;
  for (const auto& h : policy_.allowed_urls) hosts += (hosts.empty() ? "" : ", ") + h;
  return "the host of " + url + " is not in [security] allowed_urls (" + hosts +
         "): list the authorization server's host there to let this server's OAuth reach it";
}

}  // namespace mcpd::security
