#include "schema/bundle.hpp"

#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace mcpd::schema::detail {
namespace {

using Json = nlohmann::json;

// Keywords valijson's draft-7 parser applies with the meaning 2020-12 gives them, and
// annotations both ignore. Deliberately absent: format (an assertion to valijson, an annotation
// in 2020-12), array-form items, prefixItems, $anchor, $dynamicRef, unevaluated*, dependent*.
const std::set<std::string, std::less<>> kKnownKeywords = {
    "$schema", "$id", "$ref", "$defs", "$comment", "title", "description", "examples",
    "default", "deprecated", "type", "enum", "const", "properties", "required",
    "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "allOf", "anyOf", "oneOf",
};

void check_schema(const std::string& file, const Json& node, const std::string& where) {
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(file + " at \"" + where + "\": " + what +
                             " (see proto-schemas/README.md for the keywords the daemon's validator supports)");
  };
  if (node.is_boolean()) return;
  if (!node.is_object()) fail("a schema must be an object or a boolean");
  for (const auto& [key, value] : node.items()) {
    if (!kKnownKeywords.contains(key)) fail("keyword \"" + key + "\" is not supported");
    const std::string here = where + "/" + key;
    if (key == "properties" || key == "$defs") {
      if (!value.is_object()) fail("\"" + key + "\" must be an object");
      for (const auto& [name, child] : value.items()) check_schema(file, child, here + "/" + name);
    } else if (key == "additionalProperties" || key == "items") {
      if (key == "items" && !value.is_object()) fail("\"items\" must be one schema (array form is not supported)");
      check_schema(file, value, here);
    } else if (key == "allOf" || key == "anyOf" || key == "oneOf") {
      if (!value.is_array()) fail("\"" + key + "\" must be an array");
      for (std::size_t i = 0; i < value.size(); ++i) check_schema(file, value[i], here + "/" + std::to_string(i));
    } else if (key == "$ref" && !value.is_string()) {
      fail("\"$ref\" must be a string");
    }
  }
}

// The last path segment of a reference's URI part: "defs.schema.json" for both
// "defs.schema.json" and "https://example.com/schemas/defs.schema.json".
std::string file_of(std::string_view uri) {
  auto slash = uri.rfind('/');
  return std::string(slash == std::string_view::npos ? uri : uri.substr(slash + 1));
}

std::string pointer_token(std::string_view text) {  // RFC 6901 escaping
  std::string out;
  for (char c : text) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

}  // namespace

void check_keywords(const std::string& file, const Json& schema) { check_schema(file, schema, ""); }

Json bundle(const std::string& root_file, const SchemaFiles& files) {
  auto root = files.find(root_file);
  if (root == files.end()) throw std::runtime_error(root_file + " is not in proto-schemas/");
  Json out = root->second;
  std::set<std::string> included;
  std::vector<std::string> pending;

  // Rewrites every "$ref" under `node`, which belongs to the file `current`. (It also visits
  // enum/const values; they hold no "$ref" objects in these files.)
  auto rewrite = [&](auto&& self, Json& node, const std::string& current) -> void {
    if (node.is_object()) {
      if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
        const std::string text = ref->get<std::string>();
        const auto hash = text.find('#');
        const std::string uri = text.substr(0, hash);
        const std::string fragment = hash == std::string::npos ? "" : text.substr(hash + 1);
        if (!fragment.empty() && fragment[0] != '/')
          throw std::runtime_error(current + ": \"$ref\": \"" + text + "\": anchors are not supported");
        const std::string target = uri.empty() ? current : file_of(uri);
        if (target == root_file) {
          *ref = "#" + fragment;
        } else {
          *ref = "#/$defs/" + pointer_token(target) + fragment;
          if (included.insert(target).second) pending.push_back(target);
        }
      }
      for (auto& [key, child] : node.items()) self(self, child, current);
    } else if (node.is_array()) {
      for (auto& child : node) self(self, child, current);
    }
  };

  rewrite(rewrite, out, root_file);
  while (!pending.empty()) {
    const std::string target = pending.back();
    pending.pop_back();
    auto file = files.find(target);
    if (file == files.end())
      throw std::runtime_error(root_file + " refers to " + target + ", which is not in proto-schemas/");
    Json copy = file->second;
    copy.erase("$schema");
    copy.erase("$id");
    rewrite(rewrite, copy, target);
    out["$defs"][target] = std::move(copy);
  }
  return out;
}

}  // namespace mcpd::schema::detail
