// What the mcpctl tests share: one real nats-server and real mcpd nodes on it (each its own
// node id and store, each serving the native fake MCP server as "fake"), a NATS client to wait
// for them with, and mcpctl aimed at that NATS; the nodes are asked to stop with SIGTERM when
// the fixture goes, killed if they do not exit in time. Also reading how a run of mcpctl ended:
// json_out (what it printed, as JSON) and ExitsWith (a matcher on its status and output).
#pragma once

#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::test {

// One node's config: its id, the NATS at `nats_url`, and the fake server as "fake".
inline std::string fake_node_toml(const std::string& id, const std::string& nats_url) {
  return "[node]\nid = \"" + id + "\"\n[nats]\nurl = \"" + nats_url + "\"\n[[servers]]\nname = \"fake\"\ncommand = \"" +
         fake_server_path() + "\"\nminSessions = 1\nmaxSessions = 2\n";
}

struct McpdNodes {
  NatsServer nats;
  std::shared_ptr<bus::Connection> client;
  std::vector<std::unique_ptr<DaemonProcess>> nodes;  // in the order of their ids

  // Starts a node per id; the test waits for them in the way it relies on (each starts its
  // servers before it answers).
  McpdNodes(const std::string& client_name, const std::vector<std::string>& ids) {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = client_name;
    client = bus::Connection::connect(o).value();
    for (const auto& id : ids) nodes.push_back(std::make_unique<DaemonProcess>(fake_node_toml(id, nats.url())));
  }
  ~McpdNodes() {
    for (auto& d : nodes) d->signal(SIGTERM);
    for (auto& d : nodes)
      if (!d->wait_exit(10s)) d->kill();
  }
  McpdNodes(const McpdNodes&) = delete;
  McpdNodes& operator=(const McpdNodes&) = delete;

  // mcpctl --nats <this NATS> args...
  Run run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--nats", nats.url()});
    return mcpctl(args);
  }
};

// What a run printed on stdout, as JSON (a discarded value if it is not JSON): the test stops
// here unless the run exited 0.
inline nlohmann::json json_out(const Run& r) {
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out, nullptr, false);
}

// Matches a Run that exited with `code` and, where given, whose stderr and stdout match:
//   CHECK_THAT(c.run({"server", "rm", "x"}), ExitsWith(1).err(Catch::Contains("no MCP server")));
// One assertion whose failure shows the whole run (status, stdout, stderr). The string
// matchers are held by reference, so build them inside the assertion, as above.
class ExitsWith : public Catch::MatcherBase<Run> {
 public:
  using StringMatcher = Catch::MatcherBase<std::string>;

  explicit ExitsWith(int code) : code_(code) {}
  ExitsWith& err(const StringMatcher& m) {
    err_ = &m;
    return *this;
  }
  ExitsWith& out(const StringMatcher& m) {
    out_ = &m;
    return *this;
  }

  bool match(const Run& r) const override {
    return r.exit_code == code_ && (!err_ || err_->match(r.err)) && (!out_ || out_->match(r.out));
  }
  std::string describe() const override {
    std::string d = "\n--- wanted: exit " + std::to_string(code_);  // on its own line, after the run
    if (err_) d += ", stderr " + err_->toString();
    if (out_) d += ", stdout " + out_->toString();
    return d;
  }

 private:
  int code_;
  const StringMatcher* err_ = nullptr;
  const StringMatcher* out_ = nullptr;
};

}  // namespace mcpd::test
