#include "schema/schema.hpp"

#include "schema/bundle.hpp"
#include "schema/describe.hpp"
#include "schema/embedded.hpp"

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <array>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

namespace mcpd::schema {
namespace {

using Json = nlohmann::json;

// In the order of the enum: index_of() casts a Payload to its position here.
constexpr std::array kPayloads{
    Payload::tool_request,        Payload::tool_reply,          Payload::tool_list_request,
    Payload::tool_list_reply,     Payload::server,              Payload::server_deleted_event,
    Payload::admin_name_request,  Payload::admin_list_request,  Payload::admin_server_reply,
    Payload::admin_list_reply,    Payload::admin_deleted_reply, Payload::task_id_request,
    Payload::task_result_request, Payload::task_list_request,   Payload::task_input_request,
    Payload::task_reply,          Payload::task_list_reply,     Payload::progress_event,
    Payload::page_request,        Payload::resource_read_request, Payload::prompt_get_request,
    Payload::complete_request,    Payload::resource_list_reply, Payload::resource_template_list_reply,
    Payload::resource_read_reply, Payload::prompt_list_reply,   Payload::prompt_get_reply,
    Payload::complete_reply,      Payload::oauth_key_reply,     Payload::oauth_grant_request,
    Payload::oauth_grant_reply,   Payload::error_reply,
};
static_assert(kPayloads.size() == static_cast<std::size_t>(Payload::error_reply) + 1);

std::size_t index_of(Payload payload) { return static_cast<std::size_t>(payload); }

std::string file_name(Payload payload) { return std::string(name(payload)) + ".schema.json"; }

struct Loaded {
  std::string text;                         // the embedded file
  Json bundled;                             // parsed, with every file it refers to inside
  std::unique_ptr<valijson::Schema> parsed;  // read-only once built
};

struct Catalog {
  std::array<Loaded, kPayloads.size()> payloads;
  Status error;  // set if any schema failed to load: a build defect
};

Catalog load() {
  Catalog catalog;
  std::string current = "proto-schemas/";
  try {
    detail::SchemaFiles docs;
    std::map<std::string, std::string_view, std::less<>> texts;
    for (std::size_t i = 0; i < detail::kEmbeddedFileCount; ++i)
      texts.emplace(std::string(detail::kEmbeddedFiles[i].name), detail::kEmbeddedFiles[i].text);
    for (Payload payload : kPayloads) {  // first, so schema_text() works even if parsing fails
      if (auto text = texts.find(file_name(payload)); text != texts.end())
        catalog.payloads[index_of(payload)].text = std::string(text->second);
    }
    for (const auto& [file, text] : texts) {
      current = "proto-schemas/" + file;
      Json doc = Json::parse(text);
      detail::check_keywords(file, doc);
      docs.emplace(file, std::move(doc));
    }
    for (Payload payload : kPayloads) {
      current = "proto-schemas/" + file_name(payload);
      if (!docs.contains(file_name(payload))) throw std::runtime_error("missing from the build");
      Loaded& entry = catalog.payloads[index_of(payload)];
      entry.bundled = detail::bundle(file_name(payload), docs);
      // valijson 1.0 knows drafts 3, 4 and 7, and ignores "$schema"; the files keep to keywords
      // that mean the same in draft 7 and 2020-12 (proto-schemas/README.md).
      entry.parsed = std::make_unique<valijson::Schema>();
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::NlohmannJsonAdapter adapter(entry.bundled);
      parser.populateSchema(adapter, *entry.parsed);
    }
  } catch (const std::exception& e) {
    catalog.error = make_error(Errc::internal, current + ": cannot load the schema: " + e.what());
  }
  return catalog;
}

const Catalog& catalog() {
  static const Catalog instance = load();  // thread-safe initialisation; read-only afterwards
  return instance;
}

// valijson reports a failure at every level on the way down ("Failed to validate against
// schema associated with property name 'auth'") as well as where it happened; only the
// latter are problems a person has to fix.
bool is_summary(const std::string& description) {
  return description.starts_with("Failed to validate ") &&
         !description.starts_with("Failed to validate against exactly one");
}

// valijson's context is {"<root>", "[auth]", "[0]", ...}; the brackets are added verbatim, so
// stripping the first and last character gives the key or index back exactly.
std::vector<std::string> location_of(const std::vector<std::string>& context) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i < context.size(); ++i) {
    const auto& step = context[i];
    out.push_back(step.size() >= 2 ? step.substr(1, step.size() - 2) : step);
  }
  return out;
}

}  // namespace

