#include "daemon/config/config.h"

#include <gtest/gtest.h>

namespace pullcache::config {
namespace {

const char* kMinimal = "upstreams:\n  - match: docker.io\n";

TEST(Config, DefaultsAreSafe) {
  auto c = parseConfig(kMinimal);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c.value().listen.host, "127.0.0.1");  // registry port on loopback by default
  EXPECT_EQ(c.value().listen.port, 5000);
  EXPECT_EQ(c.value().metrics_listen.port, 9095);
  EXPECT_EQ(c.value().cache.tag_ttl.count(), 60000);
  EXPECT_EQ(c.value().upstreams[0].auth, AuthMode::kAnonymous);
}

TEST(Config, FullExample) {
  auto c = parseConfig(R"(
listen: 127.0.0.1:5050
metrics_listen: "[::1]:9000"
threads: 4
cache: {dir: /var/cache/pc, max_bytes: 50GiB, tag_ttl: 5m}
default_upstream: docker.io
upstreams:
  - match: docker.io
  - match: "*.dkr.ecr.*.amazonaws.com"
    url: https://vpce.example.com
  - match: registry.internal:5000
    url: http://10.0.0.5:5000
    auth: basic
    username: bot
    password: hunter2
log: {level: debug, format: json}
)");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c.value().listen.port, 5050);
  EXPECT_EQ(c.value().metrics_listen.host, "::1");
  EXPECT_EQ(std::get<std::uint64_t>(c.value().cache.max_bytes), 50ull << 30);
  EXPECT_EQ(c.value().upstreams[2].password.reveal(), "hunter2");
  EXPECT_EQ(c.value().log.format, "json");
}

struct Bad {
  const char* yaml;
  const char* key;  // the message must name it
};

TEST(Config, ErrorsNameTheKey) {
  const Bad cases[] = {
      {"listen: 1.2.3.4:5000\nupstreams: [{match: a.io}]\nbogus: 1\n", "bogus"},
      {"upstreams: [{match: a.io, colour: red}]\n", "upstreams[0].colour"},
      {"upstreams: [{match: a.io}]\ncache: {max_bytes: 5XB}\n", "cache.max_bytes"},
      {"upstreams: [{match: a.io}]\ncache: {tag_ttl: soon}\n", "cache.tag_ttl"},
      {"upstreams: [{match: a.io}]\ncache: {dir: relative/path}\n", "cache.dir"},
      {"upstreams: [{match: a.io}]\nlisten: localhost\n", "listen"},
      {"upstreams: [{match: a.io}]\nlisten: 1.2.3.4:70000\n", "listen"},
      {"upstreams: [{match: a.io, url: ftp://x}]\n", "upstreams[0].url"},
      {"upstreams: [{match: a.io, url: https://x/path}]\n", "upstreams[0].url"},
      {"upstreams: [{match: a.io, auth: magic}]\n", "upstreams[0].auth"},
      {"upstreams: [{match: a.io, auth: basic}]\n", "upstreams[0].auth"},
      {"upstreams: [{match: a.io, username: u, password: p}]\n", "upstreams[0].auth"},
      {"upstreams: [{match: \"a b\"}]\n", "upstreams[0].match"},
      {"upstreams: [{url: https://a.io}]\n", "upstreams[0].match"},
      {"upstreams: []\n", "upstreams"},
      {"upstreams: [{match: a.io}]\ndefault_upstream: b.io\n", "default_upstream"},
      {"upstreams: [{match: a.io}]\nlog: {level: loud}\n", "log.level"},
      {"upstreams: [{match: a.io}]\nlog: {format: xml}\n", "log.format"},
      {"upstreams: [{match: a.io}]\nthreads: 0\n", "threads"},
      {"upstreams: [{match: a.io}]\nupstream_timeouts: {connect: 0s}\n",
       "upstream_timeouts.connect"},
      {"upstreams: [{match: a.io}]\ncache: {max_bytes: 0}\n", "cache.max_bytes"},
      {"upstreams: [{match: a.io}]\ncache: {min_free_bytes: lots}\n", "cache.min_free_bytes"},
      {"upstreams: [{match: a.io}]\ncache: {high_watermark: 0.9}\n", "cache.high_watermark"},
      {"upstreams: [{match: a.io}]\ncache: {high_watermark: 70%}\n", "cache.low_watermark"},
      {"upstreams: [{match: a.io}]\ncache: {low_watermark: 95%}\n", "cache.low_watermark"},
      {"upstreams: [{match: a.io}]\ncache: {max_age: 0s}\n", "cache.max_age"},
      {"upstreams: [{match: a.io}]\ncache: {eviction_interval: never}\n",
       "cache.eviction_interval"},
      {"upstreams: [{match: a.io}]\ncache: {pin: alpine}\n", "cache.pin"},
      {"upstreams: [{match: a.io}]\ncache: {pin: [alpine, \"Bad/Name\"]}\n", "cache.pin[1]"},
      {"upstreams: [{match: a.io}]\ncache: {prefetch: [\"a b\"]}\n", "cache.prefetch[0]"},
      {"upstreams: [{match: a.io}]\ncache: {prefetch_interval: 0s}\n", "cache.prefetch_interval"},
      {"upstreams: [{match: a.io, auth: ecr}]\n", "upstreams[0].auth"},
      // Sources: each names its registry; the entry's own url and auth go into them.
      {"upstreams: [{match: a.io, sources: []}]\n", "upstreams[0].sources"},
      {"upstreams: [{match: a.io, sources: {registry: a.io}}]\n", "upstreams[0].sources"},
      {"upstreams: [{match: a.io, sources: [{url: \"https://b.io\"}]}]\n",
       "upstreams[0].sources[0].registry"},
      {"upstreams: [{match: a.io, sources: [{registry: \"b io\"}]}]\n",
       "upstreams[0].sources[0].registry"},
      {"upstreams: [{match: a.io, sources: [{registry: \"b.io//x\"}]}]\n",
       "upstreams[0].sources[0].registry"},
      {"upstreams: [{match: a.io, sources: [{registry: b.io/x}, {registry: \"b.io/x/\"}]}]\n",
       "upstreams[0].sources[1].registry"},
      {"upstreams: [{match: a.io, sources: [{registry: \"123456789012.dkr.ecr.eu-west-1."
       "amazonaws.com/d\"}]}]\n",
       "upstreams[0].sources[0].registry"},
      {"upstreams: [{match: a.io, sources: [{registry: b.io, auth: ecr}]}]\n",
       "upstreams[0].sources[0].auth"},
      {"upstreams: [{match: a.io, sources: [{registry: b.io, colour: red}]}]\n",
       "upstreams[0].sources[0].colour"},
      {"upstreams: [{match: a.io, url: \"https://b.io\", sources: [{registry: b.io}]}]\n",
       "upstreams[0].url"},
      {"upstreams: [{match: a.io, auth: basic, sources: [{registry: b.io}]}]\n",
       "upstreams[0].auth"},
      {"upstreams: [{match: \"*.a.io\", sources: [{registry: b.io}]}]\n", "upstreams[0].sources"},
      {"upstreams: [{match: a.io, sources: [{registry: b.io}, {registry: c.io}, {registry: d.io}, "
       "{registry: e.io}, {registry: f.io}, {registry: g.io}, {registry: h.io}, {registry: i.io}, "
       "{registry: j.io}]}]\n",
       "upstreams[0].sources"},
      {"upstreams: [{match: a.io}]\nsource_breaker: {failures: 0}\n", "source_breaker.failures"},
      {"upstreams: [{match: a.io}]\nsource_breaker: {backoff: 10ms}\n", "source_breaker.backoff"},
      {"upstreams: [{match: a.io}]\nsource_breaker: {backoff: 10m, max_backoff: 1m}\n",
       "source_breaker.max_backoff"},
      {"upstreams: [{match: a.io}]\naws: {region: Mars}\n", "aws.region"},
      {"upstreams: [{match: a.io}]\naws: {ecr_endpoint: vpce.example}\n", "aws.ecr_endpoint"},
      {"upstreams: [{match: a.io}]\naws: {sts_endpoint: \"https://x/p\"}\n", "aws.sts_endpoint"},
      {"upstreams: [{match: a.io}]\naws: {profile: x}\n", "aws.profile"},
      {"upstreams: [{match: a.io}]\nthreads: 2abc\n", "threads"},
      {"upstreams: [{match: a.io}]\nthreads: 2\nthreads: 3\n", "threads"},
      // Found by tests/fuzz/config_fuzzer: a non-scalar key used to escape as an exception.
      {"?\n  - match: a.io\n", "(top level)"},
      {"upstreams: [{match: a.io, [x]: y}]\n", "upstreams[0]"},
      {"upstreams: [{match: a.io}]\ncache: {dir: /a, dir: /b}\n", "cache.dir"},
      {"upstreams: [{match: a.io}]\nlimits: {max_connections: 0}\n", "limits.max_connections"},
      {"upstreams: [{match: a.io}]\nlimits: {max_connections: -5}\n", "limits.max_connections"},
      {"upstreams: [{match: a.io}]\nlimits: {max_header_bytes: 100}\n", "limits.max_header_bytes"},
      {"upstreams: [{match: a.io}]\nlimits: {max_header_bytes: 2GiB}\n", "limits.max_header_bytes"},
      {"upstreams: [{match: a.io}]\nlimits: {max_manifest_bytes: big}\n",
       "limits.max_manifest_bytes"},
      {"upstreams: [{match: a.io}]\nlimits: {header_timeout: 0s}\n", "limits.header_timeout"},
      {"upstreams: [{match: a.io}]\nlimits: {idle_timeout: soon}\n", "limits.idle_timeout"},
      {"upstreams: [{match: a.io}]\nlimits: {upstream_connections: 5000}\n",
       "limits.upstream_connections"},
      {"upstreams: [{match: a.io}]\nlimits: {max_body_bytes: 1}\n", "limits.max_body_bytes"},
  };
  for (const auto& b : cases) {
    auto c = parseConfig(b.yaml);
    ASSERT_FALSE(c) << b.yaml;
    EXPECT_EQ(c.error().code, Errc::kConfigInvalid);
    EXPECT_TRUE(c.error().detail.starts_with(b.key))
        << "'" << c.error().detail << "' should name " << b.key;
  }
}

TEST(Config, CacheLifecycleKeys) {
  auto c = parseConfig(R"(
upstreams: [{match: docker.io}]
cache:
  max_bytes: 50GiB
  min_free_bytes: 10%
  high_watermark: 85%
  low_watermark: 70%
  max_age: 30d
  eviction_interval: 30s
  pin: [alpine:3.19, "ghcr.io/org/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
  prefetch: [public.ecr.aws/eks-distro/kubernetes/pause:3.9]
  prefetch_interval: 1h
)");
  ASSERT_TRUE(c) << c.error().detail;
  const auto& cache = c.value().cache;
  EXPECT_EQ(std::get<std::uint64_t>(cache.max_bytes), 50ull << 30);
  EXPECT_EQ(std::get<Percent>(cache.min_free_bytes).value, 10);
  EXPECT_DOUBLE_EQ(cache.high_watermark, 0.85);
  EXPECT_DOUBLE_EQ(cache.low_watermark, 0.70);
  EXPECT_EQ(cache.max_age, std::chrono::hours(24 * 30));
  EXPECT_EQ(cache.eviction_interval, std::chrono::seconds(30));
  ASSERT_EQ(cache.pin.size(), 2u);
  EXPECT_EQ(cache.pin[0], "docker.io/library/alpine:3.19");  // normalised
  EXPECT_EQ(cache.pin[1], "ghcr.io/org/app@sha256:" + std::string(64, 'a'));
  ASSERT_EQ(cache.prefetch.size(), 1u);
  EXPECT_EQ(cache.prefetch[0], "public.ecr.aws/eks-distro/kubernetes/pause:3.9");
  EXPECT_EQ(cache.prefetch_interval, std::chrono::hours(1));

  auto d = parseConfig(kMinimal);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::get<Percent>(d.value().cache.min_free_bytes).value, 15);
  EXPECT_DOUBLE_EQ(d.value().cache.high_watermark, 0.9);
  EXPECT_DOUBLE_EQ(d.value().cache.low_watermark, 0.8);
  EXPECT_EQ(d.value().cache.max_age.count(), 0);
  EXPECT_TRUE(d.value().cache.pin.empty());
}

TEST(Config, EcrHostsDefaultToEcrAuthAndAwsEndpointsAreRead) {
  auto c = parseConfig(R"(
upstreams:
  - match: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
  - match: 210987654321.dkr.ecr.eu-west-1.amazonaws.com
    auth: anonymous
  - match: "*.dkr.ecr.*.amazonaws.com"
  - match: public.ecr.aws
aws:
  region: eu-west-1
  ecr_endpoint: https://vpce-0abc.api.ecr.eu-west-1.vpce.amazonaws.com/
  sts_endpoint: https://sts.eu-west-1.amazonaws.com
)");
  ASSERT_TRUE(c) << c.error().message();
  const auto& u = c.value().upstreams;
  EXPECT_EQ(u[0].auth, AuthMode::kEcr);
  EXPECT_EQ(u[1].auth, AuthMode::kAnonymous) << "an explicit auth wins";
  EXPECT_EQ(u[2].auth, AuthMode::kAnonymous) << "globs are decided per host, when resolved";
  EXPECT_FALSE(u[2].auth_explicit);
  EXPECT_EQ(u[3].auth, AuthMode::kAnonymous) << "public ECR needs no AWS credentials";
  EXPECT_EQ(c.value().aws.region, "eu-west-1");
  EXPECT_EQ(c.value().aws.ecr_endpoint, "https://vpce-0abc.api.ecr.eu-west-1.vpce.amazonaws.com");
}

TEST(Config, SourcesAreParsedInOrderWithAuthFromTheirRegistry) {
  auto c = parseConfig(R"(
upstreams:
  - match: docker.io
    sources:
      - registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/
        url: https://vpce-0abc.dkr.ecr.eu-west-1.vpce.amazonaws.com/
      - registry: docker.io
      - registry: mirror.example:5000/hub
        auth: basic
        username: robot
        password: s3cret
source_breaker: {failures: 5, backoff: 10s, max_backoff: 2m}
)");
  ASSERT_TRUE(c) << c.error().detail;
  const auto& u = c.value().upstreams[0];
  ASSERT_EQ(u.sources.size(), 3u);
  EXPECT_EQ(u.sources[0].registry, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub");
  EXPECT_EQ(u.sources[0].url, "https://vpce-0abc.dkr.ecr.eu-west-1.vpce.amazonaws.com");
  EXPECT_EQ(u.sources[0].auth, AuthMode::kEcr) << "from the ECR host";
  EXPECT_EQ(u.sources[1].auth, AuthMode::kAnonymous);
  EXPECT_EQ(u.sources[2].auth, AuthMode::kBasic);
  EXPECT_EQ(u.sources[2].password.reveal(), "s3cret");
  EXPECT_TRUE(u.url.empty());
  EXPECT_EQ(c.value().source_breaker.failures, 5);
  EXPECT_EQ(c.value().source_breaker.backoff, std::chrono::seconds(10));
  EXPECT_EQ(c.value().source_breaker.max_backoff, std::chrono::minutes(2));
}

TEST(Config, LimitsHaveSafeDefaultsAndAreConfigurable) {
  auto d = parseConfig(kMinimal);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d.value().limits.max_connections, 4096u);
  EXPECT_EQ(d.value().limits.max_header_bytes, 16u * 1024);
  EXPECT_EQ(d.value().limits.header_timeout.count(), 10'000);
  EXPECT_EQ(d.value().limits.max_manifest_bytes, 4u << 20);  // containerd's own limit
  EXPECT_EQ(d.value().limits.upstream_connections, 32);
  auto c = parseConfig(std::string(kMinimal) + R"(limits:
  max_connections: 100
  max_header_bytes: 8KiB
  header_timeout: 2s
  idle_timeout: 30s
  write_timeout: 15s
  max_manifest_bytes: 1MiB
  upstream_connections: 4
)");
  ASSERT_TRUE(c) << c.error().message();
  const Limits& l = c.value().limits;
  EXPECT_EQ(l.max_connections, 100u);
  EXPECT_EQ(l.max_header_bytes, 8u * 1024);
  EXPECT_EQ(l.header_timeout.count(), 2'000);
  EXPECT_EQ(l.idle_timeout.count(), 30'000);
  EXPECT_EQ(l.write_timeout.count(), 15'000);
  EXPECT_EQ(l.max_manifest_bytes, 1u << 20);
  EXPECT_EQ(l.upstream_connections, 4);
}

TEST(Config, SyntaxErrorIsReported) {
  auto c = parseConfig("upstreams: [\n");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail.find("YAML"), std::string::npos);
}

TEST(Config, MissingFileIsReported) {
  auto c = loadConfig("/nonexistent/pullcache.yaml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail.find("/nonexistent/pullcache.yaml"), std::string::npos);
}

}  // namespace
}  // namespace pullcache::config
