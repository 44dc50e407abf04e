// The disk budget against real pulls: a 100 MiB budget, three 60 MiB images pulled in turn and
// a small pinned image. Disk use ends under budget after every pull, the pinned image survives,
// the least recently used image goes, and the index and the files agree throughout.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>
#include <tuple>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

struct DiskState {
  std::uint64_t bytes = 0;
  std::size_t files = 0;
};

DiskState blobFiles(const std::string& cache_dir) {
  DiskState s;
  for (const auto& e : std::filesystem::recursive_directory_iterator(cache_dir + "/blobs")) {
    if (!e.is_regular_file()) continue;
    s.bytes += e.file_size();
    ++s.files;
  }
  return s;
}

class CacheLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    push("life/pinned", {{4 * kMiB, 100}});
    for (const char* name : {"a", "b", "c"})
      push(std::string("life/") + name, {{60 * kMiB, static_cast<std::uint64_t>(name[0])}});
  }

  void push(const std::string& repo, const std::vector<LayerSpec>& layers) {
    auto image = writeOciLayout(dir_.sub("layout-" + repo.substr(5)), "v1", layers);
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), repo, &log), 0) << log;
    remote_[repo] = inspectRemote(registry_->host(), repo, "v1");
  }

  std::vector<std::string> blobsOf(const std::string& repo) {
    auto r = remote_[repo];
    auto all = r.layer_digests;
    all.push_back(r.config_digest);
    return all;
  }

  bool allCached(const std::string& repo) {
    for (const auto& d : blobsOf(repo)) {
      if (!std::filesystem::exists(pc_->blobFile(d))) return false;
    }
    return true;
  }

  // Eviction is by blob, not by image: the tiny config blob may stay when the layer goes.
  bool layersGone(const std::string& repo) {
    for (const auto& d : remote_[repo].layer_digests) {
      if (std::filesystem::exists(pc_->blobFile(d))) return false;
    }
    return true;
  }

  void pull(const std::string& repo) {
    // A fresh destination each time: skopeo skips blobs the destination already has.
    auto r = skopeoPull(*pc_, repo + ":v1", dir_.sub("out-" + std::to_string(pulls_++)));
    ASSERT_EQ(r.code, 0) << r.output << pc_->log();
    // Committed, then evicted down to the low watermark (80 MiB) by the background pass.
    ASSERT_TRUE(waitFor(
        [&] {
          auto m = scrapeMetrics(*pc_);
          return m["pullcache_upstream_inflight_fetches"] == 0 &&
                 blobFiles(pc_->cacheDir()).bytes <= 80 * kMiB;
        },
        std::chrono::seconds(20)))
        << "after pulling " << repo << ": " << blobFiles(pc_->cacheDir()).bytes << " bytes\n"
        << pc_->log();
    // The index agrees with the files.
    ASSERT_TRUE(waitFor(
        [&] {
          return scrapeMetrics(*pc_)["pullcache_cache_blobs"] ==
                 static_cast<double>(blobFiles(pc_->cacheDir()).files);
        },
        std::chrono::seconds(5)));
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<PullcacheServer> pc_;
  std::map<std::string, RemoteImage> remote_;
  int pulls_ = 0;
};

