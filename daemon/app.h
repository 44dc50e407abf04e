#pragma once
// Composition root: builds every part from the config, starts them in order, stops them in
// reverse. Owns the io_context, its threads, the blocking pool and the disk pool.

#include <atomic>
#include <memory>

#include "common/asio.h"
#include "common/clock.h"
#include "daemon/config/config.h"

namespace pullcache {

namespace metrics {
class Metrics;
}

namespace index {
class RocksDbIndex;
}
namespace cache {
class BlobCache;
}
namespace http {
class CurlClient;
}
namespace upstream {
class UpstreamRouter;
class RegistryClient;
}  // namespace upstream
namespace registry {
class FetchCoordinator;
class RegistryApi;
}  // namespace registry
namespace prefetch {
class PrefetchLoop;
}
namespace peers {
class Membership;
class PeerNetwork;
}  // namespace peers
namespace server {
class AdminEndpoint;
class Listener;
}  // namespace server

class App {
 public:
  // Opens the cache (reconciling it), binds the listeners. Throws on failure (start-up errors).
  explicit App(config::Config config);
  ~App();

  // Serves until SIGINT/SIGTERM, then stops gracefully. Returns the process exit code.
  int run();
  void requestStop();

  [[nodiscard]] std::uint16_t registryPort() const;
  [[nodiscard]] std::uint16_t healthPort() const;
  [[nodiscard]] std::uint16_t peerPort() const;  // 0 when cluster mode is off

 private:
  config::Config config_;
  SystemClock clock_;
  asio::thread_pool pool_{2};  // the index, the evictor, the admin endpoint
  asio::thread_pool disk_;     // fetches: staging writes, hashing, fsync (cache.disk_threads)
  // Destroyed first (see ~App): its pending coroutine frames refer to the members below.
  std::unique_ptr<asio::io_context> ioc_ = std::make_unique<asio::io_context>();
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<index::RocksDbIndex> index_;
  std::unique_ptr<cache::BlobCache> cache_;
  std::unique_ptr<http::CurlClient> curl_;
  std::unique_ptr<upstream::UpstreamRouter> router_;
  std::unique_ptr<upstream::RegistryClient> client_;
  std::unique_ptr<peers::Membership> membership_;  // cluster mode only
  std::unique_ptr<peers::PeerNetwork> peer_network_;
  std::unique_ptr<registry::FetchCoordinator> fetches_;
  std::unique_ptr<registry::RegistryApi> api_;
  std::unique_ptr<server::AdminEndpoint> admin_;
  std::unique_ptr<server::Listener> registry_listener_;
  std::unique_ptr<server::Listener> health_listener_;
  std::unique_ptr<server::Listener> peer_listener_;  // cluster mode only
  std::unique_ptr<prefetch::PrefetchLoop> prefetch_;
  std::atomic<bool> ready_{false};
};

}  // namespace pullcache
