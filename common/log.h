#pragma once
// One named spdlog logger per component ("access", "fetch", "manifest", "app").
#include <spdlog/spdlog.h>

#include <memory>

namespace pullcache {

// The logger registered under `name` by setupLogging(), or a clone of the default logger (tests,
// tools that do not configure logging).
inline std::shared_ptr<spdlog::logger> componentLogger(const char* name) {
  auto l = spdlog::get(name);
  return l ? l : spdlog::default_logger()->clone(name);
}

}  // namespace pullcache
