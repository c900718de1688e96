// NKeys: the public key derived from a seed (known pairs from nats.c's and nkeys' tests, random
// round trips), every way a seed or a seed file is refused, and end to end: a nats-server that
// only knows an nkey user accepts bus::Connection with nothing but nkey_seed_file.
#include "bus/connection.hpp"
#include "bus/nkey.hpp"
#include "support/bus_fixture.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using bus::Connection;

namespace {

// Known pairs. nats.c's test suite signs with SUACSSL3... as the user UDXU4RCS... (test.c,
// "NKeyFromSeed works ok"); nkeys' creds_utils_test.go holds SUAOTBNE... in a .creds file whose
// user JWT names UDE6WTGL... as its subject.
constexpr const char* kNatsCSeed = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY";
constexpr const char* kNatsCPublic = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";
constexpr const char* kCredsSeed = "SUAOTBNEUHZDFJT3EUMELT7MQTP24JF3XVCXQNDSCU74G5IU6VAJBKH5LI";
constexpr const char* kCredsPublic = "UDE6WTGLTTPCRJRJCKBJRGVNZTLIVR7LEEELR4CYWWWBKJS7XYIKXDUU";

std::array<unsigned char, 32> random_seed() {
  std::array<unsigned char, 32> raw{};
  REQUIRE(RAND_bytes(raw.data(), static_cast<int>(raw.size())) == 1);
  return raw;
}

std::string encode(const std::array<unsigned char, 32>& raw, char type = 'U') {
  auto seed = bus::nkey_seed_encode(raw, type);
  if (!seed.ok()) FAIL(seed.error().message);
  return seed.value();
}

std::string public_of(const std::string& seed) {
  auto pub = bus::nkey_public_from_seed(seed);
  if (!pub.ok()) FAIL(pub.error().message);
  return pub.value();
}

// An independent base32 and CRC-16/XMODEM, to take keys apart and to craft bad seeds.
const std::string kB32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string b32_encode(const std::vector<unsigned char>& in) {
  std::string out;
  std::uint64_t acc = 0;
  int bits = 0;
  for (unsigned char b : in) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) out += kB32[(acc >> (bits -= 5)) & 31];
  }
  if (bits > 0) out += kB32[(acc << (5 - bits)) & 31];
  return out;
}

std::vector<unsigned char> b32_decode(const std::string& in) {
  std::vector<unsigned char> out;
  std::uint64_t acc = 0;
  int bits = 0;
  for (char c : in) {
    acc = (acc << 5) | kB32.find(c);
    bits += 5;
    if (bits >= 8) out.push_back(static_cast<unsigned char>(acc >> (bits -= 8)));
  }
  return out;
}

void append_crc(std::vector<unsigned char>& v) {
  std::uint16_t crc = 0;
  for (unsigned char b : v) {
    crc ^= static_cast<std::uint16_t>(b << 8);
    for (int i = 0; i < 8; ++i) crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  v.push_back(static_cast<unsigned char>(crc & 0xFF));
  v.push_back(static_cast<unsigned char>(crc >> 8));
}

// A seed string with the given two prefix bytes and a valid checksum.
std::string seed_with_prefix(unsigned char b0, unsigned char b1) {
  auto raw = random_seed();
  std::vector<unsigned char> v{b0, b1};
  v.insert(v.end(), raw.begin(), raw.end());
  append_crc(v);
  return b32_encode(v);
}

// The message of the error `r` must hold, checked never to contain (a part of) the seed.
template <typename T>
std::string error_of(const Result<T>& r, const std::string& seed) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_request);
  for (std::size_t i = 0; i + 12 <= seed.size(); ++i)
    CHECK(r.error().message.find(seed.substr(i, 12)) == std::string::npos);
  return r.error().message;
}

