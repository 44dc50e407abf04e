// The disk budget against real pulls: a 100 MiB budget, three 60 MiB images pulled in turn and
// a small pinned image. Disk use ends under budget after every pull, the pinned image survives,
// the least recently used image goes, and the index and the files agree throughout.
#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace pullcache::testing
