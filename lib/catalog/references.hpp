// Secret references in a server record: `${NAME}` (a variable of the node's environment) and
// `${file:NAME}` (a file in the node's secrets directory). A record holds references only;
// the node resolves them when it starts or connects the server (security::SecretResolver), so a
// secret's value is never stored, published or returned. `$${` stands for a literal `${`; any
// other `$` is kept as is.
#pragma once

#include "common/error.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::catalog {

struct Reference {
  enum class Kind { env, file } kind = Kind::env;
  std::string name;  // the variable name, or the file's name within the secrets directory
  std::string text() const;  // as written: "${NAME}" or "${file:NAME}"
  bool operator==(const Reference&) const = default;
};

// Letters, digits and '_', not starting with a digit.
bool valid_env_name(std::string_view name);
// A file name in the secrets directory: letters, digits, '.', '_' and '-', not starting with
// '.', at most 255 characters (no '/', so it cannot leave the directory).
bool valid_secret_file_name(std::string_view name);

// The references in `value`, in order; an invalid_request error for a malformed one.
Result<std::vector<Reference>> parse_references(std::string_view value);
// `value` with every reference removed and `$${` unescaped: the text written literally.
std::string literal_text(std::string_view value);

// Expands every reference through `resolve`, whose error is returned as is.
using ReferenceLookup = std::function<Result<std::string>(const Reference&)>;
Result<std::string> expand_references(std::string_view value, const ReferenceLookup& resolve);

}  // namespace mcpd::catalog
