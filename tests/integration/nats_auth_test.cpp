// NATS connection security end to end, against a real nats-server configured to require each
// method in turn: user/password, token, nkey (seed file), JWT (.creds, operator mode), TLS
// verified with a CA, and mutual TLS. For each: bus::Connection with the right settings makes a
// request/reply round trip and one without them is refused; the real mcpd, given the method in
// its config file or in its MCPD_NATS_* environment, serves the native fake MCP server; the
// real mcpctl, given the method as flags or in the same environment variables, calls its echo
// tool (and is refused without them).
//
// Everything secret is made here, in a temporary directory: certificates with the openssl
// command line (a CA, a server certificate for 127.0.0.1, a client certificate), nkeys with
// bus::nkey_seed_encode, and the operator, account and user JWTs of operator mode signed with
// OpenSSL's ed25519 (nsc and nk are not needed).
#include "bus/connection.hpp"
#include "bus/nkey.hpp"
#include "support/bus_fixture.hpp"
#include "support/daemon_process.hpp"
#include "support/mcpctl_fixture.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

std::string write(const std::filesystem::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

// Runs a shell command (openssl); its output goes to `log`, quoted if it fails.
void run_or_throw(const std::string& command, const std::filesystem::path& log) {
  const std::string line = command + " >>'" + log.string() + "' 2>&1";
  if (std::system(line.c_str()) != 0)
    throw std::runtime_error("failed: " + command + "\n" + read_file(log));
}

// ---- TLS: a CA, a server certificate for 127.0.0.1 and a client certificate, all P-256.

struct Certificates {
  std::string ca, server_cert, server_key, client_cert, client_key;
  std::string rogue_cert, rogue_key;  // a self-signed client certificate: not from the CA
};

Certificates make_certificates(const std::filesystem::path& dir) {
  const auto log = dir / "openssl.log";
  const std::string d = dir.string() + "/";
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  run_or_throw("openssl req -x509 " + key + " -keyout " + d + "ca.key -out " + d +
                   "ca.pem -days 2 -subj /CN=mcpd-test-ca -addext basicConstraints=critical,CA:TRUE"
                   " -addext keyUsage=critical,keyCertSign,cRLSign",
               log);
  write(dir / "server.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  write(dir / "client.ext", "extendedKeyUsage=clientAuth\n");
  int serial = 2;
  for (std::string who : {"server", "client"}) {
    run_or_throw("openssl req " + key + " -keyout " + d + who + ".key -out " + d + who + ".csr -subj /CN=mcpd-test-" + who,
                 log);
    run_or_throw("openssl x509 -req -in " + d + who + ".csr -CA " + d + "ca.pem -CAkey " + d + "ca.key -set_serial " +
                     std::to_string(serial++) + " -days 2 -extfile " + d + who + ".ext -out " + d + who + ".pem",
                 log);
  }
  run_or_throw("openssl req -x509 " + key + " -keyout " + d + "rogue.key -out " + d +
                   "rogue.pem -days 2 -subj /CN=mcpd-test-rogue -addext extendedKeyUsage=clientAuth",
               log);
  return {d + "ca.pem",     d + "server.pem", d + "server.key", d + "client.pem",
          d + "client.key", d + "rogue.pem",  d + "rogue.key"};
}

// ---- NKeys and JWTs.

std::string base64url(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string base32(const unsigned char* data, std::size_t size) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 5) out += kAlphabet[(acc >> (bits -= 5)) & 31];
  }
  if (bits > 0) out += kAlphabet[(acc << (5 - bits)) & 31];
  return out;
}

// An ed25519 key pair as NKeys: the raw seed, its encoded seed ("S" + type) and public key.
struct NKey {
  std::array<unsigned char, 32> raw{};
  std::string seed, public_key;

  explicit NKey(char type) {
    REQUIRE(RAND_bytes(raw.data(), static_cast<int>(raw.size())) == 1);
    auto s = bus::nkey_seed_encode(raw, type);
    REQUIRE(s.ok());
    seed = s.value();
    auto p = bus::nkey_public_from_seed(seed);
    REQUIRE(p.ok());
    public_key = p.value();
    REQUIRE(public_key.front() == type);
  }

