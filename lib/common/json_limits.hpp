// Parsing JSON from outside the process (NATS request bodies, MCP servers' messages) with a
// bound on nesting depth. nlohmann's parser is iterative, but dump(), comparisons, schema
// validation and most code that walks a value recurse once per level: a body of 100,000 '['
// would pass parsing and overflow the stack later. These parsers never build a value nested
// deeper than the bound, so whatever they accept is safe to walk recursively.
//
//   auto doc = json::parse(body, opts.json_max_depth);
//   if (!doc.ok()) return doc.error();  // invalid_request: "JSON nesting deeper than 128 levels"
//
// Depth counts containers: a scalar is 0 deep, [] and {} are 1, [[1]] is 2.
#pragma once

#include "common/error.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace mcpd::json {

// The node-wide default ([limits] json_max_depth): far above any real payload (MCP envelopes
// and tool schemas are a few tens of levels), far below what the stack takes.
inline constexpr std::size_t kDefaultMaxDepth = 128;

// "JSON nesting deeper than N levels": the one wording of the failure.
std::string too_deep_message(std::size_t max_depth);

// The document, or Errc::invalid_request: the parser's own message for text that is not one
// JSON value (as nlohmann's exception says it), too_deep_message() for one nested deeper
// than `max_depth`. Parsing stops at the first level too deep.
Result<nlohmann::json> parse(std::string_view text, std::size_t max_depth);

// For a message whose envelope matters even when part of it is too deep (a JSON-RPC response
// must still fail the call it answers): the document with every container that would sit
// deeper than `max_depth` replaced by null; `pruned` says whether any was. Errors as parse()
// for text that is not JSON.
Result<nlohmann::json> parse_pruned(std::string_view text, std::size_t max_depth, bool& pruned);

// The nesting depth of a value, measured without recursion.
std::size_t depth_of(const nlohmann::json& value);

}  // namespace mcpd::json
