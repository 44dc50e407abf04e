#include "daemon/cli/doctor.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <set>

#include "common/fs.h"
#include "common/image_ref.h"
#include "common/manifest_refs.h"
#include "common/media_types.h"
#include "common/units.h"
#include "daemon/auth/ecr_auth.h"
#include "daemon/cli/cache_commands.h"
#include "daemon/cli/containerd_check.h"
#include "daemon/cli/containerd_facts.h"
#include "daemon/cli/containerd_hosts.h"
#include "daemon/config/config.h"
#include "daemon/http/curl_client.h"
#include "daemon/http/redirect.h"
#include "daemon/upstream/registry_client.h"
#include "daemon/upstream/upstream_router.h"

namespace pullcache::cli {
namespace {

class Report {
 public:
  void ok(const std::string& what, const std::string& detail) { line("ok", what, detail); }
  void warn(const std::string& what, const std::string& detail) { line("warn", what, detail); }
  void fail(const std::string& what, const std::string& detail) {
    line("FAIL", what, detail);
    failed_ = true;
  }
  [[nodiscard]] bool failed() const { return failed_; }

 private:
  static void line(const char* status, const std::string& what, const std::string& detail) {
    std::printf("  %-5s %-16s %s\n", status, what.c_str(), detail.c_str());
    std::fflush(stdout);
  }
  bool failed_ = false;
};

std::string isoTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string millisSince(std::chrono::steady_clock::time_point t0) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count()) +
         " ms";
}

bool isGlob(const std::string& match) { return match.find_first_of("*[") != std::string::npos; }

void checkCacheDir(const config::Config& c, Report& report) {
  const std::string& dir = c.cache.dir;
  std::error_code ec;
  std::string probe_dir = dir;
  if (!std::filesystem::exists(dir, ec)) {
    probe_dir = std::filesystem::path(dir).parent_path().string();
    if (::access(probe_dir.c_str(), W_OK) != 0) {
      report.fail("cache dir", dir + " does not exist and " + probe_dir + " is not writable");
      return;
    }
  } else {
    std::string probe = dir + "/.pullcache-doctor-XXXXXX";
    int fd = ::mkstemp(probe.data());
    if (fd < 0) {
      report.fail("cache dir", dir + " is not writable: " + std::strerror(errno));
      return;
    }
    bool wrote = ::write(fd, "x", 1) == 1;
    ::close(fd);
    ::unlink(probe.c_str());
    if (!wrote) {
      report.fail("cache dir", dir + ": writing failed (disk full?)");
      return;
    }
  }
  struct statvfs vfs {};
  if (::statvfs(probe_dir.c_str(), &vfs) != 0) {
    report.warn("cache dir", dir + ": statvfs failed");
    return;
  }
  const std::uint64_t total = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  const std::uint64_t avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  std::uint64_t min_free = 0;
  if (const auto* p = std::get_if<Percent>(&c.cache.min_free_bytes)) {
    min_free = static_cast<std::uint64_t>(static_cast<double>(total) * p->value / 100.0);
  } else {
    min_free = std::get<std::uint64_t>(c.cache.min_free_bytes);
  }
  std::string detail = dir + (probe_dir == dir ? ": writable; " : ": will be created; ") +
                       formatBytes(avail) + " free of " + formatBytes(total);
  if (avail < min_free) {
    report.warn("cache dir", detail + ", below min_free_bytes (" + formatBytes(min_free) +
                                 "): the cache will evict and store nothing new");
  } else {
    report.ok("cache dir", detail);
  }
}