  std::string sign(std::string_view message) const {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()), &EVP_PKEY_free);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    REQUIRE((key && ctx));
    REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1);
    std::string sig(64, '\0');
    std::size_t len = sig.size();
    REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1);
    sig.resize(len);
    return sig;
  }
};

// A NATS JWT (v2): base64url(header).base64url(claims).base64url(ed25519 signature of the first
// two parts by the issuer). The jti is the SHA-512/256 of the claims without it, in base32, as
// nats-io/jwt makes it (nats-server does not check it).
std::string nats_jwt(const NKey& issuer, const std::string& subject, const std::string& name, Json nats) {
  Json claims = {{"iat", static_cast<long long>(std::time(nullptr))},
                 {"iss", issuer.public_key},
                 {"name", name},
                 {"sub", subject},
                 {"nats", std::move(nats)}};
  const std::string unsigned_claims = claims.dump();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  REQUIRE(EVP_Digest(unsigned_claims.data(), unsigned_claims.size(), digest, &digest_len, EVP_sha512_256(), nullptr) ==
          1);
  claims["jti"] = base32(digest, digest_len);
  const std::string body = base64url(R"({"typ":"JWT","alg":"ed25519-nkey"})") + "." + base64url(claims.dump());
  return body + "." + base64url(issuer.sign(body));
}

// What the nats-servers are configured with and the clients are given; made once per run.
struct Materials {
  TempDir dir;
  Certificates certs;
  // nkey: a user seed file, and its public key for the server's users list
  std::string nkey_seed_file, nkey_public;
  // JWT: the operator's JWT file, the account (public key, JWT) to preload, the user's .creds
  std::string operator_jwt_file, account_public, account_jwt, creds_file;

  Materials() {
    certs = make_certificates(dir.path());

    NKey nkey_user('U');
    nkey_public = nkey_user.public_key;
    nkey_seed_file = write(dir.path() / "user.nk", nkey_user.seed + "\n");

    NKey op('O'), account('A'), user('U');
    operator_jwt_file = write(dir.path() / "operator.jwt",
                              nats_jwt(op, op.public_key, "mcpd-test-operator", {{"type", "operator"}, {"version", 2}}));
    account_public = account.public_key;
    // Unlimited, as nsc makes an account (absent limits would be 0: no connections at all).
    account_jwt = nats_jwt(op, account.public_key, "mcpd-test-account",
                           {{"limits",
                             {{"subs", -1}, {"data", -1}, {"payload", -1}, {"imports", -1}, {"exports", -1},
                              {"wildcards", true}, {"conn", -1}, {"leaf", -1}}},
                            {"default_permissions", {{"pub", Json::object()}, {"sub", Json::object()}}},
                            {"type", "account"},
                            {"version", 2}});
    const std::string user_jwt = nats_jwt(account, user.public_key, "mcpd-test-user",
                                          {{"pub", Json::object()}, {"sub", Json::object()}, {"subs", -1},
                                           {"data", -1}, {"payload", -1}, {"type", "user"}, {"version", 2}});
    creds_file = write(dir.path() / "user.creds", "-----BEGIN NATS USER JWT-----\n" + user_jwt +
                                                      "\n------END NATS USER JWT------\n\n"
                                                      "************************* IMPORTANT *************************\n"
                                                      "NKEY Seed printed below can be used to sign and prove identity.\n\n"
                                                      "-----BEGIN USER NKEY SEED-----\n" +
                                                      user.seed + "\n------END USER NKEY SEED------\n");
  }
};

const Materials& materials() {
  static Materials m;
  return m;
}

