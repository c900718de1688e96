// NKey seeds and public keys: base32, CRC-16/XMODEM and the ed25519 public key (OpenSSL).
#include "bus/nkey.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

namespace mcpd::bus {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr unsigned char kSeedPrefix = 18 << 3;  // 'S'
constexpr std::size_t kKeyLen = 32;             // ed25519 seed and public key
constexpr std::size_t kSeedRawLen = 2 + kKeyLen + 2;
constexpr std::size_t kSeedChars = (kSeedRawLen * 8 + 4) / 5;  // 58
constexpr std::size_t kPublicRawLen = 1 + kKeyLen + 2;
constexpr std::size_t kMaxFileSize = 64 * 1024;

struct KeyType {
  char letter;
  unsigned char prefix;
  const char* name;
};
// The ed25519 key types of nats-io/nkeys (its x25519 curve keys 'X' are no signing keys).
constexpr std::array<KeyType, 5> kTypes{{
    {'U', 20 << 3, "user"},
    {'A', 0, "account"},
    {'O', 14 << 3, "operator"},
    {'N', 13 << 3, "server"},
    {'C', 2 << 3, "cluster"},
}};
constexpr unsigned char kCurvePrefix = 23 << 3;  // 'X'

const KeyType* type_by_letter(char letter) {
  for (const auto& t : kTypes)
    if (t.letter == letter) return &t;
  return nullptr;
}

const KeyType* type_by_prefix(unsigned char prefix) {
  for (const auto& t : kTypes)
    if (t.prefix == prefix) return &t;
  return nullptr;
}

// Zeroes a buffer when it goes out of scope, whichever way that happens.
struct Wipe {
  void* data;
  std::size_t size;
  ~Wipe() { OPENSSL_cleanse(data, size); }
};

std::uint16_t crc16(const unsigned char* p, std::size_t n) {  // CRC-16/XMODEM
  std::uint16_t crc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= static_cast<std::uint16_t>(p[i] << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

void put_crc(unsigned char* p, std::size_t n) {  // appends the CRC of p[0, n) at p[n], little-endian
  std::uint16_t crc = crc16(p, n);
  p[n] = static_cast<unsigned char>(crc & 0xFF);
  p[n + 1] = static_cast<unsigned char>(crc >> 8);
}

std::string base32_encode(const unsigned char* p, std::size_t n) {
  std::string out;
  out.reserve((n * 8 + 4) / 5);  // no reallocation: no stray copy of a seed
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    buffer = (buffer << 8) | p[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
    buffer &= (1u << bits) - 1;
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

// Decodes and checks an encoded seed into raw (prefix bytes, ed25519 seed, CRC).
Status decode_seed(std::string_view seed, std::array<unsigned char, kSeedRawLen>& raw) {
  if (seed.empty()) return make_error(Errc::invalid_request, "the NKey seed is empty");
  for (std::size_t i = 0; i < seed.size(); ++i)
    if (base32_value(seed[i]) < 0)
      return make_error(
          Errc::invalid_request,
          "the NKey seed is not valid base32 (A-Z, 2-7): unexpected character at position " + std::to_string(i + 1));
  if (seed.size() != kSeedChars)
    return make_error(Errc::invalid_request,
                      "the NKey seed has " + std::to_string(seed.size()) + " characters; a seed has " +
                          std::to_string(kSeedChars) +
                          (seed.size() == 56 ? " (a public key has 56: was one given instead?)" : ""));
  unsigned buffer = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : seed) {
    buffer = (buffer << 5) | static_cast<unsigned>(base32_value(c));
    bits += 5;
    if (bits >= 8) {
      raw[n++] = static_cast<unsigned char>((buffer >> (bits - 8)) & 0xFF);
      bits -= 8;
    }
    buffer &= (1u << bits) - 1;
  }
  // 58 characters hold 290 bits: 36 bytes and 2 unused bits (ignored, as nats.c and nkeys do).
  std::uint16_t stored = static_cast<std::uint16_t>(raw[kSeedRawLen - 2] | (raw[kSeedRawLen - 1] << 8));
  if (crc16(raw.data(), kSeedRawLen - 2) != stored)
    return make_error(Errc::invalid_request, "the NKey seed's checksum does not match: it is corrupted or mistyped");
  if ((raw[0] & 0xF8) != kSeedPrefix)
    return make_error(Errc::invalid_request, "this is not an NKey seed: a seed starts with 'S' (\"SU...\" for a user)");
  auto type = static_cast<unsigned char>(((raw[0] & 0x07) << 5) | ((raw[1] & 0xF8) >> 3));
  if (type == kCurvePrefix)
    return make_error(Errc::invalid_request,
                      "the NKey seed is an x25519 curve key (\"SX...\"), not an ed25519 signing key");
  if (!type_by_prefix(type)) return make_error(Errc::invalid_request, "the NKey seed has an unknown key type");
  return {};
}

Result<std::string> derive_public(const unsigned char* ed25519_seed, unsigned char type_prefix) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, ed25519_seed, kKeyLen), &EVP_PKEY_free);
  std::array<unsigned char, kPublicRawLen> raw{};
  std::size_t len = kKeyLen;
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), raw.data() + 1, &len) != 1 || len != kKeyLen) {
    ERR_clear_error();  // leave no stale error on this thread's OpenSSL queue (nats.c's TLS reads it)
    return make_error(Errc::internal, "OpenSSL could not derive the ed25519 public key of the NKey seed");
  }
  raw[0] = type_prefix;
  put_crc(raw.data(), 1 + kKeyLen);
  return base32_encode(raw.data(), raw.size());
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view blanks = " \t\r\n\v\f";
  auto first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

