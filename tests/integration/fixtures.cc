#include "tests/integration/fixtures.h"

#include <crypt.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "tests/support/http_client.h"

namespace pullcache::testing {

std::string pullcacheBinary() { return PULLCACHE_BINARY; }

RegistryServer::RegistryServer(std::string dir, std::string htpasswd_user,
                               std::string htpasswd_password)
    : dir_(std::move(dir)), port_(freePort()) {
  std::filesystem::create_directories(dir_ + "/data");
  std::string auth;
  if (!htpasswd_user.empty()) {
    // bcrypt, as distribution's htpasswd backend requires (libxcrypt).
    const char* salt = ::crypt_gensalt("$2b$", 5, nullptr, 0);
    const char* hash = salt != nullptr ? ::crypt(htpasswd_password.c_str(), salt) : nullptr;
    if (hash == nullptr) throw std::runtime_error("bcrypt via crypt(3) failed");
    writeTextFile(dir_ + "/htpasswd", htpasswd_user + ":" + hash + "\n");
    auth = "auth:\n  htpasswd:\n    realm: pullcache-test\n    path: " + dir_ + "/htpasswd\n";
  }
  std::string config = "version: 0.1\n";
  config += "log:\n  level: warn\n  accesslog:\n    disabled: false\n";
  config += "storage:\n  filesystem:\n    rootdirectory: " + dir_ + "/data\n";
  config += "  delete:\n    enabled: true\n";
  config += "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
  config += auth;
  writeTextFile(dir_ + "/config.yml", config);
}

RegistryServer::~RegistryServer() { stop(); }

void RegistryServer::start() {
  if (running()) return;
  process_ = std::make_unique<Process>(
      std::vector<std::string>{"docker-registry", "serve", dir_ + "/config.yml"},
      dir_ + "/registry.log");
  auto up = [&] {
    int status = httpGet("http://" + host() + "/v2/").status;
    return status == 200 || status == 401;  // 401: it requires auth, and it is up
  };
  if (!waitFor(up, std::chrono::seconds(20))) {
    throw std::runtime_error("docker-registry did not start: " + process_->log());
  }
}

void RegistryServer::stop() {
  if (!process_) return;
  process_->kill(SIGTERM);
  if (process_->wait(std::chrono::seconds(10)) < 0) process_->kill(SIGKILL);
  process_->wait(std::chrono::seconds(5));
  process_.reset();
}

int RegistryServer::countRequests(const std::string& method, const std::string& path) const {
  std::istringstream in(readTextFile(dir_ + "/registry.log"));
  std::string needle = "\"" + method + " " + path;
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    auto pos = line.find(needle);
    if (pos == std::string::npos) continue;
    char after = line[pos + needle.size()];
    if (after == ' ' || after == '?') ++count;
  }
  return count;
}

