// TaskStore over a JetStream key-value bucket: key "t.<task id>", value the stored JSON.
#include "bus/kv.hpp"
#include "tasks/store.hpp"

namespace mcpd::tasks {

namespace {

class KvTaskStore final : public TaskStore {
 public:
  KvTaskStore(std::unique_ptr<bus::KeyValue> kv, std::size_t max_bytes) : kv_(std::move(kv)), max_bytes_(max_bytes) {}

  Result<std::optional<Versioned>> get(const std::string& id) override {
    auto r = kv_->get_latest(key(id));  // a task created a moment ago through another node is there
    if (!r.ok()) return r.error();
    if (!r.value()) return std::optional<Versioned>{};
    auto t = from_stored(r.value()->value);
    if (!t.ok()) return t.error();
    return std::optional<Versioned>{Versioned{std::move(t).value(), r.value()->revision}};
  }

  Result<std::uint64_t> create(const Task& task) override {
    auto r = kv_->create(key(task.id), to_stored(task).dump());
    if (!r.ok()) return r.error();
    return r.value();
  }

  Result<std::optional<std::uint64_t>> update(const Task& task, std::uint64_t revision) override {
    auto r = kv_->update(key(task.id), to_stored(task).dump(), revision);
    if (bus::is_conflict(r)) return std::optional<std::uint64_t>{};
    if (!r.ok()) return r.error();
    return std::optional<std::uint64_t>{r.value()};
  }

  Status erase(const std::string& id) override {
    auto r = kv_->erase(key(id));
    if (!r.ok()) return r.error();
    return {};
  }

  Result<std::vector<Versioned>> all() override {
    auto keys = kv_->keys();
    if (!keys.ok()) return keys.error();
    std::vector<Versioned> out;
    for (const auto& k : keys.value()) {
      if (k.rfind("t.", 0) != 0) continue;
      auto v = get(k.substr(2));
      if (!v.ok()) return v.error();
      if (v.value()) out.push_back(std::move(*v.value()));
    }
    return out;
  }

  std::size_t max_record_bytes() const override { return max_bytes_; }
  std::string kind() const override { return "jetstream"; }

 private:
  static std::string key(const std::string& id) { return "t." + id; }
  std::unique_ptr<bus::KeyValue> kv_;
  std::size_t max_bytes_;
};

}  // namespace

Result<std::unique_ptr<TaskStore>> open_kv_store(bus::Connection& bus, KvStoreOptions options) {
  bus::KvOptions kv;
  kv.bucket = options.bucket;
  kv.replicas = options.replicas;
  // A task is removed by the sweeps once its TTL has passed; the bucket's own age limit is the
  // backstop for records nobody swept (every node down for a while).
  kv.ttl = options.max_ttl + std::chrono::minutes(10);
  kv.max_value_bytes = options.max_record_bytes;
  auto opened = bus::KeyValue::open(bus, kv);
  if (!opened.ok()) return opened.error();
  std::int64_t limit = options.max_record_bytes;
  if (limit <= 0) limit = bus.max_payload() > 0 ? bus.max_payload() : 1 << 20;
  // Leave room for the JetStream headers the value travels with.
  const auto bytes = static_cast<std::size_t>(std::max<std::int64_t>(4096, limit - 1024));
  return std::unique_ptr<TaskStore>(new KvTaskStore(std::move(opened).value(), bytes));
}

}  // namespace mcpd::tasks
