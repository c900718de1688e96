#include "schema/describe.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <regex>

namespace mcpd::schema::detail {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxShown = 60;  // longest value quoted back to the caller, in bytes

// Follows "$ref" (local pointers only: schemas are bundled before they get here).
const Json* resolve(const Json& root, const Json* node) {
  for (int hops = 0; node && node->is_object() && hops < 32; ++hops) {
    auto ref = node->find("$ref");
    if (ref == node->end() || !ref->is_string()) return node;
    const auto& text = ref->get_ref<const std::string&>();
    if (text.empty() || text[0] != '#') return nullptr;
    try {
      node = &root.at(Json::json_pointer(text.substr(1)));
    } catch (const Json::exception&) {
      return nullptr;
    }
  }
  return node;
}

const Json* keyword(const Json* schema, const char* name) {
  auto it = schema->find(name);
  return it == schema->end() ? nullptr : &*it;
}

// The schema that applies to member `key` of an object described by `schema`.
const Json* member_schema(const Json& root, const Json* schema, const std::string& key) {
  if (const Json* props = keyword(schema, "properties"); props && props->is_object()) {
    if (auto it = props->find(key); it != props->end()) return resolve(root, &*it);
  }
  const Json* extra = keyword(schema, "additionalProperties");
  return extra && extra->is_object() ? resolve(root, extra) : nullptr;
}

// Cuts `text` to at most kMaxShown bytes on a UTF-8 boundary; whether it was cut.
bool cut_short(std::string& text) {
  if (text.size() <= kMaxShown) return false;
  std::size_t cut = kMaxShown;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return true;
}

// A value quoted back to the caller as JSON, cut short if long: "AAAA...".
std::string show(const Json& value) {
  auto dump = [](const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); };
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    if (!cut_short(text)) return dump(value);
    std::string quoted = dump(Json(text));
    return quoted.insert(quoted.size() - 1, "...");
  }
  std::string text = dump(value);
  return cut_short(text) ? text + "..." : text;
}

bool is_plain_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-';
  });
}

// "servers[0].auth.tokenEnv"; keys that are not identifier-like are quoted: env["A.B"].
std::string child_path(const std::string& path, const std::string& key) {
  if (is_plain_key(key)) return path.empty() ? key : path + "." + key;
  return path + "[" + show(Json(key)) + "]";
}

std::string at(const std::string& path, const std::string& message) {
  return path.empty() ? message : path + ": " + message;
}

const char* type_of(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "number";
  }
}

bool has_type(const Json& value, std::string_view type) {
  if (type == "integer") return value.is_number_integer();  // strict, as valijson: 1.0 is not
  if (type == "number") return value.is_number();
  return type == type_of(value);
}