std::string RegistryServer::blobDataPath(const std::string& digest) const {
  std::string hex = digest.substr(7);
  return dir_ + "/data/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

PullcacheServer::PullcacheServer(std::string dir, std::string upstream_host,
                                 PullcacheOptions options)
    : dir_(std::move(dir)),
      cache_dir_(dir_ + "/cache"),
      upstream_host_(std::move(upstream_host)),
      options_(std::move(options)),
      port_(freePort()),
      health_port_(freePort()) {
  std::string yaml =
      "listen: 127.0.0.1:" + std::to_string(port_) + "\n" +
      "metrics_listen: 127.0.0.1:" + std::to_string(health_port_) + "\n" +
      "cache:\n  dir: " + cache_dir_ + "\n  tag_ttl: " + options_.tag_ttl + "\n" +
      options_.cache_yaml + "upstream_timeouts: " + options_.upstream_timeouts + "\n" +
      (options_.upstreams_yaml.empty()
           ? "upstreams:\n  - match: \"" + upstream_host_ + "\"\n    url: http://" +
                 upstream_host_ + "\n" + "default_upstream: \"" + upstream_host_ + "\"\n"
           : options_.upstreams_yaml) +
      options_.extra_yaml;
  writeTextFile(configPath(), yaml);
}

PullcacheServer::~PullcacheServer() { stop(); }

std::string PullcacheServer::blobFile(const std::string& digest) const {
  std::string hex = digest.substr(digest.find(':') + 1);
  return cache_dir_ + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex;
}

void PullcacheServer::start() {
  std::vector<std::string> argv;
  if (!options_.resolv_conf.empty()) {
    // unshare and sh exec: the process is pullcache itself, signals reach it.
    argv = {"unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
            options_.resolv_conf};
  }
  for (std::string a :
       {pullcacheBinary(), std::string("serve"), std::string("--config"), configPath()})
    argv.push_back(std::move(a));
  process_ = std::make_unique<Process>(std::move(argv), dir_ + "/pullcache.log", options_.env);
  if (!waitFor([&] { return httpGet(healthUrl("/readyz")).status == 200; },
               std::chrono::seconds(20))) {
    throw std::runtime_error("pullcache did not become ready: " + process_->log());
  }
}

void PullcacheServer::kill9() {
  if (!process_) return;
  process_->kill(SIGKILL);
  process_->wait(std::chrono::seconds(10));
}

int PullcacheServer::stop() {
  if (!process_) return -1;
  process_->kill(SIGTERM);
  int status = process_->wait(std::chrono::seconds(10));
  if (status < 0) {
    process_->kill(SIGKILL);
    process_->wait(std::chrono::seconds(5));
  }
  return status;
}

Containerd::Containerd(std::string dir) : dir_(std::move(dir)), socket_(dir_ + "/containerd.sock") {
  writeTextFile(dir_ + "/config.toml",
                "version = 2\n"
                "root = \"" +
                    dir_ +
                    "/root\"\n"
                    "state = \"" +
                    dir_ +
                    "/state\"\n"
                    "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                    "[grpc]\n  address = \"" +
                    socket_ +
                    "\"\n"
                    "[debug]\n  level = \"warn\"\n"
                    "[plugins.\"io.containerd.metadata.v1.bolt\"]\n"
                    "  content_sharing_policy = \"isolated\"\n");
}

Containerd::~Containerd() {
  if (process_) {
    process_->kill(SIGTERM);
    if (process_->wait(std::chrono::seconds(10)) < 0) process_->kill(SIGKILL);
  }
  // Unmount anything the snapshotter left behind so the temp dir can be removed.
  runCommand({"sh", "-c", "grep -o ' " + dir_ + "[^ ]*' /proc/mounts | xargs -r -n1 umount -l"},
             std::chrono::seconds(20));
}

void Containerd::start() {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{"containerd", "--config", dir_ + "/config.toml"},
      dir_ + "/containerd.log");
  bool up = waitFor(
      [&] {
        return runCommand({"ctr", "-a", socket_, "version"}, std::chrono::seconds(5)).code == 0;
      },
      std::chrono::seconds(30));
  if (!up) throw std::runtime_error("containerd did not start: " + process_->log());
}

CommandResult Containerd::pull(const std::string& ref, const std::string& hosts_dir,
                               const std::string& ns) {
  return runCommand({"ctr", "-a", socket_, "-n", ns, "images", "pull", "--plain-http",
                     "--hosts-dir", hosts_dir, ref},
                    std::chrono::seconds(120));
}

void writeHostsToml(const std::string& hosts_dir, const std::string& registry_host,
                    const std::string& mirror_url) {
  writeTextFile(hosts_dir + "/" + registry_host + "/hosts.toml",
                "server = \"http://" + registry_host + "\"\n\n[host.\"" + mirror_url +
                    "\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
}

std::map<std::string, double> scrapeMetrics(const PullcacheServer& pc) {
  std::map<std::string, double> out;
  std::istringstream in(httpGet(pc.healthUrl("/metrics")).body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

CommandResult skopeoPull(const PullcacheServer& pc, const std::string& repo_tag,
                         const std::string& dest) {
  return runCommand({"skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                     "docker://127.0.0.1:" + std::to_string(pc.port()) + "/" + repo_tag,
                     "oci:" + dest + ":pulled"});
}

}  // namespace pullcache::testing
