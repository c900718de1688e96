#include "mcp/in_process_server.hpp"

#include "jsonrpc/peer.hpp"
#include "mcp/protocol.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <thread>

namespace mcpd::mcp {

Json text_result(std::string text, bool is_error) {
  Json r = {{"content", Json::array({{{"type", "text"}, {"text", std::move(text)}}})}};
  if (is_error) r["isError"] = true;
  return r;
}

InProcessServer::InProcessServer(std::string name, std::string version)
    : name_(std::move(name)), version_(std::move(version)) {}

InProcessServer& InProcessServer::add_tool(Json definition, ToolHandler handler) {
  std::string tool_name = definition.at("name").get<std::string>();
  if (!definition.contains("inputSchema")) definition["inputSchema"] = {{"type", "object"}};
  tools_[tool_name] = Tool{std::move(definition), std::move(handler)};
  return *this;
}

namespace {

// The calls running on their own threads, by JSON-RPC id: cancelled one by one
// (notifications/cancelled) or all at once when the worker stops. Worker thread only, except
// the done flags, which each call's thread sets as it ends.
class RunningCalls {
 public:
  ~RunningCalls() { stop_all(); }
  std::size_t size() {
    reap();
    return calls_.size();
  }
  void start(const Json& id, std::function<void(std::stop_token)> body) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    Call call{std::stop_source(), done, {}};
    auto token = call.stop.get_token();
    call.thread = std::jthread([body = std::move(body), token, done] {
      body(token);
      done->store(true);
    });
    calls_.emplace(id.dump(), std::move(call));
  }
  void cancel(const Json& id) {
    if (auto it = calls_.find(id.dump()); it != calls_.end()) it->second.stop.request_stop();
  }
  // Asks every call to stop and waits for their threads.
  void stop_all() {
    for (auto& [id, c] : calls_) c.stop.request_stop();
    calls_.clear();  // each jthread joins as it goes
  }

 private:
  struct Call {
    std::stop_source stop;
    std::shared_ptr<std::atomic<bool>> done;
    std::jthread thread;
  };
  void reap() { std::erase_if(calls_, [](const auto& entry) { return entry.second.done->load(); }); }
  std::map<std::string, Call> calls_;
};

}  // namespace

transport::WorkerMain InProcessServer::serve() const {
  return [server = *this](transport::WorkerIo& io) {
    // io.send is safe from any thread (the outbox is a locked channel).
    auto respond = [&io](const Json& id, Result<Json> r) {
      Json msg = {{"jsonrpc", "2.0"}, {"id", id}};
      if (r.ok()) {
        msg["result"] = std::move(r).value();
      } else {
        int code = r.error().rpc_code != 0 ? r.error().rpc_code : jsonrpc::kInternalError;
        msg["error"] = {{"code", code}, {"message", r.error().message}};
      }
      io.send(msg.dump(-1, ' ', false, Json::error_handler_t::replace));
    };
    RunningCalls running;  // declared after respond and io: its threads end before they go
    while (auto line = io.receive()) {
      Json msg = Json::parse(*line, nullptr, false);
      if (msg.is_discarded() || !msg.is_object()) {
        respond(nullptr, make_error(Errc::invalid_request, "parse error", jsonrpc::kParseError));
        continue;
      }
      const std::string method = msg.value("method", "");
      const Json params = msg.value("params", Json::object());
      if (!msg.contains("id")) {  // notifications: only a cancel needs anything done
        if (method == "notifications/cancelled" && params.is_object() && params.contains("requestId"))
          running.cancel(params["requestId"]);
        continue;
      }
      const Json id = msg["id"];
      if (method == "initialize") {
        std::string asked = params.value("protocolVersion", std::string(kLatestProtocolVersion));
        respond(id, Json{{"protocolVersion", is_supported_protocol_version(asked) ? asked : std::string(kLatestProtocolVersion)},
                         {"capabilities", {{"tools", Json::object()}}},
                         {"serverInfo", {{"name", server.name_}, {"version", server.version_}}}});
      } else if (method == "ping") {
        respond(id, Json::object());
      } else if (method == "tools/list") {
        Json list = Json::array();
        for (const auto& [n, t] : server.tools_) list.push_back(t.definition);
        respond(id, Json{{"tools", std::move(list)}});
      } else if (method == "tools/call") {
        const std::string tool = params.value("name", "");
        auto it = server.tools_.find(tool);
        if (it == server.tools_.end()) {
          respond(id, make_error(Errc::unknown_tool, "Unknown tool: " + tool, jsonrpc::kInvalidParams));
          continue;
        }
        if (running.size() >= kMaxConcurrentCalls) {
          respond(id, make_error(Errc::overloaded,
                                 "busy: " + std::to_string(kMaxConcurrentCalls) + " calls are running; try again",
                                 jsonrpc::kInternalError));
          continue;
        }
        Json args = params.value("arguments", Json::object());
        running.start(id, [&respond, handler = it->second.handler, id, args = std::move(args)](std::stop_token stop) {
          respond(id, handler(ToolCall{args, stop}));
        });
      } else {
        respond(id, make_error(Errc::invalid_request, "Method not found: " + method, jsonrpc::kMethodNotFound));
      }
    }
    running.stop_all();
  };
}

}  // namespace mcpd::mcp
