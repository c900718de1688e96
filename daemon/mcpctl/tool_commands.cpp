// mcpctl tools | call: a server's tool list (<prefix>.<name>.list-tools) and one tool call
// (<prefix>.<name>.execute), with the result printed for a person.
#include "commands.hpp"

#include "catalog/server_config.hpp"
#include "output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <random>
#include <fstream>
#include <iostream>
#include <iterator>

namespace mcpd::mcpctl {
namespace {

// The server name becomes a subject token: one with '.', '*', '>' or a space would address
// other subjects, so it is refused here with the daemon's own message.
void check_server_name(const std::string& name) {
  if (auto e = catalog::check_server_name(name); !e.ok()) throw failure("invalid_request: " + e.error().message);
}


}  // namespace

Json parse_json_option(std::string_view option, const std::string& spec, std::string_view what,
                       std::string_view example) {
  const std::string flag = "--" + std::string(option);
  std::string text = spec;
  std::string from = flag;
  if (spec == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
    from = flag + " - (standard input)";
  } else if (spec.starts_with("@")) {
    std::ifstream in(spec.substr(1), std::ios::binary);
    if (!in) throw usage_error(flag + " " + spec + ": cannot read " + spec.substr(1) + ": " + std::strerror(errno));
    text.assign(std::istreambuf_iterator<char>(in), {});
    from = flag + " " + spec;
  }
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw usage_error(from + " is not valid JSON (" + parse_problem(e) + "); write an object like '" +
                      std::string(example) + "'");
  }
  if (!j.is_object())
    throw usage_error(from + " must be a JSON object (" + std::string(what) + ") like '" + std::string(example) +
                      "', got " + std::string(j.type_name()));
  return j;
}

Json parse_args_json(const std::string& spec) {
  return parse_json_option("args", spec, "the tool's named arguments", R"({"message": "hi"})");
}

Json tool_request(const ParsedArgs& args) {
  Json req = {{"tool", args.operands.at(1)}, {"args", Json::object()}};
  if (auto a = args.get("args")) req["args"] = parse_args_json(*a);
  if (auto s = args.get("session")) {
    if (s->empty()) throw usage_error("--session needs a non-empty ID");
    req["session_id"] = *s;
  }
  if (auto t = args.get("timeout")) req["timeout_ms"] = parse_int_option("timeout", *t, 1, 3'600'000);
  if (args.has("task")) {
    // A task runs until it ends or its TTL passes: a call's deadline does not apply.
    if (args.has("timeout"))
      throw usage_error("--timeout is the deadline of a plain call; a --task runs until it ends or its --ttl passes");
    Json task = Json::object();
    if (auto t = args.get("ttl")) task["ttl_ms"] = parse_int_option("ttl", *t, 1, 2'592'000'000);
    req["task"] = task;
    if (auto o = args.get("owner")) {
      if (o->empty()) throw usage_error("--owner needs a non-empty name");
      req["owner"] = *o;
    }
  } else if (args.has("ttl") || args.has("owner")) {
    throw usage_error(std::string(args.has("ttl") ? "--ttl" : "--owner") + " is for a task: add --task");
  }
  if (auto f = args.get("format")) {
    if (*f != "compat" && *f != "mcp") throw usage_error("--format: expected compat or mcp, got '" + *f + "'");
    req["format"] = *f;
  }
  return req;
}

int run_tools(Invocation& inv) {
  const std::string& name = inv.args().operands[0];
  check_server_name(name);
  Reply reply = inv.ask(inv.subjects().list_tools(name), Json::object());
  if (inv.global().json) return 0;
  auto it = reply.body.find("tools");
  if (it == reply.body.end() || !it->is_array() || it->empty()) {
    std::cout << name << " has no tools\n";
    return 0;
  }
  Table table({"NAME", "DESCRIPTION"});
  for (const auto& tool : *it) {
    if (!tool.is_object()) continue;
    std::string description = tool.value("description", std::string());
    if (description.empty()) description = tool.value("title", std::string());
    table.add({tool.value("name", std::string("?")), first_line(description)});
  }
  table.print(std::cout, terminal_width());
  return 0;
}

int print_call_result(const Json& reply, bool mcp_format) {
  auto result = reply.find("result");
  const Json shown = result == reply.end() ? Json() : *result;
  if (!mcp_format && shown.is_string() && shown.get_ref<const std::string&>().empty()) {
    // compat keeps only text: an image-only result arrives as "".
    std::cerr << "note: the result has no text (--format mcp shows all of its content)\n";
    return 0;
  }
  print_tool_result(std::cout, shown, mcp_format);
  return 0;
}

int run_call(Invocation& inv) {
  const std::string& name = inv.args().operands[0];
  check_server_name(name);
  Json req = tool_request(inv.args());
  if (req.contains("task")) return run_call_task(inv, name, req);
  // Wait a little longer than the call may take, so that the daemon's timeout reply arrives.
  std::chrono::milliseconds wait = kDefaultCallTimeout;
  if (req.contains("timeout_ms")) wait = std::chrono::milliseconds(req["timeout_ms"].get<std::int64_t>() + 5'000);
  // Progress the server reports (progress_subject): a bar on a terminal, a line per event with
  // --progress. The call itself is asked on another thread while this one draws.
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (inv.global().json || !(inv.args().has("progress") || tty)) {
    Reply reply = inv.ask(inv.subjects().execute(name), req, wait);
    if (inv.global().json) return 0;
    return print_call_result(reply.body, req.value("format", "") == "mcp");
  }
  std::random_device random;
  char token[20];
  std::snprintf(token, sizeof token, "%08x%08x", random(), random());
  const std::string subject = "_INBOX.mcpctl-progress." + std::string(token);
  auto events = inv.listen(subject);
  req["progress_subject"] = subject;
  auto answer = std::async(std::launch::async, [&inv, &name, &req, wait] {
    return inv.ask(inv.subjects().execute(name), req, wait);
  });
  {
    StatusLine line;
    while (answer.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready)
      if (auto e = events->next(std::chrono::milliseconds(50)))
        if (auto text = progress_text(e->body, line.on_terminal()); !text.empty()) line.show(text);
  }
  Reply reply = answer.get();  // an error reply is reported (and ends mcpctl) from here
  return print_call_result(reply.body, req.value("format", "") == "mcp");
}

}  // namespace mcpd::mcpctl
