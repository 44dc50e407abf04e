// pullcache stats / gc / prefetch against a real daemon, a real registry and real skopeo pulls:
// the same answers from the daemon and stand-alone, gc --dry-run deletes nothing, gc's output
// names what it removed, progress only on a terminal, and prefetch of a multi-platform index
// fetches only this node's platform.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/manifest_refs.h"
#include "common/units.h"
#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

nlohmann::json runJson(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {pullcacheBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv);
  EXPECT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.output;
  return j;
}

std::size_t blobFileCount(const std::string& cache_dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(cache_dir + "/blobs"))
    n += e.is_regular_file() ? 1 : 0;
  return n;
}

class CacheCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
  }

  void pushSingle(const std::string& repo, std::uint64_t size, std::uint64_t seed) {
    auto image = writeOciLayout(dir_.sub("layout-" + std::to_string(seed)), "v1", {{size, seed}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), repo, &log), 0) << log;
    remote_[repo] = inspectRemote(registry_->host(), repo, "v1");
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::map<std::string, RemoteImage> remote_;
};

TEST_F(CacheCommandsTest, StatsAndGcFromTheDaemonAndStandAlone) {
  pushSingle("cmd/a", 8 * kMiB, 1);
  pushSingle("cmd/b", 8 * kMiB, 2);
  PullcacheServer pc(dir_.sub("pc"), registry_->host());
  pc.start();
  ASSERT_EQ(skopeoPull(pc, "cmd/a:v1", dir_.sub("out-a")).code, 0);
  ASSERT_TRUE(waitFor([&] { return scrapeMetrics(pc)["pullcache_cache_blobs"] == 2; },
                      std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // b is read a second later
  ASSERT_EQ(skopeoPull(pc, "cmd/b:v1", dir_.sub("out-b")).code, 0);
  ASSERT_TRUE(waitFor([&] { return scrapeMetrics(pc)["pullcache_cache_blobs"] == 4; },
                      std::chrono::seconds(10)));

  auto stats = runJson({"stats", "--config", pc.configPath(), "--json"});
  EXPECT_EQ(stats["mode"], "daemon");
  EXPECT_EQ(stats["blobs"], 4);
  EXPECT_EQ(stats["tags"], 2);
  EXPECT_GE(stats["bytes"].get<std::uint64_t>(), 16 * kMiB);
  EXPECT_EQ(stats["requests_since_start"]["blob"]["miss"], 4);
  ASSERT_EQ(stats["top_repositories"].size(), 2u);
  for (const auto& r : stats["top_repositories"]) {
    EXPECT_EQ(r["upstream"], registry_->host());
    EXPECT_GE(r["bytes"].get<std::uint64_t>(), 8 * kMiB);
  }
  auto text = runCommand({pullcacheBinary(), "stats", "--config", pc.configPath()});
  EXPECT_EQ(text.code, 0) << text.output;
  EXPECT_NE(text.output.find("top repositories by cached bytes"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(registry_->host() + "/cmd/b (1 tags)"), std::string::npos)
      << text.output;

  // Under budget: the daemon's gc has nothing to do.
  auto gc = runJson({"gc", "--config", pc.configPath(), "--dry-run", "--json"});
  EXPECT_EQ(gc["evict_blobs"], 0);
  EXPECT_EQ(gc["dry_run"], true);

  // Stand-alone, with a budget that holds one image: a (the least recently used) would go.
  ASSERT_EQ(pc.stop(), 0);
  std::string config = readTextFile(pc.configPath());
  auto at = config.find("cache:\n");
  ASSERT_NE(at, std::string::npos);
  config.insert(at + 7, "  max_bytes: 15MiB\n");
  const std::string tight = dir_.sub("tight.yaml");
  writeTextFile(tight, config);
  const std::string a_layer = remote_["cmd/a"].layer_digests[0];
  const std::string b_layer = remote_["cmd/b"].layer_digests[0];

  auto dry = runJson({"gc", "--config", tight, "--dry-run", "--json"});
  EXPECT_EQ(dry["mode"], "stand-alone");
  ASSERT_GE(dry["victims"].size(), 1u) << dry.dump();
  bool a_goes = false;
  for (const auto& v : dry["victims"]) {
    EXPECT_NE(v["digest"], b_layer);
    EXPECT_EQ(v["reason"], "budget");
    a_goes = a_goes || v["digest"] == a_layer;
  }
  EXPECT_TRUE(a_goes) << dry.dump(2);
  EXPECT_EQ(dry["evicted_blobs"], 0);
  EXPECT_TRUE(std::filesystem::exists(pc.blobFile(a_layer)));  // dry run: nothing deleted
  auto dry_text = runCommand({pullcacheBinary(), "gc", "--config", tight, "--dry-run"});
  EXPECT_NE(dry_text.output.find("would evict"), std::string::npos) << dry_text.output;
  EXPECT_NE(dry_text.output.find(a_layer), std::string::npos) << dry_text.output;

  auto real = runJson({"gc", "--config", tight, "--json"});
  EXPECT_GE(real["evicted_blobs"].get<int>(), 1);
  EXPECT_FALSE(std::filesystem::exists(pc.blobFile(a_layer)));
  EXPECT_TRUE(std::filesystem::exists(pc.blobFile(b_layer)));

  auto after = runJson({"stats", "--config", tight, "--json"});
  EXPECT_EQ(after["mode"], "stand-alone");
  EXPECT_EQ(after["blobs"].get<std::size_t>(), blobFileCount(pc.cacheDir()));
  EXPECT_FALSE(after.contains("requests_since_start"));
}

TEST_F(CacheCommandsTest, AdminApiRejectsBadRequests) {
  PullcacheServer pc(dir_.sub("pc"), registry_->host());
  pc.start();
  EXPECT_EQ(httpGet(pc.url("/pullcache/v1/gc")).status, 405);  // GET on a POST resource
  EXPECT_EQ(httpGet(pc.url("/pullcache/v1/nothing")).status, 404);
  EXPECT_EQ(httpGet(pc.url("/pullcache/v1/stats")).status, 200);
}

TEST_F(CacheCommandsTest, PrefetchTakesOnlyThisNodesPlatformUnlessAskedForAll) {
  const Platform host = hostPlatform();
  PlatformSpec mine{host.os, host.architecture, host.variant, {{3 * kMiB, 31}}};
  PlatformSpec other{"linux",
                     host.architecture == "amd64" ? "arm64" : "amd64",
                     host.architecture == "amd64" ? "v8" : "",
                     {{3 * kMiB, 32}}};
  auto image = writeOciIndexLayout(dir_.sub("multi"), "v1", {mine, other});
  std::string log;
  ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "cmd/multi", &log), 0) << log;
  // skopeo may recompress layers on push: read what the registry holds, per platform.
  std::map<std::string, std::string> layer_by_arch;
  const std::string v2 = "http://" + registry_->host() + "/v2/cmd/multi/manifests/";
  auto index = httpGet(v2 + "v1", {"Accept: application/vnd.oci.image.index.v1+json, "
                                   "application/vnd.docker.distribution.manifest.list.v2+json"});
  ASSERT_EQ(index.status, 200);
  auto children = parseManifestRefs(index.body);
  ASSERT_TRUE(children && children.value().is_index);
  for (const auto& child : children.value().children) {
    auto m =
        httpGet(v2 + child.digest.str(), {"Accept: application/vnd.oci.image.manifest.v1+json, "
                                          "application/vnd.docker.distribution.manifest.v2+json"});
    auto refs = parseManifestRefs(m.body);
    ASSERT_TRUE(refs && refs.value().blobs.size() == 2) << m.body;
    layer_by_arch[child.platform.architecture] = refs.value().blobs[1].digest.str();
  }
  const std::string mine_layer = layer_by_arch[mine.architecture];
  const std::string other_layer = layer_by_arch[other.architecture];
  ASSERT_FALSE(mine_layer.empty());
  ASSERT_FALSE(other_layer.empty());

  PullcacheServer pc(dir_.sub("pc"), registry_->host());
  pc.start();
  const std::string ref = registry_->host() + "/cmd/multi:v1";
  auto r = runCommand({pullcacheBinary(), "prefetch", "--config", pc.configPath(), ref});
  ASSERT_EQ(r.code, 0) << r.output << pc.log();
  EXPECT_NE(r.output.find("2 blobs"), std::string::npos) << r.output;  // config + layer
  EXPECT_NE(r.output.find("platforms: " + host.os + "/" + host.architecture), std::string::npos)
      << r.output;
  ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(pc.blobFile(mine_layer)); },
                      std::chrono::seconds(10)))
      << r.output << pc.log();
  EXPECT_FALSE(std::filesystem::exists(pc.blobFile(other_layer)));
  EXPECT_EQ(registry_->countRequests("GET", "/v2/cmd/multi/blobs/" + other_layer), 0);

  auto all = runCommand(
      {pullcacheBinary(), "prefetch", "--config", pc.configPath(), "--all-platforms", ref});
  ASSERT_EQ(all.code, 0) << all.output;
  ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(pc.blobFile(other_layer)); },
                      std::chrono::seconds(10)));

  // Errors: an unknown tag fails clearly; a malformed reference is a usage error.
  auto missing = runCommand({pullcacheBinary(), "prefetch", "--config", pc.configPath(),
                             registry_->host() + "/cmd/multi:nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("MANIFEST_UNKNOWN"), std::string::npos) << missing.output;
  auto bad = runCommand({pullcacheBinary(), "prefetch", "--config", pc.configPath(), "Bad/Ref"});
  EXPECT_EQ(bad.code, 2) << bad.output;
}

// Progress is for people: a redrawn stderr line on a terminal; in a pipe or a log file, stderr
// stays empty and stdout carries the answer line by line.
TEST_F(CacheCommandsTest, ProgressOnlyOnATerminal) {
  pushSingle("cmd/progress", 4 * kMiB, 41);
  pushSingle("cmd/progress2", 2 * kMiB, 42);
  PullcacheServer pc(dir_.sub("pc"), registry_->host());
  pc.start();
  const std::string base = pullcacheBinary() + " prefetch --config " + pc.configPath() + " ";
  const std::string ref = registry_->host() + "/cmd/progress:v1";

  auto piped = runCommand({"sh", "-c", base + ref + " 2>" + dir_.sub("err.txt")});
  ASSERT_EQ(piped.code, 0) << piped.output << pc.log();
  EXPECT_EQ(readTextFile(dir_.sub("err.txt")), "");
  EXPECT_EQ(piped.output.find('\r'), std::string::npos) << piped.output;
  EXPECT_EQ(piped.output.find('\x1b'), std::string::npos) << piped.output;
  EXPECT_TRUE(piped.output.starts_with(ref + ": sha256:")) << piped.output;
  EXPECT_EQ(std::count(piped.output.begin(), piped.output.end(), '\n'), 1) << piped.output;

  auto gc = runCommand({"sh", "-c",
                        pullcacheBinary() + " gc --dry-run --config " + pc.configPath() + " 2>" +
                            dir_.sub("gc-err.txt")});
  ASSERT_EQ(gc.code, 0) << gc.output;
  EXPECT_EQ(readTextFile(dir_.sub("gc-err.txt")), "");
  EXPECT_NE(gc.output.find("would evict"), std::string::npos) << gc.output;

  // A terminal: `script` runs the command on a pseudo-terminal (util-linux, on Debian's base).
  if (!haveCommand("script")) GTEST_SKIP() << "no script(1) to give the command a terminal";
  const std::string ref2 = registry_->host() + "/cmd/progress2:v1";
  auto tty = runCommand({"script", "-q", "-e", "-c", base + ref2, "/dev/null"});
  ASSERT_EQ(tty.code, 0) << tty.output;
  EXPECT_NE(tty.output.find("\r" + ref2 + "  0/2 blobs  0 B / "), std::string::npos) << tty.output;
  EXPECT_NE(tty.output.find("2/2 blobs"), std::string::npos) << tty.output;
  EXPECT_NE(tty.output.find("/s\x1b[K"), std::string::npos) << tty.output;
  EXPECT_NE(tty.output.find(ref2 + ": sha256:"), std::string::npos) << tty.output;
}

std::set<std::string> cachedBlobDigests(const std::string& cache_dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(cache_dir + "/blobs")) {
    if (e.is_regular_file()) out.insert("sha256:" + e.path().filename().string());
  }
  return out;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    lines.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
    at = end == std::string::npos ? text.size() : end + 1;
  }
  return lines;
}

