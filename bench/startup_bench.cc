// Start-up time with a large cache: populates a cache directory with N blobs (real files named
// by their digests, indexed in RocksDB), then starts the real daemon binary and measures the
// time until /readyz answers 200 (index open + reconciliation of every file + binds), several
// times. Also measures the reconciliation alone in-process. Prints one JSON object.
//
//   startup_bench PULLCACHE_BINARY [BLOBS=100000] [RUNS=3]
//   startup_bench --populate CACHE_DIR BLOBS     (only fills a cache dir; bench/run.sh uses it)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/index/rocksdb_index.h"
#include "daemon/store/blob_store.h"
#include "daemon/store/reconcile.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using namespace pullcache;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void populate(const std::string& dir, std::size_t blobs) {
  store::BlobStore store(dir);
  index::RocksDbIndex index(dir + "/index");
  for (std::size_t i = 0; i < blobs; ++i) {
    std::string content = "blob-" + std::to_string(i);
    Digest d = sha256Of(content);
    auto staging = store.createStaging(d);
    if (!staging || !writeAll(staging.value().fd.get(), content.data(), content.size()) ||
        !store.commit(staging.value(), d) ||
        !index.putBlob(d, {content.size(), 1'700'000'000, 1'700'000'000})) {
      std::fprintf(stderr, "populate failed at %zu\n", i);
      std::exit(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: startup_bench PULLCACHE_BINARY [BLOBS] [RUNS]\n"
                 "       startup_bench --populate CACHE_DIR BLOBS\n");
    return 2;
  }
  if (std::string(argv[1]) == "--populate" && argc == 4) {
    populate(argv[2], std::stoul(argv[3]));
    return 0;
  }
  const std::string binary = argv[1];
  const std::size_t blobs = argc > 2 ? std::stoul(argv[2]) : 100'000;
  const int runs = argc > 3 ? std::stoi(argv[3]) : 3;
  testing::TempDir dir;
  const std::string cache = dir.sub("cache");

  auto t0 = Clock::now();
  populate(cache, blobs);
  const double populate_ms = msSince(t0);

  // Reconciliation alone (what start-up adds over an empty cache).
  std::vector<double> reconcile_ms;
  for (int i = 0; i < runs; ++i) {
    store::BlobStore store(cache);
    index::RocksDbIndex index(cache + "/index");
    auto r0 = Clock::now();
    auto report = store::reconcile(store, index);
    reconcile_ms.push_back(msSince(r0));
    if (!report || report.value().blobs != blobs) {
      std::fprintf(stderr, "reconcile found %zu blobs, expected %zu\n",
                   report ? report.value().blobs : 0, blobs);
      return 1;
    }
  }

  // The real daemon, cold process start to /readyz.
  const int port = testing::freePort();
  const int health = testing::freePort();
  testing::writeTextFile(dir.sub("config.yaml"),
                         "listen: 127.0.0.1:" + std::to_string(port) +
                             "\nmetrics_listen: 127.0.0.1:" + std::to_string(health) +
                             "\ncache:\n  dir: " + cache +
                             "\n  min_free_bytes: 0\nupstreams:\n  - match: registry.invalid\n"
                             "log: {level: warn}\n");
  // Warm runs (directory entries and index in the page cache), then, when this process may
  // drop the page cache (root), cold ones: a node that just rebooted.
  const bool can_drop = ::access("/proc/sys/vm/drop_caches", W_OK) == 0;
  std::vector<double> ready_ms;
  std::vector<double> cold_ready_ms;
  for (int i = 0; i < runs * (can_drop ? 2 : 1); ++i) {
    const bool cold = i >= runs;
    if (cold) {
      ::sync();
      std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
    }
    auto s0 = Clock::now();
    testing::Process daemon({binary, "serve", "--config", dir.sub("config.yaml")},
                            dir.sub("daemon.log"));
    bool ready = testing::waitFor(
        [&] {
          return testing::httpGet("http://127.0.0.1:" + std::to_string(health) + "/readyz")
                     .status == 200;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(5));
    (cold ? cold_ready_ms : ready_ms).push_back(msSince(s0));
    if (!ready) {
      std::fprintf(stderr, "daemon did not become ready: %s\n", daemon.log().c_str());
      return 1;
    }
    daemon.kill(SIGTERM);
    daemon.wait(std::chrono::seconds(10));
  }
  nlohmann::json out = {{"blobs", blobs},
                        {"populate_ms", populate_ms},
                        {"reconcile_ms", reconcile_ms},
                        {"daemon_start_to_ready_ms", ready_ms},
                        {"cold_page_cache_start_to_ready_ms", cold_ready_ms}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
