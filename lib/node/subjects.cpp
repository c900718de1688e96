#include "node/subjects.hpp"

#include "bus/message.hpp"

namespace mcpd::node {

std::string Subjects::caller_subject_problem(std::string_view field, const std::string& subject) const {
  if (bus::is_publish_subject(subject) && subject.front() != '$' && subject.rfind(prefix + ".", 0) != 0) return {};
  return std::string(field) + " '" + subject +
         "' is not one mcpd publishes to: give a plain subject of your own (an inbox works best), not under '" +
         prefix + ".' or '$'";
}

}  // namespace mcpd::node