// gc's pass, stand-alone (no daemon): in a pipe, stderr stays empty and stdout says what went,
// one line each; on a terminal, the progress line counts the blobs and bytes removed.
TEST_F(CacheCommandsTest, GcReportsWhatItRemovesLineByLineOrAsProgress) {
  pushSingle("cmd/gc-a", 8 * kMiB, 51);
  pushSingle("cmd/gc-b", 8 * kMiB, 52);
  PullcacheServer pc(dir_.sub("pc"), registry_->host());
  auto fill = [&](const std::string& round) {
    pc.start();
    ASSERT_EQ(skopeoPull(pc, "cmd/gc-a:v1", dir_.sub("out-a" + round)).code, 0);
    ASSERT_EQ(skopeoPull(pc, "cmd/gc-b:v1", dir_.sub("out-b" + round)).code, 0);
    ASSERT_TRUE(waitFor([&] { return scrapeMetrics(pc)["pullcache_cache_blobs"] == 4; },
                        std::chrono::seconds(10)));
    ASSERT_EQ(pc.stop(), 0);
  };
  fill("1");
  if (HasFatalFailure()) return;
  std::string config = readTextFile(pc.configPath());
  auto at = config.find("cache:\n");
  ASSERT_NE(at, std::string::npos);
  config.insert(at + 7, "  max_bytes: 15MiB\n");  // holds one image: one layer at least goes
  const std::string tight = dir_.sub("tight.yaml");
  writeTextFile(tight, config);

  const auto before = cachedBlobDigests(pc.cacheDir());
  ASSERT_EQ(before.size(), 4u);
  auto piped = runCommand(
      {"sh", "-c", pullcacheBinary() + " gc --config " + tight + " 2>" + dir_.sub("gc-err.txt")});
  ASSERT_EQ(piped.code, 0) << piped.output;
  EXPECT_EQ(readTextFile(dir_.sub("gc-err.txt")), "");
  EXPECT_EQ(piped.output.find('\r'), std::string::npos) << piped.output;
  EXPECT_EQ(piped.output.find('\x1b'), std::string::npos) << piped.output;
  const auto after = cachedBlobDigests(pc.cacheDir());
  std::set<std::string> gone;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::inserter(gone, gone.end()));
  ASSERT_GE(gone.size(), 1u);
  // "evicted N blobs, X (cache A -> B; ...)", then one line per blob removed, nothing else.
  const auto lines = splitLines(piped.output);
  ASSERT_EQ(lines.size(), 1 + gone.size()) << piped.output;
  EXPECT_TRUE(lines[0].starts_with("evicted " + std::to_string(gone.size()) + " blobs, "))
      << piped.output;
  EXPECT_NE(lines[0].find("budget 15.0 MiB"), std::string::npos) << piped.output;
  std::set<std::string> listed;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    ASSERT_TRUE(lines[i].starts_with("  sha256:")) << lines[i];
    EXPECT_NE(lines[i].find(" budget "), std::string::npos) << lines[i];
    listed.insert(lines[i].substr(2, lines[i].find(' ', 2) - 2));
  }
  EXPECT_EQ(listed, gone) << piped.output;

  // A terminal: `script` runs the command on a pseudo-terminal (util-linux, on Debian's base).
  if (!haveCommand("script")) GTEST_SKIP() << "no script(1) to give the command a terminal";
  fill("2");
  if (HasFatalFailure()) return;
  auto plan = runJson({"gc", "--config", tight, "--dry-run", "--json"});
  const auto n = plan["evict_blobs"].get<std::size_t>();
  const auto bytes = formatBytes(plan["evict_bytes"].get<std::uint64_t>());
  ASSERT_GE(n, 1u) << plan.dump(2);
  auto tty = runCommand(
      {"script", "-q", "-e", "-c", pullcacheBinary() + " gc --config " + tight, "/dev/null"});
  ASSERT_EQ(tty.code, 0) << tty.output;
  const std::string total = std::to_string(n);
  // The plan's totals before the first removal, every blob and byte at the end, then the line
  // erased before the answer.
  EXPECT_NE(tty.output.find("\rgc: evicted  0/" + total + " blobs  0 B / " + bytes + "    0%"),
            std::string::npos)
      << tty.output;
  const auto last = tty.output.find("\rgc: evicted  " + total + "/" + total + " blobs  " + bytes +
                                    " / " + bytes + "  100%  ");
  ASSERT_NE(last, std::string::npos) << tty.output;
  const auto answer = tty.output.find("evicted " + total + " blobs, " + bytes, last);
  ASSERT_NE(answer, std::string::npos) << tty.output;
  EXPECT_NE(tty.output.substr(last, answer - last).find("\r\x1b[K"), std::string::npos)
      << tty.output;
}

TEST_F(CacheCommandsTest, ConfiguredPrefetchWarmsANewNodeWithoutAnyClient) {
  pushSingle("cmd/warm", 2 * kMiB, 7);
  PullcacheOptions options;
  options.cache_yaml =
      "  min_free_bytes: 0\n  prefetch: [\"" + registry_->host() + "/cmd/warm:v1\"]\n";
  PullcacheServer pc(dir_.sub("pc"), registry_->host(), options);
  pc.start();
  for (const auto& d : remote_["cmd/warm"].layer_digests) {
    EXPECT_TRUE(
        waitFor([&] { return std::filesystem::exists(pc.blobFile(d)); }, std::chrono::seconds(15)))
        << pc.log();
  }
  EXPECT_TRUE(waitFor(
      [&] { return std::filesystem::exists(pc.blobFile(remote_["cmd/warm"].config_digest)); },
      std::chrono::seconds(5)));
}

}  // namespace
}  // namespace pullcache::testing
