#include "catalog/references.hpp"

#include "common/text.hpp"

#include <cctype>
#include <cstdio>

namespace mcpd::catalog {
namespace {

Error invalid(std::string message) { return make_error(Errc::invalid_request, std::move(message)); }

// One pass over `value`: `on_text` for literal characters, `on_ref` for each reference.
template <typename Text, typename Ref>
Status scan(std::string_view value, Text on_text, Ref on_ref) {
  for (std::size_t i = 0; i < value.size();) {
    if (value.substr(i, 3) == "$${") {
      on_text("${");
      i += 3;
    } else if (value.substr(i, 2) == "${") {
      auto close = value.find('}', i + 2);
      if (close == std::string_view::npos)
        return invalid("unterminated '${' at offset " + std::to_string(i) + " (write '$${' for a literal '${')");
      std::string_view inner = value.substr(i + 2, close - i - 2);
      Reference ref;
      if (inner.starts_with("file:")) {
        ref.kind = Reference::Kind::file;
        ref.name = std::string(inner.substr(5));
        if (!valid_secret_file_name(ref.name))
          return invalid(quote("${" + std::string(inner) + "}") +
                         " is not a valid file reference: a name in the secrets directory is letters, digits, '.', '_' "
                         "and '-' (no '/', not starting with '.')");
      } else {
        ref.name = std::string(inner);
        if (!valid_env_name(ref.name))
          return invalid(quote("${" + ref.name + "}") +
                         " is not a valid reference: write ${NAME} for an environment variable (letters, digits and "
                         "'_', not starting with a digit) or ${file:NAME} for a file in the secrets directory (write "
                         "'$${' for a literal '${')");
      }
      if (auto st = on_ref(ref); !st.ok()) return st;
      i = close + 1;
    } else {
      on_text(value.substr(i++, 1));
    }
  }
  return {};
}

}  // namespace

std::string Reference::text() const { return kind == Kind::file ? "${file:" + name + "}" : "${" + name + "}"; }

bool valid_env_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

bool valid_secret_file_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || s[0] == '.') return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

Result<std::vector<Reference>> parse_references(std::string_view value) {
  std::vector<Reference> refs;
  auto st = scan(value, [](std::string_view) {}, [&](const Reference& r) -> Status {
    refs.push_back(r);
    return {};
  });
  if (!st.ok()) return st.error();
  return refs;
}

std::string literal_text(std::string_view value) {
  std::string out;
  // A malformed reference leaves its text in place: it is literal.
  auto st = scan(value, [&](std::string_view t) { out += t; }, [](const Reference&) -> Status { return {}; });
  if (!st.ok()) return std::string(value);
  return out;
}

Result<std::string> expand_references(std::string_view value, const ReferenceLookup& resolve) {
  std::string out;
  out.reserve(value.size());
  auto st = scan(value, [&](std::string_view t) { out += t; }, [&](const Reference& r) -> Status {
    auto v = resolve(r);
    if (!v.ok()) return v.error();
    out += v.value();
    return {};
  });
  if (!st.ok()) return st.error();
  return out;
}

}  // namespace mcpd::catalog
