#include "tests/integration/helm_support.h"

#include <gtest/gtest.h>

namespace pullcache::testing {

const std::string kChart = std::string(PULLCACHE_SOURCE_DIR) + "/helm/pullcache";
const std::string kAllOn =
    "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,"
    "peers.enabled=true";

CommandResult helm(std::vector<std::string> args) {
  args.insert(args.begin(), "helm");
  return runCommand(args);
}

// kind -> documents of that kind, from `helm template` output.
std::multimap<std::string, YAML::Node> render(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"template", "node-cache", kChart, "--namespace", "kube-system"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = helm(args);
  EXPECT_EQ(r.code, 0) << r.output;
  std::multimap<std::string, YAML::Node> out;
  for (const auto& doc : YAML::LoadAll(r.output)) {
    if (doc.IsMap() && doc["kind"]) out.emplace(doc["kind"].as<std::string>(), doc);
  }
  return out;
}

// The daemon's config.yaml from the rendered ConfigMap (empty if none).
std::string daemonConfig(const std::multimap<std::string, YAML::Node>& objects) {
  for (auto [it, end] = objects.equal_range("ConfigMap"); it != end; ++it) {
    if (it->second["data"]["config.yaml"])
      return it->second["data"]["config.yaml"].as<std::string>();
  }
  return {};
}

YAML::Node findContainer(const YAML::Node& list, const std::string& name) {
  for (const auto& c : list) {
    if (c["name"].as<std::string>() == name) return c;
  }
  return YAML::Node();
}

// The one object of `kind` (a null node, and a test failure, if there is not exactly one).
YAML::Node only(const std::multimap<std::string, YAML::Node>& objects, const std::string& kind) {
  EXPECT_EQ(objects.count(kind), 1u) << kind;
  if (objects.count(kind) != 1) return YAML::Node();
  return objects.find(kind)->second;
}

// The first entry of a list of maps whose `key` is `value` (a null node, not a map, if none).
YAML::Node findWhere(const YAML::Node& list, const std::string& key, const std::string& value) {
  for (const auto& item : list) {
    if (item[key].as<std::string>("") == value) return item;
  }
  return YAML::Node();
}

// config.upstreams as --set-json: one docker.io entry with the JSON members `fields`.
std::string dockerIoWith(const std::string& fields) {
  return R"(config.upstreams=[{"match":"docker.io",)" + fields + "}]";
}

}  // namespace pullcache::testing
