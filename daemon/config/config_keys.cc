#include "daemon/config/config_keys.h"

#include <algorithm>

namespace pullcache::config {
namespace {

// The README's "Configuration" table is generated from these rows; when you change one, the
// config_keys test prints the table to paste there.
constexpr ConfigKey kKeys[] = {
    {"listen", "127.0.0.1:5000",
     "registry API, `IP:port` (`localhost` means `127.0.0.1`); loopback, so pods in their own "
     "network namespace cannot reach it"},
    {"metrics_listen", "0.0.0.0:9095",
     "`/healthz`, `/readyz`, `/metrics`; `serve --metrics-listen` overrides it (the chart passes "
     "the node IP)"},
    {"threads", "2", "I/O threads (one strand per connection)", false, "1", "64"},
    {"cache.dir", "/var/lib/pullcache",
     "absolute path; holds `blobs/`, `tmp/` (staging) and `index/` (RocksDB)"},
    {"cache.max_bytes", "20%", "the budget: bytes (`50GiB`) or a share of the cache's filesystem"},
    {"cache.min_free_bytes", "15%",
     "keep this much of the filesystem free, whoever fills it (kubelet's `imagefs.available` "
     "hard-eviction threshold)"},
    {"cache.high_watermark", "90%", "eviction starts above this share of `max_bytes`..."},
    {"cache.low_watermark", "80%",
     "...and frees down to this one (must be below `high_watermark`)"},
    {"cache.max_age", "", "evict blobs nobody read for this long (`30d`); unset: no age limit",
     false, "1s"},
    {"cache.eviction_interval", "60s",
     "budget check period (a fetch that would pass the high watermark wakes it at once)"},
    {"cache.disk_threads", "2",
     "threads for fetches' disk work: staging writes (the network thread never waits for the "
     "disk; a transfer pauses while its writes are 4 MiB behind), hashing, fsync",
     false, "1", "64"},
    {"cache.passthrough_max_bytes", "512MiB",
     "disk full or failing: blobs up to this size are served from memory, uncached; larger ones "
     "fail"},
    {"cache.pin", "[]",
     "image references never evicted (manifest, config and layers, through indexes) and "
     "prefetched"},
    {"cache.prefetch", "[]",
     "image references pulled at start-up and every `prefetch_interval`, for the node's platform"},
    {"cache.prefetch_interval", "6h", "how often pins and `prefetch` are pulled again"},
    {"cache.tag_ttl", "60s", "trust a tag's digest this long, then revalidate it with a HEAD"},
    {"default_upstream", "",
     "registry host for requests without `?ns=`; must match an `upstreams[].match`; unset: such "
     "requests get 404 `NAME_UNKNOWN`"},
    {"upstreams", "",
     "the registries mirrored, a non-empty list; first match wins; a host matching none gets 404 "
     "`NAME_UNKNOWN`",
     true},
    {"upstreams[].match", "",
     "glob on the registry host (`docker.io`, `*.dkr.ecr.*.amazonaws.com`); `*` stays within one "
     "DNS label",
     true},
    {"upstreams[].url", "",
     "`scheme://host[:port]` to send requests to (VPC endpoints, mirrors, tests); unset: "
     "`https://<host>` (`https://registry-1.docker.io` for `docker.io`)"},
    {"upstreams[].auth", "anonymous",
     "`anonymous`, `basic`, `token` or `ecr`; an ECR host "
     "(`<account>.dkr.ecr.<region>.amazonaws.com`) defaults to `ecr`"},
    {"upstreams[].username", "", "for `basic` and `token`"},
    {"upstreams[].password", "", "for `basic` and `token`; or `password_file`"},
    {"upstreams[].password_file", "", "file holding the password (trailing newlines dropped)"},
    {"upstreams[].docker_config", "",
     "docker `config.json` or Kubernetes `.dockerconfigjson` file, instead of username and "
     "password"},
    {"upstreams[].allow_private_redirects", "false",
     "let redirects and token realms reach loopback, link-local or private addresses (always "
     "allowed when the upstream's own address is a private IP)"},
    {"upstreams[].sources", "",
     "ordered registries to fetch from instead of `url` and `auth` (1 to 8; `match` must be "
     "literal): a source that is unreachable, throttles, fails, denies or answers 404 hands the "
     "request to the next one, before any byte reached the client"},
    {"upstreams[].sources[].registry", "",
     "the registry this source is, `host[:port][/prefix]` (an ECR pull-through cache rule: "
     "`<account>.dkr.ecr.<region>.amazonaws.com/docker-hub`); the client's name goes under the "
     "prefix; an ECR host defaults to `auth: ecr`",
     true},
    {"upstreams[].sources[].url", "",
     "where to connect (a VPC endpoint, a test server); unset: `https://<registry host>`"},
    {"upstreams[].sources[].auth", "", "as `upstreams[].auth`, for this source"},
    {"upstreams[].sources[].username", "", "as `upstreams[].username`"},
    {"upstreams[].sources[].password", "", "as `upstreams[].password`"},
    {"upstreams[].sources[].password_file", "", "as `upstreams[].password_file`"},
    {"upstreams[].sources[].docker_config", "", "as `upstreams[].docker_config`"},
    {"upstreams[].sources[].allow_private_redirects", "",
     "as `upstreams[].allow_private_redirects` (default `false`)"},
    {"source_breaker.failures", "3",
     "consecutive failures (unreachable, 429, 5xx, denied; not 404) that make a source skipped",
     false, "1", "1000"},
    {"source_breaker.backoff", "30s",
     "a skipped source is passed over this long, then one request tries it; when every source "
     "is skipped they are tried in order anyway",
     false, "100ms"},
    {"source_breaker.max_backoff", "5m",
     "each failed try doubles the backoff up to this (not below `backoff`)", false, "100ms"},
    {"upstream_timeouts.connect", "5s", "TCP and TLS set-up"},
    {"upstream_timeouts.stall", "30s",
     "no byte received for this long, counted from the last byte: the transfer failed (a blob "
     "resumes with `Range`)"},
    {"upstream_timeouts.request", "60s", "a whole manifest or token request"},
    {"limits.max_connections", "4096", "open client connections; beyond: 503 and close", false, "1",
     "1000000"},
    // Below 1 KiB no real client's headers fit; above 1 MiB a header is an attack, not a request.
    {"limits.max_header_bytes", "16KiB", "request line and headers; beyond: 414 or 431", false,
     "1KiB", "1MiB"},
    {"limits.header_timeout", "10s", "a request's headers, from its first byte; beyond: 408"},
    {"limits.idle_timeout", "75s", "a keep-alive connection with no new request is closed"},
    {"limits.write_timeout", "60s", "a client that stops reading is dropped"},
    {"limits.max_manifest_bytes", "4MiB",
     "as containerd; a larger manifest or tag list: 502 `SIZE_INVALID`", false, "4KiB", "64MiB"},
    {"limits.upstream_connections", "32", "connections to one upstream host; further requests wait",
     false, "1", "1024"},
    {"aws.region", "", "STS region for IRSA; unset: `AWS_REGION`, `AWS_DEFAULT_REGION`, then IMDS"},
    {"aws.ecr_endpoint", "",
     "GetAuthorizationToken endpoint for every region (an interface VPC endpoint); unset: "
     "`AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL`, then the regional one"},
    {"aws.sts_endpoint", "",
     "AssumeRoleWithWebIdentity endpoint; unset: `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, then "
     "the regional one"},
    {"ranges.fill_below", "16MiB",
     "a range read of an uncached blob up to this size fetches the whole blob (verified, "
     "cached); larger ones are fetched span by span...",
     false, "", "1024TiB"},
    {"ranges.fill_after", "64MiB",
     "...until clients asked for this many ranged bytes of the blob; then the rest comes in the "
     "background (an open-ended range, as containerd's chunked fetch sends, starts it at once)",
     false, "", "1024TiB"},
    {"ranges.max_ranges", "64",
     "ranges in one request, answered as `multipart/byteranges`; more, or ranges that overlap: "
     "the whole blob (200), as RFC 9110 allows",
     false, "1", "1024"},
    {"peers.listen", "0.0.0.0:5001",
     "cluster mode's peer port (no `peers` section: cluster mode is off), authenticated; `${VAR}` "
     "expands from the environment (the chart: "
     "`${HOST_IP}:5001`)"},
    {"peers.advertise", "",
     "this node's address in the member list (`${VAR}` expands); unset: `peers.listen`, which "
     "must then not be a wildcard"},
    {"peers.dns", "",
     "`name:port` of a headless Service whose A/AAAA records are the members; or `static`"},
    {"peers.static", "[]", "a fixed member list (`[\"10.0.1.5:5001\", ...]`); or `dns`"},
    {"peers.refresh", "5s",
     "how often `dns` is resolved again (a failure keeps the last good view)", false, "100ms"},
    {"peers.fanout", "4", "children per member in a blob's distribution tree", false, "1", "64"},
    {"peers.secret_file", "/etc/pullcache/peer-secret",
     "the cluster's shared secret (16 bytes or more) that peer tokens are made from"},
    {"peers.connect_timeout", "500ms",
     "a peer that does not accept the connection within this is skipped"},
    {"log.level", "info", "`trace`, `debug`, `info`, `warn` (no access lines), `error` or `off`"},
    {"log.format", "text", "`text` or `json` (one JSON object per line)"},
};

// "upstreams[].match" -> "upstreams", "cache.max_bytes" -> "cache": the first name of a path.
std::string_view firstName(std::string_view path) {
  return path.substr(0, path.find_first_of(".["));
}

}  // namespace

std::span<const ConfigKey> configKeys() { return kKeys; }

const ConfigKey* findKey(std::string_view path) {
  for (const ConfigKey& k : kKeys)
    if (k.path == path) return &k;
  return nullptr;
}

std::vector<std::string_view> childKeys(std::string_view section) {
  std::vector<std::string_view> names;
  for (const ConfigKey& k : kKeys) {
    std::string_view rest = k.path;
    if (!section.empty()) {
      if (!rest.starts_with(section) || rest.size() <= section.size() + 1 ||
          rest[section.size()] != '.')
        continue;
      rest.remove_prefix(section.size() + 1);
    }
    std::string_view name = firstName(rest);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

}  // namespace pullcache::config