// Will containerd ask pullcache at all? The node's containerd config and version
// (containerd_check.h), then the hosts.toml files containerd-config writes. False when
// containerd cannot use the mirror.
bool checkContainerdLink(const config::Config& c, const DoctorOptions& o, Report& report) {
  const auto facts =
      readContainerdFacts({o.host_root, o.containerd_config, o.containerd_address, o.certs_dir});
  if (!facts.config_text && facts.config_error.empty() && !facts.version) {
    report.warn("containerd", "not found (no " + o.host_root + o.containerd_config + ", " +
                                  facts.version_error +
                                  "): not checked; on a node, pass --host-root, "
                                  "--containerd-config and --containerd-address");
    return true;
  }
  const auto result = checkContainerd(facts);
  // Without an answer on the socket this containerd is not running (or not reachable from
  // here): what its config would do is reported, but as a warning, not a broken link.
  const bool live = facts.version_source.starts_with("version API");
  for (const auto& f : result.findings) {
    const std::string line = f.what + ": " + f.detail;
    if (f.severity == Severity::kFail && !live) {
      report.warn("containerd", line + " (containerd is not answering on " + o.containerd_address +
                                    ": not counted as a failure)");
    } else if (f.severity == Severity::kFail) {
      report.fail("containerd", line);
    } else if (f.severity == Severity::kWarn) {
      report.warn("containerd", line);
    } else {
      report.ok("containerd", line);
    }
  }
  if (result.broken() && live) return false;
  std::size_t written = 0;
  std::vector<std::string> missing;
  const auto entries = hostsEntries(c, false);
  for (const auto& e : entries) {
    const std::string path = o.host_root + o.certs_dir + "/" + e.dir + "/hosts.toml";
    auto text = readFile(path, 1 << 20);
    if (text && text.value().find(kBeginMarker) != std::string::npos) {
      ++written;
    } else {
      missing.push_back(o.certs_dir + "/" + e.dir + "/hosts.toml");
    }
  }
  if (missing.empty()) {
    report.ok("hosts.toml", std::to_string(written) + " of " + std::to_string(entries.size()) +
                                " written by pullcache under " + o.certs_dir);
  } else {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    report.warn("hosts.toml", "not written by pullcache: " + list +
                                  " (run pullcache containerd-config; the chart's init container "
                                  "does): those registries are pulled directly");
  }
  return true;
}

struct Doctor {
  const config::Config* config = nullptr;
  http::Client* http = nullptr;
  upstream::UpstreamRouter* router = nullptr;
  upstream::RegistryClient* client = nullptr;
  std::vector<std::string> images;
  Report report;
};

Task<void> checkDaemon(Doctor* d) {
  http::Request req;
  req.url = localRegistryUrl(d->config->listen) + "/v2/";
  req.timeout = std::chrono::seconds(3);
  auto resp = co_await d->http->send(std::move(req));
  if (resp && resp.value().status == 200) {
    d->report.ok("daemon", "answering on " + d->config->listen.str());
  } else {
    d->report.warn("daemon", "not answering on " + d->config->listen.str() +
                                 " (containerd goes to the registries directly meanwhile)");
  }
}

// "docker.io" for an upstream's only source, "docker.io source 1 (<registry>)" for one of several.
std::string sourceName(const upstream::Upstream& up, const upstream::Source& src) {
  if (up.sources.size() == 1) return up.host;
  const auto i = static_cast<std::size_t>(&src - up.sources.data());
  return up.host + " source " + std::to_string(i + 1) + " (" + src.path.str() + ")";
}

// An ECR source that cannot get a token stops the checks only when its upstream has no other
// source: with another one, requests go on to it, which checkRegistries then checks.
Task<bool> checkAws(Doctor* d) {
  bool any = false;
  std::optional<std::string> creds_error;  // the chain's failure, once asked
  for (const auto& host : d->router->literalHosts()) {
    auto up = d->router->resolve(host);
    if (!up) {
      d->report.fail("upstream", host + ": " + up.error().detail);
      co_return false;
    }
    const bool has_fallback = up.value()->sources.size() > 1;
    const auto problem = [&](const std::string& check, const std::string& what) {
      if (has_fallback) {
        d->report.warn(check, what + "; requests go on to the next source");
        return true;
      }
      d->report.fail(check, what);
      return false;
    };
    for (const auto& src : up.value()->sources) {
      const auto* ecr = dynamic_cast<const auth::EcrAuth*>(src.auth.get());
      if (ecr == nullptr) continue;
      const std::string name = sourceName(*up.value(), src);
      if (!any) {
        any = true;
        auto& chain = d->router->awsChain();
        std::string configured;
        for (const auto& n : chain.configuredProviders())
          configured += (configured.empty() ? "" : ", ") + n;
        auto creds = co_await chain.get();
        if (creds) {
          const auto& c = creds.value();
          d->report.ok("aws credentials",
                       c.provider + ": " + c.identity +
                           (c.expiration ? ", temporary until " + isoTime(*c.expiration) : "") +
                           " (configured here: " + (configured.empty() ? "none" : configured) +
                           ")");
        } else {
          creds_error = creds.error().detail;
        }
      }
      if (creds_error) {
        if (!problem("aws credentials", name + ": " + *creds_error)) co_return false;
        continue;
      }
      auto token = co_await src.auth->authorization(http::urlHost(src.base_url), "");
      if (!token) {
        if (!problem("ecr token", name + ": " + token.error().detail)) co_return false;
        continue;
      }
      auto status = ecr->source()->status();
      d->report.ok("ecr token", name + ": valid until " + isoTime(status.expires_at) + " (API " +
                                    ecr->source()->options().api_endpoint + ")");
    }
  }
  for (const auto& entry : d->config->upstreams) {
    if (isGlob(entry.match) && entry.match.find("dkr") != std::string::npos) {
      d->report.warn("ecr token", "match " + entry.match +
                                      ": checked when a registry is used (name one with --image)");
    }
  }
  if (!any) d->report.ok("aws", "no ECR registry named in the config; nothing to check");
  co_return true;
}

