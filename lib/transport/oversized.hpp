// What a transport does with a message over a server's maxMessageBytes: it never reads it
// whole, so it tells which request the message answered from the message's first and last
// bytes, and fails that request alone with an error response the JSON-RPC layer turns into
// `too_large`. The session goes on; only a message that answers no request it can name
// makes the transport give up on the server.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mcpd::transport {

// What a message seen only by its ends is. Its members are scanned in order from `head` as
// far as the head goes (a key counts as seen even when its value runs past the head); the
// id, if the head does not hold it, is taken from the end of `tail` (`"id": <id> }`, the
// order the TypeScript SDK writes).
struct OversizedMessage {
  enum class Kind {
    response,  // it has "result" or "error": the answer to request `id`, if an id was found
    other,     // it has "method": a notification or a request from the server
    unknown,   // nothing tells
  } kind = Kind::unknown;
  std::optional<std::string> id;  // as JSON text: a number, or a string without escapes
};
OversizedMessage inspect_oversized(std::string_view head, std::string_view tail);

// A JSON-RPC error response to `id_json` that jsonrpc::Peer reports as Errc::too_large:
// error.data carries {"transport": <transport>, "tooLarge": true}.
std::string too_large_response(const std::string& id_json, const std::string& message, const std::string& transport);

}  // namespace mcpd::transport
