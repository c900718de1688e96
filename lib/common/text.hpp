// Small text helpers shared by the modules that check input: quoting it back in a message,
// ASCII case folding, and the authority part of a URL.
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

}  // namespace mcpd
