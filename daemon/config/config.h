#pragma once
// The daemon's configuration: plain data, loaded and validated once at start-up.
// yaml-cpp is included only by the parser (config.cc, yaml_keys.cc, peers_config.cc). The keys,
// their defaults and their meanings are listed in config_keys.cc; the defaults below must agree
// with it (tests/unit/config/config_keys_test.cc).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/secret.h"
#include "common/units.h"

namespace pullcache::config {

struct Endpoint {
  std::string host;  // literal IP address
  std::uint16_t port = 0;
  [[nodiscard]] std::string str() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

enum class AuthMode {
  kAnonymous,  // no credentials; Bearer challenges are answered with anonymous tokens
  kBasic,  // static credentials sent as Basic, and used at the token realm on a Bearer challenge
  kToken,  // static credentials used only at the token realm (never sent to the registry itself)
  kEcr,  // AWS ECR: GetAuthorizationToken with the AWS credential chain (the default for ECR hosts)
};

// Where and how to reach one registry: an upstream without `sources` is one of these (its
// registry is the host it matched), or each of its ordered sources is.
struct SourceConfig {
  // "host[:port][/prefix]": the registry this source is, and the repository prefix the client's
  // name is put under (an ECR pull-through cache rule's). Empty for an upstream's own fields:
  // the matched host, no prefix.
  std::string registry;
  std::string url;  // scheme://host[:port]; empty: https://<registry host>
  AuthMode auth = AuthMode::kAnonymous;
  bool auth_explicit = false;  // `auth` was given; otherwise ECR hosts get kEcr
  std::string username;
  Secret password;
  std::string docker_config;  // docker config.json or Kubernetes .dockerconfigjson file
  // Whether its redirects and token realms may lead to loopback, link-local or private
  // addresses. Default: only when the source itself is on such an address.
  bool allow_private_redirects = false;
  friend bool operator==(const SourceConfig&, const SourceConfig&) = default;
};

struct UpstreamConfig : SourceConfig {
  std::string match;  // glob on the registry host ('*' matches within one DNS label)
  // Tried in order, per request; empty: the entry's own fields are its one source. When given,
  // `match` is a literal host and the entry's own source fields are unset.
  std::vector<SourceConfig> sources;
  friend bool operator==(const UpstreamConfig&, const UpstreamConfig&) = default;
};

// When a source that keeps failing is skipped (see daemon/upstream/source_breaker.h).
struct SourceBreakerConfig {
  int failures = 3;                                // consecutive failures that open the breaker
  std::chrono::milliseconds backoff{30'000};       // skipped this long, then one request probes it
  std::chrono::milliseconds max_backoff{300'000};  // a failed probe doubles backoff up to this
  friend bool operator==(const SourceBreakerConfig&, const SourceBreakerConfig&) = default;
};

struct CacheConfig {
  std::string dir = "/var/lib/pullcache";
  SizeSpec max_bytes = Percent{20};
  // Free space the filesystem must keep, whoever else fills it. 15%: kubelet's default
  // imagefs.available hard-eviction threshold, so the cache never pushes a node into DiskPressure.
  SizeSpec min_free_bytes = Percent{15};
  double high_watermark = 0.9;      // eviction starts above this fraction of max_bytes...
  double low_watermark = 0.8;       // ...and frees down to this one
  std::chrono::seconds max_age{0};  // blobs not read for this long are evicted; 0: no limit
  std::chrono::milliseconds eviction_interval{60'000};
  // When the cache directory cannot take a blob (disk full, I/O error), blobs up to this size are
  // fetched into memory and served uncached; larger ones fail before their first byte.
  std::uint64_t passthrough_max_bytes = 512ull << 20;
  // Threads for the disk work of fetches: staging writes (off the network thread), hashing,
  // fsync and commit.
  int disk_threads = 2;
  std::vector<std::string> pin;  // image references never evicted (validated ImageRefs)
  // Image references pulled into the cache at start-up and every prefetch_interval (pins are
  // prefetched too), for this node's platform.
  std::vector<std::string> prefetch;
  std::chrono::milliseconds prefetch_interval{6 * 3'600'000};
  std::chrono::milliseconds tag_ttl{60'000};
  friend bool operator==(const CacheConfig&, const CacheConfig&) = default;
};

// What clients may ask of pullcache and what pullcache asks of upstreams.
struct Limits {
  std::size_t max_connections = 4096;          // open client connections; more get 503 and close
  std::uint64_t max_header_bytes = 16 * 1024;  // request line + headers: 414 / 431 beyond
  std::chrono::milliseconds header_timeout{
      10'000};                                      // a request's headers, from its first byte: 408
  std::chrono::milliseconds idle_timeout{75'000};   // a keep-alive connection between requests
  std::chrono::milliseconds write_timeout{60'000};  // no progress writing a response: drop
  std::uint64_t max_manifest_bytes = 4u << 20;      // as containerd; larger: 502 SIZE_INVALID
  long upstream_connections = 32;                   // per upstream host; further requests queue
  friend bool operator==(const Limits&, const Limits&) = default;
};

struct UpstreamTimeouts {
  std::chrono::milliseconds connect{5'000};
  std::chrono::milliseconds stall{30'000};    // no byte received for this long: the transfer failed
  std::chrono::milliseconds request{60'000};  // whole request, for small (non-blob) responses
  friend bool operator==(const UpstreamTimeouts&, const UpstreamTimeouts&) = default;
};

// AWS settings for ECR upstreams; the AWS_* environment variables apply where these are unset.
struct AwsConfig {
  std::string region;        // for STS (web identity); default AWS_REGION, AWS_DEFAULT_REGION, IMDS
  std::string ecr_endpoint;  // GetAuthorizationToken endpoint (interface VPC endpoint), all regions
  std::string sts_endpoint;  // AssumeRoleWithWebIdentity endpoint
  friend bool operator==(const AwsConfig&, const AwsConfig&) = default;
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error, off
  std::string format = "text";  // text | json
  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

// Cluster mode (daemon/peers/): nodes fetch blobs from each other. Off unless `peers` is given.
struct PeersConfig {
  bool enabled = false;
  Endpoint listen{"0.0.0.0", 5001};      // the peer port (authenticated)
  Endpoint advertise;                    // how the others reach this node; empty host: `listen`
  std::string dns_name;                  // headless Service name, resolved every `refresh`...
  std::uint16_t dns_port = 0;            // ...its records' port
  std::vector<Endpoint> static_members;  // ...or a fixed list
  std::chrono::milliseconds refresh{5'000};
  int fanout = 4;  // children per member in a blob's distribution tree
  std::string secret_file = "/etc/pullcache/peer-secret";
  std::chrono::milliseconds connect_timeout{500};
  // The address this node has in the member list.
  [[nodiscard]] const Endpoint& self() const noexcept {
    return advertise.host.empty() ? listen : advertise;
  }
  friend bool operator==(const PeersConfig&, const PeersConfig&) = default;
};

// Range reads of blobs not cached yet (registry/fetch_coordinator.h): when the whole blob is
// fetched in the background.
struct RangesConfig {
  std::uint64_t fill_below = 16ull << 20;  // blobs up to this size: at their first range
  std::uint64_t fill_after = 64ull << 20;  // once clients asked for this many ranged bytes
  int max_ranges = 64;                     // in one multi-range request; more: the whole blob (200)
  friend bool operator==(const RangesConfig&, const RangesConfig&) = default;
};

struct Config {
  Endpoint listen{"127.0.0.1", 5000};
  Endpoint metrics_listen{"0.0.0.0", 9095};
  int threads = 2;
  CacheConfig cache;
  std::vector<UpstreamConfig> upstreams;
  std::string default_upstream;  // registry host used when a request has no ?ns=
  SourceBreakerConfig source_breaker;
  UpstreamTimeouts upstream_timeouts;
  Limits limits;
  AwsConfig aws;
  LogConfig log;
  PeersConfig peers;
  RangesConfig ranges;
  friend bool operator==(const Config&, const Config&) = default;
};

Result<Config> loadConfig(const std::string& path);
Result<Config> parseConfig(const std::string& yaml_text);
Result<Endpoint> parseEndpoint(std::string_view text);

}  // namespace pullcache::config
