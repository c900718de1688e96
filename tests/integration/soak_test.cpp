// The soak and chaos scenario (support/soak.hpp), short: a mixed load of shared and isolated
// sessions, fast and slow tools, a server that crashes every 40 calls, one that hangs and one
// that floods stderr, against the real mcpd (one node, then the 3-node cluster with a
// nats-server restarted mid-run). What a user would notice: a reply the scenario cannot
// explain, memory that keeps growing, or processes and descriptors the node does not give back.
//
// Labelled `soak` in ctest: RSS bounds mean nothing under AddressSanitizer, so the sanitizer
// stage leaves these out.
#include "support/soak.hpp"

#include <catch2/catch.hpp>

#include <iostream>

using namespace mcpd::test;
using namespace std::chrono_literals;

namespace {

// RSS growth of one mcpd from the end of the warm-up to the end. Measured on this scenario
// (RelWithDebInfo, 2 shared vCPUs, six runs of both cases): +0.0 to +0.1 MiB in node mode,
// +0.0 to +0.3 MiB per node in the cluster, nats-server restart included; +0.0 and at most
// +0.3 per node over 2-minute runs of mcpd_bench_soak. What may grow after the warm-up without
// a leak: more isolated sessions alive at once than during the warm-up (at most callers + 8;
// start to warm-up, five more sessions cost ~0.6 MiB) and nats.c's reconnect buffer while a
// node's server is away (a few hundred KiB of replies here). 8 MiB is above both together and
// over 20 times what was measured; in node mode (~4,700 calls and ~45 session starts after the
// warm-up: isolated ids coming back, crashy's restarts) a leak of ~2 KiB per call or ~190 KiB
// per session start crosses it. Smaller leaks are the 2-minute benchmark's to show.
constexpr long kRssGrowthKib = 8 * 1024;

void check(const soak::Report& r) {
  std::cout << r.table() << std::flush;  // shown when run by hand, and by ctest on failure
  INFO(r.table() << "\nthe nodes' last log lines:\n" << r.logs);
  // Every outcome is one the scenario explains (soak::explained says why each one is).
  CHECK(r.unexplained().empty());
  // Each kind of call did what it is for: the crashes happened and were survived, the hanging
  // tool timed out, everything else answered.
  for (int k = 0; k < soak::kKinds; ++k) {
    if (k == soak::hangs) continue;
    INFO("kind " << soak::kKindNames[k]);
    CHECK(r.count(soak::Kind(k), "ok") > 0);
  }
  CHECK(r.count(soak::hangs, "timeout") > 0);
  // A crash costs only the calls on that session at that moment: at most one per caller.
  CHECK(r.crashy_restarts > 0);
  CHECK(r.count(soak::crashy, "unavailable") <= (r.crashy_restarts + 1) * static_cast<std::uint64_t>(r.callers));
  // Memory after the warm-up stays within the bound on every node.
  REQUIRE(r.warm.size() == r.end.size());
  for (std::size_t i = 0; i < r.end.size(); ++i) {
    INFO("node " << i + 1);
    CHECK(r.end[i].rss_kib - r.warm[i].rss_kib < kRssGrowthKib);
    CHECK(r.end[i].zombies == 0);
  }
  // Back to the start: isolated sessions idled out, crashed servers replaced, their pipes closed.
  CHECK(r.settled);
  for (std::size_t i = 0; i < r.end.size(); ++i) {
    INFO("node " << i + 1);
    CHECK(r.end[i].children == r.start[i].children);
    CHECK(r.end[i].fds == r.start[i].fds);
  }
  // And nothing the nodes ran outlived them.
  CHECK(r.survivors == 0);
  // After a nats-server restart every kind is answered again (the load runs on past it).
  if (!r.restart.empty())
    for (int k = 0; k < soak::kKinds; ++k) {
      if (k == soak::hangs) continue;
      INFO("kind " << soak::kKindNames[k] << ", after the restart");
      CHECK(r.ok_after_restart[static_cast<std::size_t>(k)] > 0);
    }
}

}  // namespace

TEST_CASE("soak: one node under crashes and hangs and a stderr flood explains every reply and gives back all") {
  soak::Options o;
  o.mode = soak::Mode::node;
  o.duration = 25s;
  o.callers = 8;
  check(soak::run(o));
}

TEST_CASE("soak: the 3-node cluster under the same load survives a nats-server restart and gives back what it took") {
  soak::Options o;
  o.mode = soak::Mode::cluster;
  o.duration = 30s;
  o.callers = 9;  // three through each nats-server
  check(soak::run(o));
}