// A nats-server with this configuration file content.
NatsServerOptions configured(const std::string& name, const std::string& conf) {
  NatsServerOptions o;
  o.extra_args = {"-c", write(materials().dir.path() / (name + ".conf"), conf)};
  return o;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// The connection settings of a method, as bus::Options carries them (the rest left default).
using Login = bus::Options;

// The same settings as mcpd's [nats] keys, as MCPD_NATS_* variables, and as mcpctl's flags.
struct Setting {
  std::string bus::Options::*field;
  const char* key;       // [nats] key
  const char* variable;  // environment
  const char* flag;      // mcpctl
};
const Setting kSettings[] = {
    {&bus::Options::user, "user", "MCPD_NATS_USER", "--user"},
    {&bus::Options::password, "password", "MCPD_NATS_PASSWORD", "--password"},
    {&bus::Options::token, "token", "MCPD_NATS_TOKEN", "--token"},
    {&bus::Options::creds_file, "creds_file", "MCPD_NATS_CREDS", "--creds"},
    {&bus::Options::nkey_seed_file, "nkey_seed_file", "MCPD_NATS_NKEY_SEED", "--nkey"},
    {&bus::Options::tls_ca_file, "tls_ca_file", "MCPD_NATS_TLS_CA", "--tls-ca"},
    {&bus::Options::tls_cert_file, "tls_cert_file", "MCPD_NATS_TLS_CERT", "--tls-cert"},
    {&bus::Options::tls_key_file, "tls_key_file", "MCPD_NATS_TLS_KEY", "--tls-key"},
};

std::string toml_keys(const Login& login) {
  std::string out;
  for (const auto& s : kSettings)
    if (!(login.*s.field).empty()) out += std::string(s.key) + " = " + quoted(login.*s.field) + "\n";
  return out;
}
std::vector<std::string> env_of(const Login& login) {
  std::vector<std::string> out;
  for (const auto& s : kSettings)
    if (!(login.*s.field).empty()) out.push_back(std::string(s.variable) + "=" + login.*s.field);
  return out;
}
std::vector<std::string> flags_of(const Login& login) {
  std::vector<std::string> out;
  for (const auto& s : kSettings)
    if (!(login.*s.field).empty()) out.insert(out.end(), {s.flag, login.*s.field});
  return out;
}

// Connects once, at once: no retrying in the background, so a refusal is the answer.
Result<std::shared_ptr<bus::Connection>> connect_with(const NatsServer& nats, Login login) {
  login.servers = {nats.url()};
  login.name = "nats-auth-test";
  login.retry_on_failed_connect = false;
  login.max_reconnect = 0;
  login.connect_timeout = 2000ms;
  login.delivery_threads = 1;
  return bus::Connection::connect(std::move(login));
}

// The connection works: it serves a subject and a request to it is answered.
void check_round_trip(const NatsServer& nats, const Login& login) {
  auto conn = connect_with(nats, login);
  if (!conn.ok()) FAIL("cannot connect with the right settings: " << conn.error().message << "\n" << nats.log());
  bus::Connection* c = conn.value().get();
  auto sub = c->subscribe("auth.echo", [c](bus::Message m) {
    if (!c->respond(m.reply(), "echo: " + std::string(m.data())).ok()) std::abort();
  });
  REQUIRE(sub.ok());
  auto reply = c->request("auth.echo", "ping", 5s);
  if (!reply.ok()) FAIL(reply.error().message);
  CHECK(reply.value().data() == "echo: ping");
}

// The server refuses this connection; the reason is returned for the caller to check. (Its code
// depends on how: unavailable for a refused login, internal when the server drops the TLS
// connection after the handshake, as it does for a client certificate it does not accept.)
std::string refused(const NatsServer& nats, const Login& login) {
  auto conn = connect_with(nats, login);
  REQUIRE_FALSE(conn.ok());
  return conn.error().message;
}

enum class Via { config, environment };  // how mcpd gets the settings
enum class CtlVia { flags, environment };  // how mcpctl gets them

Run call_echo(const NatsServer& nats, const std::vector<std::string>& login_args, const std::vector<std::string>& env) {
  std::vector<std::string> args = {"--nats", nats.url()};
  args.insert(args.end(), login_args.begin(), login_args.end());
  args.insert(args.end(), {"call", "fake", "echo", "--args", R"({"message":"through the lock"})"});
  return mcpctl(args, 15s, env);
}

// The real mcpd, logging in with `login` (from its config file or its environment), serves the
// fake MCP server, and the real mcpctl calls its echo tool with the same settings (as flags or
// variables); without them mcpctl is refused.
// `while_serving` runs more checks while mcpd serves.
void check_mcpd_and_mcpctl(const NatsServer& nats, const Login& login, Via via, CtlVia ctl_via,
                           const std::function<void()>& while_serving = {}) {
  const std::string toml = "[node]\nid = \"auth-node\"\n[nats]\nurl = " + quoted(nats.url()) + "\n" +
                           (via == Via::config ? toml_keys(login) : "") + "[[servers]]\nname = \"fake\"\ncommand = " +
                           quoted(fake_server_path()) + "\nminSessions = 1\n";
  DaemonProcess daemon(toml, via == Via::environment ? env_of(login) : std::vector<std::string>{});
  auto client = connect_with(nats, login);
  REQUIRE(client.ok());
  daemon.wait_serving(*client.value());

  const Run ok = ctl_via == CtlVia::flags ? call_echo(nats, flags_of(login), {}) : call_echo(nats, {}, env_of(login));
  INFO("mcpd's log:\n" << daemon.log());
  CHECK_THAT(ok, ExitsWith(0).out(Catch::Equals("through the lock\n")));
  CHECK_THAT(call_echo(nats, {}, {}), ExitsWith(1).err(Catch::Contains("cannot connect to NATS at " + nats.url())));
  if (while_serving) while_serving();

  client.value()->close();
  daemon.signal(SIGTERM);
  CHECK(daemon.wait_exit(10s).value_or(-1) == 0);
}

}  // namespace

