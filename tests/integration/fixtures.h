#pragma once
// Real components for integration tests, each in its own temp dir on free loopback ports:
// Debian's docker-registry (CNCF distribution) as the upstream, the pullcache binary, and
// containerd with its own root, state and socket.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace pullcache::testing {

class RegistryServer {
 public:
  // With `htpasswd_user`, the registry requires Basic auth (htpasswd) for everything.
  explicit RegistryServer(std::string dir, std::string htpasswd_user = {},
                          std::string htpasswd_password = {});
  ~RegistryServer();
  void start();  // no-op if it is running
  void stop();
  [[nodiscard]] bool running() const { return process_ && process_->running(); }
  [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int port() const { return port_; }
  // Requests in the registry's access log with this method and exact path (query excluded).
  [[nodiscard]] int countRequests(const std::string& method, const std::string& path) const;
  // The file a blob's bytes are stored in (to corrupt it in tests).
  [[nodiscard]] std::string blobDataPath(const std::string& digest) const;

 private:
  std::string dir_;
  int port_;
  std::unique_ptr<Process> process_;
};

struct PullcacheOptions {
  std::string extra_yaml;  // appended to the generated config
  std::string tag_ttl = "60s";
  // Lines added to the cache: section. The default turns the free-space floor off: the tests
  // must not depend on how full this machine's disk is.
  std::string cache_yaml = "  min_free_bytes: 0\n";
  // Replaces the generated upstreams: list and default_upstream (full YAML, top level).
  std::string upstreams_yaml;
  std::string upstream_timeouts = "{connect: 2s, stall: 10s, request: 20s}";
  // Environment for the daemon, on top of the test's own ("NAME=value").
  std::vector<std::string> env;
  // Run the daemon with this resolv.conf (in a mount namespace of its own, bind-mounted over
  // /etc/resolv.conf, as `ip netns exec` does): its system resolver asks that DNS server.
  std::string resolv_conf;
};

class PullcacheServer {
 public:
  PullcacheServer(std::string dir, std::string upstream_host, PullcacheOptions options = {});
  ~PullcacheServer();
  void start();
  void kill9();
  int stop();  // SIGTERM; returns the exit status (-1 if it had to be killed)
  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  [[nodiscard]] std::string healthUrl(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(health_port_) + path;
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return process_ ? process_->pid() : -1; }
  [[nodiscard]] const std::string& cacheDir() const { return cache_dir_; }
  // Where a committed blob ("sha256:<hex>") lives in the cache directory.
  [[nodiscard]] std::string blobFile(const std::string& digest) const;
  [[nodiscard]] std::string log() const { return process_ ? process_->log() : std::string(); }
  [[nodiscard]] std::string configPath() const { return dir_ + "/pullcache.yaml"; }
  [[nodiscard]] const std::vector<std::string>& env() const { return options_.env; }

 private:
  std::string dir_;
  std::string cache_dir_;
  std::string upstream_host_;
  PullcacheOptions options_;
  int port_;
  int health_port_;
  std::unique_ptr<Process> process_;
};

class Containerd {
 public:
  explicit Containerd(std::string dir);
  ~Containerd();
  void start();
  // ctr images pull through the hosts dir; returns ctr's exit code and output.
  // In containerd namespace `ns` (content is not shared across namespaces here, so a pull in a
  // new namespace downloads everything again).
  CommandResult pull(const std::string& ref, const std::string& hosts_dir,
                     const std::string& ns = "default");
  [[nodiscard]] const std::string& socket() const { return socket_; }

 private:
  std::string dir_;
  std::string socket_;
  std::unique_ptr<Process> process_;
};

// <hosts_dir>/<registry_host>/hosts.toml: try `mirror_url` first, then the registry itself.
void writeHostsToml(const std::string& hosts_dir, const std::string& registry_host,
                    const std::string& mirror_url);

std::string pullcacheBinary();

// GET /metrics, parsed: series (name + labels as printed) -> value.
std::map<std::string, double> scrapeMetrics(const PullcacheServer& pc);

// skopeo copy of <pullcache>/<repo_tag> into an OCI layout at dest (plain HTTP, no ns).
CommandResult skopeoPull(const PullcacheServer& pc, const std::string& repo_tag,
                         const std::string& dest);

}  // namespace pullcache::testing