std::string write(const TempDir& dir, const std::string& name, const std::string& content) {
  auto path = (dir.path() / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string creds_file(const std::string& seed) {
  return "-----BEGIN NATS USER JWT-----\n"
         "eyJ0eXAiOiJqd3QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln\n"
         "------END NATS USER JWT------\n\n"
         "************************* IMPORTANT *************************\n"
         "NKEY Seed printed below can be used to sign and prove identity.\n"
         "NKEYs are sensitive and should be treated as secrets.\n\n"
         "-----BEGIN USER NKEY SEED-----\n" +
         seed +
         "\n------END USER NKEY SEED------\n\n"
         "*************************************************************\n";
}

std::string nk_block(const std::string& seed) {
  return "-----BEGIN USER NKEY SEED-----\n" + seed + "\n------END USER NKEY SEED------\n";
}

// A nats-server whose only user is the nkey `public_key`.
NatsServerOptions nkey_only_server(const TempDir& dir, const std::string& public_key) {
  auto conf = write(dir, "nats.conf", "authorization { users = [ { nkey: " + public_key + " } ] }\n");
  NatsServerOptions o;
  o.extra_args = {"-c", conf};
  return o;
}

}  // namespace

TEST_CASE("nkey public keys of known seeds match nats.c's and nkeys' test pairs") {
  CHECK(public_of(kNatsCSeed) == kNatsCPublic);
  CHECK(public_of(kCredsSeed) == kCredsPublic);
}

TEST_CASE("nkey seeds encoded from random bytes give the ed25519 public key of those bytes") {
  for (int i = 0; i < 20; ++i) {
    auto raw = random_seed();
    std::string seed = encode(raw);
    CHECK(seed.size() == 58);
    CHECK(seed.rfind("SU", 0) == 0);
    std::string pub = public_of(seed);
    CHECK(pub.size() == 56);
    CHECK(pub[0] == 'U');

    // Taken apart independently: the seed holds the raw bytes, the public key OpenSSL's key.
    auto seed_bytes = b32_decode(seed);
    REQUIRE(seed_bytes.size() == 36);
    CHECK(std::equal(raw.begin(), raw.end(), seed_bytes.begin() + 2));
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()), &EVP_PKEY_free);
    REQUIRE(key);
    std::array<unsigned char, 32> expected{};
    std::size_t len = expected.size();
    REQUIRE(EVP_PKEY_get_raw_public_key(key.get(), expected.data(), &len) == 1);
    std::vector<unsigned char> pub_raw{20 << 3};
    pub_raw.insert(pub_raw.end(), expected.begin(), expected.end());
    append_crc(pub_raw);
    CHECK(pub == b32_encode(pub_raw));
  }
}

TEST_CASE("nkey seeds of every key type start with S and their type letter") {
  auto raw = random_seed();
  for (char type : std::string("UAONC")) {
    std::string seed = encode(raw, type);
    CHECK(seed.substr(0, 2) == std::string("S") + type);
    CHECK(public_of(seed)[0] == type);
  }
  // One ed25519 key whatever the type: only the prefix differs.
  CHECK(public_of(encode(raw, 'U')).substr(1, 50) == public_of(encode(raw, 'A')).substr(1, 50));
  auto bad = bus::nkey_seed_encode(raw, 'Q');
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::invalid_request);
  CHECK_THAT(bad.error().message, Catch::Contains("unknown NKey type 'Q'"));
}

TEST_CASE("an nkey seed with a changed character fails its checksum") {
  std::string seed = encode(random_seed());
  std::string bad = seed;
  bad[20] = bad[20] == 'A' ? 'B' : 'A';
  CHECK_THAT(error_of(bus::nkey_public_from_seed(bad), seed), Catch::Contains("checksum does not match"));
  bad = kNatsCSeed;
  bad.back() = 'A';  // the last character holds CRC bits too
  CHECK_THAT(error_of(bus::nkey_public_from_seed(bad), kNatsCSeed), Catch::Contains("checksum does not match"));
}

TEST_CASE("an nkey that is not a seed or of an unknown type is refused") {
  // A valid checksum over a non-seed prefix ('P', a private key's).
  std::string priv = seed_with_prefix(15 << 3, 0);
  CHECK(priv[0] == 'P');
  CHECK_THAT(error_of(bus::nkey_public_from_seed(priv), priv), Catch::Contains("not an NKey seed"));
  // 'S' with an unknown type, and with an x25519 curve key's type ('X' = 23 << 3).
  std::string unknown = seed_with_prefix((18 << 3) | (200 >> 5), (200 & 31) << 3);
  CHECK_THAT(error_of(bus::nkey_public_from_seed(unknown), unknown), Catch::Contains("unknown key type"));
  std::string curve = seed_with_prefix((18 << 3) | (184 >> 5), (184 & 31) << 3);
  CHECK(curve.substr(0, 2) == "SX");
  CHECK_THAT(error_of(bus::nkey_public_from_seed(curve), curve), Catch::Contains("x25519"));
  // A public key given instead of a seed.
  CHECK_THAT(error_of(bus::nkey_public_from_seed(kNatsCPublic), ""), Catch::Contains("a public key has 56"));
}

