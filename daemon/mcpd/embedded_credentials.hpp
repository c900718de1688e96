// The embedded nats-server's login and configuration file, kept in <state dir>/credentials
// (mode 0700): local-nats (0600) with the url, user and a random password, generated on the
// first start and reused after; and nats-server.conf (0600), rewritten at every start, which
// gives nats-server its address, JetStream directory and that login — so the password is never
// on a command line, where every user of the machine could read it in /proc.
#pragma once

#include "credentials/local_credentials.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace mcpd::daemon {

// The login in <state_dir>/credentials/local-nats for a server at `url`: the file's password if
// there is one (the url line is rewritten when it changed), else a new one of 32 random bytes.
// Creates the directory 0700 and the file 0600, and tightens either (with a warning) when other
// users may read it. Throws std::runtime_error naming the path and the fix.
credentials::LocalLogin ensure_local_login(const std::filesystem::path& state_dir, const std::string& url);

// Writes <state_dir>/credentials/nats-server.conf for nats-server to listen on host:port with
// `login` required (and JetStream storing in `jetstream_dir` unless it is empty); returns its
// path. Throws std::runtime_error naming the path.
std::filesystem::path write_server_config(const std::filesystem::path& state_dir, const std::string& host, int port,
                                          const std::string& jetstream_dir, const credentials::LocalLogin& login);

// Replaces `path` by a file holding `content`, readable by its owner only at every moment: a
// temporary file beside it created 0600 with O_EXCL, written, synced, then renamed over it.
void write_private_file(const std::filesystem::path& path, std::string_view content);

}  // namespace mcpd::daemon