// A seed file's content, wiped when done with.
class SeedFile {
 public:
  explicit SeedFile(std::string path) : path_(std::move(path)), buf_(kMaxFileSize + 1, '\0') {}
  ~SeedFile() { OPENSSL_cleanse(buf_.data(), buf_.size()); }
  SeedFile(const SeedFile&) = delete;
  SeedFile& operator=(const SeedFile&) = delete;

  std::string_view content() const { return std::string_view(buf_.data(), size_); }
  Error error(const std::string& what) const {
    return make_error(Errc::invalid_request, "nkey seed file '" + path_ + "': " + what);
  }

  Status read() {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return error(std::string("cannot open it: ") + std::strerror(errno));
    while (size_ < buf_.size()) {  // the buffer holds one byte more than allowed: room to see "too large"
      ssize_t n = ::read(fd, buf_.data() + size_, buf_.size() - size_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return error(std::string("cannot read it: ") + std::strerror(err));
      }
      if (n == 0) break;
      size_ += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (size_ > kMaxFileSize) return error("larger than 64 KiB: not an NKey seed file");
    if (trim(content()).empty()) return error("the file is empty");
    return {};
  }

  // The first line that, trimmed, starts with 'S' and a key type letter and holds no blank.
  std::optional<std::string_view> seed_line() const {
    std::string_view rest = content();
    while (!rest.empty()) {
      std::size_t nl = rest.find('\n');
      std::string_view line = trim(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
      if (line.size() >= 2 && line[0] == 'S' && (type_by_letter(line[1]) || line[1] == 'X') &&
          line.find_first_of(" \t") == std::string_view::npos)
        return line;
    }
    return std::nullopt;
  }

  Result<std::string> public_key() const {
    auto line = seed_line();
    if (!line)
      return error(
          "no NKey seed in it: expected a line with the seed (\"SU...\" for a user) or a "
          "-----BEGIN USER NKEY SEED----- block");
    auto pub = nkey_public_from_seed(*line);
    if (!pub.ok()) return error(pub.error().message);
    return pub;
  }

 private:
  std::string path_;
  std::string buf_;
  std::size_t size_ = 0;
};

// nats.c's "header" line in a decorated file: ends with "---", with another "---" before that.
bool nats_c_header(std::string_view line) {
  return line.size() >= 6 && line.substr(line.size() - 3) == "---" &&
         line.substr(0, line.size() - 3).find("---") != std::string_view::npos;
}

// The string nats.c 3.x signs with when given this file as natsOptions_SetNKeyFromSeed()'s
// seedFile (conn.c _getJwtOrSeed(seedFile, seed, item 0) and util.c nats_GetJWTOrSeed(), 3.4.1):
// with decorated blocks, the content line of the first one; otherwise the first line starting
// with "SU" after spaces and tabs, up to the '\n'. Lines are split on '\n' only, empty ones
// skipped, nothing else is trimmed.
std::optional<std::string_view> nats_c_seed(std::string_view content) {
  content = content.substr(0, content.find('\0'));  // a C string to nats.c
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < content.size();) {
    std::size_t nl = std::min(content.find('\n', start), content.size());
    if (nl > start) lines.push_back(content.substr(start, nl - start));
    start = nl + 1;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!nats_c_header(lines[i])) continue;
    if (i + 2 >= lines.size()) break;
    if (nats_c_header(lines[i + 2])) return lines[i + 1];
    i += 2;  // nats.c goes on after the line that was no closing header
  }
  for (auto line : lines) {
    std::size_t lead = line.find_first_not_of(" \t");
    if (lead != std::string_view::npos && line.substr(lead).starts_with("SU")) return line.substr(lead);
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> nkey_public_from_seed(std::string_view seed) {
  std::array<unsigned char, kSeedRawLen> raw{};
  Wipe wipe{raw.data(), raw.size()};
  if (auto st = decode_seed(seed, raw); !st.ok()) return st.error();
  auto type = static_cast<unsigned char>(((raw[0] & 0x07) << 5) | ((raw[1] & 0xF8) >> 3));
  return derive_public(raw.data() + 2, type);
}

Result<std::string> nkey_public_from_seed_file(const std::string& path) {
  SeedFile file(path);
  if (auto st = file.read(); !st.ok()) return st.error();
  return file.public_key();
}

Result<std::string> nkey_user_public_for_nats_c(const std::string& path) {
  SeedFile file(path);
  if (auto st = file.read(); !st.ok()) return st.error();
  auto pub = file.public_key();
  if (!pub.ok()) return pub;
  if (pub.value()[0] != 'U') {
    const KeyType* t = type_by_letter(pub.value()[0]);  // known: the seed was checked
    return file.error(std::string("it holds ") + (t->name[0] == 'a' || t->name[0] == 'o' ? "an " : "a ") + t->name +
                      " seed (\"S" + pub.value()[0] +
                      "...\"), but a client logs in to NATS with a user seed (\"SU...\")");
  }
  auto ours = file.seed_line();  // found: public_key() succeeded
  auto theirs = nats_c_seed(file.content());
  if (!theirs || *theirs != *ours) {
    if (theirs && trim(*theirs) == *ours)
      return file.error(
          "the seed's line has a carriage return (Windows line endings) or blanks around the seed, "
          "which nats.c does not strip: save it with the seed alone on its line");
    return file.error(
        "nats.c would not read the seed from it: it takes the first -----BEGIN ... ----- block's "
        "content, else the first line starting with \"SU\" (a .creds file with a JWT belongs in "
        "creds_file, not nkey_seed_file)");
  }
  return pub;
}

Result<std::string> nkey_seed_encode(std::span<const unsigned char, 32> raw_seed, char type) {
  const KeyType* t = type_by_letter(type);
  if (!t)
    return make_error(Errc::invalid_request,
                      std::string("unknown NKey type '") + type + "': expected 'U' (user), 'A', 'O', 'N' or 'C'");
  std::array<unsigned char, kSeedRawLen> raw{};
  Wipe wipe{raw.data(), raw.size()};
  raw[0] = static_cast<unsigned char>(kSeedPrefix | (t->prefix >> 5));
  raw[1] = static_cast<unsigned char>((t->prefix & 31) << 3);
  std::memcpy(raw.data() + 2, raw_seed.data(), kKeyLen);
  put_crc(raw.data(), 2 + kKeyLen);
  return base32_encode(raw.data(), raw.size());
}

}  // namespace mcpd::bus