Task<bool> checkRegistries(Doctor* d) {
  for (const auto& host : d->router->literalHosts()) {
    auto up = d->router->resolve(host);
    if (!up) continue;  // reported by checkAws
    const auto& sources = up.value()->sources;
    std::size_t answering = 0;
    for (const auto& src : sources) {
      const std::string own = http::urlHost(src.base_url);
      auto auth = co_await src.auth->authorization(own, "");
      http::Request req;
      req.url = src.base_url + "/v2/";
      req.timeout = std::chrono::seconds(10);
      if (auth && !auth.value().empty()) req.headers.add("Authorization", auth.value());
      const auto t0 = std::chrono::steady_clock::now();
      auto resp = co_await d->http->send(std::move(req));
      const std::string where = sourceName(*up.value(), src) + " (" + src.base_url + ")";
      const bool ecr = src.auth->name() == "ecr";
      std::string problem;
      if (!resp) {
        problem = where + " unreachable: " + resp.error().detail;
      } else if (const int status = resp.value().status; status == 200 || (status == 401 && !ecr)) {
        ++answering;
        d->report.ok("registry",
                     where + ": /v2/ HTTP " + std::to_string(status) + " in " + millisSince(t0));
        continue;
      } else {
        problem = where + ": /v2/ answered HTTP " + std::to_string(status) +
                  (ecr ? " with the ECR token" : "");
      }
      // With another source, requests go on to it: a warning, unless none answers.
      if (sources.size() > 1)
        d->report.warn("registry", problem + "; requests go on to the next source");
      else
        d->report.fail("registry", problem);
    }
    if (answering == 0) {
      if (sources.size() > 1) d->report.fail("registry", host + ": no source answers");
      co_return false;
    }
  }
  co_return true;
}

enum class Found { kServed, kNotHere, kBroken };

// The manifest and one layer byte of `ref` from the one source of `up`. `name` says which
// source (empty: the upstream has one); unless `last`, a manifest it lacks is kNotHere.
Task<Found> checkLayerAt(Doctor* d, ImageRef ref, std::shared_ptr<const upstream::Upstream> up,
                         std::string name, bool last) {
  const std::string who = ref.str() + (name.empty() ? "" : " from " + name);
  Headers accept;
  accept.add("Accept", std::string(media::kManifestAccept));
  std::string reference = ref.digest ? std::string(ref.digest->str()) : ref.tag;
  auto m = co_await d->client->request(up, "GET", ref.repository, "manifests/" + reference, accept,
                                       4u << 20);
  if (!m || m.value().status != 200) {
    const std::string why =
        who + ": manifest " + (m ? "HTTP " + std::to_string(m.value().status) : m.error().detail);
    if (!last) {
      d->report.warn("layer download", why + "; the next source is asked");
      co_return Found::kNotHere;
    }
    d->report.fail("layer download", why);
    co_return Found::kBroken;
  }
  auto refs = parseManifestRefs(m.value().body);
  if (refs && refs.value().is_index && !refs.value().children.empty()) {
    std::string child(refs.value().children.front().digest.str());
    for (const auto& c : refs.value().children) {
      if (platformMatches(c.platform, hostPlatform())) {
        child = std::string(c.digest.str());
        break;
      }
    }
    m = co_await d->client->request(up, "GET", ref.repository, "manifests/" + child, accept,
                                    4u << 20);
    if (!m || m.value().status != 200) {
      d->report.fail("layer download", who + ": platform manifest failed");
      co_return Found::kBroken;
    }
    refs = parseManifestRefs(m.value().body);
  }
  if (!refs || refs.value().blobs.empty()) {
    d->report.fail("layer download", who + ": no layers in the manifest");
    co_return Found::kBroken;
  }
  const auto& blobs = refs.value().blobs;
  std::string layer(blobs[blobs.size() > 1 ? 1 : 0].digest.str());
  Headers range;
  range.add("Range", "bytes=0-0");
  const auto t0 = std::chrono::steady_clock::now();
  auto b =
      co_await d->client->request(up, "GET", ref.repository, "blobs/" + layer, range, 64 * 1024);
  if (!b || (b.value().status != 200 && b.value().status != 206)) {
    d->report.fail("layer download",
                   who + ": layer " + layer.substr(0, 19) + "...: " +
                       (b ? "HTTP " + std::to_string(b.value().status) : b.error().detail));
    co_return Found::kBroken;
  }
  std::string from = http::urlHost(b.value().effective_url);
  std::string own = http::urlHost(up->sources.front().base_url);
  d->report.ok("layer download", who + ": layer " + layer.substr(0, 19) + "... HTTP " +
                                     std::to_string(b.value().status) + " in " + millisSince(t0) +
                                     (from != own ? " via " + from : "") +
                                     (name.empty() ? "" : "; this source serves it"));
  co_return Found::kServed;
}

