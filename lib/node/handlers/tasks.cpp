// <prefix>.tasks.get|result|list|cancel|input (queue group): the tasks of the contract 1.1,
// answered by any node from the task store (node/task_service.hpp); and
// <prefix>.nodes.<this node>.tasks.input|cancel: input for, or the cancel of, a task this node
// runs, sent by the node that received the caller's request.
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

namespace mcpd::node {

using Json = nlohmann::json;

namespace {

using Verb = void (TaskService::*)(Json, ReplyTo);

void add_verb(const std::shared_ptr<Node>& node, const std::string& verb, schema::Payload payload, Verb method) {
  std::weak_ptr<Node> weak = node;
  node->table.add(EndpointSpec{
      .name = "tasks." + verb,
      .pattern = "tasks." + verb,
      .stats_subject = {},
      .payload = payload,
      .runs = RunsOn::delivery,  // hands straight to the blocking pool
      .via = Via::queue,
      .error_extra = Json::object(),
      .handler =
          [weak, method](Request r) {
            if (auto n = weak.lock()) ((*n->tasks).*method)(std::move(r.body), std::move(r.reply_to));
          },
  });
}

}  // namespace

void add_tasks(const std::shared_ptr<Node>& node) {
  add_verb(node, "get", schema::Payload::task_id_request, &TaskService::get);
  add_verb(node, "result", schema::Payload::task_result_request, &TaskService::result);
  add_verb(node, "list", schema::Payload::task_list_request, &TaskService::list);
  add_verb(node, "cancel", schema::Payload::task_id_request, &TaskService::cancel);
  add_verb(node, "input", schema::Payload::task_input_request, &TaskService::input);

  std::weak_ptr<Node> weak = node;
  node->table.add(EndpointSpec{
      .name = "tasks.input",
      .pattern = "nodes." + node->opts.node_id + ".tasks.input",
      .stats_subject = {},
      .payload = schema::Payload::task_input_request,
      .runs = RunsOn::blocking,
      .via = Via::node,
      .error_extra = Json::object(),
      .handler =
          [weak](Request r) {
            if (auto n = weak.lock()) n->tasks->input_here(std::move(r.body), std::move(r.reply_to));
          },
  });
  // A plain publish (no reply wanted): taken straight off the subscription in Manager.
  node->table.ignore("nodes." + node->opts.node_id + ".tasks.cancel", Via::node);
  node->table.refuse("tasks.*.status", node->opts.subjects.task_status("<task_id>") +
                                          " carries a task's status events: subscribe to it, do not request it");
}

}  // namespace mcpd::node
