#include "transport/oversized.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

namespace mcpd::transport {

namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// An id token: an integer, or a string without escapes or control characters.
bool id_token(std::string_view t) {
  if (t.empty()) return false;
  if (t.front() == '"') {
    if (t.size() < 2 || t.back() != '"') return false;
    for (char c : t.substr(1, t.size() - 2))
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
    return true;
  }
  std::size_t i = t.front() == '-' ? 1 : 0;
  if (i == t.size()) return false;
  for (; i < t.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
  return true;
}

struct HeadScan {
  bool answer = false, method = false;
  std::optional<std::string> id;
};

// Scans the object members of `head` in order, as far as it goes: values are skipped
// (strings and nesting respected), keys are noted even when their value runs past the head.
HeadScan scan_head(std::string_view s) {
  HeadScan out;
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && space(s[i])) ++i;
  };
  auto string_end = [&](std::size_t from) -> std::size_t {  // index past the closing quote, or npos
    for (std::size_t j = from + 1; j < s.size(); ++j) {
      if (s[j] == '\\') ++j;
      else if (s[j] == '"') return j + 1;
    }
    return std::string_view::npos;
  };
  ws();
  if (i >= s.size() || s[i] != '{') return out;
  ++i;
  for (;;) {
    ws();
    if (i >= s.size() || s[i] != '"') return out;
    const std::size_t key_end = string_end(i);
    if (key_end == std::string_view::npos) return out;
    const std::string_view key = s.substr(i + 1, key_end - i - 2);
    if (key == "result" || key == "error") out.answer = true;
    if (key == "method") out.method = true;
    i = key_end;
    ws();
    if (i >= s.size() || s[i] != ':') return out;
    ++i;
    ws();
    const std::size_t value_start = i;
    int depth = 0;
    while (i < s.size()) {  // to the end of the value
      const char c = s[i];
      if (c == '"') {
        i = string_end(i);
        if (i == std::string_view::npos) return out;
        if (depth == 0) break;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;  // the end of the object itself
        if (--depth == 0) {
          ++i;
          break;
        }
      } else if (depth == 0 && (c == ',' || space(c))) {
        break;
      }
      ++i;
    }
    if (i >= s.size()) return out;  // the head ended inside this value
    if (key == "id") {
      std::string_view v = s.substr(value_start, i - value_start);
      if (id_token(v)) out.id = std::string(v);
    }
    ws();
    if (i >= s.size() || s[i] != ',') return out;
    ++i;
  }
}

// `..."id": <token> }` at the very end of `tail`.
std::optional<std::string> id_from_tail(std::string_view s) {
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  if (s.empty() || s.back() != '}') return std::nullopt;
  s.remove_suffix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  std::size_t start;
  if (!s.empty() && s.back() == '"') {
    if (s.size() < 2) return std::nullopt;
    const auto open = s.find_last_of('"', s.size() - 2);
    if (open == std::string_view::npos) return std::nullopt;
    start = open;
  } else {
    start = s.size();
    while (start > 0 && (std::isdigit(static_cast<unsigned char>(s[start - 1])) || s[start - 1] == '-')) --start;
  }
  const std::string_view token = s.substr(start);
  if (!id_token(token)) return std::nullopt;
  s = s.substr(0, start);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  if (s.empty() || s.back() != ':') return std::nullopt;
  s.remove_suffix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  if (s.size() < 4 || s.substr(s.size() - 4) != "\"id\"") return std::nullopt;
  s.remove_suffix(4);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  // A member of the outer object: a comma before it (or the opening brace itself).
  if (s.empty() || (s.back() != ',' && s.back() != '{')) return std::nullopt;
  return std::string(token);
}

}  // namespace

OversizedMessage inspect_oversized(std::string_view head, std::string_view tail) {
  const HeadScan h = scan_head(head);
  OversizedMessage m;
  if (h.method) {
    m.kind = OversizedMessage::Kind::other;
  } else if (h.answer) {
    m.kind = OversizedMessage::Kind::response;
    m.id = h.id ? h.id : id_from_tail(tail);
  }
  return m;
}

std::string too_large_response(const std::string& id_json, const std::string& message, const std::string& transport) {
  nlohmann::json id = nlohmann::json::parse(id_json, nullptr, false);
  if (id.is_discarded()) id = nullptr;
  nlohmann::json msg = {{"jsonrpc", "2.0"},
                        {"id", std::move(id)},
                        {"error",
                         {{"code", -32000},
                          {"message", message},
                          {"data", {{"transport", transport}, {"tooLarge", true}}}}}};
  return msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mcpd::transport
