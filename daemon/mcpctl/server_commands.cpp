// mcpctl server add | rm | ls | show: the admin API (<prefix>.admin.servers.*).
// `server add` validates the record with the daemon's own rules before anything is sent.
#include "commands.hpp"

#include "catalog/server_config.hpp"
#include "output.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>

namespace mcpd::mcpctl {
namespace {

// Flags that define the server in place of --file.
constexpr std::string_view kDefinitionFlags[] = {
    "command", "arg", "env", "cwd", "inherit-env", "url", "transport", "header", "token-env", "token-file",
    "oauth", "client-id", "client-secret-env", "client-secret-file", "scope",
    "min-sessions", "max-sessions", "isolation", "call-timeout-ms", "description", "disabled"};

std::string read_input(const std::string& path, std::string_view what) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw failure("cannot read " + std::string(what) + " " + path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Json string_map(const ParsedArgs& args, std::string_view option, bool header) {
  Json map = Json::object();
  for (const auto& item : args.all(option)) {
    auto [k, v] = split_pair(option, item, header);
    if (map.contains(k)) throw usage_error("--" + std::string(option) + " " + k + " is given more than once");
    map[k] = v;
  }
  return map;
}

Json document_from_file(const ParsedArgs& args) {
  for (std::string_view flag : kDefinitionFlags)
    if (args.has(flag))
      throw usage_error("--file cannot be combined with --" + std::string(flag) + " (put every setting in the file)");
  if (!args.rest.empty()) throw usage_error("--file cannot be combined with arguments after '--'");
  const std::string path = *args.get("file");
  const std::string text = read_input(path, "server file");
  const std::string shown = path == "-" ? "standard input" : path;
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw failure(shown + " is not valid JSON: " + parse_problem(e));
  }
  // What `mcpctl --json server show NAME` prints ({"server": {...}, "nodes": {...}}) is
  // accepted as it is: the record is its "server".
  if (doc.is_object() && doc.contains("server") && doc["server"].is_object() &&
      doc.size() == (doc.contains("nodes") ? 2u : 1u))
    doc = doc["server"];
  if (!doc.is_object()) throw failure(shown + ": an MCPServer document is a JSON object, got " + doc.type_name());
  if (!args.operands.empty()) {
    const std::string& name = args.operands[0];
    auto it = doc.find("name");
    if (it == doc.end() || it->is_null()) doc["name"] = name;
    else if (*it != name) throw usage_error("NAME '" + name + "' differs from the name in " + shown + " (" + it->dump() + ")");
  }
  return doc;
}

Json document_from_flags(const ParsedArgs& args) {
  if (args.operands.empty()) throw usage_error("server add needs a NAME (or --file with a server document)");
  const int kinds = args.has("command") + args.has("url") + args.has("builtin");
  if (kinds > 1)
    throw usage_error("give one of --command (a local server started over stdio), --url (a remote server) or "
                      "--builtin (one of mcpd's own), not several");
  if (kinds == 0)
    throw usage_error("server add needs --command CMD (a local server started over stdio), --url URL (a remote "
                      "server) or --builtin NAME (one of mcpd's own: mcpd), or --file with a server document");
  Json doc = Json::object();
  doc["name"] = args.operands[0];
  if (auto v = args.get("description")) doc["description"] = *v;
  if (auto v = args.get("transport")) doc["transport"] = *v;
  else if (args.has("url")) doc["transport"] = "http";
  else if (args.has("builtin")) doc["transport"] = "builtin";
  if (auto v = args.get("builtin")) doc["builtin"] = *v;
  if (auto v = args.get("command")) doc["command"] = *v;
  std::vector<std::string> cmd_args = args.all("arg");
  cmd_args.insert(cmd_args.end(), args.rest.begin(), args.rest.end());
  if (!args.rest.empty() && !args.has("command"))
    throw usage_error("words after '--' are the arguments of --command, which is not given");
  if (!cmd_args.empty()) doc["args"] = cmd_args;
  if (args.has("env")) doc["env"] = string_map(args, "env", false);
  if (args.has("inherit-env")) doc["inheritEnv"] = true;
  if (auto v = args.get("cwd")) doc["cwd"] = *v;
  if (auto v = args.get("url")) doc["url"] = *v;
  if (args.has("header")) doc["headers"] = string_map(args, "header", true);
  if (args.has("token-env") || args.has("token-file")) {
    Json auth = {{"type", "bearer"}};
    if (auto v = args.get("token-env")) auth["tokenEnv"] = *v;
    if (auto v = args.get("token-file")) auth["tokenFile"] = *v;
    doc["auth"] = auth;
  }
  if (args.has("oauth") || args.has("client-id") || args.has("client-secret-env") || args.has("client-secret-file") ||
      args.has("scope")) {
    if (args.has("token-env") || args.has("token-file"))
      throw usage_error("--oauth (and its --client-* and --scope) and --token-env/--token-file are two kinds of auth: pick one");
    Json auth = {{"type", "oauth"}};
    if (auto v = args.get("client-id")) auth["clientId"] = *v;
    if (auto v = args.get("client-secret-env")) auth["clientSecretEnv"] = *v;
    if (auto v = args.get("client-secret-file")) auth["clientSecretFile"] = *v;
    if (args.has("scope")) auth["scopes"] = args.all("scope");
    doc["auth"] = auth;
  }
  // Only the form is checked here; the ranges are the daemon's rules (parse_server_config).
  const std::pair<std::string_view, std::string_view> ints[] = {
      {"min-sessions", "minSessions"}, {"max-sessions", "maxSessions"}, {"call-timeout-ms", "callTimeoutMs"}};
  for (auto [flag, key] : ints)
    if (auto v = args.get(flag)) doc[std::string(key)] = parse_int_option(flag, *v, INT_MIN, INT_MAX);
  if (auto v = args.get("isolation")) doc["isolation"] = *v;
  if (args.has("disabled")) doc["enabled"] = false;
  return doc;
}

std::string str(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// A field of the record as one line (or several, for maps).
std::string show_value(const std::string& key, const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array() && std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_string(); }))
    return v.empty() ? "(none)" : shell_join(v.get<std::vector<std::string>>());
  if (key == "auth" && v.is_object()) {
    if (v.contains("tokenEnv")) return str(v, "type") + ", token from environment variable " + str(v, "tokenEnv");
    if (v.contains("tokenFile")) return str(v, "type") + ", token from file " + str(v, "tokenFile");
    if (str(v, "type") == "oauth") {
      std::string s = "oauth, " + (v.contains("clientId") ? "client " + str(v, "clientId") : std::string("registered client"));
      if (v.contains("clientSecretEnv")) s += ", secret from environment variable " + str(v, "clientSecretEnv");
      if (v.contains("clientSecretFile")) s += ", secret from file " + str(v, "clientSecretFile");
      if (v.contains("scopes") && v["scopes"].is_array() && !v["scopes"].empty()) {
        s += ", scopes";
        for (const auto& x : v["scopes"]) s += " " + (x.is_string() ? x.get<std::string>() : x.dump());
      }
      return s;
    }
  }
  if (v.is_object() && std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_string(); })) {
    if (v.empty()) return "(none)";
    std::string lines;
    for (auto it = v.begin(); it != v.end(); ++it)
      lines += (lines.empty() ? "" : "\n") + it.key() + (key == "headers" ? ": " : "=") + it.value().get<std::string>();
    return lines;
  }
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string where(const Json& s) {
  if (str(s, "transport") == "stdio" || s.contains("command")) {
    std::vector<std::string> words{str(s, "command")};
    if (auto a = s.find("args"); a != s.end() && a->is_array())
      for (const auto& x : *a) words.push_back(x.is_string() ? x.get<std::string>() : x.dump());
    return truncate(shell_join(words), 60);
  }
  if (str(s, "transport") == "builtin") return "(built-in) " + str(s, "builtin");
  return truncate(str(s, "url"), 60);
}

}  // namespace

