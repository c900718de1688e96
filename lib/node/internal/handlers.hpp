// The node's endpoints, one registration function per subject family, each in its own file
// under handlers/. register_endpoints() (manager.cpp) calls them in this order. Internal to lib/node.
//
//   handlers/execute.cpp     <prefix>.<server>.execute                       (queue group)
//   handlers/list_tools.cpp  <prefix>.<server>.list-tools                    (queue group)
//   handlers/server_requests.cpp  <prefix>.<server>.{resources.list,resources.templates,
//                            resources.read,prompts.list,prompts.get,complete}  (queue group)
//   handlers/admin.cpp       <prefix>.admin.servers.{put,delete,get,list}    (queue group)
//   handlers/forwarded.cpp   <prefix>.nodes.<this node>.<server>.execute     (this node only)
//   handlers/tasks.cpp       <prefix>.tasks.{get,result,list,cancel,input}   (queue group)
//                            <prefix>.nodes.<this node>.tasks.input          (this node only)
//   handlers/oauth_handover.cpp  <prefix>.nodes.<this node>.oauth.{key,grant}  (this node only)
//
// A new subject family: a file here with its add_*(), declared below, and one line in
// register_endpoints() (manager.cpp).
#pragma once

#include "node/endpoint_table.hpp"

#include <memory>
#include <string>

namespace mcpd::node {

struct Node;

void add_execute(const std::shared_ptr<Node>& node);
void add_list_tools(const std::shared_ptr<Node>& node);
void add_server_requests(const std::shared_ptr<Node>& node);
void add_admin(const std::shared_ptr<Node>& node);
void add_forwarded(const std::shared_ptr<Node>& node);
void add_tasks(const std::shared_ptr<Node>& node);
void add_oauth_handover(const std::shared_ptr<Node>& node);

// A tool call, from a caller (forwarded = false) or from the node that received it
// (forwarded = true: this node owns its session; it is never forwarded again). Any thread
// that may not block: hands blocking steps (catalog fetch, affinity lookup) to the pool.
void execute(const std::shared_ptr<Node>& node, std::string server, nlohmann::json body, ReplyTo to, TraceContext trace,
             bool forwarded);

// A request_id for a call that came without one: "mcpd-" and 16 random hex digits.
std::string new_request_id();

}  // namespace mcpd::node
