#pragma once
#include "daemon/config/config.h"

namespace pullcache {
// Configures spdlog: level, text or JSON lines on stderr, and the named component loggers
// (access, fetch, manifest, app).
void setupLogging(const config::LogConfig& log);
}  // namespace pullcache