std::string with_article(std::string_view type) {
  if (type == "null") return "null";
  bool vowel = !type.empty() && std::string_view("aeiou").find(type[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + std::string(type);
}

// "a string", "an object or null", "a string, a number or null".
std::string list_types(const std::vector<std::string>& types) {
  std::string out;
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (i > 0) out += (i + 1 == types.size()) ? " or " : ", ";
    out += with_article(types[i]);
  }
  return out;
}

// Returns whether the type rule failed (then the other rules are not worth stating).
bool check_type(const Json* schema, const Json& value, const std::string& path, Problems& out) {
  const Json* type = keyword(schema, "type");
  if (!type) return false;
  std::vector<std::string> allowed;
  if (type->is_string()) allowed.push_back(type->get<std::string>());
  if (type->is_array())
    for (const auto& t : *type)
      if (t.is_string()) allowed.push_back(t.get<std::string>());
  if (allowed.empty() ||
      std::any_of(allowed.begin(), allowed.end(), [&](const auto& t) { return has_type(value, t); }))
    return false;
  out.add([&] {
    // A fraction where an integer is expected is only clear with the value itself.
    bool fraction = value.is_number_float() &&
                    std::find(allowed.begin(), allowed.end(), "integer") != allowed.end();
    return at(path, "expected " + list_types(allowed) + ", got " +
                        (fraction ? show(value) : std::string(type_of(value))));
  });
  return true;
}

void check_values(const Json* schema, const Json& value, const std::string& path, Problems& out) {
  if (const Json* values = keyword(schema, "enum"); values && values->is_array()) {
    if (std::find(values->begin(), values->end(), value) == values->end()) {
      out.add([&] {
        std::string list;
        for (const auto& v : *values) list += (list.empty() ? "" : ", ") + show(v);
        return at(path, (values->size() == 1 ? "must be " : "must be one of ") + list + ", got " +
                            show(value));
      });
    }
  }
  if (const Json* expected = keyword(schema, "const"); expected && *expected != value)
    out.add([&] { return at(path, "must be " + show(*expected) + ", got " + show(value)); });
}

std::size_t utf8_length(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void check_string(const Json* schema, const std::string& value, const std::string& path,
                  Problems& out) {
  const std::size_t length = utf8_length(value);
  if (const Json* min = keyword(schema, "minLength"); min && min->is_number_unsigned() &&
                                                      length < min->get<std::size_t>()) {
    out.add([&] {
      if (length == 0) return at(path, "must not be empty");
      return at(path, "must be at least " + min->dump() + " characters long, got " +
                          std::to_string(length));
    });
  }
  if (const Json* max = keyword(schema, "maxLength"); max && max->is_number_unsigned() &&
                                                      length > max->get<std::size_t>()) {
    out.add([&] {
      return at(path, "must be at most " + max->dump() + " characters long, got " +
                          std::to_string(length));
    });
  }
  if (const Json* pattern = keyword(schema, "pattern"); pattern && pattern->is_string()) {
    const auto& source = pattern->get_ref<const std::string&>();
    bool matches = true;
    try {
      matches = std::regex_search(value, std::regex(source, std::regex::ECMAScript));
    } catch (const std::regex_error&) {
      // valijson accepted the pattern when the schema loaded; leave the wording to the fallback.
    }
    if (!matches)
      out.add([&] { return at(path, "must match the pattern " + source + ", got " + show(Json(value))); });
  }
}

void check_number(const Json* schema, const Json& value, const std::string& path, Problems& out) {
  const double v = value.get<double>();
  auto bound = [&](const char* name, bool (*breaks)(double, double), const char* words) {
    const Json* limit = keyword(schema, name);
    if (limit && limit->is_number() && breaks(v, limit->get<double>()))
      out.add([&] { return at(path, words + limit->dump() + ", got " + show(value)); });
  };
  bound("minimum", [](double x, double l) { return x < l; }, "must be at least ");
  bound("maximum", [](double x, double l) { return x > l; }, "must be at most ");
  bound("exclusiveMinimum", [](double x, double l) { return x <= l; }, "must be more than ");
  bound("exclusiveMaximum", [](double x, double l) { return x >= l; }, "must be less than ");
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                  std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean maxSessions?)" for a near miss, else the allowed names if there are few.
std::string unknown_field_hint(const Json& properties, const std::string& key) {
  if (!properties.is_object() || properties.empty()) return "";
  if (key.size() <= 64) {
    for (const auto& [name, _] : properties.items())
      if (edit_distance(key, name) <= 2) return " (did you mean " + name + "?)";
  }
  if (properties.size() > 8) return "";
  std::string names;
  for (const auto& [name, _] : properties.items()) names += (names.empty() ? "" : ", ") + name;
  return " (allowed: " + names + ")";
}

void check_object(const Json* schema, const Json& value, const std::string& path, Problems& out) {
  if (const Json* required = keyword(schema, "required"); required && required->is_array()) {
    for (const auto& name : *required) {
      if (name.is_string() && !value.contains(name.get_ref<const std::string&>()))
        out.add([&] { return at(child_path(path, name.get<std::string>()), "required field is missing"); });
    }
  }
  const Json* extra = keyword(schema, "additionalProperties");
  if (!extra || !extra->is_boolean() || extra->get<bool>()) return;
  const Json* props = keyword(schema, "properties");
  static const Json kNone = Json::object();
  const Json& known = props && props->is_object() ? *props : kNone;
  for (const auto& item : value.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 cannot capture those
    if (!known.contains(key))
      out.add([&] { return at(child_path(path, key), "unknown field" + unknown_field_hint(known, key)); });
  }
}

void check_array(const Json* schema, const Json& value, const std::string& path, Problems& out) {
  if (const Json* min = keyword(schema, "minItems"); min && min->is_number_unsigned() &&
                                                     value.size() < min->get<std::size_t>())
    out.add([&] { return at(path, "must have at least " + min->dump() + " items, got " + std::to_string(value.size())); });
  if (const Json* max = keyword(schema, "maxItems"); max && max->is_number_unsigned() &&
                                                     value.size() > max->get<std::size_t>())
    out.add([&] { return at(path, "must have at most " + max->dump() + " items, got " + std::to_string(value.size())); });
}

}  // namespace

void describe(const Json& schema, const Json& instance, const std::vector<std::string>& location,
              std::string_view fallback, Problems& out) {
  const Json* node = resolve(schema, &schema);
  const Json* value = &instance;
  std::string path;
  for (const auto& step : location) {
    if (value->is_array()) {
      char* end = nullptr;
      const unsigned long index = std::strtoul(step.c_str(), &end, 10);
      if (step.empty() || *end != '\0' || index >= value->size()) {
        node = nullptr;
        break;
      }
      value = &(*value)[index];
      path += "[" + step + "]";
      const Json* items = node ? keyword(node, "items") : nullptr;
      node = items && items->is_object() ? resolve(schema, items) : nullptr;
    } else if (value->is_object() && value->contains(step)) {
      value = &(*value)[step];
      path = child_path(path, step);
      node = node ? member_schema(schema, node, step) : nullptr;
    } else {
      node = nullptr;
      break;
    }
  }

  const std::size_t before = out.count();
  if (node && node->is_object() && !check_type(node, *value, path, out)) {
    check_values(node, *value, path, out);
    if (value->is_string()) check_string(node, value->get_ref<const std::string&>(), path, out);
    if (value->is_number()) check_number(node, *value, path, out);
    if (value->is_object()) check_object(node, *value, path, out);
    if (value->is_array()) check_array(node, *value, path, out);
  }
  if (out.count() == before) out.add([&] { return at(path, std::string(fallback)); });
}

}  // namespace mcpd::schema::detail
