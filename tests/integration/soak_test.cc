// Soak: a bounded mixed load of warm and cold pulls against a cache too small for the working
// set (eviction runs all the time), an upstream that keeps going down and coming back and
// answering 503 bursts, and a kill -9 of pullcache with a restart, containerd pulling through it
// all. PULLCACHE_SOAK_SECONDS sets the length (60 in the test suite; `make soak` runs 600).
//
// Asserted: no client ever gets a complete 200 with wrong bytes; the only failures are the ones
// the faults explain (a clean 5xx, a body closed short, a refused connection while pullcache
// is down); containerd's pulls succeed while pullcache is down (it falls back) and after; RSS
// and open descriptors stay flat; and after all of it every blob in the cache hashes to its name.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "tests/integration/fixtures.h"
#include "tests/support/faulty_upstream.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

int soakSeconds() {
  const char* v = std::getenv("PULLCACHE_SOAK_SECONDS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 60;
}

std::uint64_t rssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6));
  }
  return 0;
}

int openFds(pid_t pid) {
  int n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    ++n;
  return n;
}

struct Tally {
  std::mutex mu;
  int verified = 0;        // complete 200, bytes hash to the digest
  int wrong = 0;           // complete 200 with wrong bytes: never allowed
  int clean_errors = 0;    // 5xx before the body
  int closed_short = 0;    // 200, then the connection closed early
  int refused = 0;         // no connection (pullcache down)
  std::vector<std::string> unexpected;
};

class SoakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    // Six images: a shared base layer and two of their own each, ~26 MiB of distinct blobs.
    for (int i = 0; i < 6; ++i) {
      auto image = writeOciLayout(
          dir_.sub("img" + std::to_string(i)), "v1",
          {{2 << 20, 900}, {(1u + i % 3) << 20, 910u + i}, {512u << 10, 920u + i}});
      std::string log;
      ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "soak/img" + std::to_string(i), &log), 0)
          << log;
      images_.push_back(inspectRemote(registry_->host(), "soak/img" + std::to_string(i), "v1"));
    }
    faulty_ = std::make_unique<FaultyUpstream>(registry_->host());
    PullcacheOptions o;
    o.tag_ttl = "1s";
    // 12 MiB for ~26 MiB of blobs: the evictor never rests.
    o.cache_yaml = "  min_free_bytes: 0\n  max_bytes: 12MiB\n  eviction_interval: 1s\n";
    o.upstream_timeouts = "{connect: 1s, stall: 3s, request: 10s}";
    o.upstreams_yaml = "upstreams:\n  - match: \"" + registry_->host() + "\"\n    url: " +
                       faulty_->url() + "\n";
    pc_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host(), o);
    pc_->start();
  }
  void TearDown() override {
    if (HasFailure() && pc_) std::cerr << "pullcache log (tail):\n" << tail(pc_->log()) << "\n";
    if (faulty_) faulty_->releaseStalls();
  }
  static std::string tail(const std::string& s) {
    return s.size() > 6000 ? s.substr(s.size() - 6000) : s;
  }

  void client(unsigned seed, Clock::time_point end, Tally& tally) {
    std::mt19937 rng(seed);
    while (Clock::now() < end) {
      const auto& img = images_[rng() % images_.size()];
      const std::string repo = "soak/img" + std::to_string(&img - images_.data());
      const std::string ns = "?ns=" + registry_->host();
      std::vector<std::pair<std::string, std::string>> gets = {
          {"/v2/" + repo + "/manifests/v1" + ns, img.manifest_digest}};
      for (const auto& d : img.layer_digests) gets.emplace_back("/v2/" + repo + "/blobs/" + d + ns, d);
      for (const auto& [path, digest] : gets) {
        const bool was_down = pc_down_.load();
        auto r = httpRequest("GET", pc_->url(path), {kAccept}, 30'000);
        const bool down = was_down || pc_down_.load();
        std::lock_guard lock(tally.mu);
        if (r.status == 200 && r.curl_code == 0) {
          if ("sha256:" + sha256Hex(r.body) == digest) {
            ++tally.verified;
          } else {
            ++tally.wrong;
          }
        } else if (r.status == 0 && down) {
          ++tally.refused;
        } else if (r.status == 200 && r.curl_code != 0) {
          ++tally.closed_short;
        } else if (r.status == 502 || r.status == 503 || r.status == 504) {
          ++tally.clean_errors;
        } else {
          tally.unexpected.push_back(path + ": status " + std::to_string(r.status) + ", curl " +
                                     std::to_string(r.curl_code) + ", " + r.body.substr(0, 200));
        }
      }
    }
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<FaultyUpstream> faulty_;
  std::unique_ptr<PullcacheServer> pc_;
  std::vector<RemoteImage> images_;
  std::atomic<bool> pc_down_{false};
};

TEST_F(SoakTest, MixedLoadWithEvictionAFlappingUpstreamAndAKill9) {
  const auto length = seconds(soakSeconds());
  const auto t0 = Clock::now();
  const auto end = t0 + length;
  Tally tally;
  std::atomic<bool> stop{false};

  // The upstream: up 4 s, down 1.5 s, and a 503 burst on blobs now and then.
  std::thread flapper([&] {
    int cycle = 0;
    while (!stop) {
      if (++cycle % 3 == 0) {
        faulty_->add({.kind = FaultKind::kStatus, .path_contains = "/blobs/", .times = 3,
                      .status = 503});
      }
      for (int i = 0; i < 40 && !stop; ++i) std::this_thread::sleep_for(milliseconds(100));
      faulty_->setDown(true);
      for (int i = 0; i < 15 && !stop; ++i) std::this_thread::sleep_for(milliseconds(100));
      faulty_->setDown(false);
    }
    faulty_->setDown(false);
  });
  std::vector<std::thread> clients;
  for (unsigned i = 0; i < 3; ++i) {
    clients.emplace_back([&, i] { client(1000 + i, end, tally); });
  }

  // kill -9 at a fifth of the run; containerd pulls while it is down, then after the restart.
  const bool root = ::geteuid() == 0;
  std::unique_ptr<Containerd> containerd;
  const std::string hosts = dir_.sub("hosts");
  if (root) {
    containerd = std::make_unique<Containerd>(dir_.sub("containerd"));
    containerd->start();
    writeHostsToml(hosts, registry_->host(), "http://127.0.0.1:" + std::to_string(pc_->port()));
  }
  std::this_thread::sleep_until(t0 + length / 5);
  pc_down_ = true;
  pc_->kill9();
  if (root) {
    auto pulled = containerd->pull(registry_->host() + "/soak/img0:v1", hosts, "while-down");
    EXPECT_EQ(pulled.code, 0) << "containerd falls back to the registry: " << pulled.output;
  }
  pc_->start();  // same cache directory: reconciliation after the crash
  pc_down_ = false;
  if (root) {
    auto pulled = containerd->pull(registry_->host() + "/soak/img1:v1", hosts, "after-restart");
    EXPECT_EQ(pulled.code, 0) << pulled.output;
  }

  // Resources from here (settled after the restart) to the end must stay flat.
  std::this_thread::sleep_until(t0 + length * 2 / 5);
  const pid_t pid = pc_->pid();
  const std::uint64_t rss_mid = rssKiB(pid);
  const int fds_mid = openFds(pid);
  for (auto& c : clients) c.join();
  // Measured while the process is still under the last of the load's state, before teardown.
  const std::uint64_t rss_end = rssKiB(pid);
  const int fds_end = openFds(pid);
  stop = true;
  flapper.join();
  faulty_->clear();

  std::cerr << "soak " << length.count() << " s: " << tally.verified << " verified, "
            << tally.clean_errors << " clean 5xx, " << tally.closed_short << " closed short, "
            << tally.refused << " refused while down; RSS " << rss_mid << " -> " << rss_end
            << " KiB, fds " << fds_mid << " -> " << fds_end << "\n";
  EXPECT_EQ(tally.wrong, 0) << "a complete 200 with wrong bytes";
  EXPECT_TRUE(tally.unexpected.empty())
      << tally.unexpected.size() << " unexpected answers, first: " << tally.unexpected.front();
  EXPECT_GT(tally.verified, 50);
  EXPECT_GT(tally.verified, 4 * (tally.clean_errors + tally.closed_short))
      << "most requests succeed: the faults take only part of the time";
  EXPECT_LE(rss_end, rss_mid + rss_mid / 4 + 8 * 1024) << "RSS grew under steady load";
  EXPECT_LE(fds_end, fds_mid + 8) << "descriptors leaked";

  auto m = scrapeMetrics(*pc_);
  EXPECT_GT(m["pullcache_cache_evictions_total"], 0) << "the evictor ran";

  // Consistency: wait for in-flight commits, then every committed blob hashes to its name, the
  // staging dir is empty, and what is cached is served whole.
  ASSERT_TRUE(waitFor([&] { return std::filesystem::is_empty(pc_->cacheDir() + "/tmp"); },
                      seconds(20)));
  int checked = 0;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(pc_->cacheDir() + "/blobs/sha256")) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(sha256Hex(bytes), e.path().filename().string()) << e.path();
    ++checked;
  }
  EXPECT_GT(checked, 0);
  for (std::size_t i = 0; i < images_.size(); ++i) {
    for (const auto& d : images_[i].layer_digests) {
      auto r = httpGet(pc_->url("/v2/soak/img" + std::to_string(i) + "/blobs/" + d +
                                "?ns=" + registry_->host()));
      ASSERT_EQ(r.status, 200);
      EXPECT_EQ("sha256:" + sha256Hex(r.body), d);
    }
  }
}

}  // namespace
}  // namespace pullcache::testing
