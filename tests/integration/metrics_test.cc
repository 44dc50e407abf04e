// /metrics against real clients and real Prometheus tooling: exact deltas after two pulls,
// promtool's lint, and a real Prometheus server scraping the daemon.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/fs.h"
#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    auto image = writeOciLayout(dir_.sub("layout"), "v1", {{2 << 20, 61}, {1 << 20, 62}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "metrics/app", &log), 0) << log;
    remote_ = inspectRemote(registry_->host(), "metrics/app", "v1");
    pc_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host());
    pc_->start();
  }

  std::map<std::string, double> scrape() { return scrapeMetrics(*pc_); }

  int skopeoPull(const std::string& dest) {
    auto r = pullcache::testing::skopeoPull(*pc_, "metrics/app:v1", dest);
    EXPECT_EQ(r.code, 0) << r.output;
    return r.code;
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<PullcacheServer> pc_;
  RemoteImage remote_;
};

TEST_F(MetricsTest, TwoPullsGiveExactDeltas) {
  const std::string up = "upstream=\"" + registry_->host() + "\"";
  std::uint64_t blob_bytes = 0;
  for (auto s : remote_.layer_sizes) blob_bytes += s;
  auto m0 = scrape();
  ASSERT_EQ(skopeoPull(dir_.sub("pull1")), 0);
  // Access-log and metric updates follow the response: wait until the first pull is counted.
  ASSERT_TRUE(waitFor(
      [&] {
        return scrape()["pullcache_cache_requests_total{kind=\"blob\",result=\"miss\"}"] >= 3;
      },
      std::chrono::seconds(5)));
  // Blobs are committed (fsync, rename, index) just after they are served: wait until all three
  // are in the cache, or the second pull could join the first one's fetches instead of hitting.
  ASSERT_TRUE(
      waitFor([&] { return scrape()["pullcache_cache_blobs"] >= 3; }, std::chrono::seconds(10)));
  auto m1 = scrape();
  ASSERT_EQ(skopeoPull(dir_.sub("pull2")), 0);
  ASSERT_TRUE(waitFor(
      [&] { return scrape()["pullcache_cache_requests_total{kind=\"blob\",result=\"hit\"}"] >= 3; },
      std::chrono::seconds(5)));
  auto m2 = scrape();

  const std::string miss = "pullcache_cache_requests_total{kind=\"blob\",result=\"miss\"}";
  const std::string hit = "pullcache_cache_requests_total{kind=\"blob\",result=\"hit\"}";
  const std::string up_bytes = "pullcache_upstream_bytes_total{" + up + "}";
  // First pull: 2 layers + config missed, all from the upstream.
  EXPECT_EQ(m1[miss] - m0[miss], 3);
  EXPECT_EQ(m1[hit] - m0[hit], 0);
  EXPECT_GE(m1[up_bytes] - m0[up_bytes], static_cast<double>(blob_bytes));
  // Second pull: the same 3 blobs are hits and not one upstream byte moved.
  EXPECT_EQ(m2[miss] - m1[miss], 0);
  EXPECT_EQ(m2[hit] - m1[hit], 3);
  EXPECT_EQ(m2[up_bytes], m1[up_bytes]);
  EXPECT_GE(m2["pullcache_served_bytes_total{source=\"cache\"}"] -
                m1["pullcache_served_bytes_total{source=\"cache\"}"],
            static_cast<double>(blob_bytes));
  EXPECT_EQ(m2["pullcache_cache_blobs"], 3);
  EXPECT_GT(m2["pullcache_image_pulls_total{" + up + ",repository=\"metrics/app\"}"], 0);
  EXPECT_EQ(m2["pullcache_upstream_inflight_fetches"], 0);
  EXPECT_GT(m2["process_resident_memory_bytes"], 0);
}

TEST_F(MetricsTest, PromtoolFindsNothingToLint) {
  ASSERT_EQ(skopeoPull(dir_.sub("pull")), 0);
  auto r = httpGet(pc_->healthUrl("/metrics"));
  EXPECT_NE(r.header("content-type").find("text/plain"), std::string::npos);
  writeTextFile(dir_.sub("scrape.txt"), r.body);
  auto lint = runCommand({"sh", "-c", "promtool check metrics < " + dir_.sub("scrape.txt")});
  EXPECT_EQ(lint.code, 0) << lint.output;
  EXPECT_EQ(lint.output, "") << lint.output;
}

