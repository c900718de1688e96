// mcpctl probe: connects straight to a remote MCP server (no daemon, no NATS) with mcpd's own
// client — a ClientSession over the Streamable HTTP or legacy HTTP+SSE transport on an event
// loop of its own — and shows what the daemon would get: server info, protocol version,
// capabilities and tools, and optionally the result of one tool call. The command a person
// runs to check a server before registering it with `server add`.
#include "commands.hpp"

#include "catalog/references.hpp"
#include "catalog/server_config.hpp"
#include "io/loop.hpp"
#include "mcp/client_session.hpp"
#include "mcp/protocol.hpp"
#include "output.hpp"
#include "transport/http/http_support.hpp"
#include "transport/http/legacy_sse_transport.hpp"
#include "transport/http/streamable_http_transport.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <sstream>

namespace mcpd::mcpctl {
namespace {

constexpr std::chrono::milliseconds kDefaultProbeTimeout{10'000};
// How long closing (the DELETE that ends a Streamable HTTP session) may take.
constexpr std::chrono::milliseconds kCloseWait{3'000};

struct ProbeSettings {
  transport::HttpOptions http;
  bool legacy = false;
  std::chrono::milliseconds timeout = kDefaultProbeTimeout;
  std::optional<std::string> tool;
  Json arguments = Json::object();
};

// "K=V" or "K: V" (as curl writes them) → {K, V}; V may hold ${VAR}, expanded from this
// environment (the probe runs as you, so any variable of yours; ${file:NAME} is mcpd's and not
// read here: use --token-file).
Result<std::string> from_environment(const catalog::Reference& ref) {
  if (ref.kind == catalog::Reference::Kind::file)
    return make_error(Errc::invalid_request, ref.text() + " names a file in mcpd's secrets directory, which the probe "
                                             "does not read (use --token-file, or ${VAR})");
  const char* v = std::getenv(ref.name.c_str());
  if (!v) return make_error(Errc::invalid_request, "environment variable '" + ref.name + "' is not set (referenced as " + ref.text() + ")");
  return std::string(v);
}

std::pair<std::string, std::string> header_pair(const std::string& item) {
  auto [key, value] = split_pair("header", item, true);
  auto expanded = catalog::expand_references(value, from_environment);
  if (!expanded.ok()) throw failure("--header " + key + ": " + expanded.error().message);
  return {key, std::move(expanded).value()};
}

std::string read_token_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw failure("--token-file: cannot read " + path + ": " + std::strerror(errno));
  std::string token((std::istreambuf_iterator<char>(f)), {});
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) throw failure("--token-file: " + path + " is empty");
  return token;
}


ProbeSettings settings(const Invocation& inv) {
  const ParsedArgs& a = inv.args();
  ProbeSettings s;
  auto url = a.get("url");
  if (!url || url->empty()) throw usage_error("probe needs --url URL (the server's MCP endpoint, or its SSE URL with --transport sse)");
  std::string lower = url->substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!lower.starts_with("http://") && !lower.starts_with("https://"))
    throw usage_error("--url must start with http:// or https://, got '" + *url + "'");
  s.http.url = *url;
  s.http.name = "probe";
  const std::string t = a.get("transport").value_or("http");
  if (t != "http" && t != "sse") throw usage_error("--transport: expected http (Streamable HTTP) or sse (legacy HTTP+SSE), got '" + t + "'");
  s.legacy = t == "sse";
  for (const auto& item : a.all("header")) {
    auto [k, v] = header_pair(item);
    if (s.http.headers.contains(k)) throw usage_error("--header " + k + " is given more than once");
    s.http.headers[k] = v;
  }
  if (a.has("token-env") && a.has("token-file")) throw usage_error("give --token-env or --token-file, not both");
  if (auto var = a.get("token-env")) {
    const char* v = std::getenv(var->c_str());
    if (!v || !*v) throw failure("--token-env: the environment variable " + *var + " is not set (or empty)");
    s.http.bearer_token = v;
  }
  if (auto path = a.get("token-file")) s.http.bearer_token = read_token_file(*path);
  // A header the transport would drop (it logs that, but only with -v) is refused here, by the
  // transport's own rules, rather than silently not sent.
  const std::vector<std::string> sent = transport::http::base_headers(s.http);
  for (const auto& [k, v] : s.http.headers) {
    std::string lower = k;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "authorization" && s.http.bearer_token)  // the token's own line would match below
      throw usage_error("--header " + k + " cannot be combined with --token-env or --token-file (which set it)");
    const bool kept = std::any_of(sent.begin(), sent.end(), [&](const std::string& line) { return line.starts_with(k + ": "); });
    if (kept) continue;
    if (k.find_first_of(":\r\n ") == std::string::npos && v.find_first_of("\r\n") == std::string::npos)
      throw usage_error("--header " + k + ": the transport sets this header itself");
    throw usage_error("--header " + k + ": not a valid header (no spaces or ':' in the name, no line breaks)");
  }
  if (auto ca = a.get("ca-file")) {
    if (!std::ifstream(*ca)) throw failure("--ca-file: cannot read " + *ca + ": " + std::strerror(errno));
    s.http.ca_file = *ca;
  }
  s.http.tls_verify = !a.has("insecure");
  if (auto ms = a.get("timeout")) s.timeout = std::chrono::milliseconds(parse_int_option("timeout", *ms, 1, 3'600'000));
  else if (inv.global().timeout) s.timeout = *inv.global().timeout;
  s.http.connect_timeout = std::min(s.timeout, std::chrono::milliseconds(10'000));
  if (auto tool = a.get("call")) {
    if (tool->empty()) throw usage_error("--call needs a tool name");
    s.tool = *tool;
  }
  if (auto args = a.get("args")) {
    if (!s.tool) throw usage_error("--args goes with --call TOOL");
    s.arguments = parse_args_json(*args);
  }
  return s;
}

// Waits for a callback's value; `what` names the step if it never comes (a bug backstop: every
// step has its own deadline inside the session).
template <typename T>
T await(std::future<T>& f, std::chrono::milliseconds limit, const std::string& what) {
  if (f.wait_for(limit) != std::future_status::ready)
    throw failure("timeout: no answer to " + what + " within " + std::to_string(limit.count()) + " ms");
  return f.get();
}

// "tools (listChanged), resources (subscribe, listChanged), logging"
std::string describe_capabilities(const Json& caps) {
  if (!caps.is_object() || caps.empty()) return "(none)";
  std::string out;
  for (auto it = caps.begin(); it != caps.end(); ++it) {
    std::string item = it.key();
    if (it->is_object() && !it->empty()) {
      std::string flags;
      for (auto f = it->begin(); f != it->end(); ++f) {
        if (f->is_boolean() && !f->get<bool>()) continue;
        flags += (flags.empty() ? "" : ", ") + f.key();
      }
      if (!flags.empty()) item += " (" + flags + ")";
    }
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

// The tool's arguments as a person reads them: "a b [note]" (required ones first, optional
// ones in brackets).
std::string describe_arguments(const Json& tool) {
  auto schema = tool.find("inputSchema");
  if (schema == tool.end() || !schema->is_object()) return "";
  auto props = schema->find("properties");
  if (props == schema->end() || !props->is_object() || props->empty()) return "-";
  std::vector<std::string> required;
  if (auto r = schema->find("required"); r != schema->end() && r->is_array())
    for (const auto& x : *r)
      if (x.is_string()) required.push_back(x.get<std::string>());
  std::string out;
  for (const bool want_required : {true, false}) {
    for (auto it = props->begin(); it != props->end(); ++it) {
      const bool req = std::find(required.begin(), required.end(), it.key()) != required.end();
      if (req == want_required) out += (out.empty() ? "" : " ") + (req ? it.key() : "[" + it.key() + "]");
    }
  }
  return out;
}

std::string server_name(const mcp::ServerDescription& d) {
  std::string s = d.server_info.value("name", std::string("(unnamed)"));
  if (auto v = d.server_info.find("version"); v != d.server_info.end() && v->is_string()) s += " " + v->get<std::string>();
  if (auto t = d.server_info.find("title"); t != d.server_info.end() && t->is_string() && !t->get_ref<const std::string&>().empty())
    s += " (\"" + t->get<std::string>() + "\")";
  return s;
}

// One session, opened and closed on a loop of its own.
class Probe {
 public:
  explicit Probe(const ProbeSettings& s) : loop_(1) {
    transport_ = s.legacy ? transport::make_legacy_sse_transport(loop_.make_strand(), s.http)
                          : transport::make_streamable_http_transport(loop_.make_strand(), s.http);
    mcp::SessionOptions so;
    so.name = "probe";
    so.open_timeout = s.timeout;
    so.request_timeout = s.timeout;
    session_ = mcp::ClientSession::create(transport_, so);
  }
  ~Probe() {
    auto closed = std::make_shared<std::promise<void>>();
    auto f = closed->get_future();
    session_->close([closed] { closed->set_value(); });
    f.wait_for(kCloseWait);  // best effort: a server that ignores the DELETE does not hold us
    loop_.stop();
  }

  Result<mcp::ServerDescription> open(std::chrono::milliseconds timeout) {
    auto p = std::make_shared<std::promise<Result<mcp::ServerDescription>>>();
    auto f = p->get_future();
    session_->start([p](Result<mcp::ServerDescription> r) { p->set_value(std::move(r)); });
    return await(f, timeout + kCloseWait, "initialize");
  }
  Result<mcp::Tools> tools(std::chrono::milliseconds timeout) {
    auto p = std::make_shared<std::promise<Result<mcp::Tools>>>();
    auto f = p->get_future();
    session_->list_tools([p](Result<mcp::Tools> r) { p->set_value(std::move(r)); });
    // Every page has the deadline; a long listing gets a little more in all.
    return await(f, timeout * 4 + kCloseWait, "tools/list");
  }
  Result<Json> call(const std::string& tool, Json args, std::chrono::milliseconds timeout) {
    auto p = std::make_shared<std::promise<Result<Json>>>();
    auto f = p->get_future();
    mcp::CallOptions o;
    o.timeout = timeout;
    session_->call_tool(tool, std::move(args), std::move(o), [p](Result<Json> r) { p->set_value(std::move(r)); });
    return await(f, timeout + kCloseWait, "tools/call " + tool);
  }

 private:
  io::Loop loop_;
  std::shared_ptr<transport::Transport> transport_;
  std::shared_ptr<mcp::ClientSession> session_;
};

// The session names the server "probe" in its messages; here that is noise.
std::string without_name(std::string m) {
  for (std::string_view noise : {"server 'probe': ", "server 'probe' ", "probe: "}) {
    for (auto at = m.find(noise); at != std::string::npos; at = m.find(noise)) m.erase(at, noise.size());
  }
  return m;
}

// "<code>: <step>: <why> (<hint>)": the message of a failed step, with a hint for the common
// causes.
std::string explain(const Error& e, const std::string& step, const ProbeSettings& s) {
  const std::string m = without_name(e.message);
  std::string lower = m;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto has = [&](std::string_view needle) { return lower.find(needle) != std::string::npos; };
  std::string hint;
  if (has("wrong version number"))
    hint = " (nothing speaks TLS there: is it an http:// URL?)";
  else if (has("ssl") || has("certificate") || has("tls"))
    hint = " (TLS: give the server's CA with --ca-file PATH, or --insecure to skip verification while testing)";
  else if (has("http 401") || has("http 403"))
    hint = " (the server wants credentials: --token-env VAR, --token-file PATH or --header)";
  else if (has("http 404") || has("http 405"))
    hint = s.legacy ? " (is this the server's SSE URL? try --transport http for a Streamable HTTP endpoint)"
                    : " (is this the server's MCP endpoint, often /mcp? a legacy server needs --transport sse and its /sse URL)";
  else if (has("couldn't connect") || has("connection refused") || has("could not resolve"))
    hint = " (is the server running and listening at that address?)";
  else if (e.code == Errc::timeout)
    hint = " (a slow server needs a longer --timeout MS)";
  return std::string(to_string(e.code)) + ": " + step + ": " + m + hint;
}

}  // namespace

int run_probe(Invocation& inv) {
  const ProbeSettings s = settings(inv);
  const bool json = inv.global().json;
  OrderedJson doc = OrderedJson::object();
  doc["url"] = s.http.url;
  doc["transport"] = s.legacy ? "sse" : "http";

  // On failure: --json still prints one document (with "ok": false); the message goes to stderr.
  auto fail = [&](const std::string& message) -> CliError {
    if (json) {
      doc["ok"] = false;
      doc["error"] = message;
      std::cout << pretty(doc) << '\n';
    }
    return failure(message);
  };

  Probe probe(s);
  auto opened = probe.open(s.timeout);
  if (!opened.ok()) throw fail(explain(opened.error(), "cannot open an MCP session", s));
  const mcp::ServerDescription& d = opened.value();

  OrderedJson server = OrderedJson::object();
  server["protocolVersion"] = d.protocol_version;
  server["serverInfo"] = OrderedJson::parse(d.server_info.dump());
  server["capabilities"] = OrderedJson::parse(d.capabilities.dump());
  if (!d.instructions.empty()) server["instructions"] = d.instructions;
  doc["server"] = server;

  // Tools: listed when the server declares them (others may answer tools/list with an error).
  mcp::Tools tools;
  const bool has_tools = d.capabilities.is_object() && d.capabilities.contains("tools");
  if (has_tools || s.tool) {
    auto listed = probe.tools(s.timeout);
    if (!listed.ok()) throw fail(explain(listed.error(), "tools/list failed", s));
    tools = listed.value();
    OrderedJson list = OrderedJson::array();
    for (const auto& t : *tools) list.push_back(OrderedJson::parse(t.dump(-1, ' ', false, Json::error_handler_t::replace)));
    doc["tools"] = list;
  }

  if (!json) {
    Record r;
    r.emplace_back("server", server_name(d));
    r.emplace_back("protocol", d.protocol_version);
    r.emplace_back("transport", std::string(s.legacy ? "sse (legacy HTTP+SSE, 2024-11-05)" : "http (Streamable HTTP)") +
                                    " " + s.http.url);
    r.emplace_back("capabilities", describe_capabilities(d.capabilities));
    if (!d.instructions.empty()) r.emplace_back("instructions", truncate(first_line(d.instructions), 100));
    print_record(std::cout, r);
    std::cout << '\n';
    if (!tools) {
      std::cout << "the server declares no tools capability\n";
    } else if (tools->empty()) {
      std::cout << "the server lists no tools\n";
    } else {
      std::cout << tools->size() << (tools->size() == 1 ? " tool:\n" : " tools:\n");
      Table table({"NAME", "ARGUMENTS", "DESCRIPTION"});
      for (const auto& t : *tools) {
        if (!t.is_object()) continue;
        std::string description = t.value("description", std::string());
        if (description.empty()) description = t.value("title", std::string());
        table.add({t.value("name", std::string("?")), describe_arguments(t), first_line(description)});
      }
      table.print(std::cout, terminal_width());
    }
  }

  if (!s.tool) {
    if (json) {
      doc["ok"] = true;
      std::cout << pretty(doc) << '\n';
    }
    return 0;
  }

  const bool known = std::any_of(tools->begin(), tools->end(), [&](const Json& t) {
    return t.is_object() && t.value("name", std::string()) == *s.tool;
  });
  if (!known) {
    std::string names;
    for (const auto& t : *tools)
      if (t.is_object()) names += (names.empty() ? "" : ", ") + t.value("name", std::string("?"));
    throw fail("unknown_tool: the server lists no tool '" + *s.tool + "'" +
               (names.empty() ? std::string(" (it lists none)") : " (its tools: " + truncate(names, 300) + ")"));
  }
  auto called = probe.call(*s.tool, s.arguments, s.timeout);
  if (!called.ok()) {
    const Error& e = called.error();
    std::string message = explain(e, "calling " + *s.tool + " failed", s);
    if (e.rpc_code != 0) message += " (JSON-RPC error " + std::to_string(e.rpc_code) + ")";
    throw fail(message);
  }
  const Json& result = called.value();
  OrderedJson call = OrderedJson::object();
  call["tool"] = *s.tool;
  call["arguments"] = OrderedJson::parse(s.arguments.dump());
  call["result"] = OrderedJson::parse(result.dump(-1, ' ', false, Json::error_handler_t::replace));
  doc["call"] = call;
  const bool tool_failed = mcp::is_tool_error(result);
  if (json) {
    doc["ok"] = !tool_failed;
    std::cout << pretty(doc) << '\n';
  } else {
    std::cout << "\ncall " << *s.tool << ":\n";
    print_tool_result(std::cout, result, /*mcp_format=*/true);
  }
  if (tool_failed) {
    // The text is on stdout already, unless stdout holds the JSON document.
    std::string text = json ? first_line(mcp::result_text(result)) : std::string();
    throw failure("tool_error: " + *s.tool + " reported failure (isError: true)" + (text.empty() ? "" : ": " + text));
  }
  return 0;
}

}  // namespace mcpd::mcpctl
