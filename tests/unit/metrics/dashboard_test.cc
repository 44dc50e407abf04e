// The shipped Grafana dashboard and alert rules only name metrics the daemon exports: a renamed
// metric breaks this test, not a platform team's dashboard months later.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "common/fs.h"
#include "daemon/metrics/metrics.h"

namespace pullcache::metrics {
namespace {

const std::string kFiles = std::string(PULLCACHE_SOURCE_DIR) + "/helm/pullcache/files";

// Series names a scrape can contain: every family, plus _bucket/_sum/_count for histograms.
std::set<std::string> exportedSeriesNames() {
  Metrics m("t", "t");
  m.upstream("registry.example");  // per-upstream families appear once an upstream exists
  std::set<std::string> names;
  std::istringstream in(m.scrape());
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string hash, kind, name, type;
    words >> hash >> kind >> name >> type;
    if (hash != "#" || kind != "TYPE") continue;
    names.insert(name);
    if (type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(name + suffix);
    }
  }
  return names;
}

std::set<std::string> metricNamesIn(const std::string& expr) {
  static const std::regex kName(R"((pullcache|process)_[a-z_]+)");
  std::set<std::string> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), kName), end; it != end; ++it)
    out.insert(it->str());
  return out;
}

void collectTargets(const nlohmann::json& panels, std::vector<nlohmann::json>* out) {
  for (const auto& panel : panels) {
    if (panel.contains("panels")) collectTargets(panel["panels"], out);
    if (panel.contains("targets")) {
      for (const auto& t : panel["targets"]) {
        nlohmann::json with_title = t;
        with_title["panel"] = panel.value("title", "");
        out->push_back(with_title);
      }
    }
  }
}

TEST(Dashboard, ParsesAndNamesOnlyExportedMetrics) {
  auto text = readFile(kFiles + "/grafana-dashboard.json", 1 << 20);
  ASSERT_TRUE(text) << text.error().detail;
  auto dashboard = nlohmann::json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(dashboard.is_discarded()) << "dashboard JSON does not parse";
  ASSERT_TRUE(dashboard["panels"].is_array());

  std::vector<nlohmann::json> targets;
  collectTargets(dashboard["panels"], &targets);
  ASSERT_GE(targets.size(), 20u);

  const auto exported = exportedSeriesNames();
  std::set<std::string> used;
  for (const auto& t : targets) {
    const std::string expr = t.value("expr", "");
    ASSERT_FALSE(expr.empty()) << "a target without an expression in " << t["panel"];
    auto names = metricNamesIn(expr);
    EXPECT_FALSE(names.empty()) << t["panel"] << ": " << expr;
    for (const auto& n : names) {
      EXPECT_TRUE(exported.count(n)) << t["panel"] << " uses " << n << ", which is not exported";
      used.insert(n);
    }
  }
  // What the dashboard must show: hit ratio, bytes saved, latency, pulls, token expiry, cache
  // fill, upstream errors.
  for (const char* needed :
       {"pullcache_served_bytes_total", "pullcache_upstream_bytes_total",
        "pullcache_cache_requests_total", "pullcache_http_request_duration_seconds_bucket",
        "pullcache_image_pulls_total", "pullcache_auth_token_expiry_timestamp_seconds",
        "pullcache_cache_size_bytes", "pullcache_cache_capacity_bytes",
        "pullcache_upstream_requests_total", "pullcache_containerd_last_request_timestamp_seconds"}) {
    EXPECT_TRUE(used.count(needed)) << "the dashboard does not show " << needed;
  }

  // Panel ids are unique and every panel reads the dashboard's datasource variable.
  std::set<int> ids;
  for (const auto& panel : dashboard["panels"]) {
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "duplicate panel id " << panel["id"];
    if (panel["type"] != "row") {
      EXPECT_EQ(panel["datasource"]["uid"], "${datasource}");
    }
  }
}

TEST(AlertRules, NameOnlyExportedMetrics) {
  auto text = readFile(kFiles + "/prometheus-alerts.yaml", 1 << 20);
  ASSERT_TRUE(text) << text.error().detail;
  const auto exported = exportedSeriesNames();
  auto names = metricNamesIn(text.value());
  ASSERT_FALSE(names.empty());
  for (const auto& n : names) {
    // Prose in annotations names metrics too; every one must exist.
    EXPECT_TRUE(exported.count(n)) << "the alert rules use " << n << ", which is not exported";
  }
}

}  // namespace
}  // namespace pullcache::metrics