// One line per source tried: the first that has the image serves it, as for a pull.
Task<bool> checkLayer(Doctor* d, ImageRef ref) {
  auto up = d->router->resolve(ref.host);
  if (!up) {
    d->report.warn("layer download", ref.str() + ": " + up.error().detail);
    co_return true;
  }
  const auto& sources = up.value()->sources;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    auto only = std::make_shared<upstream::Upstream>(*up.value());
    only->sources = {sources[i]};
    const std::string name = sources.size() > 1
                                 ? "source " + std::to_string(i + 1) + " " + sources[i].path.str()
                                 : std::string();
    const bool last = i + 1 == sources.size();
    const auto found = co_await checkLayerAt(d, ref, only, name, last);
    if (found != Found::kNotHere) co_return found == Found::kServed;
  }
  co_return false;
}

Task<void> runChecks(Doctor* d) {
  co_await checkDaemon(d);
  if (!co_await checkAws(d)) co_return;
  if (!co_await checkRegistries(d)) co_return;
  std::vector<std::string> refs = d->images;
  for (const auto* list : {&d->config->cache.pin, &d->config->cache.prefetch})
    refs.insert(refs.end(), list->begin(), list->end());
  std::set<std::string> seen;
  bool ecr_layer_checked = false;
  for (const auto& text : refs) {
    if (!seen.insert(text).second) continue;
    auto ref = ImageRef::parse(text);
    if (!ref) {
      d->report.fail("layer download", text + ": " + ref.error().detail);
      co_return;
    }
    if (!co_await checkLayer(d, ref.value())) co_return;
    if (parseEcrHost(ref.value().host)) ecr_layer_checked = true;
  }
  bool has_ecr = false;
  for (const auto& host : d->router->literalHosts()) has_ecr = has_ecr || parseEcrHost(host);
  if (has_ecr && !ecr_layer_checked) {
    d->report.warn("layer download",
                   "S3 not checked: give --image <an image in your ECR registry> to download a "
                   "layer byte through its redirect");
  }
}

}  // namespace

int doctor(const DoctorOptions& options) {
  const std::string& config_path = options.config_path;
  const std::vector<std::string>& images = options.images;
  std::printf("pullcache doctor: %s\n", config_path.c_str());
  Report pre;
  auto c = config::loadConfig(config_path);
  if (!c) {
    pre.fail("config", c.error().detail);
    return 3;
  }
  pre.ok("config", std::to_string(c.value().upstreams.size()) + " upstream(s), listen " +
                       c.value().listen.str() + ", cache " + c.value().cache.dir);
  const bool containerd_ok = checkContainerdLink(c.value(), options, pre);
  if (containerd_ok) checkCacheDir(c.value(), pre);
  if (pre.failed()) {
    std::printf("doctor found a broken link (above)%s\n",
                containerd_ok ? "" : ": containerd will not use the mirror until it is fixed");
    return 1;
  }

  asio::io_context ioc;
  http::CurlOptions co;
  co.connect_timeout = c.value().upstream_timeouts.connect;
  co.stall_timeout = c.value().upstream_timeouts.stall;
  co.user_agent = "pullcache-doctor/" PULLCACHE_VERSION;
  http::CurlClient http(ioc.get_executor(), co);
  SystemClock clock;
  upstream::UpstreamRouter router(c.value(), http, clock);
  upstream::RegistryClient client(http, c.value().upstream_timeouts.request);
  Doctor d;
  d.config = &c.value();
  d.http = &http;
  d.router = &router;
  d.client = &client;
  d.images = images;
  // The token source starts a background refresher: stop it, and the loop, when checks end.
  asio::co_spawn(ioc, runChecks(&d), [&](std::exception_ptr e) {
    if (e) d.report.fail("doctor", "internal error");
    router.stop();
    ioc.stop();
  });
  ioc.run();
  http.stop();
  if (d.report.failed()) {
    std::printf(
        "doctor found a broken link (above); pulls through pullcache fall back to the "
        "registries until it is fixed\n");
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}

}  // namespace pullcache::cli
