// Real clients through pullcache: containerd (ctr, with a hosts.toml in --hosts-dir) and skopeo.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

class ContainerdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    // Two multi-layer images sharing their base layer (same seed -> same bytes).
    auto a = writeOciLayout(dir_.sub("a"), "v1", {{4 << 20, 1}, {2 << 20, 2}, {1 << 20, 3}});
    auto b = writeOciLayout(dir_.sub("b"), "v1", {{4 << 20, 1}, {3 << 20, 4}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(a, registry_->host(), "team/a", &log), 0) << log;
    ASSERT_EQ(pushWithSkopeo(b, registry_->host(), "team/b", &log), 0) << log;
    remote_a_ = inspectRemote(registry_->host(), "team/a", "v1");
    remote_b_ = inspectRemote(registry_->host(), "team/b", "v1");
    ASSERT_EQ(remote_a_.layer_digests[0], remote_b_.layer_digests[0])
        << "the images must share their base layer";
    pullcache_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host());
    pullcache_->start();
    hosts_dir_ = dir_.sub("hosts");
    writeHostsToml(hosts_dir_, registry_->host(), pullcache_->url(""));
  }

  // Blobs are deduplicated across repositories: count fetches of the digest from either repo.
  int upstreamBlobGets(const std::string& digest) {
    return registry_->countRequests("GET", "/v2/team/a/blobs/" + digest) +
           registry_->countRequests("GET", "/v2/team/b/blobs/" + digest);
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<PullcacheServer> pullcache_;
  RemoteImage remote_a_;
  RemoteImage remote_b_;
  std::string hosts_dir_;
};

TEST_F(ContainerdTest, SharedLayerLeavesTheUpstreamOnceAndANewNodePullsWithTheUpstreamDown) {
  Containerd node1(dir_.sub("node1"));
  node1.start();
  auto pa = node1.pull(registry_->host() + "/team/a:v1", hosts_dir_);
  ASSERT_EQ(pa.code, 0) << pa.output << pullcache_->log();

  // Blobs are committed just after they are served; wait for a's layers to be in the cache.
  for (const auto& d : remote_a_.layer_digests) {
    std::string file = pullcache_->blobFile(d);
    ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(file); }, std::chrono::seconds(10)))
        << d;
  }
  // Another node pulls image b: its base layer (shared with a) comes from the cache, even
  // though it is requested under another repository.
  Containerd node2(dir_.sub("node2"));
  node2.start();
  auto pb = node2.pull(registry_->host() + "/team/b:v1", hosts_dir_);
  ASSERT_EQ(pb.code, 0) << pb.output << pullcache_->log();
  const std::string base = remote_a_.layer_digests[0];
  EXPECT_TRUE(waitFor(
      [&] {
        return pullcache_->log().find("repo=team/b ref=" + base + " status=200 bytes=" +
                                      std::to_string(remote_a_.layer_sizes[0]) +
                                      " complete=true cache=hit") != std::string::npos;
      },
      std::chrono::seconds(5)))
      << pullcache_->log();

  // Every blob left the upstream exactly once, the shared one included.
  for (const auto& d : remote_a_.layer_digests) EXPECT_EQ(upstreamBlobGets(d), 1) << d;
  for (const auto& d : remote_b_.layer_digests) EXPECT_EQ(upstreamBlobGets(d), 1) << d;

  // A fresh node pulls both images with the upstream gone: all from the cache.
  registry_->stop();
  Containerd node3(dir_.sub("node3"));
  node3.start();
  auto qa = node3.pull(registry_->host() + "/team/a:v1", hosts_dir_);
  EXPECT_EQ(qa.code, 0) << qa.output << pullcache_->log();
  auto qb = node3.pull(registry_->host() + "/team/b:v1", hosts_dir_);
  EXPECT_EQ(qb.code, 0) << qb.output << pullcache_->log();
}

