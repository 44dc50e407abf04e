// pullcache: argv -> config -> App or an operator command; exit codes. Nothing else.
//
// Exit codes (the same table ends `pullcache --help`; constants in daemon/cli/command_line.h):
//   0  ok
//   1  runtime failure: the command ran and failed (no daemon, upstream down, a check failed)
//   2  usage error: unknown command or option, missing argument, malformed image reference
//   3  invalid configuration: the --config file does not load
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "daemon/app.h"
#include "daemon/cli/cache_commands.h"
#include "daemon/cli/command_line.h"
#include "daemon/cli/containerd_hosts.h"
#include "daemon/cli/doctor.h"
#include "daemon/config/config.h"
#include "daemon/logging.h"

namespace {

using pullcache::cli::CommandSpec;
using pullcache::cli::kExitConfig;
using pullcache::cli::kExitFailure;
using pullcache::cli::kExitOk;
using pullcache::cli::kExitUsage;
using pullcache::cli::ParsedArgs;

constexpr std::string_view kExitCodes =
    "exit codes:\n"
    "  0  ok\n"
    "  1  runtime failure: the command ran and failed (no daemon, upstream down, a check failed)\n"
    "  2  usage error: unknown command or option, missing argument, malformed image reference\n"
    "  3  invalid configuration: the --config file does not load\n";

constexpr pullcache::cli::OptionSpec kConfig{"--config", "FILE", "the daemon's configuration",
                                             true};

std::optional<pullcache::config::Config> load(const std::string& path, int* exit_code) {
  auto c = pullcache::config::loadConfig(path);
  if (!c) {
    std::fprintf(stderr, "pullcache: %s\n", c.error().detail.c_str());
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  return std::move(c).value();
}

// Operator commands log like the daemon, on stderr, warnings only: stdout is the answer.
void quietLogging(const char* level) {
  pullcache::config::LogConfig log;
  log.level = level;
  pullcache::setupLogging(log);
}

int runServe(const ParsedArgs& a) {
  int code = kExitOk;
  auto c = load(a.value("--config"), &code);
  if (!c) return code;
  // The DaemonSet passes the node's IP (known only at run time).
  if (a.has("--metrics-listen")) {
    auto e = pullcache::config::parseEndpoint(a.value("--metrics-listen"));
    if (!e) {
      std::fprintf(stderr, "pullcache: --metrics-listen: %s\n", e.error().detail.c_str());
      return kExitConfig;
    }
    c->metrics_listen = e.value();
  }
  pullcache::setupLogging(c->log);
  try {
    pullcache::App app(std::move(*c));
    return app.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pullcache: %s\n", e.what());
    return kExitFailure;
  }
}

int runCheckConfig(const ParsedArgs& a) {
  const std::string& path = a.positional[0];
  int code = kExitOk;
  auto c = load(path, &code);
  if (!c) return code;
  std::printf("%s: ok (%zu upstreams, listen %s, cache %s)\n", path.c_str(), c->upstreams.size(),
              c->listen.str().c_str(), c->cache.dir.c_str());
  return kExitOk;
}

// The commands that load the config and then act on the cache or the node.
template <typename Run>
int withConfig(const ParsedArgs& a, Run run) {
  int code = kExitOk;
  auto c = load(a.value("--config"), &code);
  if (!c) return code;
  quietLogging("warn");
  return run(*c);
}

int runStats(const ParsedArgs& a) {
  return withConfig(a, [&](const auto& c) { return pullcache::cli::stats(c, a.has("--json")); });
}

int runGc(const ParsedArgs& a) {
  return withConfig(
      a, [&](const auto& c) { return pullcache::cli::gc(c, a.has("--dry-run"), a.has("--json")); });
}

int runPrefetch(const ParsedArgs& a) {
  return withConfig(a, [&](const auto& c) {
    return pullcache::cli::prefetch(c, a.positional, a.has("--all-platforms"));
  });
}

int runContainerdConfig(const ParsedArgs& a) {
  pullcache::cli::ContainerdConfigOptions o;
  o.host_root = a.value("--host-root", o.host_root);
  o.certs_dir = a.value("--certs-dir", o.certs_dir);
  o.containerd_config = a.value("--containerd-config", o.containerd_config);
  o.containerd_address = a.value("--containerd-address", o.containerd_address);
  o.mirror_url = a.value("--mirror-url", o.mirror_url);
  o.dial_timeout = a.value("--dial-timeout", o.dial_timeout);
  o.all = a.has("--all");
  o.remove = a.has("--remove");
  o.strict = a.has("--strict");
  return withConfig(a, [&](const auto& c) { return pullcache::cli::containerdConfig(c, o); });
}

int runDoctor(const ParsedArgs& a) {
  pullcache::cli::DoctorOptions o;
  o.config_path = a.value("--config");
  o.images = a.all("--image");
  o.host_root = a.value("--host-root", o.host_root);
  o.containerd_config = a.value("--containerd-config", o.containerd_config);
  o.containerd_address = a.value("--containerd-address", o.containerd_address);
  o.certs_dir = a.value("--certs-dir", o.certs_dir);
  quietLogging("off");  // the report is the output
  return pullcache::cli::doctor(o);
}

int runVersion(const ParsedArgs&) {
  std::printf("pullcache %s (commit %s)\n", PULLCACHE_VERSION, PULLCACHE_COMMIT);
  return kExitOk;
}

int runHelp(const ParsedArgs& a);

struct Command {
  CommandSpec spec;
  int (*run)(const ParsedArgs&);
};

// Every command: its name, usage and options (which both parse argv and write --help), runner.
const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {{"serve",
        "run the daemon (the registry mirror, admin API and metrics)",
        "",
        {kConfig,
         {"--metrics-listen", "IP:PORT",
          "where /metrics, /healthz and /readyz answer (overrides "
          "the config's metrics_listen; the DaemonSet's node IP)"}}},
       runServe},
      {{"check-config", "validate a configuration file and exit", "", {}, "FILE", 1, 1},
       runCheckConfig},
      {{"stats",
        "cache size, budget, pins, hit ratio and top repositories",
        "Asks the daemon on the config's listen address; opens the cache directory itself when\n"
        "no daemon answers.",
        {kConfig, {"--json", "", "the answer as JSON (for scripts)"}}},
       runStats},
      {{"gc",
        "one eviction pass now (or the plan, with --dry-run)",
        "Asks the daemon on the config's listen address; opens the cache directory itself when\n"
        "no daemon answers. On a terminal, stderr shows that the pass is running.",
        {kConfig,
         {"--dry-run", "", "print what would be evicted, delete nothing"},
         {"--json", "", "the answer as JSON (for scripts)"}}},
       runGc},
      {{"prefetch",
        "pull whole images through the running daemon into its cache",
        "Pulls this node's platform of each IMAGE (a manifest list is walked down to it) through\n"
        "the daemon on the config's listen address. On a terminal, stderr shows progress (blobs,\n"
        "bytes, rate); otherwise stderr carries only errors. stdout: one line per image.",
        {kConfig, {"--all-platforms", "", "every platform of a manifest list"}},
        "IMAGE...",
        1,
        static_cast<std::size_t>(-1)},
       runPrefetch},
      {{"containerd-config",
        "point containerd at this cache (certs.d hosts.toml files)",
        "",
        {kConfig,
         {"--certs-dir", "DIR",
          "containerd's registry config_path (default /etc/containerd/certs.d)"},
         {"--containerd-config", "FILE",
          "containerd's config.toml, checked (default /etc/containerd/config.toml)"},
         {"--containerd-address", "SOCK",
          "containerd's socket, asked for its version (default /run/containerd/containerd.sock)"},
         {"--host-root", "DIR", "where the host's file system is mounted (in a container)"},
         {"--mirror-url", "URL",
          "the mirror containerd asks (default: the config's listen address)"},
         {"--dial-timeout", "D", "containerd's dial timeout for the mirror (default 500ms)"},
         {"--all", "", "also _default: every registry, not only the configured upstreams"},
         {"--remove", "", "uninstall: remove our entries, restore backed-up files"},
         {"--strict", "", "exit 1 when containerd's configuration cannot use the mirror"}}},
       runContainerdConfig},
      {{"doctor",
        "check every link from containerd to the upstream registries",
        "Config, cache directory, daemon, containerd, AWS credentials, ECR tokens, registries\n"
        "and a one-byte layer download; stops at the first broken link.",
        {kConfig,
         {"--image", "REF", "an image whose first layer to try", false, true},
         {"--host-root", "DIR", "where the host's file system is mounted (in a container)"},
         {"--containerd-config", "FILE",
          "containerd's config.toml (default /etc/containerd/config.toml)"},
         {"--containerd-address", "SOCK",
          "containerd's socket (default /run/containerd/containerd.sock)"},
         {"--certs-dir", "DIR", "containerd's certs.d (default /etc/containerd/certs.d)"}}},
       runDoctor},
      {{"version", "print the version and commit", "", {}}, runVersion},
      {{"help", "this list, or a command's help", "", {}, "COMMAND", 0, 1}, runHelp},
  };
  return table;
}