TEST_F(CacheLifecycleTest, BudgetHoldsPinnedSurvivesLeastRecentlyUsedGoes) {
  PullcacheOptions options;
  options.cache_yaml =
      "  min_free_bytes: 0\n  max_bytes: 100MiB\n  eviction_interval: 1s\n"
      "  pin: [\"" +
      registry_->host() + "/life/pinned:v1\"]\n";
  options.extra_yaml = "log: {level: debug}\n";
  pc_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host(), options);
  pc_->start();

  pull("life/pinned");
  pull("life/a");
  EXPECT_TRUE(allCached("life/pinned"));
  EXPECT_TRUE(allCached("life/a"));

  pull("life/b");  // 4 + 60 + 60 > 90: a (least recently used, unpinned) makes room for b
  EXPECT_TRUE(allCached("life/pinned"));
  EXPECT_TRUE(layersGone("life/a")) << pc_->log();
  EXPECT_TRUE(allCached("life/b"));

  pull("life/c");
  EXPECT_TRUE(allCached("life/pinned"));
  EXPECT_TRUE(layersGone("life/b"));
  EXPECT_TRUE(allCached("life/c"));

  auto m = scrapeMetrics(*pc_);
  EXPECT_GE(m["pullcache_cache_evicted_bytes_total"], 120.0 * kMiB);
  EXPECT_GE(m["pullcache_cache_evictions_total"], 2);
  EXPECT_EQ(m["pullcache_cache_capacity_bytes"], 100.0 * kMiB);
  EXPECT_LE(m["pullcache_cache_size_bytes"], 80.0 * kMiB);

  // An evicted image pulls again (from the upstream), whole.
  pull("life/a");
  EXPECT_TRUE(allCached("life/a")) << pc_->log();
  EXPECT_TRUE(allCached("life/pinned"));
}

// The cache directory on a 4 MiB tmpfs: a blob the disk cannot take is served from memory
// (never cached, never partial), one too large for memory fails before its first byte, and a
// blob that fits is still cached.
class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_ = dir_.sub("pc/cache");
    std::filesystem::create_directories(mount_);
    auto m = runCommand({"mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount_});
    if (m.code != 0) GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << m.output;
    mounted_ = true;
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    for (auto [repo, size, seed] :
         {std::tuple{"full/mid", 12 * kMiB, 51ull}, std::tuple{"full/huge", 24 * kMiB, 52ull},
          std::tuple{"full/small", 1 * kMiB, 53ull}}) {
      auto image = writeOciLayout(dir_.sub(std::string("layout-") + repo), "v1", {{size, seed}});
      std::string log;
      ASSERT_EQ(pushWithSkopeo(image, registry_->host(), repo, &log), 0) << log;
      remote_[repo] = inspectRemote(registry_->host(), repo, "v1");
    }
  }
  void TearDown() override {
    pc_.reset();
    if (mounted_) runCommand({"umount", mount_});
  }

  TempDir dir_;
  std::string mount_;
  bool mounted_ = false;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<PullcacheServer> pc_;
  std::map<std::string, RemoteImage> remote_;
};

TEST_F(DiskFullTest, PullsPassThroughWhenTheDiskCannotTakeTheBlob) {
  PullcacheOptions options;
  options.cache_yaml = "  min_free_bytes: 0\n  max_bytes: 1GiB\n  passthrough_max_bytes: 16MiB\n";
  pc_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host(), options);
  pc_->start();

  // 12 MiB on a 4 MiB filesystem: served from memory, whole and verified by skopeo, not cached.
  auto mid = skopeoPull(*pc_, "full/mid:v1", dir_.sub("out-mid"));
  ASSERT_EQ(mid.code, 0) << mid.output << pc_->log();
  const std::string mid_layer = remote_["full/mid"].layer_digests[0];
  EXPECT_FALSE(std::filesystem::exists(pc_->blobFile(mid_layer)));
  EXPECT_TRUE(std::filesystem::is_empty(mount_ + "/tmp"));
  EXPECT_GE(scrapeMetrics(*pc_)["pullcache_cache_write_errors_total"], 1);
  // Twice, concurrently: both readers get the whole blob.
  const std::string url = pc_->url("/v2/full/mid/blobs/" + mid_layer + "?ns=" + registry_->host());
  std::vector<HttpResult> results(2);
  {
    std::vector<std::thread> clients;
    for (auto& r : results) clients.emplace_back([&r, &url] { r = httpGet(url); });
    for (auto& t : clients) t.join();
  }
  for (const auto& r : results) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ("sha256:" + sha256Hex(r.body), mid_layer);
  }

  // 24 MiB: too large for memory as well: an error before the first body byte (containerd
  // then falls back to the registry itself).
  const std::string huge_layer = remote_["full/huge"].layer_digests[0];
  auto huge = httpGet(pc_->url("/v2/full/huge/blobs/" + huge_layer + "?ns=" + registry_->host()));
  EXPECT_EQ(huge.status, 503);
  EXPECT_NE(huge.body.find("UNAVAILABLE"), std::string::npos) << huge.body;

  // What fits is still cached, and the daemon is healthy.
  ASSERT_EQ(skopeoPull(*pc_, "full/small:v1", dir_.sub("out-small")).code, 0);
  EXPECT_TRUE(waitFor(
      [&] {
        return std::filesystem::exists(pc_->blobFile(remote_["full/small"].layer_digests[0]));
      },
      std::chrono::seconds(10)))
      << pc_->log();
  EXPECT_EQ(httpGet(pc_->healthUrl("/readyz")).status, 200);
  EXPECT_EQ(pc_->stop(), 0);
}

