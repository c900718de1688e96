// Fuzz target: what an MCP server writes on stdout, as the stdio transport reads it — split
// into chunks of sizes the input picks, framed into lines by transport::LineSplitter — fed to
// a jsonrpc::Peer with requests in flight and handlers installed, on one thread.
// Input: byte 0 picks the peer's depth bound (2..33), byte 1 the chunk sizes, the rest is the
// stream. Properties: nothing crashes; each request completes exactly once; no result,
// request or notification handed on is nested deeper than the bound; every reply we send is
// JSON.
#include "fuzz_support.hpp"
#include "jsonrpc/peer.hpp"
#include "transport/line_splitter.hpp"
#include "transport/oversized.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

using namespace mcpd;
using fuzz::check;
using jsonrpc::Json;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_depth = 2 + data[0] % 32;
  unsigned chunk_seed = data[1];
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  asio::io_context ctx;
  auto work = asio::make_work_guard(ctx);  // poll() must not find it out of work and stop it
  auto strand = asio::make_strand(ctx.get_executor());
  auto peer = jsonrpc::Peer::create(
      strand, "fuzz",
      [](std::string message) {
        check(!Json::parse(message, nullptr, false).is_discarded(), "a message we send is JSON");
        return true;
      },
      max_depth);
  auto bounded = [&](const Json& v) { check(json::depth_of(v) < max_depth, "a value handed on is within the bound"); };
  peer->on_request("ping", [&](const Json& p) -> Result<Json> {
    bounded(p);
    return Json::object();
  });
  peer->on_request("roots/list", [&](const Json& p) -> Result<Json> {
    bounded(p);
    return make_error(Errc::invalid_request, "not offered", jsonrpc::kMethodNotFound);
  });
  peer->on_notification("notifications/progress", bounded);

  // Requests 1..4 in flight, as on a busy session: responses with those ids complete them.
  std::array<int, 4> completed{};
  for (int i = 0; i < 4; ++i)
    peer->request(i % 2 ? "tools/call" : "tools/list", i % 2 ? Json{{"name", "echo"}} : Json(), jsonrpc::Duration(0),
                  [&, i](Result<Json> r) {
                    ++completed[i];
                    if (r.ok()) bounded(r.value());
                    else check(!r.error().message.empty(), "an error says what went wrong");
                  });
  ctx.poll();

  // On the strand, as the transport reads: chunk by chunk, each line to the peer.
  asio::post(strand, [&] {
    // Small, so that oversized lines fit in the inputs libFuzzer makes (4 KiB by default).
    transport::LineSplitter lines(512);
    while (!stream.empty()) {
      chunk_seed = chunk_seed * 1103515245u + 12345u;
      const std::size_t n = std::min<std::size_t>(stream.size(), 1 + (chunk_seed >> 16) % 97);
      // A line over the bound, as the stdio transport handles it: an answer fails its request
      // with too_large; anything else would stop the server (here: is ignored).
      lines.feed(
          stream.substr(0, n), [&](std::string_view line) { peer->receive(line); },
          [&](transport::OversizedLine&& big) {
            check(big.head.size() <= transport::OversizedLine::kKeep && big.tail.size() <= transport::OversizedLine::kKeep,
                  "an oversized line keeps only its ends");
            auto m = transport::inspect_oversized(big.head, big.tail);
            if (m.kind == transport::OversizedMessage::Kind::response && m.id)
              peer->receive(transport::too_large_response(*m.id, "over the bound", "stdio"));
          });
      stream.remove_prefix(n);
    }
  });
  ctx.poll();
  peer->close(make_error(Errc::unavailable, "the stream ended"));
  ctx.poll();
  for (int c : completed) check(c == 1, "every request completes exactly once");
  check(peer->stats().in_flight == 0, "nothing is left in flight");
  return 0;
}