Json server_document(const ParsedArgs& args) {
  return args.has("file") ? document_from_file(args) : document_from_flags(args);
}

int run_server_add(Invocation& inv) {
  Json doc = server_document(inv.args());
  // The daemon's own rules, so that a mistake is reported before anything is sent.
  auto checked = catalog::parse_server_config(doc);
  if (!checked.ok()) throw failure(std::string(to_string(checked.error().code)) + ": " + checked.error().message);
  Reply reply = inv.ask(inv.subjects().admin("put"), doc);
  if (inv.global().json) return 0;
  const Json& server = reply.body.contains("server") ? reply.body["server"] : reply.body;
  std::cout << "registered " << str(server, "name") << " (revision " << str(server, "revision") << ")\n";
  return 0;
}

int run_server_rm(Invocation& inv) {
  const std::string& name = inv.args().operands[0];
  Reply reply = inv.ask(inv.subjects().admin("delete"), Json{{"name", name}});
  if (!inv.global().json) std::cout << "deleted " << (reply.body.contains("deleted") ? str(reply.body, "deleted") : name) << '\n';
  return 0;
}

int run_server_ls(Invocation& inv) {
  // Page after page (next_cursor) until the catalog is read; --json prints them as one reply.
  std::vector<Json> servers;
  Json request = Json::object();
  for (;;) {
    Reply page = inv.ask(inv.subjects().admin("list"), request, kDefaultTimeout, /*echo_json=*/false);
    if (auto it = page.body.find("servers"); it != page.body.end() && it->is_array())
      servers.insert(servers.end(), it->begin(), it->end());
    auto next = page.body.find("next_cursor");
    if (next == page.body.end() || !next->is_string() || next->get<std::string>().empty()) break;
    if (request.value("cursor", std::string()) == next->get<std::string>()) break;  // no progress: stop
    request["cursor"] = *next;
  }
  if (inv.global().json) {
    std::cout << pretty(Json{{"servers", servers}}) << '\n';
    return 0;
  }
  if (servers.empty()) {
    std::cout << "no servers are registered (add one with: mcpctl server add NAME --command CMD)\n";
    return 0;
  }
  std::sort(servers.begin(), servers.end(), [](const Json& a, const Json& b) { return str(a, "name") < str(b, "name"); });
  Table table({"NAME", "TRANSPORT", "COMMAND/URL", "SESSIONS", "ISOLATION", "ENABLED", "REVISION"});
  for (const auto& s : servers) {
    const bool enabled = !s.contains("enabled") || s["enabled"] == true;
    table.add({str(s, "name"), str(s, "transport"), where(s), str(s, "minSessions") + "-" + str(s, "maxSessions"),
               str(s, "isolation"), enabled ? "yes" : "no", str(s, "revision")});
  }
  // The COMMAND/URL column is cut at 60 already; the table itself is not cut to the terminal.
  table.print(std::cout);
  return 0;
}

