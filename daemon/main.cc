// pullcache: argv -> config -> App; exit codes. Nothing else.
//   0 ok, 1 runtime failure, 2 usage error, 3 invalid configuration.
#include <cstdio>
#include <cstring>
#include <string>

#include "daemon/app.h"
#include "daemon/config/config.h"
#include "daemon/logging.h"

namespace {

constexpr const char* kUsage =
    "usage: pullcache serve --config FILE\n"
    "       pullcache check-config FILE\n"
    "       pullcache version\n";

int checkConfig(const std::string& path) {
  auto c = pullcache::config::loadConfig(path);
  if (!c) {
    std::fprintf(stderr, "pullcache: %s\n", c.error().detail.c_str());
    return 3;
  }
  std::printf("%s: ok (%zu upstreams, listen %s, cache %s)\n", path.c_str(),
              c.value().upstreams.size(), c.value().listen.str().c_str(),
              c.value().cache.dir.c_str());
  return 0;
}

int serve(const std::string& path) {
  auto c = pullcache::config::loadConfig(path);
  if (!c) {
    std::fprintf(stderr, "pullcache: %s\n", c.error().detail.c_str());
    return 3;
  }
  pullcache::setupLogging(c.value().log);
  try {
    pullcache::App app(std::move(c).value());
    return app.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pullcache: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "version") == 0) {
    std::printf("pullcache %s (commit %s)\n", PULLCACHE_VERSION, PULLCACHE_COMMIT);
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "check-config") == 0) return checkConfig(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "serve") == 0 && std::strcmp(argv[2], "--config") == 0)
    return serve(argv[3]);
  std::fputs(kUsage, stderr);
  return 2;
}