TEST_CASE("an nkey seed that is not base32 or has the wrong length is refused") {
  std::string seed = encode(random_seed());
  std::string lower = seed;
  lower[5] = 'a';
  CHECK_THAT(error_of(bus::nkey_public_from_seed(lower), seed),
             Catch::Contains("not valid base32") && Catch::Contains("position 6"));
  std::string digit = seed;
  digit[10] = '0';
  CHECK_THAT(error_of(bus::nkey_public_from_seed(digit), seed), Catch::Contains("position 11"));
  CHECK_THAT(error_of(bus::nkey_public_from_seed(seed + " "), seed), Catch::Contains("position 59"));
  CHECK_THAT(error_of(bus::nkey_public_from_seed(seed.substr(0, 57)), seed),
             Catch::Contains("has 57 characters; a seed has 58"));
  CHECK_THAT(error_of(bus::nkey_public_from_seed(seed + "AA"), seed), Catch::Contains("has 60 characters"));
  CHECK_THAT(error_of(bus::nkey_public_from_seed(""), ""), Catch::Contains("empty"));
}

TEST_CASE("an nkey seed file is read bare or decorated as a .creds or .nk file") {
  TempDir dir;
  std::string seed = encode(random_seed());
  std::string pub = public_of(seed);
  for (const auto& content : {seed, seed + "\n", "  \t" + seed + "  \r\n\n", creds_file(seed), nk_block(seed),
                              "# mcpd's key\n\n" + seed + "\n"}) {
    auto path = write(dir, "seed.nk", content);
    auto got = bus::nkey_public_from_seed_file(path);
    INFO(content.size());
    REQUIRE(got.ok());
    CHECK(got.value() == pub);
  }
  // What nats.c can read is accepted for a connection too.
  for (const auto& content : {seed + "\n", "  \t" + seed + "\n", nk_block(seed), "# mcpd's key\n\n" + seed + "\n"}) {
    auto got = bus::nkey_user_public_for_nats_c(write(dir, "ok.nk", content));
    REQUIRE(got.ok());
    CHECK(got.value() == pub);
  }
}

TEST_CASE("an empty missing oversized or seedless nkey seed file gives an error naming it") {
  TempDir dir;
  auto empty = write(dir, "empty.nk", "");
  CHECK_THAT(error_of(bus::nkey_public_from_seed_file(empty), ""),
             Catch::Contains("nkey seed file '" + empty + "'") && Catch::Contains("empty"));
  auto blank = write(dir, "blank.nk", " \n\n\t\n");
  CHECK_THAT(error_of(bus::nkey_public_from_seed_file(blank), ""), Catch::Contains(blank) && Catch::Contains("empty"));
  auto missing = (dir.path() / "missing.nk").string();
  CHECK_THAT(error_of(bus::nkey_public_from_seed_file(missing), ""),
             Catch::Contains(missing) && Catch::Contains("No such file"));
  auto big = write(dir, "big.nk", std::string(64 * 1024 + 1, '#'));
  CHECK_THAT(error_of(bus::nkey_public_from_seed_file(big), ""), Catch::Contains(big) && Catch::Contains("64 KiB"));
  auto none = write(dir, "none.nk", "-----BEGIN NATS USER JWT-----\neyJ0eXAi.x.y\n------END NATS USER JWT------\n");
  CHECK_THAT(error_of(bus::nkey_public_from_seed_file(none), ""),
             Catch::Contains(none) && Catch::Contains("no NKey seed"));
  // A broken seed: the file is named, the seed is not quoted.
  std::string seed = encode(random_seed());
  std::string broken = seed;
  broken[30] = broken[30] == 'Q' ? 'R' : 'Q';
  auto bad = write(dir, "bad.nk", broken + "\n");
  CHECK_THAT(error_of(bus::nkey_public_from_seed_file(bad), broken),
             Catch::Contains(bad) && Catch::Contains("checksum"));
}

