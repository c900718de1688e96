#include "transport/http/http_support.hpp"

#include "common/json_limits.hpp"
#include "common/text.hpp"
#include "jsonrpc/peer.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

namespace mcpd::transport::http {

namespace {

using Json = nlohmann::json;

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using Url = std::unique_ptr<CURLU, UrlDeleter>;

Url parse(const std::string& url) {
  Url u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return nullptr;
  return u;
}

std::string part(CURLU* u, CURLUPart which, unsigned flags = 0) {
  char* p = nullptr;
  if (curl_url_get(u, which, &p, flags) != CURLUE_OK || !p) return {};
  std::string s = p;
  curl_free(p);
  return s;
}

}  // namespace

std::vector<std::string> base_headers(const HttpOptions& o) {
  static constexpr std::array<std::string_view, 6> kOurs = {"content-type", "accept", "mcp-session-id",
                                                            "mcp-protocol-version", "last-event-id", "expect"};
  std::vector<std::string> out;
  for (const auto& [name, value] : o.headers) {
    const std::string l = ascii_lower(name);
    if (std::find(kOurs.begin(), kOurs.end(), l) != kOurs.end()) {
      spdlog::warn("[{}] ignoring configured header {}: the transport sets it", o.name, name);
      continue;
    }
    if (l == "authorization" && o.bearer_token) continue;  // the bearer token wins
    if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      spdlog::warn("[{}] ignoring configured header '{}': invalid name or value", o.name, name);
      continue;
    }
    out.push_back(name + ": " + value);
  }
  if (o.bearer_token) {
    if (o.bearer_token->find_first_of("\r\n") != std::string::npos)
      spdlog::warn("[{}] ignoring the bearer token: it holds a line break", o.name);
    else
      out.push_back("Authorization: Bearer " + *o.bearer_token);
  }
  return out;
}

std::string redact_url(const std::string& url) {
  Url u = parse(url);
  if (!u) return "<invalid url>";
  std::string s = part(u.get(), CURLUPART_SCHEME) + "://" + part(u.get(), CURLUPART_HOST);
  if (std::string port = part(u.get(), CURLUPART_PORT); !port.empty()) s += ":" + port;
  return s + part(u.get(), CURLUPART_PATH);
}

std::optional<std::string> resolve_url(const std::string& base, const std::string& ref) {
  Url u = parse(base);
  if (!u) return std::nullopt;
  // Setting a relative URL on a handle that holds one resolves it (RFC 3986).
  if (curl_url_set(u.get(), CURLUPART_URL, ref.c_str(), 0) != CURLUE_OK) return std::nullopt;
  std::string s = part(u.get(), CURLUPART_URL);
  if (s.empty()) return std::nullopt;
  return s;
}

bool same_origin(const std::string& a, const std::string& b) {
  Url x = parse(a), y = parse(b);
  if (!x || !y) return false;
  for (CURLUPart p : {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT})
    if (ascii_lower(part(x.get(), p, CURLU_DEFAULT_PORT)) != ascii_lower(part(y.get(), p, CURLU_DEFAULT_PORT))) return false;
  return true;
}

namespace {

// Records the top-level members of a JSON-RPC message; nested values are walked, not built.
class TopLevel : public nlohmann::json_sax<Json> {
 public:
  MessageInfo info;
  bool has_method = false, has_id = false, has_result = false, has_error = false, is_object = false;

