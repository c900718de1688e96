#include "auth/handover.hpp"

#include "auth/crypto.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace mcpd::auth {
namespace {

constexpr std::size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
Error refused(std::string why) { return make_error(Errc::invalid_request, std::move(why)); }
Error broken(std::string why) { return make_error(Errc::internal, "sealing: " + std::move(why)); }

Pkey raw_key(bool is_private, std::string_view raw) {
  return Pkey(is_private ? EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytes(raw), raw.size())
                         : EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, bytes(raw), raw.size()),
              &EVP_PKEY_free);
}

std::string public_of(EVP_PKEY* key) {
  std::string out(kKeyBytes, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1) return {};
  out.resize(len);
  return out;
}

// X25519(mine, theirs), then HKDF-SHA256 with both public keys as salt: the AES-256 key.
Result<std::string> derive(EVP_PKEY* mine, EVP_PKEY* theirs, std::string_view salt) {
  PkeyCtx ctx(EVP_PKEY_CTX_new(mine, nullptr), &EVP_PKEY_CTX_free);
  std::string shared(kKeyBytes, '\0');
  std::size_t len = shared.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), theirs) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len) != 1)
    return refused("not a usable X25519 public key");
  PkeyCtx kdf(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), &EVP_PKEY_CTX_free);
  constexpr std::string_view kInfo = "mcpd oauth grant v1";
  std::string key(kKeyBytes, '\0');
  std::size_t key_len = key.size();
  if (!kdf || EVP_PKEY_derive_init(kdf.get()) != 1 || EVP_PKEY_CTX_set_hkdf_md(kdf.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_salt(kdf.get(), bytes(salt), static_cast<int>(salt.size())) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(kdf.get(), bytes(shared), static_cast<int>(len)) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(kdf.get(), bytes(kInfo), static_cast<int>(kInfo.size())) != 1 ||
      EVP_PKEY_derive(kdf.get(), reinterpret_cast<unsigned char*>(key.data()), &key_len) != 1)
    return broken("key derivation failed");
  OPENSSL_cleanse(shared.data(), shared.size());
  return key;
}

}  // namespace

std::string grant_context(std::string_view node, std::string_view server) {
  return "mcpd-oauth-grant-v1|" + std::string(node) + "|" + std::string(server);
}

Result<Sealed> seal(std::string_view public_key, std::string_view plaintext, std::string_view context) {
  auto their_raw = base64url_decode(public_key);
  if (!their_raw.ok() || their_raw.value().size() != kKeyBytes) return refused("the node's public key is not 32 bytes of base64url");
  Pkey theirs = raw_key(false, their_raw.value());
  Pkey mine(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"), &EVP_PKEY_free);
  if (!theirs || !mine) return broken("no X25519 key");
  const std::string epk = public_of(mine.get());
  auto key = derive(mine.get(), theirs.get(), epk + their_raw.value());
  if (!key.ok()) return key.error();

  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) != 1)
    return broken("the random generator failed");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string out(plaintext.size() + kTagBytes, '\0');
  int len = 0, tail = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key.value()), bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(context), static_cast<int>(context.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o, &len, bytes(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + len, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), o + plaintext.size()) != 1)
    return broken("encryption failed");
  return Sealed{base64url(epk), base64url(nonce), base64url(out)};
}

Result<NodeKey> NodeKey::load_or_create(const std::string& path) {
  namespace fs = std::filesystem;
  NodeKey k;
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    auto raw = base64url_decode(text);
    if (!raw.ok() || raw.value().size() != kKeyBytes)
      return make_error(Errc::unavailable, "the node key " + path + " is not 32 bytes of base64url: move it away to get a new one");
    k.private_ = std::move(raw).value();
  } else {
    if (errno != ENOENT) return make_error(Errc::unavailable, "cannot read the node key " + path + ": " + std::strerror(errno));
    Pkey fresh(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"), &EVP_PKEY_free);
    std::string raw(kKeyBytes, '\0');
    std::size_t len = raw.size();
    if (!fresh || EVP_PKEY_get_raw_private_key(fresh.get(), reinterpret_cast<unsigned char*>(raw.data()), &len) != 1)
      return broken("no X25519 key");
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    ::chmod(fs::path(path).parent_path().c_str(), 0700);
    const std::string text = base64url(raw) + "\n";
    // O_EXCL: of two starts racing, one writes; the other reads what it wrote.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      if (errno == EEXIST) return load_or_create(path);
      return make_error(Errc::unavailable, "cannot write the node key " + path + ": " + std::strerror(errno));
    }
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    if (::close(fd) != 0 || !ok) return make_error(Errc::unavailable, "cannot write the node key " + path);
    k.private_ = std::move(raw);
  }
  Pkey key = raw_key(true, k.private_);
  if (!key) return make_error(Errc::unavailable, "the node key " + path + " is not an X25519 key");
  k.public_ = base64url(public_of(key.get()));
  return k;
}

Result<std::string> NodeKey::open(const Sealed& s, std::string_view context) const {
  auto epk = base64url_decode(s.epk);
  auto nonce = base64url_decode(s.nonce);
  auto sealed = base64url_decode(s.ciphertext);
  if (!epk.ok() || epk.value().size() != kKeyBytes) return refused("epk: not an X25519 public key (32 bytes of base64url)");
  if (!nonce.ok() || nonce.value().size() != kNonceBytes) return refused("nonce: not 12 bytes of base64url");
  if (!sealed.ok() || sealed.value().size() < kTagBytes) return refused("ciphertext: not base64url, or shorter than its tag");
  Pkey mine = raw_key(true, private_);
  Pkey theirs = raw_key(false, epk.value());
  if (!mine || !theirs) return refused("epk: not an X25519 public key");
  auto key = derive(mine.get(), theirs.get(), epk.value() + base64url_decode(public_).value());
  if (!key.ok()) return key.error();
  const std::string& c = sealed.value();
  const std::size_t n = c.size() - kTagBytes;
  std::string out(n, '\0');
  std::string tag = c.substr(n);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0, tail = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key.value()), bytes(nonce.value())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(context), static_cast<int>(context.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &len, bytes(c), static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + len, &tail) != 1)
    return refused("the grant does not open with this node's key: sealed to another node, for another server, or changed on the way");
  return out;
}

}  // namespace mcpd::auth