TEST_CASE("an nkey seed file nats.c would misread or that holds no user seed is refused for a connection") {
  TempDir dir;
  std::string seed = encode(random_seed());
  // nats.c takes a .creds file's first block (the JWT) as the seed.
  auto creds = write(dir, "user.creds", creds_file(seed));
  CHECK(bus::nkey_public_from_seed_file(creds).ok());
  CHECK_THAT(error_of(bus::nkey_user_public_for_nats_c(creds), seed),
             Catch::Contains(creds) && Catch::Contains("creds_file"));
  // nats.c keeps the CR of a Windows line ending, and blanks after the seed.
  for (const auto& content : {seed + "\r\n", seed + " \n",
                              "-----BEGIN USER NKEY SEED-----\r\n" + seed + "\r\n------END USER NKEY SEED------\r\n"}) {
    auto path = write(dir, "crlf.nk", content);
    CHECK(bus::nkey_public_from_seed_file(path).ok());
    CHECK_THAT(error_of(bus::nkey_user_public_for_nats_c(path), seed), Catch::Contains("carriage return"));
  }
  // An account seed is a valid seed, but no user.
  std::string account = encode(random_seed(), 'A');
  auto acc = write(dir, "account.nk", account + "\n");
  CHECK(bus::nkey_public_from_seed_file(acc).ok());
  CHECK_THAT(error_of(bus::nkey_user_public_for_nats_c(acc), account),
             Catch::Contains("an account seed") && Catch::Contains("SU..."));
}

TEST_CASE("a nats-server that only knows an nkey user accepts a connection with only nkey_seed_file") {
  TempDir dir;
  std::string seed = encode(random_seed());
  std::string pub = public_of(seed);
  NatsServer server(nkey_only_server(dir, pub));
  auto seed_file = write(dir, "mcpd.nk", seed + "\n");

  auto o = options_for(server);
  o.retry_on_failed_connect = false;
  o.nkey_seed_file = seed_file;
  auto c = Connection::connect(o);
  if (!c.ok()) FAIL(c.error().message + "\n" + server.log());
  CHECK(c.value()->connected());
  // The connection works: a request to ourselves.
  auto sub = c.value()->subscribe("nkey.echo",
                                  [conn = c.value()](bus::Message m) { (void)conn->respond(m.reply(), m.data()); });
  REQUIRE(sub.ok());
  auto reply = c.value()->request("nkey.echo", "hi", 2s);
  REQUIRE(reply.ok());
  CHECK(reply->data() == "hi");

  SECTION("the seed in an .nk block and a matching nkey_public work too") {
    o.nkey_seed_file = write(dir, "block.nk", nk_block(seed));
    o.nkey_public = pub;
    auto c2 = Connection::connect(o);
    if (!c2.ok()) FAIL(c2.error().message);
    CHECK(c2.value()->connected());
  }
  SECTION("an nkey_public that is not the seed's is refused before connecting") {
    std::string other = public_of(encode(random_seed()));
    o.nkey_public = other;
    auto bad = Connection::connect(o);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::invalid_request);
    CHECK_THAT(bad.error().message, Catch::Contains("nkey_public " + other + " does not match") &&
                                        Catch::Contains(seed_file) && Catch::Contains(pub));
    CHECK(bad.error().message.find(seed) == std::string::npos);
  }
  SECTION("a bad seed file fails the connect with its reason") {
    o.nkey_seed_file = write(dir, "empty.nk", "");
    auto bad = Connection::connect(o);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::invalid_request);
    CHECK_THAT(bad.error().message, Catch::StartsWith("nats: nkey seed file '" + o.nkey_seed_file + "'"));
  }
  SECTION("no credentials and another user's seed are refused by the server") {
    o.nkey_seed_file.clear();
    auto none = Connection::connect(o);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == Errc::unavailable);
    CHECK_THAT(none.error().message, Catch::Contains("uthorization"));

    o.nkey_seed_file = write(dir, "other.nk", encode(random_seed()) + "\n");
    auto other = Connection::connect(o);
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().code == Errc::unavailable);
    CHECK_THAT(other.error().message, Catch::Contains("uthorization"));
  }
}
