// mcpctl resources | read | prompts | prompt | complete: a server's resources, prompts and
// completions (contract 1.1, <prefix>.<name>.resources.*, .prompts.*, .complete), printed for a
// person. Lists follow every page (nextCursor).
#include "commands.hpp"

#include "catalog/server_config.hpp"

#include <iostream>

namespace mcpd::mcpctl {
namespace {

// At most this many pages of one list (a server whose cursor never ends cannot loop mcpctl).
constexpr int kMaxPages = 1000;

const std::string& server_operand(Invocation& inv) {
  const std::string& name = inv.args().operands[0];
  if (auto e = catalog::check_server_name(name); !e.ok()) throw failure("invalid_request: " + e.error().message);
  return name;
}

std::string subject(Invocation& inv, const std::string& server, std::string_view verb) {
  return inv.subjects().prefix + "." + server + "." + std::string(verb);
}

std::string text_of(const Json& item, const char* key) {
  auto it = item.find(key);
  if (it == item.end()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// Every item of a paged list (`member` of each page), page after page.
std::vector<Json> all_pages(Invocation& inv, const std::string& subj, const std::string& member) {
  std::vector<Json> items;
  Json request = Json::object();
  for (int page = 0; page < kMaxPages; ++page) {
    Reply reply = inv.ask(subj, request, kDefaultTimeout, /*echo_json=*/false);
    if (auto it = reply.body.find(member); it != reply.body.end() && it->is_array())
      items.insert(items.end(), it->begin(), it->end());
    auto next = reply.body.find("nextCursor");
    if (next == reply.body.end() || !next->is_string() || next->get<std::string>().empty()) break;
    if (request.value("cursor", std::string()) == next->get<std::string>()) break;  // no progress: stop
    request["cursor"] = *next;
  }
  return items;
}

// "--arg K=V" options as a JSON object of strings.
Json string_map(const ParsedArgs& args, std::string_view option) {
  Json map = Json::object();
  for (const auto& item : args.all(option)) {
    auto [k, v] = split_pair(option, item, false);
    map[k] = v;
  }
  return map;
}

// A prompt's arguments for the table: required ones plain, optional ones in [brackets].
std::string prompt_arguments(const Json& prompt) {
  std::string out;
  auto args = prompt.find("arguments");
  if (args == prompt.end() || !args->is_array()) return out;
  for (const auto& a : *args) {
    const std::string name = text_of(a, "name");
    out += (out.empty() ? "" : " ") + (a.value("required", false) ? name : "[" + name + "]");
  }
  return out;
}

void print_content(std::ostream& out, const Json& block) {
  if (block.is_object() && block.value("type", "") == "text" && block.contains("text") && block["text"].is_string()) {
    out << block["text"].get<std::string>();
    if (!block["text"].get_ref<const std::string&>().ends_with('\n')) out << '\n';
  } else {
    out << summarize_content(block) << '\n';
  }
}

}  // namespace

int run_resources(Invocation& inv) {
  const std::string& name = server_operand(inv);
  const bool templates = inv.args().has("templates");
  const std::string member = templates ? "resourceTemplates" : "resources";
  auto items = all_pages(inv, subject(inv, name, templates ? "resources.templates" : "resources.list"), member);
  if (inv.global().json) {
    std::cout << pretty(Json{{member, items}}) << '\n';
    return 0;
  }
  if (items.empty()) {
    std::cout << name << " has no " << (templates ? "resource templates" : "resources") << '\n';
    return 0;
  }
  Table table({templates ? "URI TEMPLATE" : "URI", "NAME", "MIME TYPE", "DESCRIPTION"});
  for (const auto& r : items) {
    if (!r.is_object()) continue;
    std::string description = text_of(r, "description");
    if (description.empty()) description = text_of(r, "title");
    table.add({text_of(r, templates ? "uriTemplate" : "uri"), text_of(r, "name"), text_of(r, "mimeType"),
               first_line(description)});
  }
  table.print(std::cout, terminal_width());
  return 0;
}

int run_read(Invocation& inv) {
  const std::string& name = server_operand(inv);
  Json req = {{"uri", inv.args().operands[1]}};
  if (auto t = inv.args().get("timeout")) req["timeout_ms"] = parse_int_option("timeout", *t, 1, 3'600'000);
  Reply reply = inv.ask(subject(inv, name, "resources.read"), req);
  if (inv.global().json) return 0;
  auto contents = reply.body.find("contents");
  if (contents == reply.body.end() || !contents->is_array() || contents->empty()) {
    std::cerr << "note: the resource has no contents\n";
    return 0;
  }
  for (const auto& c : *contents) {
    if (!c.is_object()) continue;
    if (c.contains("text") && c["text"].is_string()) {
      const auto& text = c["text"].get_ref<const std::string&>();
      std::cout << text << (text.ends_with('\n') ? "" : "\n");
    } else if (c.contains("blob") && c["blob"].is_string()) {
      std::cout << "[blob " << (c.contains("mimeType") ? text_of(c, "mimeType") : "of unknown type") << ", "
                << c["blob"].get_ref<const std::string&>().size() << " bytes base64 of " << text_of(c, "uri")
                << "] (--json shows it)\n";
    }
  }
  return 0;
}

int run_prompts(Invocation& inv) {
  const std::string& name = server_operand(inv);
  auto prompts = all_pages(inv, subject(inv, name, "prompts.list"), "prompts");
  if (inv.global().json) {
    std::cout << pretty(Json{{"prompts", prompts}}) << '\n';
    return 0;
  }
  if (prompts.empty()) {
    std::cout << name << " has no prompts\n";
    return 0;
  }
  Table table({"NAME", "ARGUMENTS", "DESCRIPTION"});
  for (const auto& p : prompts) {
    if (!p.is_object()) continue;
    std::string description = text_of(p, "description");
    if (description.empty()) description = text_of(p, "title");
    table.add({text_of(p, "name"), prompt_arguments(p), first_line(description)});
  }
  table.print(std::cout, terminal_width());
  return 0;
}

int run_prompt(Invocation& inv) {
  const std::string& name = server_operand(inv);
  Json req = {{"name", inv.args().operands[1]}};
  if (auto args = string_map(inv.args(), "arg"); !args.empty()) req["arguments"] = args;
  Reply reply = inv.ask(subject(inv, name, "prompts.get"), req);
  if (inv.global().json) return 0;
  if (auto d = reply.body.find("description"); d != reply.body.end() && d->is_string() && !d->get<std::string>().empty())
    std::cerr << d->get<std::string>() << '\n';
  auto messages = reply.body.find("messages");
  if (messages == reply.body.end() || !messages->is_array()) return 0;
  for (const auto& m : *messages) {
    if (!m.is_object()) continue;
    std::cout << "--- " << text_of(m, "role") << '\n';
    auto content = m.find("content");
    if (content == m.end()) continue;
    if (content->is_array()) {
      for (const auto& block : *content) print_content(std::cout, block);
    } else {
      print_content(std::cout, *content);
    }
  }
  return 0;
}

int run_complete(Invocation& inv) {
  const std::string& name = server_operand(inv);
  const auto& args = inv.args();
  if (args.has("prompt") == args.has("template"))
    throw usage_error("say what to complete: --prompt NAME or --template URI_TEMPLATE (one of them)");
  Json ref = args.has("prompt") ? Json{{"type", "ref/prompt"}, {"name", *args.get("prompt")}}
                                : Json{{"type", "ref/resource"}, {"uri", *args.get("template")}};
  if (!args.has("arg")) throw usage_error("say which argument to complete and what is typed so far: --arg NAME=VALUE");
  auto [arg, value] = split_pair("arg", *args.get("arg"), false);
  Json req = {{"ref", ref}, {"argument", {{"name", arg}, {"value", value}}}};
  if (auto context = string_map(args, "context"); !context.empty()) req["context"] = {{"arguments", context}};
  Reply reply = inv.ask(subject(inv, name, "complete"), req);
  if (inv.global().json) return 0;
  const Json completion = reply.body.value("completion", Json::object());
  if (auto values = completion.find("values"); values != completion.end() && values->is_array())
    for (const auto& v : *values) std::cout << (v.is_string() ? v.get<std::string>() : v.dump()) << '\n';
  if (completion.value("hasMore", false)) {
    std::cerr << "note: the server has more suggestions";
    if (completion.contains("total")) std::cerr << " (" << completion["total"].dump() << " in all)";
    std::cerr << "; type more of the value to narrow them\n";
  }
  return 0;
}

}  // namespace mcpd::mcpctl