TEST_F(ContainerdTest, ContainerdFallsBackToTheRegistryWhenPullcacheIsDown) {
  pullcache_->stop();
  Containerd node(dir_.sub("node"));
  node.start();
  auto r = node.pull(registry_->host() + "/team/a:v1", hosts_dir_);
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST_F(ContainerdTest, SkopeoCopiesThroughPullcacheWithoutNs) {
  // No ?ns=: the default upstream is used.
  std::string dest = "oci:" + dir_.sub("copy") + ":v1";
  auto r =
      runCommand({"skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                  "docker://127.0.0.1:" + std::to_string(pullcache_->port()) + "/team/a:v1", dest});
  ASSERT_EQ(r.code, 0) << r.output;
  for (const auto& d : remote_a_.layer_digests) EXPECT_EQ(upstreamBlobGets(d), 1) << d;
  // Again, from the cache only.
  registry_->stop();
  auto again =
      runCommand({"skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                  "docker://127.0.0.1:" + std::to_string(pullcache_->port()) + "/team/a:v1",
                  "oci:" + dir_.sub("copy2") + ":v1"});
  EXPECT_EQ(again.code, 0) << again.output << pullcache_->log();
}

// `pullcache containerd-config` writes the certs.d a real containerd then pulls through,
// merged with a hosts.toml the node already had (its entry kept, after ours), and --remove puts
// the node's file back exactly.
TEST_F(ContainerdTest, ContainerdConfigWritesHostsThatContainerdUses) {
  const std::string certs = dir_.sub("certs.d");
  const std::string theirs = "server = \"http://" + registry_->host() +
                             "\"\n\n[host.\"http://127.0.0.1:9\"]\n  capabilities = [\"pull\"]\n";
  writeTextFile(certs + "/" + registry_->host() + "/hosts.toml", theirs);
  writeTextFile(
      dir_.sub("containerd.toml"),
      "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"" + certs +
          "\"\n");
  auto install =
      runCommand({pullcacheBinary(), "containerd-config", "--config", pullcache_->configPath(),
                  "--certs-dir", certs, "--containerd-config", dir_.sub("containerd.toml")});
  ASSERT_EQ(install.code, 0) << install.output;
  EXPECT_EQ(install.output.find("WARNING"), std::string::npos) << install.output;
  const std::string written = readTextFile(certs + "/" + registry_->host() + "/hosts.toml");
  EXPECT_LT(written.find(pullcache_->url("")), written.find("127.0.0.1:9")) << written;

  Containerd node(dir_.sub("node"));
  node.start();
  auto pull = node.pull(registry_->host() + "/team/a:v1", certs);
  ASSERT_EQ(pull.code, 0) << pull.output << pullcache_->log();
  // The blobs came through pullcache.
  auto m = scrapeMetrics(*pullcache_);
  EXPECT_GE(m["pullcache_cache_requests_total{kind=\"blob\",result=\"miss\"}"], 4);

  // Rerun: unchanged. Then remove: the node's own file is back, byte for byte.
  auto again =
      runCommand({pullcacheBinary(), "containerd-config", "--config", pullcache_->configPath(),
                  "--certs-dir", certs, "--containerd-config", dir_.sub("containerd.toml")});
  EXPECT_NE(again.output.find("unchanged"), std::string::npos) << again.output;
  auto remove = runCommand({pullcacheBinary(), "containerd-config", "--config",
                            pullcache_->configPath(), "--certs-dir", certs, "--remove"});
  ASSERT_EQ(remove.code, 0) << remove.output;
  EXPECT_EQ(readTextFile(certs + "/" + registry_->host() + "/hosts.toml"), theirs);

  // Without config_path, the command says containerd will not use it.
  writeTextFile(dir_.sub("plain.toml"), "version = 2\n");
  auto warn =
      runCommand({pullcacheBinary(), "containerd-config", "--config", pullcache_->configPath(),
                  "--certs-dir", certs, "--containerd-config", dir_.sub("plain.toml")});
  EXPECT_EQ(warn.code, 0);
  EXPECT_NE(warn.output.find("WARNING"), std::string::npos) << warn.output;
}

// The runtime image scripts/build-image.sh assembles (no container engine here): pushed to the
// upstream, pulled through pullcache by containerd, and its binary runs in a container.
TEST_F(ContainerdTest, TheProjectImagePullsThroughPullcacheAndRuns) {
  const std::string layout = dir_.sub("image");
  auto built = runCommand({std::string(PULLCACHE_SOURCE_DIR) + "/scripts/build-image.sh",
                           pullcacheBinary(), layout, "test"});
  ASSERT_EQ(built.code, 0) << built.output;
  auto pushed = runCommand({"skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                            "oci:" + layout + ":test",
                            "docker://" + registry_->host() + "/pullcache/pullcache:test"});
  ASSERT_EQ(pushed.code, 0) << pushed.output;

  Containerd node(dir_.sub("node"));
  node.start();
  const std::string ref = registry_->host() + "/pullcache/pullcache:test";
  auto pull = node.pull(ref, hosts_dir_);
  ASSERT_EQ(pull.code, 0) << pull.output;
  EXPECT_GE(
      scrapeMetrics(*pullcache_)["pullcache_image_pulls_total{upstream=\"" + registry_->host() +
                                 "\",repository=\"pullcache/pullcache\"}"],
      1);
  auto run = runCommand({"ctr", "-a", node.socket(), "run", "--rm", ref, "pullcache-version",
                         "/usr/bin/pullcache", "version"},
                        std::chrono::seconds(60));
  if (run.code != 0 && (run.output.find("runc") != std::string::npos ||
                        run.output.find("operation not permitted") != std::string::npos)) {
    GTEST_SKIP() << "this machine does not allow ctr run: " << run.output;
  }
  ASSERT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("pullcache 0.1.0"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace pullcache::testing
