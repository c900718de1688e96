// The local node's NATS login: the file mcpd writes when it runs its embedded nats-server,
// <state dir>/credentials/local-nats (the state dir is the directory of the catalog), and that
// mcpctl reads to log in with no flag. Plain `key=value` lines — url, user, password — with
// blank lines and '#' comments allowed. The directory is the owner's only (0700), the file too
// (0600): whoever can read it can make the node run programs.
#pragma once

#include "common/error.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace mcpd::credentials {

inline constexpr std::string_view kDirName = "credentials";
inline constexpr std::string_view kFileName = "local-nats";

struct LocalLogin {
  std::string url;  // where the embedded nats-server listens, e.g. nats://127.0.0.1:4222
  std::string user;
  std::string password;
};

// <state_dir>/credentials and <state_dir>/credentials/local-nats.
std::filesystem::path credentials_dir(const std::filesystem::path& state_dir);
std::filesystem::path credentials_file(const std::filesystem::path& state_dir);

// Reads the text of a local-nats file: every one of url, user and password must be there
// (unknown keys are ignored). The error names `path`, the line and what is wrong.
Result<LocalLogin> parse(std::string_view text, const std::string& path);
// The text of a local-nats file holding `login`.
std::string format(const LocalLogin& login);

// A password mcpd accepts from the file: at least 32 printable ASCII characters, none of them a
// space, '"' or '\' (it is quoted in nats-server's configuration file).
bool acceptable_password(std::string_view password);

// What reading the file found.
struct ReadOutcome {
  enum class Kind {
    found,       // login holds the file's contents
    absent,      // no such file
    unreadable,  // it exists (or its directory is closed to us) but this user may not read it
    malformed,   // it was read but is not a valid local-nats file
  };
  Kind kind = Kind::absent;
  LocalLogin login;
  std::string problem;  // for unreadable and malformed: a sentence naming the file
};
ReadOutcome read(const std::filesystem::path& file);

}  // namespace mcpd::credentials