std::span<const Payload> all_payloads() { return kPayloads; }

std::string_view name(Payload payload) {
  switch (payload) {
    case Payload::tool_request: return "tool-request";
    case Payload::tool_reply: return "tool-reply";
    case Payload::tool_list_request: return "tool-list-request";
    case Payload::tool_list_reply: return "tool-list-reply";
    case Payload::server: return "server";
    case Payload::server_deleted_event: return "server-deleted-event";
    case Payload::admin_name_request: return "admin-name-request";
    case Payload::admin_list_request: return "admin-list-request";
    case Payload::admin_server_reply: return "admin-server-reply";
    case Payload::admin_list_reply: return "admin-list-reply";
    case Payload::admin_deleted_reply: return "admin-deleted-reply";
    case Payload::task_id_request: return "task-id-request";
    case Payload::task_result_request: return "task-result-request";
    case Payload::task_list_request: return "task-list-request";
    case Payload::task_input_request: return "task-input-request";
    case Payload::task_reply: return "task-reply";
    case Payload::task_list_reply: return "task-list-reply";
    case Payload::progress_event: return "progress-event";
    case Payload::page_request: return "page-request";
    case Payload::resource_read_request: return "resource-read-request";
    case Payload::prompt_get_request: return "prompt-get-request";
    case Payload::complete_request: return "complete-request";
    case Payload::resource_list_reply: return "resource-list-reply";
    case Payload::resource_template_list_reply: return "resource-template-list-reply";
    case Payload::resource_read_reply: return "resource-read-reply";
    case Payload::prompt_list_reply: return "prompt-list-reply";
    case Payload::prompt_get_reply: return "prompt-get-reply";
    case Payload::complete_reply: return "complete-reply";
    case Payload::oauth_key_reply: return "oauth-key-reply";
    case Payload::oauth_grant_request: return "oauth-grant-request";
    case Payload::oauth_grant_reply: return "oauth-grant-reply";
    case Payload::error_reply: return "error-reply";
  }
  return "unknown";
}

const std::string& schema_text(Payload payload) { return catalog().payloads.at(index_of(payload)).text; }

Status self_check() { return catalog().error; }

Status validate(Payload payload, const nlohmann::json& value) {
  const Catalog& all = catalog();
  if (!all.error.ok()) return all.error;
  const Loaded& entry = all.payloads.at(index_of(payload));
  try {
    valijson::adapters::NlohmannJsonAdapter target(value);
    // Fast path: without a results object valijson stops at the first failure and builds no
    // messages. Only a failure pays for a second, complete pass.
    if (valijson::Validator().validate(*entry.parsed, target, nullptr)) return {};

    valijson::ValidationResults results;
    valijson::Validator().validate(*entry.parsed, target, &results);
    detail::Problems problems;
    std::set<std::vector<std::string>> seen;  // describe() states every problem at a location
    for (const auto& error : results) {
      if (is_summary(error.description) || !seen.insert(error.context).second) continue;
      detail::describe(entry.bundled, value, location_of(error.context), error.description, problems);
    }
    if (problems.count() == 0) return make_error(Errc::invalid_request, "does not match the schema");
    std::string message = problems.first();
    if (const auto more = problems.count() - 1; more > 0)
      message += " (and " + std::to_string(more) + (more == 1 ? " more problem)" : " more problems)");
    return make_error(Errc::invalid_request, std::move(message));
  } catch (const std::exception& e) {
    return make_error(Errc::internal, std::string("validating ") + file_name(payload) + ": " + e.what());
  }
}

}  // namespace mcpd::schema
