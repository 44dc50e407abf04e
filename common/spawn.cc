#include "common/spawn.h"

#include <typeinfo>

#include "common/log.h"

namespace pullcache {
namespace {

std::atomic<std::uint64_t> g_escaped{0};

}  // namespace

std::uint64_t escapedExceptionCount() noexcept { return g_escaped.load(std::memory_order_relaxed); }

void noteEscapedException(const char* task, std::exception_ptr e) noexcept {
  g_escaped.fetch_add(1, std::memory_order_relaxed);
  try {
    auto log = componentLogger("app");
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log->error("internal error: {} ended by an exception ({}): {}", task, typeid(x).name(),
                 x.what());
    } catch (...) {
      log->error("internal error: {} ended by an exception of unknown type", task);
    }
  } catch (...) {
    // Logging itself failed (out of memory): the count above is all that is left.
  }
}

void LogEscaped::operator()(std::exception_ptr e) const noexcept {
  if (e) noteEscapedException(task_, e);
}

}  // namespace pullcache
