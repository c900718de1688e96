// Words a schema violation for a person: "maxSessions: must be at most 256, got 1000".
//
// valijson decides whether a value is valid and where it fails, but its messages name neither
// the expected type, nor the allowed values, nor the bounds ("Value type not permitted by 'type'
// constraint."). So for each failing location this file looks up the schema node there and
// says which of its rules the value breaks. Internal to mcpd_schema; knows nothing of valijson.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::schema::detail {

// The first problem, worded, and how many there are in all. Only the first message is built,
// so a value with a hundred thousand bad fields costs a count, not a hundred thousand strings.
class Problems {
 public:
  void add(const std::function<std::string()>& make) {
    if (count_++ == 0) first_ = make();
  }
  std::size_t count() const { return count_; }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
  std::size_t count_ = 0;
};

// Adds to `out` every rule that the value at `location` inside `instance` breaks, checked
// against the schema node at the same place in `schema` (a bundled schema: every "$ref" is a
// local "#/..." pointer). `location` is a list of object keys and array indexes (as decimal
// strings), outermost first. When no rule explains the failure (a keyword this file does not
// word), adds `fallback` at that location instead.
void describe(const nlohmann::json& schema, const nlohmann::json& instance,
              const std::vector<std::string>& location, std::string_view fallback,
              Problems& out);

}  // namespace mcpd::schema::detail