TEST_CASE("nats auth: user and password") {
  NatsServer nats(configured("user", "authorization { user: \"mcpd\", password: \"s3cr3t pass\" }\n"));
  Login login;
  login.user = "mcpd";
  login.password = "s3cr3t pass";
  check_round_trip(nats, login);
  CHECK_THAT(refused(nats, {}), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));
  Login wrong = login;
  wrong.password = "guess";
  CHECK_THAT(refused(nats, wrong), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));

  // mcpd from its config file, mcpctl from flags; then mcpctl: a flag wins over its variable.
  check_mcpd_and_mcpctl(nats, login, Via::config, CtlVia::flags, [&] {
    CHECK_THAT(call_echo(nats, {"--password", "s3cr3t pass"}, {"MCPD_NATS_USER=mcpd", "MCPD_NATS_PASSWORD=guess"}),
               ExitsWith(0).out(Catch::Equals("through the lock\n")));
    CHECK_THAT(call_echo(nats, {"--password", "guess"}, {"MCPD_NATS_USER=mcpd", "MCPD_NATS_PASSWORD=s3cr3t pass"}),
               ExitsWith(1).err(Catch::Contains("cannot connect to NATS")));
  });
}

TEST_CASE("nats auth: token") {
  NatsServer nats(configured("token", "authorization { token: \"t0ken-for-mcpd\" }\n"));
  Login login;
  login.token = "t0ken-for-mcpd";
  check_round_trip(nats, login);
  CHECK_THAT(refused(nats, {}), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));
  Login wrong;
  wrong.token = "not-the-token";
  CHECK_THAT(refused(nats, wrong), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));

  // mcpd and mcpctl both from MCPD_NATS_TOKEN.
  check_mcpd_and_mcpctl(nats, login, Via::environment, CtlVia::environment);
}

