#include "node/subjects.hpp"

#include <vector>

namespace mcpd::node {
namespace {

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = s.find('.', start);
    parts.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string join(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  std::string s;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) s += '.';
    s += parts[i];
  }
  return s;
}

}  // namespace

Route parse_route(const Subjects& subjects, std::string_view subject) {
  Route r;
  const std::string head = subjects.prefix + ".";
  if (subject.substr(0, head.size()) != head) {
    r.problem = "subject '" + std::string(subject) + "' is not under '" + subjects.prefix + "'";
    return r;
  }
  auto parts = split(subject.substr(head.size()));
  const std::string usage = "use " + subjects.prefix + ".<server>.execute or " + subjects.prefix +
                            ".<server>.list-tools (server names: lowercase letters, digits, '-' and '_')";
  if (parts[0] == "nodes") {
    r.kind = RouteKind::node;
    return r;
  }
  if (parts.size() == 2 && parts[0] == "servers") {
    r.kind = RouteKind::event;
    return r;
  }
  if (parts.size() == 3 && parts[0] == "admin" && parts[1] == "servers") {
    if (parts[2] == "put") r.kind = RouteKind::admin_put;
    else if (parts[2] == "delete") r.kind = RouteKind::admin_delete;
    else if (parts[2] == "get") r.kind = RouteKind::admin_get;
    else if (parts[2] == "list") r.kind = RouteKind::admin_list;
    else r.problem = "unknown admin verb '" + std::string(parts[2]) + "' (use put, delete, get or list)";
    return r;
  }
  const auto verb = parts.back();
  if (parts.size() >= 2 && (verb == "execute" || verb == "list-tools")) {
    if (parts.size() > 2) {
      r.problem = "server name '" + join(parts, 0, parts.size() - 1) + "' is invalid: it may not contain '.'; " + usage;
      return r;
    }
    r.kind = verb == "execute" ? RouteKind::execute : RouteKind::list_tools;
    r.server = std::string(parts[0]);
    return r;
  }
  r.problem = "unknown subject '" + std::string(subject) + "': " + usage;
  return r;
}

}  // namespace mcpd::node
