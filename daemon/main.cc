// pullcache: argv -> config -> App or an operator command; exit codes. Nothing else.
//   0 ok, 1 runtime failure, 2 usage error, 3 invalid configuration.
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "daemon/app.h"
#include "daemon/cli/cache_commands.h"
#include "daemon/cli/containerd_hosts.h"
#include "daemon/cli/doctor.h"
#include "daemon/config/config.h"
#include "daemon/logging.h"

namespace {

constexpr const char* kUsage =
    "usage: pullcache serve --config FILE [--metrics-listen IP:PORT]\n"
    "       pullcache check-config FILE\n"
    "       pullcache stats --config FILE [--json]\n"
    "       pullcache gc --config FILE [--dry-run] [--json]\n"
    "       pullcache prefetch --config FILE [--all-platforms] IMAGE...\n"
    "       pullcache containerd-config --config FILE [--certs-dir DIR] [--containerd-config "
    "FILE]\n"
    "                 [--host-root DIR] [--mirror-url URL] [--dial-timeout D] [--all] [--remove]\n"
    "       pullcache doctor --config FILE [--image REF]...\n"
    "       pullcache version\n"
    "stats, gc and prefetch talk to the daemon on the config's listen address; stats and gc\n"
    "open the cache directory themselves when no daemon runs.\n";

int usage() {
  std::fputs(kUsage, stderr);
  return 2;
}

std::optional<pullcache::config::Config> load(const std::string& path, int* exit_code) {
  auto c = pullcache::config::loadConfig(path);
  if (!c) {
    std::fprintf(stderr, "pullcache: %s\n", c.error().detail.c_str());
    *exit_code = 3;
    return std::nullopt;
  }
  return std::move(c).value();
}

int checkConfig(const std::string& path) {
  int code = 0;
  auto c = load(path, &code);
  if (!c) return code;
  std::printf("%s: ok (%zu upstreams, listen %s, cache %s)\n", path.c_str(), c->upstreams.size(),
              c->listen.str().c_str(), c->cache.dir.c_str());
  return 0;
}

// `metrics_listen_override`: the DaemonSet passes the node's IP (known only at run time).
int serve(const std::string& path, const std::string& metrics_listen_override) {
  int code = 0;
  auto c = load(path, &code);
  if (!c) return code;
  if (!metrics_listen_override.empty()) {
    auto e = pullcache::config::parseEndpoint(metrics_listen_override);
    if (!e) {
      std::fprintf(stderr, "pullcache: --metrics-listen: %s\n", e.error().detail.c_str());
      return 3;
    }
    c->metrics_listen = e.value();
  }
  pullcache::setupLogging(c->log);
  try {
    pullcache::App app(std::move(*c));
    return app.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pullcache: %s\n", e.what());
    return 1;
  }
}

// stats | gc | prefetch | containerd-config: `--config FILE` anywhere, flags, then (prefetch)
// image references.
int command(const std::string& name, const std::vector<std::string>& args) {
  std::string config_path;
  bool json = false, dry_run = false, all_platforms = false;
  std::vector<std::string> images;
  pullcache::cli::ContainerdConfigOptions hosts;
  const bool containerd = name == "containerd-config";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--config" && has_value) {
      config_path = args[++i];
    } else if (containerd && a == "--host-root" && has_value) {
      hosts.host_root = args[++i];
    } else if (containerd && a == "--certs-dir" && has_value) {
      hosts.certs_dir = args[++i];
    } else if (containerd && a == "--containerd-config" && has_value) {
      hosts.containerd_config = args[++i];
    } else if (containerd && a == "--mirror-url" && has_value) {
      hosts.mirror_url = args[++i];
    } else if (containerd && a == "--dial-timeout" && has_value) {
      hosts.dial_timeout = args[++i];
    } else if (containerd && a == "--all") {
      hosts.all = true;
    } else if (containerd && a == "--remove") {
      hosts.remove = true;
    } else if (a == "--json" && (name == "stats" || name == "gc")) {
      json = true;
    } else if (a == "--dry-run" && name == "gc") {
      dry_run = true;
    } else if (a == "--all-platforms" && name == "prefetch") {
      all_platforms = true;
    } else if (name == "prefetch" && !a.starts_with("-")) {
      images.push_back(a);
    } else {
      std::fprintf(stderr, "pullcache %s: unexpected argument '%s'\n", name.c_str(), a.c_str());
      return usage();
    }
  }
  if (config_path.empty() || (name == "prefetch" && images.empty())) return usage();
  int code = 0;
  auto c = load(config_path, &code);
  if (!c) return code;
  // Stand-alone work logs like the daemon, on stderr, warnings only: stdout is the answer.
  pullcache::config::LogConfig log;
  log.level = "warn";
  pullcache::setupLogging(log);
  if (containerd) return pullcache::cli::containerdConfig(*c, hosts);
  if (name == "stats") return pullcache::cli::stats(*c, json);
  if (name == "gc") return pullcache::cli::gc(*c, dry_run, json);
  return pullcache::cli::prefetch(*c, images, all_platforms);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  const std::string& cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "version") {
    std::printf("pullcache %s (commit %s)\n", PULLCACHE_VERSION, PULLCACHE_COMMIT);
    return 0;
  }
  if (cmd == "check-config" && rest.size() == 1) return checkConfig(rest[0]);
  if (cmd == "serve" && rest.size() == 2 && rest[0] == "--config") return serve(rest[1], "");
  if (cmd == "serve" && rest.size() == 4 && rest[0] == "--config" && rest[2] == "--metrics-listen")
    return serve(rest[1], rest[3]);
  if (cmd == "doctor") {
    pullcache::cli::DoctorOptions options;
    for (std::size_t i = 0; i + 1 < rest.size(); i += 2) {
      if (rest[i] == "--config") {
        options.config_path = rest[i + 1];
      } else if (rest[i] == "--image") {
        options.images.push_back(rest[i + 1]);
      } else {
        return usage();
      }
    }
    if (options.config_path.empty() || rest.size() % 2 != 0) return usage();
    pullcache::config::LogConfig log;
    log.level = "off";  // the report is the output
    pullcache::setupLogging(log);
    return pullcache::cli::doctor(options);
  }
  if (cmd == "stats" || cmd == "gc" || cmd == "prefetch" || cmd == "containerd-config")
    return command(cmd, rest);
  return usage();
}
