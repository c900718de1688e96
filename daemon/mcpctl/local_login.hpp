// mcpctl's third source of a NATS login, after its flags and the MCPD_NATS_* variables: the
// credentials file of the local mcpd node's embedded nats-server (credentials/local-nats beside
// its catalog), looked for at
//   $MCPD_STATE_DIR/credentials/local-nats   when MCPD_STATE_DIR is set, else
//   ./.mcpd/credentials/local-nats           (the quick start, scripts/run.sh), else
//   /var/lib/mcpd/credentials/local-nats     (beside the default catalog).
// Its url is the server when none was given; its user and password are used only when no
// login was given and the server in use is the file's url, so the local password is never sent
// to another server.
#pragma once

#include "client.hpp"

#include <filesystem>
#include <string>

namespace mcpd::mcpctl {

// The file mcpctl would read: the first of the places above that exists (or cannot be
// examined by this user); empty when there is none.
std::filesystem::path local_credentials_path();

// Fills in `nats` from the local credentials file where it applies. `login_given`: a login came
// from the flags or environment. With no url given, nats.url becomes the file's url (else the
// default nats://127.0.0.1:4222). Records the file whose login is used, or why a file found
// could not be used, in nats.login_file / nats.login_file_problem for the error message.
void apply_local_login(ConnectOptions& nats, bool login_given);

// Whether two NATS URLs name the same server: the same after adding a missing nats:// and
// :4222, lower-casing, and dropping a trailing '/'. A list of URLs matches nothing.
bool same_server(const std::string& a, const std::string& b);

}  // namespace mcpd::mcpctl