TEST_CASE("nats auth: nkey seed file") {
  const auto& m = materials();
  NatsServer nats(configured("nkey", "authorization { users = [ { nkey: " + m.nkey_public + " } ] }\n"));
  Login login;
  login.nkey_seed_file = m.nkey_seed_file;
  check_round_trip(nats, login);
  CHECK_THAT(refused(nats, {}), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));
  // Another user's seed is not this one.
  TempDir other_dir;
  NKey other('U');
  Login other_login;
  other_login.nkey_seed_file = write(other_dir.path() / "other.nk", other.seed + "\n");
  CHECK_THAT(refused(nats, other_login), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));

  // mcpd from nkey_seed_file, mcpctl from --nkey.
  check_mcpd_and_mcpctl(nats, login, Via::config, CtlVia::flags);
}

TEST_CASE("nats auth: JWT creds file in operator mode") {
  const auto& m = materials();
  NatsServer nats(configured("jwt", "operator: " + quoted(m.operator_jwt_file) +
                                        "\nresolver: MEMORY\nresolver_preload: {\n  " + m.account_public + ": " +
                                        quoted(m.account_jwt) + "\n}\n"));
  Login login;
  login.creds_file = m.creds_file;
  check_round_trip(nats, login);
  CHECK_THAT(refused(nats, {}), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));
  // A plain nkey user of no account the operator signed is not let in either.
  Login nkey_only;
  nkey_only.nkey_seed_file = m.nkey_seed_file;
  CHECK_THAT(refused(nats, nkey_only), Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));

  // mcpd from MCPD_NATS_CREDS, mcpctl from --creds.
  check_mcpd_and_mcpctl(nats, login, Via::environment, CtlVia::flags);
}

TEST_CASE("nats auth: TLS verified with a CA") {
  const auto& c = materials().certs;
  NatsServer nats(configured("tls", "tls {\n  cert_file: " + quoted(c.server_cert) + "\n  key_file: " +
                                        quoted(c.server_key) + "\n  timeout: 5\n}\n"));
  Login login;
  login.tls_ca_file = c.ca;
  check_round_trip(nats, login);
  // Without our CA the server's certificate is not trusted: with no settings (nats.c turns TLS on
  // by itself when the server requires it) and with TLS required.
  CHECK_THAT(refused(nats, {}), Catch::Contains("unable to get local issuer certificate"));
  Login untrusted;
  untrusted.tls_required = true;
  CHECK_THAT(refused(nats, untrusted), Catch::Contains("unable to get local issuer certificate"));

  // mcpd from tls_ca_file, mcpctl from MCPD_NATS_TLS_CA.
  check_mcpd_and_mcpctl(nats, login, Via::config, CtlVia::environment);
}

TEST_CASE("nats auth: mutual TLS") {
  const auto& c = materials().certs;
  NatsServer nats(configured("mtls", "tls {\n  cert_file: " + quoted(c.server_cert) + "\n  key_file: " +
                                         quoted(c.server_key) + "\n  ca_file: " + quoted(c.ca) +
                                         "\n  verify: true\n  timeout: 5\n}\n"));
  Login login;
  login.tls_ca_file = c.ca;
  login.tls_cert_file = c.client_cert;
  login.tls_key_file = c.client_key;
  check_round_trip(nats, login);
  // Without a client certificate, or with one the CA did not sign, the server refuses.
  Login server_only;
  server_only.tls_ca_file = c.ca;
  const std::string no_cert = refused(nats, server_only);
  Login rogue = login;
  rogue.tls_cert_file = c.rogue_cert;
  rogue.tls_key_file = c.rogue_key;
  const std::string rogue_cert = refused(nats, rogue);
  INFO("without a client certificate: " << no_cert << "\nwith a self-signed one: " << rogue_cert);
  // nats.c only sees the connection dropped after the handshake; the server's log says why.
  CHECK_THAT(nats.log(), Catch::Contains("didn't provide a certificate") &&
                             Catch::Contains("certificate signed by unknown authority"));
  // Nor without our CA (the server's certificate is not trusted).
  CHECK_THAT(refused(nats, {}), Catch::Contains("unable to get local issuer certificate"));

  // mcpd from MCPD_NATS_TLS_CA/_CERT/_KEY, mcpctl from --tls-ca, --tls-cert, --tls-key.
  check_mcpd_and_mcpctl(nats, login, Via::environment, CtlVia::flags);
}
