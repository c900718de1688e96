#include "tasks/task.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <random>

namespace mcpd::tasks {

namespace {
constexpr std::array<std::string_view, 5> kStatusNames = {"working", "input_required", "completed", "failed", "cancelled"};
}  // namespace

std::string_view to_string(TaskStatus s) { return kStatusNames[static_cast<std::size_t>(s)]; }

std::optional<TaskStatus> status_from(std::string_view s) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i)
    if (kStatusNames[i] == s) return static_cast<TaskStatus>(i);
  return std::nullopt;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string new_task_id() {
  // std::random_device reads the OS's random source on Linux (getrandom / /dev/urandom).
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (int i = 0; i < 4; ++i) {
    std::uint32_t v = rd();
    for (int j = 0; j < 8; ++j) {
      id.push_back(kHex[v & 0xf]);
      v >>= 4;
    }
  }
  return id;
}

bool valid_task_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Json to_stored(const Task& t) {
  Json j = {{"v", 1},
            {"task_id", t.id},
            {"owner", t.owner},
            {"server", t.server},
            {"tool", t.tool},
            {"status", std::string(to_string(t.status))},
            {"status_message", t.status_message},
            {"created_at_ms", t.created_at_ms},
            {"updated_at_ms", t.updated_at_ms},
            {"ttl_ms", t.ttl_ms},
            {"poll_interval_ms", t.poll_interval_ms},
            {"node", t.node},
            {"lease_until_ms", t.lease_until_ms},
            {"native", t.native}};
  if (!t.input_request.is_null()) j["input_request"] = t.input_request;
  if (!t.status_subject.empty()) j["status_subject"] = t.status_subject;
  if (t.reply) {
    Json r = {{"body", t.reply->body}};
    if (t.reply->error)
      r["error"] = {{"code", std::string(to_string(t.reply->error->code))}, {"message", t.reply->error->message}};
    j["reply"] = std::move(r);
  }
  return j;
}

Result<Task> from_stored(std::string_view text) {
  auto j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(Errc::internal, "a stored task is not a JSON object");
  try {
    Task t;
    t.id = j.at("task_id").get<std::string>();
    t.owner = j.value("owner", std::string());
    t.server = j.value("server", std::string());
    t.tool = j.value("tool", std::string());
    auto st = status_from(j.value("status", std::string()));
    if (!st) return make_error(Errc::internal, "stored task " + t.id + " has an unknown status");
    t.status = *st;
    t.status_message = j.value("status_message", std::string());
    t.created_at_ms = j.value("created_at_ms", std::int64_t{0});
    t.updated_at_ms = j.value("updated_at_ms", std::int64_t{0});
    t.ttl_ms = j.value("ttl_ms", std::int64_t{0});
    t.poll_interval_ms = j.value("poll_interval_ms", std::int64_t{1000});
    t.node = j.value("node", std::string());
    t.lease_until_ms = j.value("lease_until_ms", std::int64_t{0});
    t.native = j.value("native", false);
    if (auto it = j.find("input_request"); it != j.end()) t.input_request = *it;
    t.status_subject = j.value("status_subject", std::string());
    if (auto it = j.find("reply"); it != j.end() && it->is_object()) {
      StoredReply r;
      r.body = it->value("body", std::string());
      if (auto e = it->find("error"); e != it->end() && e->is_object()) {
        Error err = make_error(Errc::internal, e->value("message", std::string()));
        const std::string code = e->value("code", std::string());
        for (int c = 0; c <= static_cast<int>(Errc::internal); ++c)
          if (mcpd::to_string(static_cast<Errc>(c)) == code) err.code = static_cast<Errc>(c);
        r.error = std::move(err);
      }
      t.reply = std::move(r);
    }
    return t;
  } catch (const Json::exception& e) {
    return make_error(Errc::internal, std::string("a stored task is malformed: ") + e.what());
  }
}

Json to_public(const Task& t) {
  Json j = {{"task_id", t.id},
            {"status", std::string(to_string(t.status))},
            {"created_at", iso8601(t.created_at_ms)},
            {"updated_at", iso8601(t.updated_at_ms)},
            {"ttl_ms", t.ttl_ms},
            {"poll_interval_ms", t.poll_interval_ms},
            {"server", t.server},
            {"tool", t.tool}};
  if (!t.status_message.empty()) j["status_message"] = t.status_message;
  if (t.status == TaskStatus::input_required && !t.input_request.is_null()) j["input_request"] = t.input_request;
  return j;
}

}  // namespace mcpd::tasks