// kill -9 in the middle of several concurrent cold pulls, restart, pull again: no staging file
// survives, every cached file hashes to its name, the index and the files agree, and every
// image pulls whole.
TEST(CrashTest, Kill9DuringConcurrentColdPullsLosesNothingAndKeepsNothingWrong) {
  TempDir dir;
  RegistryServer registry(dir.sub("registry"));
  registry.start();
  std::vector<std::string> repos = {"crash/a", "crash/b", "crash/c"};
  for (std::size_t i = 0; i < repos.size(); ++i) {
    auto image = writeOciLayout(dir.sub("layout" + std::to_string(i)), "v1",
                                {{24 * kMiB, 70 + i}, {16 * kMiB, 80 + i}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry.host(), repos[i], &log), 0) << log;
  }
  PullcacheServer pc(dir.sub("pc"), registry.host());
  pc.start();
  const std::string tmp = pc.cacheDir() + "/tmp";
  std::vector<std::unique_ptr<Process>> pulls;
  for (std::size_t i = 0; i < repos.size(); ++i) {
    pulls.push_back(std::make_unique<Process>(
        std::vector<std::string>{
            "skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
            "docker://127.0.0.1:" + std::to_string(pc.port()) + "/" + repos[i] + ":v1",
            "oci:" + dir.sub("cold" + std::to_string(i)) + ":v1"},
        dir.sub("cold" + std::to_string(i) + ".log")));
  }
  // Kill as soon as blobs are being written.
  ASSERT_TRUE(waitFor([&] { return !std::filesystem::is_empty(tmp); }, std::chrono::seconds(30),
                      std::chrono::milliseconds(1)))
      << pc.log();
  pc.kill9();
  for (auto& p : pulls) p->wait(std::chrono::seconds(30));

  pc.start();  // reconciles
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
  EXPECT_NE(pc.log().find("staging files"), std::string::npos);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(pc.cacheDir() + "/blobs")) {
    if (!e.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(sha256Hex(readTextFile(e.path())), e.path().filename().string())
        << "a cached file does not match its digest";
  }
  EXPECT_EQ(scrapeMetrics(pc)["pullcache_cache_blobs"], static_cast<double>(files));

  for (std::size_t i = 0; i < repos.size(); ++i) {
    auto r = skopeoPull(pc, repos[i] + ":v1", dir.sub("again" + std::to_string(i)));
    EXPECT_EQ(r.code, 0) << r.output << pc.log();
  }
  ASSERT_TRUE(waitFor([&] { return scrapeMetrics(pc)["pullcache_cache_blobs"] == 9; },
                      std::chrono::seconds(20)))
      << pc.log();
  for (const auto& e : std::filesystem::recursive_directory_iterator(pc.cacheDir() + "/blobs")) {
    if (e.is_regular_file()) {
      EXPECT_EQ(sha256Hex(readTextFile(e.path())), e.path().filename().string());
    }
  }
}

}  // namespace
}  // namespace pullcache::testing
