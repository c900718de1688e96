// The wire rules of the stateless MCP era (revision 2026-07-28 on), apart from the session:
// the _meta envelope every request carries, reading a server/discover answer, and reading a
// result (resultType "complete" is unwrapped; "input_required" becomes an error a caller can
// act on, since mcpd has nobody to ask for the input).
#pragma once

#include "common/error.hpp"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace mcpd::mcp {

using Json = nlohmann::json;
struct ServerDescription;

// Adds the request envelope to params._meta (params becomes an object if it was null):
// the protocol version, our client info and our capabilities (none: a headless daemon has no
// one to ask for input, no sampling and no roots).
void stamp_envelope(Json& params, std::string_view protocol_version);

// The server/discover params for a probe in `protocol_version`.
Json discover_params(std::string_view protocol_version);

// A DiscoverResult read into a description, in the newest revision both sides speak; nullopt
// when the answer is not a DiscoverResult at all (something that is not a stateless server
// answered), an Error when it is one but shares no revision with us.
std::optional<Result<ServerDescription>> read_discover_result(const Json& result);

// A stateless server's answer to `method`: a complete result without its resultType, or an
// Error for an input_required result and for an error that says the server wanted input we do
// not offer (MissingRequiredClientCapability).
Result<Json> settle_stateless_answer(std::string_view method, Result<Json> answer);

}  // namespace mcpd::mcp