TEST_F(MetricsTest, ARealPrometheusScrapesIt) {
  int port = freePort();
  writeTextFile(dir_.sub("prometheus.yml"),
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "rule_files:\n  - " PULLCACHE_SOURCE_DIR
                "/helm/pullcache/files/prometheus-alerts.yaml\n"
                "scrape_configs:\n  - job_name: pullcache\n    static_configs:\n      - targets: "
                "['127.0.0.1:" +
                    pc_->healthUrl("").substr(17) + "']\n");
  Process prometheus({"prometheus", "--config.file=" + dir_.sub("prometheus.yml"),
                      "--storage.tsdb.path=" + dir_.sub("tsdb"),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                     dir_.sub("prometheus.log"));
  auto api = [&](const std::string& expr) {
    CURL* c = curl_easy_init();
    char* escaped = curl_easy_escape(c, expr.c_str(), static_cast<int>(expr.size()));
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query?query=" + escaped;
    curl_free(escaped);
    curl_easy_cleanup(c);
    return nlohmann::json::parse(httpGet(url).body, nullptr, false);
  };
  auto query = [&](const std::string& expr) {
    auto j = api(expr);
    if (!j.is_object() || j.value("status", "") != "success") return std::optional<double>{};
    const auto& result = j["data"]["result"];
    if (!result.is_array() || result.empty()) return std::optional<double>{};
    return std::optional<double>{std::stod(result[0]["value"][1].get<std::string>())};
  };
  ASSERT_TRUE(
      waitFor([&] { return query("up{job=\"pullcache\"}") == 1.0; }, std::chrono::seconds(30)))
      << prometheus.log();
  // Traffic across a few scrapes, so that rate() has two samples that differ.
  const std::string blob =
      pc_->url("/v2/metrics/app/blobs/" + remote_.layer_digests[0] + "?ns=" + registry_->host());
  bool has_rate = waitFor(
      [&] {
        httpGet(blob);
        auto v = query("sum(rate(pullcache_served_bytes_total[1m]))");
        return v && *v > 0;
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(has_rate) << prometheus.log();

  // The shipped alert rules load and evaluate cleanly against the real series.
  auto rules = nlohmann::json::parse(
      httpGet("http://127.0.0.1:" + std::to_string(port) + "/api/v1/rules").body, nullptr, false);
  ASSERT_TRUE(rules.is_object()) << prometheus.log();
  std::size_t rule_count = 0;
  for (const auto& group : rules["data"]["groups"]) {
    for (const auto& rule : group["rules"]) {
      ++rule_count;
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
    }
  }
  EXPECT_EQ(rule_count, 12u);  // every rule in prometheus-alerts.yaml loaded and healthy

  // Every dashboard query runs (Grafana's variables replaced by what Grafana would send), and
  // the hit-ratio panels show the cache hits just made.
  auto text = readFile(
      std::string(PULLCACHE_SOURCE_DIR) + "/helm/pullcache/files/grafana-dashboard.json", 1 << 20);
  ASSERT_TRUE(text);
  auto dashboard = nlohmann::json::parse(text.value());
  auto substitute = [](std::string expr) {
    const std::pair<std::string, std::string> vars[] = {{"$__rate_interval", "1m"},
                                                        {"$__range", "5m"},
                                                        {"$instance", ".*"},
                                                        {"$cost_per_gb", "0.045"}};
    for (const auto& [from, to] : vars) {
      for (auto at = expr.find(from); at != std::string::npos; at = expr.find(from, at + to.size()))
        expr.replace(at, from.size(), to);
    }
    return expr;
  };
  std::size_t queries = 0;
  for (const auto& panel : dashboard["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const auto& target : panel["targets"]) {
      auto expr = substitute(target["expr"].get<std::string>());
      auto j = api(expr);
      ++queries;
      EXPECT_EQ(j.value("status", ""), "success")
          << panel["title"] << ": " << expr << " -> " << j.dump();
    }
  }
  EXPECT_GE(queries, 20u);
  for (const char* title : {"Hit ratio (bytes)", "Hit ratio (requests)"}) {
    for (const auto& panel : dashboard["panels"]) {
      if (panel["title"] != title) continue;
      auto v = query(substitute(panel["targets"][0]["expr"].get<std::string>()));
      ASSERT_TRUE(v) << title;
      EXPECT_GT(*v, 0) << title;
      EXPECT_LE(*v, 1) << title;
    }
  }
}

// log.format json: every line on stderr is a JSON object, and each request has one access line
// with its fields (route, ns, repository, reference, status, bytes, duration, cache result).
TEST_F(MetricsTest, JsonAccessLogHasOneObjectPerRequest) {
  PullcacheOptions options;
  options.extra_yaml = "log:\n  level: info\n  format: json\n";
  PullcacheServer pc(dir_.sub("pc-json"), registry_->host(), options);
  pc.start();
  const std::string digest = remote_.layer_digests[0];
  const std::string blob = pc.url("/v2/metrics/app/blobs/" + digest + "?ns=" + registry_->host());
  ASSERT_EQ(httpGet(blob).status, 200);
  ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(pc.blobFile(digest)); },
                      std::chrono::seconds(10)));
  ASSERT_EQ(httpGet(blob).status, 200);
  ASSERT_EQ(httpGet(pc.url("/v2/metrics/app/manifests/nope?ns=" + registry_->host())).status, 404);

  std::vector<nlohmann::json> access;
  ASSERT_TRUE(waitFor(
      [&] {
        access.clear();
        std::istringstream in(pc.log());
        for (std::string line; std::getline(in, line);) {
          auto j = nlohmann::json::parse(line, nullptr, false);
          EXPECT_TRUE(j.is_object()) << "not JSON: " << line;
          if (j.is_object() && j.value("logger", "") == "access" &&
              j.value("listener", "") == "registry")
            access.push_back(j);
        }
        return access.size() >= 3;
      },
      std::chrono::seconds(5)))
      << pc.log();
  ASSERT_EQ(access.size(), 3u) << pc.log();
  for (const auto& j : access) {
    EXPECT_EQ(j["ns"], registry_->host());
    EXPECT_EQ(j["repository"], "metrics/app");
    EXPECT_EQ(j["level"], "info");
    EXPECT_TRUE(j["duration_ms"].is_number());
    EXPECT_TRUE(j.contains("time"));
  }
  EXPECT_EQ(access[0]["route"], "blob");
  EXPECT_EQ(access[0]["reference"], digest);
  EXPECT_EQ(access[0]["cache"], "miss");
  EXPECT_EQ(access[0]["status"], 200);
  EXPECT_EQ(access[0]["bytes"], remote_.layer_sizes[0]);
  EXPECT_EQ(access[1]["cache"], "hit");
  EXPECT_EQ(access[1]["bytes"], remote_.layer_sizes[0]);
  EXPECT_EQ(access[2]["route"], "manifest");
  EXPECT_EQ(access[2]["reference"], "nope");
  EXPECT_EQ(access[2]["status"], 404);
}

}  // namespace
}  // namespace pullcache::testing
