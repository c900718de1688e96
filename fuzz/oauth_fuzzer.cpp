// Fuzz target: what the OAuth code reads from remote servers and from the bus. The first byte
// picks the parser, the rest is its input: a WWW-Authenticate challenge, protected-resource
// metadata, authorization-server metadata, a token endpoint's answer (all from the server or
// its authorization server), a grant file (and an opened hand-over), base64url, and a sealed grant as a node receives it
// on mcp.nodes.<node>.oauth.grant (epk, nonce and ciphertext cut from the input). Properties:
// nothing crashes; a refusal is an error with a message; base64url of what decodes encodes
// back to the same bytes' decoding; a sealed grant that was not sealed to the key never opens.
#include "auth/crypto.hpp"
#include "auth/discovery.hpp"
#include "auth/handover.hpp"
#include "auth/sealed_grant.hpp"
#include "auth/token_cache.hpp"
#include "fuzz_support.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unistd.h>

using namespace mcpd;
using fuzz::check;

namespace {

const auth::NodeKey& node_key() {
  static const auth::NodeKey key = [] {
    const std::string path = "/tmp/mcpd-oauth-fuzzer-" + std::to_string(::getpid()) + "/node.key";
    auto k = auth::NodeKey::load_or_create(path);
    if (!k.ok()) std::abort();
    return k.value();
  }();
  return key;
}

template <typename T>
void refused_with_message(const Result<T>& r) {
  if (!r.ok()) check(!r.error().message.empty(), "a refusal says why");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::quiet_logs();
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      (void)auth::parse_www_authenticate(in);
      break;
    case 1:
      refused_with_message(auth::parse_protected_resource(in));
      break;
    case 2:
      refused_with_message(auth::parse_auth_server(in));
      break;
    case 3:
      refused_with_message(auth::parse_token_response(in));
      break;
    case 4:
      refused_with_message(auth::parse_grant(in, "the fuzzed grant"));
      refused_with_message(auth::read_sealed_grant(in, 1'800'000'000'000));  // as a node reads an opened hand-over
      break;
    case 5: {
      auto raw = auth::base64url_decode(in);
      refused_with_message(raw);
      if (raw.ok()) check(auth::base64url_decode(auth::base64url(raw.value())).value() == raw.value(), "base64url round trip");
      break;
    }
    case 6: {
      // epk | nonce | ciphertext, cut at the first two '.'.
      const auto a = in.find('.');
      const auto b = a == std::string_view::npos ? a : in.find('.', a + 1);
      if (b == std::string_view::npos) break;
      auth::Sealed s{std::string(in.substr(0, a)), std::string(in.substr(a + 1, b - a - 1)), std::string(in.substr(b + 1))};
      auto opened = node_key().open(s, auth::grant_context("fuzz-node", "crm"));
      check(!opened.ok(), "only a grant sealed to this node's key opens");
      check(opened.error().code == Errc::invalid_request, "a grant that does not open is invalid_request");
      break;
    }
  }
  return 0;
}
