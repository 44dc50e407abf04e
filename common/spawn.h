#pragma once
// How a coroutine is started when nobody awaits it (a session, a fetch, a refresh loop):
//
//   asio::co_spawn(executor, runSession(...), LogEscaped("session"));
//
// instead of asio::detached, which drops an exception that escapes the coroutine without a
// word. Whatever the coroutine registered must be released by RAII guards in its frame (they
// run while the exception leaves it); this handler only makes the escape visible: an error log
// line naming the task, and a process-wide count (pullcache_internal_errors_total).

#include <atomic>
#include <cstdint>
#include <exception>

namespace pullcache {

class LogEscaped {
 public:
  explicit LogEscaped(const char* task) noexcept : task_(task) {}
  void operator()(std::exception_ptr e) const noexcept;

 private:
  const char* task_;  // a string literal
};

// Exceptions that escaped a spawned coroutine (or were caught at a request boundary, see
// noteEscapedException) since the process started.
std::uint64_t escapedExceptionCount() noexcept;

// Logs `e` as having escaped `task` and counts it. For boundaries that catch and carry on (the
// session turns a throwing handler into a 500).
void noteEscapedException(const char* task, std::exception_ptr e) noexcept;

}  // namespace pullcache