  bool null() override { return scalar("null"); }
  bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return scalar(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return scalar(std::to_string(v)); }
  bool number_float(number_float_t v, const string_t& s) override { (void)v; return scalar(s); }
  bool string(string_t& v) override {
    if (depth_ == 1 && key_ == "method") {
      info.method = v;
      has_method = true;
    }
    if (depth_ == 3 && key_ == "params" && key2_ == "_meta" && header_safe(v)) {
      if (key3_ == "traceparent" && v.size() <= 64) info.traceparent = v;
      if (key3_ == "tracestate" && v.size() <= 512) info.tracestate = v;
      if (key3_ == "io.modelcontextprotocol/protocolVersion" && v.size() <= 32) info.protocol_version = v;
    }
    if (depth_ == 2 && key_ == "params" && (key2_ == "name" || key2_ == "uri" || key2_ == "taskId") &&
        v.size() <= kMaxTarget)
      info.target = v;
    return scalar(Json(v).dump());
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    if (depth_ == 2 && key_ == "params") key2_ = k;
    if (depth_ == 3 && key_ == "params" && key2_ == "_meta") key3_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool open(bool object) {
    if (depth_ == 0) is_object = object;
    if (depth_ == 1) member_seen();
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  bool scalar(const std::string& text) {
    if (depth_ == 1) {
      member_seen();
      if (key_ == "id") {
        info.id = text;
        has_id = text != "null";
      }
    }
    return true;
  }
  void member_seen() {
    if (key_ == "result") has_result = true;
    if (key_ == "error") has_error = true;
  }
  static bool header_safe(const std::string& v) {
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  }
  static constexpr std::size_t kMaxTarget = 4096;  // a longer name or URI has no Mcp-Name header
  int depth_ = 0;
  std::string key_, key2_, key3_;
};

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The methods whose POST carries Mcp-Name (the member it mirrors is MessageInfo::target).
bool names_a_target(const std::string& method) {
  return method == "tools/call" || method == "prompts/get" || method == "resources/read" || method == "tasks/get" ||
         method == "tasks/update" || method == "tasks/cancel";
}

// Reads a member two levels down: anything deeper is not built (nor its nesting a danger).
Json top_two_levels(std::string_view message) {
  bool pruned = false;
  auto j = json::parse_pruned(message, 2, pruned);
  return j.ok() ? std::move(j).value() : Json();
}

}  // namespace

MessageInfo inspect_message(std::string_view message) {
  TopLevel sax;
  if (!Json::sax_parse(message, &sax) || !sax.is_object) return {};
  MessageInfo info = std::move(sax.info);
  if (sax.has_method && sax.has_id)
    info.kind = MessageInfo::Kind::request;
  else if (sax.has_method)
    info.kind = MessageInfo::Kind::notification;
  else if (!info.id.empty() && (sax.has_result || sax.has_error))
    info.kind = MessageInfo::Kind::response;
  info.is_error = info.kind == MessageInfo::Kind::response && sax.has_error;
  return info;
}

std::string header_value(std::string_view value) {
  constexpr std::string_view kPrefix = "=?base64?", kSuffix = "?=";
  const bool safe_chars = std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
  const bool padded = !value.empty() && (value.front() == ' ' || value.back() == ' ');
  const bool looks_encoded = value.size() >= kPrefix.size() + kSuffix.size() && value.substr(0, kPrefix.size()) == kPrefix &&
                             value.substr(value.size() - kSuffix.size()) == kSuffix;
  if (safe_chars && !padded && !looks_encoded) return std::string(value);
  return std::string(kPrefix) + base64(value) + std::string(kSuffix);
}

std::vector<std::string> stateless_request_headers(const MessageInfo& info) {
  std::vector<std::string> h;
  h.push_back("MCP-Protocol-Version: " + info.protocol_version);
  if (!info.method.empty()) h.push_back("Mcp-Method: " + header_value(info.method));
  if (names_a_target(info.method) && !info.target.empty()) h.push_back("Mcp-Name: " + header_value(info.target));
  return h;
}

std::optional<std::string> protocol_version_of(std::string_view initialize_response) {
  Json j = top_two_levels(initialize_response);
  if (!j.is_object()) return std::nullopt;
  auto r = j.find("result");
  if (r == j.end() || !r->is_object()) return std::nullopt;
  auto v = r->find("protocolVersion");
  if (v == r->end() || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<std::string> cancelled_request_id(std::string_view notification) {
  Json j = top_two_levels(notification);
  if (!j.is_object()) return std::nullopt;
  auto p = j.find("params");
  if (p == j.end() || !p->is_object()) return std::nullopt;
  auto id = p->find("requestId");
  if (id == p->end() || !(id->is_string() || id->is_number_integer())) return std::nullopt;
  return id->dump();
}

std::string error_response(const std::string& id_json, const std::string& message, long http_status) {
  Json id = Json::parse(id_json, nullptr, false);
  if (id.is_discarded()) id = nullptr;
  Json err = {{"code", kTransportErrorCode}, {"message", message}, {"data", {{jsonrpc::kTransportErrorMember, "http"}}}};
  if (http_status > 0) err["data"]["httpStatus"] = http_status;
  Json msg = {{"jsonrpc", "2.0"}, {"id", std::move(id)}, {"error", std::move(err)}};
  return msg.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace mcpd::transport::http
