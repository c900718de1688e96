// Input echoed back in an error message: printable ASCII kept, other bytes escaped (\xNN),
// long values cut with "...", in single quotes — so the message is always valid UTF-8 and of
// reasonable size when it goes back as JSON.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace mcpd {

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

}  // namespace mcpd
