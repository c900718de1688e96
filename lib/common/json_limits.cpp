#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>
#include <vector>

namespace mcpd::json {

namespace {

using Json = nlohmann::json;

// Builds the document as nlohmann's own DOM parser does, counting depth on the way. A
// container that would sit deeper than the bound either stops the parse (refuse) or is
// skipped, null taking its place (prune). Skipped input is only counted, never stored.
class Builder final : public nlohmann::json_sax<Json> {
 public:
  Builder(Json& root, std::size_t max_depth, bool prune) : root_(root), max_depth_(max_depth), prune_(prune) {}

  bool too_deep = false;
  std::string error;  // the parser's message for text that is not JSON

  bool null() override { return put(Json(nullptr)); }
  bool boolean(bool v) override { return put(Json(v)); }
  bool number_integer(number_integer_t v) override { return put(Json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(Json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return put(Json(v)); }
  bool string(string_t& v) override { return put(Json(std::move(v))); }
  bool binary(binary_t& v) override { return put(Json::binary(std::move(v))); }  // not in JSON text
  bool start_object(std::size_t) override { return open(Json::value_t::object); }
  bool start_array(std::size_t) override { return open(Json::value_t::array); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (skipping_ == 0) slot_ = &(*stack_.back())[std::move(k)];  // a repeated key: the last wins
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = e.what();
    return false;
  }

 private:
  bool put(Json&& v) {
    if (skipping_ == 0) place(std::move(v));
    return true;
  }
  Json* place(Json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    if (Json& top = *stack_.back(); top.is_array()) {
      auto& array = top.get_ref<Json::array_t&>();
      array.push_back(std::move(v));
      return &array.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }
  bool open(Json::value_t type) {
    if (skipping_ > 0) {
      ++skipping_;
      return true;
    }
    if (stack_.size() >= max_depth_) {
      too_deep = true;
      if (!prune_) return false;
      place(Json(nullptr));
      skipping_ = 1;
      return true;
    }
    stack_.push_back(place(Json(type)));
    return true;
  }
  bool close() {
    if (skipping_ > 0)
      --skipping_;
    else
      stack_.pop_back();
    return true;
  }

  Json& root_;
  const std::size_t max_depth_;
  const bool prune_;
  std::vector<Json*> stack_;  // the open containers, outermost first
  Json* slot_ = nullptr;      // the member the next value of the innermost object goes to
  std::size_t skipping_ = 0;  // > 0: inside a pruned container, this many levels down
};

Error not_json(const Builder& b) {
  return make_error(Errc::invalid_request, b.error.empty() ? "not valid JSON" : b.error);
}

}  // namespace

std::string too_deep_message(std::size_t max_depth) {
  return "JSON nesting deeper than " + std::to_string(max_depth) + " levels";
}

Result<Json> parse(std::string_view text, std::size_t max_depth) {
  Json root;
  Builder b(root, max_depth, /*prune=*/false);
  if (Json::sax_parse(text, &b)) return root;
  if (b.too_deep) return make_error(Errc::invalid_request, too_deep_message(max_depth));
  return not_json(b);
}

Result<Json> parse_pruned(std::string_view text, std::size_t max_depth, bool& pruned) {
  Json root;
  Builder b(root, max_depth, /*prune=*/true);
  const bool ok = Json::sax_parse(text, &b);
  pruned = b.too_deep;
  if (!ok) return not_json(b);
  return root;
}

std::size_t depth_of(const Json& value) {
  std::size_t deepest = 0;
  std::vector<std::pair<const Json*, std::size_t>> todo{{&value, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    for (const auto& child : *v) todo.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace mcpd::json
