// Small text helpers shared by the modules that check input: quoting it back in a message,
// ASCII case folding, the authority part of a URL, and text as the inside of a JSON string.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace mcpd {

// Input echoed back in an error message: printable ASCII kept, other bytes escaped (\xNN),
// long values cut with "...", in single quotes — so the message is always valid UTF-8 and of
// reasonable size when it goes back as JSON.
inline std::string quote(std::string_view s, std::size_t max = 80) {
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out + "'";
}

// A peer's body quoted in a message: its first `n` bytes, control characters as spaces,
// trailing spaces dropped, "..." when cut.
inline std::string excerpt(std::string_view body, std::size_t n = 200) {
  std::string s(body.substr(0, n));
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (body.size() > n) s += "...";
  return s;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

inline std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// "user:pw@host:port" of "scheme://user:pw@host:port/path?q#f": what follows "://" up to the
// first '/', '?' or '#' (the whole text when there is no "://").
inline std::string_view url_authority(std::string_view url) {
  auto scheme_end = url.find("://");
  std::string_view rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  return rest.substr(0, rest.find_first_of("/?#"));
}

// The longest prefix of `s` of at most `max` bytes that does not end inside a UTF-8 sequence:
// valid UTF-8 cut short stays valid UTF-8.
inline std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;  // s[cut] continues a sequence
  return s.substr(0, cut);
}

// Appends `s` as the inside of a JSON string (no quotes) to `out` (anything with push_back and
// append(const char*, const char*)): quotes, backslashes and control characters escaped, valid
// UTF-8 kept, and each byte that is not part of valid UTF-8 written as the text \xNN — so the
// result is valid JSON and valid UTF-8 whatever bytes `s` holds (a child's stderr, say).
template <typename Out>
void append_json_escaped(Out& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto put = [&](std::string_view t) { out.append(t.data(), t.data() + t.size()); };
  // Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 if there is none.
  auto sequence = [&](std::size_t i) -> std::size_t {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b <= 0xdf ? 2 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if ((b == 0xe0 && b1 < 0xa0) || (b == 0xed && b1 > 0x9f) || (b == 0xf0 && b1 < 0x90) || (b == 0xf4 && b1 > 0x8f))
      return 0;  // overlong, a surrogate, or beyond U+10FFFF
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
    return n;
  };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (std::size_t n = sequence(i)) {
        put(s.substr(i, n));
        i += n;
      } else {
        const char esc[] = {'\\', '\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
        put(std::string_view(esc, sizeof esc));
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': put("\\\""); break;
      case '\\': put("\\\\"); break;
      case '\n': put("\\n"); break;
      case '\r': put("\\r"); break;
      case '\t': put("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
          put(std::string_view(esc, sizeof esc));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

}  // namespace mcpd