const Command* find(std::string_view name) {
  for (const auto& c : commands()) {
    if (c.spec.name == name) return &c;
  }
  return nullptr;
}

std::string programHelp() {
  std::vector<const CommandSpec*> specs;
  for (const auto& c : commands()) specs.push_back(&c.spec);
  return pullcache::cli::programHelp(specs, kExitCodes);
}

int usageError(const std::string& why, const std::string& usage) {
  std::fprintf(stderr, "pullcache: %s\n%s", why.c_str(), usage.c_str());
  return kExitUsage;
}

int runHelp(const ParsedArgs& a) {
  if (a.positional.empty()) {
    std::fputs(programHelp().c_str(), stdout);
    return kExitOk;
  }
  const Command* about = find(a.positional[0]);
  if (about == nullptr)
    return usageError("unknown command '" + a.positional[0] + "'", programHelp());
  std::fputs(pullcache::cli::commandHelp(about->spec, kExitCodes).c_str(), stdout);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usageError("no command", programHelp());
  if (args[0] == "--help" || args[0] == "-h") {
    std::fputs(programHelp().c_str(), stdout);
    return kExitOk;
  }
  const Command* command = find(args[0]);
  if (command == nullptr) return usageError("unknown command '" + args[0] + "'", programHelp());
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  auto parsed = pullcache::cli::parseCommandLine(command->spec, rest);
  using Kind = pullcache::cli::ParseOutcome::Kind;
  const std::string name(command->spec.name);
  switch (parsed.kind) {
    case Kind::kHelp:
      std::fputs(pullcache::cli::commandHelp(command->spec, kExitCodes).c_str(), stdout);
      return kExitOk;
    case Kind::kError:
      return usageError(name + ": " + parsed.error,
                        "usage: " + pullcache::cli::commandSynopsis(command->spec) +
                            "\n(pullcache " + name + " --help: its options)\n");
    case Kind::kRun:
      break;
  }
  return command->run(parsed.args);
}
