// Locking the compiler checks: clang's -Wthread-safety attributes (abseil's
// ABSL_GUARDED_BY family) and a Mutex / MutexLock pair that carry them, since libstdc++'s
// std::mutex does not. Under GCC the macros are empty and Mutex is a plain std::mutex; the
// `thread_safety_lint` test builds lib/ with clang to check them.
#pragma once

#include <mutex>

#if defined(__clang__)
#define MCPD_TSA(x) __attribute__((x))
#else
#define MCPD_TSA(x)
#endif

#define MCPD_CAPABILITY(name) MCPD_TSA(capability(name))
#define MCPD_SCOPED_CAPABILITY MCPD_TSA(scoped_lockable)
#define MCPD_GUARDED_BY(m) MCPD_TSA(guarded_by(m))
#define MCPD_PT_GUARDED_BY(m) MCPD_TSA(pt_guarded_by(m))
#define MCPD_REQUIRES(...) MCPD_TSA(requires_capability(__VA_ARGS__))
#define MCPD_EXCLUDES(...) MCPD_TSA(locks_excluded(__VA_ARGS__))
#define MCPD_ACQUIRE(...) MCPD_TSA(acquire_capability(__VA_ARGS__))
#define MCPD_RELEASE(...) MCPD_TSA(release_capability(__VA_ARGS__))
#define MCPD_ACQUIRED_AFTER(...) MCPD_TSA(acquired_after(__VA_ARGS__))

namespace mcpd {

// A std::mutex the analysis knows about.
class MCPD_CAPABILITY("mutex") Mutex {
 public:
  void lock() MCPD_ACQUIRE() { mu_.lock(); }
  void unlock() MCPD_RELEASE() { mu_.unlock(); }
  // For std::condition_variable_any and the like.
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope (std::unique_lock with the annotations): unlock() and lock()
// let go of it for a while inside the scope.
class MCPD_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) MCPD_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() MCPD_RELEASE() {
    if (held_) mu_.unlock();
  }
  void unlock() MCPD_RELEASE() {
    mu_.unlock();
    held_ = false;
  }
  void lock() MCPD_ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
  bool held_ = true;
};

}  // namespace mcpd
