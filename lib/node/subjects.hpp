// The NATS subjects of the mcpd contract (v1) under a configurable prefix ("mcp" by default).
// Which handler serves which request subject is the EndpointTable's business (endpoint_table.hpp).
//
//   <prefix>.<name>.execute          tool call            (queue group)
//   <prefix>.<name>.list-tools       tool list            (queue group)
//   <prefix>.<name>.resources.list|templates|read, .prompts.list|get, .complete
//                                    a server's resources, prompts, completion (queue group)
//   <prefix>.servers.created|deleted catalog events       (every node)
//   <prefix>.admin.servers.<verb>    admin API            (queue group), verb: put|delete|get|list
//   <prefix>.nodes.<id>.<name>.execute  a call forwarded to the node that owns its session
//   <prefix>.nodes.heartbeat         node liveness        (every node)
//   <prefix>.tasks.<verb>            tasks (1.1)          (queue group), verb: get|result|list|cancel|input
//   <prefix>.tasks.<id>.status       a task's status events (published; every node listens)
//   <prefix>.nodes.<id>.tasks.input|cancel  input for, or the cancel of, a task that node runs
//   <prefix>.nodes.<id>.oauth.key|grant     that node's public key, and an OAuth grant sealed to it
//
// A call forwarded to its session's owner is a request to <prefix>.nodes.<id>.<name>.execute
// carrying the caller's reply subject in the Mcpd-Reply-To header. The owner acknowledges at
// once to the request's own reply subject (header Mcpd-Accepted, body {"accepted":true}) and
// answers the call to the caller. Without the header (an older node, a person testing by hand)
// the call is answered to the request's reply subject, like any other request.
#pragma once

#include <string>
#include <string_view>

namespace mcpd::node {

inline constexpr std::string_view kReplyToHeader = "Mcpd-Reply-To";
inline constexpr std::string_view kAcceptedHeader = "Mcpd-Accepted";

struct Subjects {
  std::string prefix = "mcp";

  std::string execute(std::string_view server) const { return prefix + "." + std::string(server) + ".execute"; }
  std::string list_tools(std::string_view server) const { return prefix + "." + std::string(server) + ".list-tools"; }
  std::string servers_created() const { return prefix + ".servers.created"; }
  std::string servers_deleted() const { return prefix + ".servers.deleted"; }
  std::string servers_events() const { return prefix + ".servers.*"; }
  std::string admin(std::string_view verb) const { return prefix + ".admin.servers." + std::string(verb); }
  // Everything under the prefix: one queue subscription serves every request subject.
  std::string all_requests() const { return prefix + ".>"; }
  // Node-to-node traffic (never served by the queue group): heartbeats and forwarded calls.
  std::string heartbeat() const { return prefix + ".nodes.heartbeat"; }
  std::string node_execute(std::string_view node, std::string_view server) const {
    return prefix + ".nodes." + std::string(node) + "." + std::string(server) + ".execute";
  }
  std::string node_requests(std::string_view node) const { return prefix + ".nodes." + std::string(node) + ".>"; }
  std::string task_status(std::string_view task_id) const { return prefix + ".tasks." + std::string(task_id) + ".status"; }
  std::string task_events() const { return prefix + ".tasks.*.status"; }
  std::string node_task(std::string_view node, std::string_view verb) const {
    return prefix + ".nodes." + std::string(node) + ".tasks." + std::string(verb);
  }
  std::string node_oauth(std::string_view node, std::string_view verb) const {
    return prefix + ".nodes." + std::string(node) + ".oauth." + std::string(verb);
  }

  // A subject a caller asks the node to publish to (status_subject, progress_subject): the node
  // publishes with its own rights, so never onto mcpd's own subjects or the system's ($SRV, $JS,
  // $KV), only a plain subject of the caller's. Empty if `subject` is one; else why not, naming
  // `field` (for an invalid_request).
  std::string caller_subject_problem(std::string_view field, const std::string& subject) const;
};

}  // namespace mcpd::node