int run_server_show(Invocation& inv) {
  const std::string& name = inv.args().operands[0];
  const auto window = gather_window(inv);
  Reply reply = inv.ask(inv.subjects().admin("get"), Json{{"name", name}}, kDefaultTimeout, /*echo_json=*/false);
  // Then how it fares on each node (the record is the cluster's; sessions are each node's own).
  const std::vector<Reply> nodes = node_stats(inv, window);
  auto note_no_nodes = [&] {
    if (nodes.empty())
      std::cerr << "note: no mcpd node answered " << kStatsSubject << " in time: per-node health unknown\n";
  };
  if (inv.global().json) {
    OrderedJson doc = parse_ordered(reply.raw);
    OrderedJson out = OrderedJson::object();
    out["server"] = doc.is_object() && doc.contains("server") ? doc["server"] : doc;
    out["nodes"] = server_health_json(name, nodes);
    std::cout << pretty(out) << '\n';
    note_no_nodes();
    return 0;
  }
  const Json& server = reply.body.contains("server") ? reply.body["server"] : reply.body;
  // The fields in the order the docs list them; any this version does not know come last.
  static constexpr std::string_view kOrder[] = {
      "name", "description", "transport", "command", "args", "env", "inheritEnv", "cwd", "url", "headers",
      "auth", "caFile", "tlsVerify", "connectTimeoutSeconds", "callTimeoutMs", "pingIntervalSeconds",
      "minSessions", "maxSessions", "maxInflightPerSession", "maxQueue", "isolation", "maxIsolatedSessions",
      "idleTtlSeconds", "maxMessageBytes", "enabled", "revision", "createdAt", "updatedAt"};
  Record record;
  std::set<std::string, std::less<>> shown;
  for (std::string_view key : kOrder) {
    if (auto it = server.find(key); it != server.end() && !it->is_null()) {
      record.emplace_back(std::string(key), show_value(std::string(key), *it));
      shown.insert(std::string(key));
    }
  }
  for (auto it = server.begin(); it != server.end(); ++it)
    if (!shown.contains(it.key())) record.emplace_back(it.key(), show_value(it.key(), it.value()));
  print_record(std::cout, record);
  if (!nodes.empty()) {
    std::cout << "\nper-node health:\n";
    print_server_health(std::cout, name, nodes);
  }
  std::cout.flush();
  note_no_nodes();
  return 0;
}

}  // namespace mcpd::mcpctl
