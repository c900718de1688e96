// The HTTP transports' helpers: routing facts read from a JSON-RPC message, URLs (resolving the
// legacy endpoint, same-origin checks, redaction for logs), synthesised error responses and the
// headers every request carries.
#include "transport/http/http_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace mcpd::transport;
using namespace mcpd::transport::http;
using Kind = MessageInfo::Kind;

TEST_CASE("http: inspect_message tells requests - notifications and responses apart") {
  auto req = inspect_message(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"id":99,"method":"x"}})");
  CHECK(req.kind == Kind::request);
  CHECK(req.id == "7");  // the nested id and method do not count
  CHECK(req.method == "tools/call");

  auto str = inspect_message(R"({"method":"ping","id":"srv-1","jsonrpc":"2.0"})");
  CHECK(str.kind == Kind::request);
  CHECK(str.id == "\"srv-1\"");

  auto note = inspect_message(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(note.kind == Kind::notification);
  CHECK(note.id.empty());

  auto res = inspect_message(R"({"result":{"content":[{"type":"text","text":"hi","id":1}]},"jsonrpc":"2.0","id":12})");
  CHECK(res.kind == Kind::response);
  CHECK(res.id == "12");
  CHECK_FALSE(res.is_error);

  auto err = inspect_message(R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no"}})");
  CHECK(err.kind == Kind::response);
  CHECK(err.is_error);

  // W3C trace context in params._meta, for the HTTP headers; only there, and only header-safe text.
  auto traced = inspect_message(
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x","arguments":{"traceparent":"no"},)"
      R"("_meta":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"a=1"}}})");
  CHECK(traced.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  CHECK(traced.tracestate == "a=1");
  CHECK(inspect_message(R"({"jsonrpc":"2.0","id":5,"method":"x","params":{"arguments":{"_meta":{"traceparent":"t"}}}})")
            .traceparent.empty());
  CHECK(inspect_message(R"({"jsonrpc":"2.0","id":5,"method":"x","params":{"_meta":{"traceparent":"a\r\nX-Evil: 1"}}})")
            .traceparent.empty());

  CHECK(inspect_message("not json").kind == Kind::other);
  CHECK(inspect_message("[1,2]").kind == Kind::other);
  CHECK(inspect_message(R"({"jsonrpc":"2.0"})").kind == Kind::other);
  CHECK(inspect_message("").kind == Kind::other);
}

TEST_CASE("http: protocol_version_of reads an initialize result") {
  CHECK(protocol_version_of(R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}})") == "2025-11-25");
  CHECK_FALSE(protocol_version_of(R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}})"));
  CHECK_FALSE(protocol_version_of("{"));
}

TEST_CASE("http: error_response answers the request id with the HTTP status") {
  auto j = nlohmann::json::parse(error_response("42", "HTTP 500 from http://h/mcp: boom", 500));
  CHECK(j["jsonrpc"] == "2.0");
  CHECK(j["id"] == 42);
  CHECK(j["error"]["code"] == kTransportErrorCode);
  CHECK(j["error"]["message"] == "HTTP 500 from http://h/mcp: boom");
  CHECK(j["error"]["data"]["httpStatus"] == 500);
  CHECK(j["error"]["data"]["transport"] == "http");  // made by us: the caller sees unavailable
  auto s = nlohmann::json::parse(error_response("\"a\"", "refused", 0));
  CHECK(s["id"] == "a");
  CHECK(s["error"]["data"]["transport"] == "http");
  CHECK_FALSE(s["error"]["data"].contains("httpStatus"));
}

TEST_CASE("http: URLs - resolving the endpoint - same origin - redaction") {
  CHECK(resolve_url("http://127.0.0.1:8080/sse", "/message?sessionId=abc") ==
        "http://127.0.0.1:8080/message?sessionId=abc");
  CHECK(resolve_url("https://h.example/a/sse", "messages") == "https://h.example/a/messages");
  CHECK(resolve_url("http://h/sse", "http://other:9/x") == "http://other:9/x");
  CHECK_FALSE(resolve_url("not a url", "/x"));

  CHECK(same_origin("http://h:80/a", "http://h/b?c"));
  CHECK(same_origin("https://H.example/a", "https://h.example:443/b"));
  CHECK_FALSE(same_origin("http://h/a", "https://h/a"));
  CHECK_FALSE(same_origin("http://h:1/a", "http://h:2/a"));
  CHECK_FALSE(same_origin("http://h/a", "http://evil/a"));

  CHECK(redact_url("https://user:secret@h.example:8443/mcp?token=abc#x") == "https://h.example:8443/mcp");
  CHECK(redact_url("http://127.0.0.1:3000/mcp") == "http://127.0.0.1:3000/mcp");
}

TEST_CASE("http: excerpt keeps the first bytes printable") {
  CHECK(excerpt("line1\nline2\r\n") == "line1 line2");
  CHECK(excerpt(std::string(300, 'a')).size() == 203);
}

TEST_CASE("http: base headers - configured ones and the bearer token") {
  HttpOptions o;
  o.name = "t";
  o.headers = {{"X-Team", "blue"}, {"Content-Type", "text/plain"}, {"Authorization", "Basic x"},
               {"X-Bad", "a\r\nInjected: 1"}};
  o.bearer_token = "tok-123";
  auto h = base_headers(o);
  auto has = [&](const std::string& line) { return std::find(h.begin(), h.end(), line) != h.end(); };
  CHECK(has("X-Team: blue"));
  CHECK(has("Authorization: Bearer tok-123"));
  CHECK_FALSE(has("Authorization: Basic x"));  // the bearer token wins
  CHECK(h.size() == 2);                        // Content-Type is the transport's; X-Bad is refused
  o.bearer_token.reset();
  h = base_headers(o);
  CHECK(has("Authorization: Basic x"));
}
