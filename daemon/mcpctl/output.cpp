// Printing for mcpctl: see output.hpp.
#include "output.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <ostream>
#include <utility>

namespace mcpd::mcpctl {

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string truncate(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  const std::size_t keep = width > 3 ? width - 3 : 0;
  std::size_t points = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (points == keep) break;
      ++points;
    }
  }
  return std::string(text.substr(0, i)) + "...";
}

std::string human_duration(std::chrono::seconds d) {
  const long long s = std::max<long long>(d.count(), 0);
  char buf[48];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  else std::snprintf(buf, sizeof buf, "%lldd%lldh", s / 86400, s % 86400 / 3600);
  return buf;
}

std::string first_line(std::string_view text) {
  auto end = text.find_first_of("\r\n");
  std::string_view line = text.substr(0, end);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  return std::string(line);
}

std::string shell_quote(std::string_view word) {
  if (word.empty()) return "''";
  const bool plain = std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("@%+=:,./_-").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string shell_join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += shell_quote(w);
  }
  return out;
}

std::string parse_problem(const Json::parse_error& e) {
  std::string what = e.what();
  if (what.starts_with("[json.exception.")) what.erase(0, what.find("] ") + 2);
  return what;
}

std::size_t terminal_width(int fd) {
  if (!isatty(fd)) return 0;
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return 0;
  return ws.ws_col;
}

void Table::print(std::ostream& out, std::size_t max_width) const {
  const std::size_t columns = headers_.size();
  std::vector<std::size_t> widths(columns, 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < columns && c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
  };
  measure(headers_);
  for (const auto& r : rows_) measure(r);
  // Room left for the last column once the others are laid out (at least 20 characters).
  std::size_t last_room = 0;
  if (max_width > 0 && columns > 0) {
    std::size_t used = 0;
    for (std::size_t c = 0; c + 1 < columns; ++c) used += widths[c] + 2;
    last_room = max_width > used + 20 ? max_width - used : 20;
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (std::size_t c = 0; c < columns; ++c) {
      std::string cell = c < row.size() ? row[c] : std::string();
      if (c + 1 == columns) {
        s += last_room ? truncate(cell, last_room) : cell;
      } else {
        s += cell + std::string(widths[c] - display_width(cell) + 2, ' ');
      }
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  line(headers_);
  for (const auto& r : rows_) line(r);
}

void print_record(std::ostream& out, const Record& record) {
  std::size_t key_width = 0;
  for (const auto& [k, v] : record) key_width = std::max(key_width, display_width(k) + 1);
  for (const auto& [k, v] : record) {
    out << k << ':' << std::string(key_width - display_width(k) + 1, ' ');
    for (char c : v) {
      out << c;
      if (c == '\n') out << std::string(key_width + 2, ' ');
    }
    out << '\n';
  }
}

std::string pretty(const Json& j) { return j.dump(2, ' ', false, Json::error_handler_t::replace); }

std::string pretty(const OrderedJson& j) { return j.dump(2, ' ', false, OrderedJson::error_handler_t::replace); }

OrderedJson parse_ordered(const std::string& raw) {
  auto ordered = OrderedJson::parse(raw, nullptr, false);
  return ordered.is_discarded() ? OrderedJson() : ordered;
}

std::string pretty_verbatim(const std::string& raw) {
  auto ordered = OrderedJson::parse(raw, nullptr, false);
  if (ordered.is_discarded()) return raw;
  return pretty(ordered);
}

std::string summarize_content(const Json& block) {
  const std::string type = block.value("type", std::string("unknown"));
  auto str = [](const Json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto mime = [&](const Json& o) {
    std::string m = str(o, "mimeType");
    return m.empty() ? std::string("(no mimeType)") : m;
  };
  if (type == "image" || type == "audio")
    return "[" + type + " " + mime(block) + ", " + std::to_string(str(block, "data").size()) + " bytes base64]";
  if (type == "resource_link") {
    std::string s = "[resource link " + str(block, "uri");
    if (auto name = str(block, "name"); !name.empty()) s += " \"" + name + "\"";
    if (auto m = str(block, "mimeType"); !m.empty()) s += " " + m;
    return s + "]";
  }
  if (type == "resource") {
    auto it = block.find("resource");
    const Json r = it != block.end() && it->is_object() ? *it : Json::object();
    std::string s = "[resource " + str(r, "uri") + " " + mime(r);
    if (r.contains("text")) return s + ", " + std::to_string(str(r, "text").size()) + " bytes text]";
    return s + ", " + std::to_string(str(r, "blob").size()) + " bytes base64]";
  }
  return "[" + type + " content]";
}

namespace {
void print_text(std::ostream& out, const std::string& text) {
  out << text;
  if (text.empty() || text.back() != '\n') out << '\n';
}
}  // namespace

void print_tool_result(std::ostream& out, const Json& result, bool mcp_format) {
  if (!mcp_format || !result.is_object() || !result.contains("content") || !result["content"].is_array()) {
    if (result.is_string()) print_text(out, result.get<std::string>());
    else out << pretty(result) << '\n';
    return;
  }
  const Json& content = result["content"];
  if (content.empty()) {
    if (auto sc = result.find("structuredContent"); sc != result.end()) out << pretty(*sc) << '\n';
    return;
  }
  for (const auto& block : content) {
    if (block.is_object() && block.value("type", "") == "text" && block.contains("text") && block["text"].is_string())
      print_text(out, block["text"].get<std::string>());
    else if (block.is_object())
      out << summarize_content(block) << '\n';
    else
      out << pretty(block) << '\n';
  }
}

StatusLine::StatusLine() : tty_(isatty(STDERR_FILENO) != 0), width_(terminal_width(STDERR_FILENO)) {}

void StatusLine::show(const std::string& text) {
  if (text == shown_) return;
  shown_ = text;
  if (!tty_) {
    std::cerr << text << '\n';
    return;
  }
  // Cut to the width: a line that wraps cannot be rewritten with \r.
  std::cerr << "\r\033[K" << (width_ > 1 ? truncate(text, width_ - 1) : text) << std::flush;
  live_ = true;
}

void StatusLine::done() {
  if (live_) std::cerr << '\n' << std::flush;
  live_ = false;
}

void StatusLine::say(const std::string& lines) {
  done();
  std::cerr << lines << std::flush;
  if (!tty_) return;
  std::string again = std::exchange(shown_, std::string());
  show(again);
}

std::string number_text(const Json& n) {
  if (n.is_number_float()) {
    const double d = n.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  }
  return n.dump();
}

std::string progress_text(const Json& event, bool bar) {
  auto p = event.find("progress");
  if (p == event.end() || !p->is_number()) return {};
  std::string count = number_text(*p);
  auto t = event.find("total");
  const bool has_total = t != event.end() && t->is_number() && t->get<double>() > 0;
  if (has_total) count += "/" + number_text(*t);
  std::string message;
  if (auto m = event.find("message"); m != event.end() && m->is_string()) message = first_line(m->get<std::string>());
  if (!bar || !has_total) return "progress " + count + (message.empty() ? "" : ": " + message);
  constexpr int kWidth = 20;
  const double share = std::clamp(p->get<double>() / t->get<double>(), 0.0, 1.0);
  const int filled = static_cast<int>(share * kWidth + 0.5);
  return "[" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(kWidth - filled), '-') +
         "] " + count + (message.empty() ? "" : "  " + message);
}

}  // namespace mcpd::mcpctl
