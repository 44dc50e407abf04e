#include "daemon/app.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <thread>

#include "common/spawn.h"
#include "daemon/cache/blob_cache.h"
#include "daemon/cli/cache_commands.h"
#include "daemon/http/curl_client.h"
#include "daemon/http/redirect.h"
#include "daemon/index/rocksdb_index.h"
#include "daemon/metrics/metrics.h"
#include "daemon/peers/membership.h"
#include "daemon/peers/peer_endpoint.h"
#include "daemon/peers/peer_network.h"
#include "daemon/peers/peer_token.h"
#include "daemon/prefetch/prefetch_loop.h"
#include "daemon/registry/fetch_coordinator.h"
#include "daemon/registry/registry_api.h"
#include "daemon/server/admin_endpoint.h"
#include "daemon/server/listener.h"
#include "daemon/server/registry_endpoint.h"
#include "daemon/upstream/registry_client.h"
#include "daemon/upstream/upstream_router.h"

namespace pullcache {
namespace {}  // namespace

App::App(config::Config config)
    : config_(std::move(config)), disk_(static_cast<std::size_t>(config_.cache.disk_threads)) {
  auto log = spdlog::get("app");
  auto t0 = std::chrono::steady_clock::now();
  metrics_ = std::make_unique<metrics::Metrics>(PULLCACHE_VERSION, PULLCACHE_COMMIT);
  index_ = std::make_unique<index::RocksDbIndex>(config_.cache.dir + "/index");
  cache::BlobCacheOptions cache_options;
  cache_options.dir = config_.cache.dir;
  cache_options.eviction = store::evictorOptionsFrom(config_.cache);
  cache_ = std::make_unique<cache::BlobCache>(std::move(cache_options), *index_, clock_, pool_,
                                              metrics_.get());
  auto report = cache_->reconcile();
  if (!report) throw std::runtime_error("cache reconciliation failed: " + report.error().message());
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  log->info(
      "cache {}: {} blobs, {} bytes; removed {} staging files, {} stale entries, {} orphan files "
      "({} ms)",
      config_.cache.dir, report.value().blobs, report.value().bytes, report.value().staging_removed,
      report.value().entries_dropped, report.value().orphans_removed, ms);

  http::CurlOptions co;
  co.connect_timeout = config_.upstream_timeouts.connect;
  co.stall_timeout = config_.upstream_timeouts.stall;
  co.max_host_connections = config_.limits.upstream_connections;
  co.user_agent = "pullcache/" PULLCACHE_VERSION;
  co.sink_executor = disk_.get_executor();
  curl_ = std::make_unique<http::CurlClient>(ioc_->get_executor(), co);
  router_ = std::make_unique<upstream::UpstreamRouter>(config_, *curl_, clock_, metrics_.get());
  client_ = std::make_unique<upstream::RegistryClient>(*curl_, config_.upstream_timeouts.request);
  Secret peer_secret;
  if (config_.peers.enabled) {
    auto secret = peers::readPeerSecret(config_.peers.secret_file);
    if (!secret) throw std::runtime_error(secret.error().message());
    peer_secret = std::move(secret).value();
    membership_ = std::make_unique<peers::Membership>(config_.peers, peers::systemResolve,
                                                      &metrics_->peers.members);
    peer_network_ = std::make_unique<peers::PeerNetwork>(config_.peers, peer_secret, *membership_,
                                                         *curl_, clock_, &metrics_->peers);
  }
  registry::FetchOptions fo;
  fo.stall_timeout = config_.upstream_timeouts.stall + std::chrono::seconds(5);
  fo.passthrough_max_bytes = config_.cache.passthrough_max_bytes;
  fo.range_fill_below = config_.ranges.fill_below;
  fo.range_fill_after = config_.ranges.fill_after;
  fo.max_ranges = static_cast<std::size_t>(config_.ranges.max_ranges);
  fetches_ = std::make_unique<registry::FetchCoordinator>(
      ioc_->get_executor(), disk_, *cache_, *client_, fo, metrics_.get(), peer_network_.get());
  api_ = std::make_unique<registry::RegistryApi>(registry::RegistryDeps{
      pool_, *index_, *router_, *client_, *fetches_, clock_, config_.cache.tag_ttl, metrics_.get(),
      config_.limits.max_manifest_bytes, peer_network_.get()});
  server::SessionOptions so;
  so.header_timeout = config_.limits.header_timeout;
  so.idle_timeout = config_.limits.idle_timeout;
  so.write_timeout = config_.limits.write_timeout;
  so.max_header_bytes = config_.limits.max_header_bytes;
  so.max_connections = config_.limits.max_connections;
  so.access_log_format = config_.log.format == "json" ? server::AccessLogFormat::kJson
                                                      : server::AccessLogFormat::kText;
  server::SessionOptions registry_so = so;
  registry_so.metrics = metrics_.get();
  admin_ = std::make_unique<server::AdminEndpoint>(pool_, *cache_, clock_, metrics_.get());
  registry_listener_ = std::make_unique<server::Listener>(
      *ioc_, config_.listen,
      std::make_shared<server::RegistryEndpoint>(*api_, admin_.get(), metrics_.get(), &clock_),
      registry_so, "registry");
  health_listener_ = std::make_unique<server::Listener>(
      *ioc_, config_.metrics_listen,
      std::make_shared<server::HealthEndpoint>([this] { return ready_.load(); }, metrics_.get()),
      so, "health");
  if (config_.peers.enabled) {
    server::SessionOptions peer_so = so;
    peer_so.body_bytes = &metrics_->peers.served_bytes;
    peer_listener_ = std::make_unique<server::Listener>(
        *ioc_, config_.peers.listen,
        std::make_shared<peers::PeerEndpoint>(*api_, *router_, peer_secret, clock_,
                                              static_cast<std::size_t>(config_.peers.fanout),
                                              &metrics_->peers),
        peer_so, "peer");
  }
}

static Task<void> prewarmEcrToken(std::shared_ptr<const upstream::Upstream> upstream,
                                  std::size_t source) {
  const auto& src = upstream->sources[source];
  auto token = co_await src.auth->authorization(http::urlHost(src.base_url), "");
  (void)token;  // a failure is logged (once) by the token source
}

App::~App() {
  // Order matters: nothing may post to the loop any more (curl thread, blocking pool), the
  // acceptors go while their io_context lives, then the io_context destroys the coroutine
  // frames still pending while everything those frames refer to is alive.
  if (prefetch_) prefetch_->stop();
  if (cache_) cache_->stopEviction();
  if (membership_) membership_->stop();
  if (curl_) curl_->stop();
  disk_.join();
  pool_.join();
  registry_listener_.reset();
  health_listener_.reset();
  peer_listener_.reset();
  ioc_.reset();
}

std::uint16_t App::registryPort() const { return registry_listener_->port(); }
std::uint16_t App::healthPort() const { return health_listener_->port(); }
std::uint16_t App::peerPort() const { return peer_listener_ ? peer_listener_->port() : 0; }

void App::requestStop() {
  asio::post(*ioc_, [this] {
    ready_ = false;
    registry_listener_->stop();
    health_listener_->stop();
    if (peer_listener_) peer_listener_->stop();
    router_->stop();  // ECR token refreshers
    curl_->stop();    // in-flight upstream transfers fail; their waiters are released
    // Give sessions a moment to finish writing what they can, then stop the loop.
    auto timer = std::make_shared<asio::steady_timer>(*ioc_, std::chrono::milliseconds(200));
    timer->async_wait([this, timer](auto) { ioc_->stop(); });
  });
}

int App::run() {
  auto log = spdlog::get("app");
  asio::signal_set signals(*ioc_, SIGINT, SIGTERM);
  signals.async_wait([this, log](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log->info("signal {}: shutting down", sig);
    requestStop();
  });
  ::signal(SIGPIPE, SIG_IGN);
  registry_listener_->start();
  health_listener_->start();
  if (peer_listener_) {
    membership_->start();  // resolves once before the first request
    peer_listener_->start();
    log->info("cluster mode: peer port {} (port {}), {} member(s) in view, fanout {}",
              config_.peers.listen.str(), peerPort(), metrics_->peers.members.value(),
              config_.peers.fanout);
  }
  cache_->startEviction();  // the first pass runs now: a budget lowered since the last run applies
  ready_ = true;
  // ECR tokens for the registries the config names are fetched now (and kept fresh from then
  // on), so the first pull does not wait for one and a broken credential set-up shows at once.
  for (const auto& host : router_->literalHosts()) {
    auto up = router_->resolve(host);
    if (!up) continue;
    for (std::size_t i = 0; i < up.value()->sources.size(); ++i) {
      if (up.value()->sources[i].auth->name() == "ecr")
        asio::co_spawn(asio::make_strand(*ioc_), prewarmEcrToken(up.value(), i),
                       LogEscaped("ecr token prewarm"));
    }
  }
  {
    // Pins first (they are kept, so they should be there), then the prefetch list.
    std::vector<ImageRef> images;
    for (const auto* list : {&config_.cache.pin, &config_.cache.prefetch}) {
      for (const auto& ref : *list) images.push_back(ImageRef::parse(ref).value());
    }
    config::Endpoint self = config_.listen;
    self.port = registryPort();
    prefetch_ = std::make_unique<prefetch::PrefetchLoop>(
        std::move(images), cli::localRegistryUrl(self), config_.cache.prefetch_interval);
    prefetch_->start();
  }
  log->info(
      "pullcache {} serving the registry API on {} (port {}), health on {} (port {}), {} "
      "upstream(s)",
      PULLCACHE_VERSION, config_.listen.str(), registryPort(), config_.metrics_listen.str(),
      healthPort(), config_.upstreams.size());
  std::vector<std::thread> threads;
  for (int i = 1; i < config_.threads; ++i) threads.emplace_back([this] { ioc_->run(); });
  ioc_->run();
  for (auto& t : threads) t.join();
  prefetch_->stop();
  cache_->stopEviction();
  log->info("stopped");
  return 0;
}

}  // namespace pullcache
