// The Helm chart with the real helm binary: lint --strict (default and every option on), the
// rendered objects (DaemonSet shape, the daemon config, optional monitoring objects), the plain
// manifests in deploy/, bad values refused by values.schema.json at install time, and the
// Kubernetes API schemas. Cluster mode's objects: helm_peers_test.cc; upstreams, sources and the
// EKS example values: helm_upstreams_test.cc.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/base64.h"
#include "daemon/config/config.h"
#include "tests/integration/fixtures.h"
#include "tests/integration/helm_support.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace pullcache::testing {
namespace {

TEST(HelmChart, LintsStrictWithDefaultsAndWithEveryOptionOn) {
  auto plain = helm({"lint", "--strict", kChart});
  EXPECT_EQ(plain.code, 0) << plain.output;
  auto all = helm({"lint", "--strict", kChart, "--set", kAllOn});
  EXPECT_EQ(all.code, 0) << all.output;
}

TEST(HelmChart, DaemonSetRunsOnEveryNodeOnLoopbackWithProbesAndNoCapabilities) {
  auto objects = render();
  ASSERT_EQ(objects.count("DaemonSet"), 1u);
  auto ds = objects.find("DaemonSet")->second;
  auto spec = ds["spec"]["template"]["spec"];
  EXPECT_TRUE(spec["hostNetwork"].as<bool>());
  EXPECT_EQ(spec["dnsPolicy"].as<std::string>(), "ClusterFirstWithHostNet");
  EXPECT_EQ(spec["priorityClassName"].as<std::string>(), "system-node-critical");
  EXPECT_EQ(spec["tolerations"][0]["operator"].as<std::string>(), "Exists");
  EXPECT_EQ(ds["spec"]["updateStrategy"]["type"].as<std::string>(), "RollingUpdate");

  auto main = findContainer(spec["containers"], "pullcache");
  ASSERT_TRUE(main.IsMap());
  EXPECT_EQ(main["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(main["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  // Metrics on the node IP only.
  std::string main_args;
  for (const auto& a : main["args"]) main_args += a.as<std::string>() + " ";
  EXPECT_NE(main_args.find("--metrics-listen $(NODE_IP):9095"), std::string::npos) << main_args;
  EXPECT_EQ(main["env"][0]["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(),
            "status.hostIP");
  auto sc = main["securityContext"];
  EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>());
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>());
  EXPECT_EQ(sc["capabilities"]["drop"][0].as<std::string>(), "ALL");
  EXPECT_FALSE(sc["capabilities"]["add"]);
  // Uninstall restores the node's containerd files.
  auto pre_stop = main["lifecycle"]["preStop"]["exec"]["command"];
  ASSERT_TRUE(pre_stop.IsSequence());
  EXPECT_EQ(pre_stop[1].as<std::string>(), "containerd-config");
  EXPECT_EQ(pre_stop[pre_stop.size() - 1].as<std::string>(), "--remove");

  auto init = findContainer(spec["initContainers"], "containerd-config");
  ASSERT_TRUE(init.IsMap());
  std::string init_args;
  for (const auto& a : init["args"]) init_args += a.as<std::string>() + " ";
  EXPECT_NE(init_args.find("--mirror-url http://127.0.0.1:5000"), std::string::npos) << init_args;
  EXPECT_NE(init_args.find("--certs-dir /etc/containerd/certs.d"), std::string::npos);

  bool cache_volume = false;
  for (const auto& v : spec["volumes"]) {
    if (v["name"].as<std::string>() != "cache") continue;
    cache_volume = true;
    EXPECT_EQ(v["hostPath"]["path"].as<std::string>(), "/var/lib/pullcache");
    EXPECT_EQ(v["hostPath"]["type"].as<std::string>(), "DirectoryOrCreate");
  }
  EXPECT_TRUE(cache_volume);
  EXPECT_EQ(objects.count("PodMonitor"), 0u);  // off by default
  EXPECT_EQ(objects.count("PrometheusRule"), 0u);
}

TEST(HelmChart, RenderedDaemonConfigIsValidAndBindsTheRegistryToLoopback) {
  auto objects = render({"--set", "config.cache.maxBytes=40GiB", "--set-json",
                         R"(config.cache.pin=["docker.io/library/busybox:1.36"])"});
  std::string config_text = daemonConfig(objects);
  ASSERT_FALSE(config_text.empty());
  auto c = config::parseConfig(config_text);  // the daemon's own validation
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  EXPECT_EQ(c.value().listen.host, "127.0.0.1");
  EXPECT_EQ(c.value().listen.port, 5000);
  EXPECT_EQ(c.value().metrics_listen.port, 9095);
  EXPECT_EQ(std::get<std::uint64_t>(c.value().cache.max_bytes), 40ull << 30);
  ASSERT_EQ(c.value().cache.pin.size(), 1u);
  EXPECT_EQ(c.value().upstreams.size(), 5u);
  EXPECT_EQ(c.value().log.format, "json");
  // The chart's limits are the daemon's defaults.
  const config::Limits defaults;
  EXPECT_EQ(c.value().limits.max_connections, defaults.max_connections);
  EXPECT_EQ(c.value().limits.max_header_bytes, defaults.max_header_bytes);
  EXPECT_EQ(c.value().limits.header_timeout, defaults.header_timeout);
  EXPECT_EQ(c.value().limits.idle_timeout, defaults.idle_timeout);
  EXPECT_EQ(c.value().limits.write_timeout, defaults.write_timeout);
  EXPECT_EQ(c.value().limits.max_manifest_bytes, defaults.max_manifest_bytes);
  EXPECT_EQ(c.value().limits.upstream_connections, defaults.upstream_connections);
}

TEST(HelmChart, LimitsReachTheDaemonConfig) {
  auto objects =
      render({"--set", "config.limits.maxConnections=500", "--set",
              "config.limits.headerTimeout=3s", "--set", "config.limits.upstreamConnections=8"});
  auto c = config::parseConfig(daemonConfig(objects));
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c.value().limits.max_connections, 500u);
  EXPECT_EQ(c.value().limits.header_timeout.count(), 3000);
  EXPECT_EQ(c.value().limits.upstream_connections, 8);
}

TEST(HelmChart, OptionalMonitoringObjectsCarryTheRulesAndTheDashboard) {
  auto objects = render({"--set", kAllOn});
  ASSERT_EQ(objects.count("PodMonitor"), 1u);
  auto pm = objects.find("PodMonitor")->second;
  EXPECT_EQ(pm["spec"]["podMetricsEndpoints"][0]["port"].as<std::string>(), "metrics");
  ASSERT_EQ(objects.count("PrometheusRule"), 1u);
  auto rules = objects.find("PrometheusRule")->second["spec"]["groups"][0]["rules"];
  // Every rule the shipped file holds, no more, no fewer.
  auto shipped = YAML::LoadFile(std::string(PULLCACHE_SOURCE_DIR) +
                                "/helm/pullcache/files/prometheus-alerts.yaml");
  EXPECT_EQ(rules.size(), shipped["groups"][0]["rules"].size());
  EXPECT_GE(rules.size(), 11u);
  // Prometheus templates in annotations reach the cluster unrendered by Helm.
  EXPECT_NE(rules[0]["annotations"]["summary"].as<std::string>().find("{{ $labels.instance }}"),
            std::string::npos);
  bool dashboard = false;
  for (auto [it, end] = objects.equal_range("ConfigMap"); it != end; ++it) {
    const auto& cm = it->second;
    if (!cm["data"]["pullcache.json"]) continue;
    dashboard = true;
    EXPECT_EQ(cm["metadata"]["labels"]["grafana_dashboard"].as<std::string>(), "1");
    auto j = nlohmann::json::parse(cm["data"]["pullcache.json"].as<std::string>(), nullptr, false);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["uid"], "pullcache");
  }
  EXPECT_TRUE(dashboard);
}

// Cluster mode, rendered: the headless Service lists exactly the DaemonSet's ready pods, the
// Secret exists and reaches the daemon at the path its config names, and the config has the
// peers block pointing at that Service's DNS name on the node's IP.

TEST(HelmChart, BadValuesFailAtInstallTime) {
  const std::pair<const char*, const char*> cases[] = {
      {"config.cache.maxBytes=lots", "config.cache.maxBytes"},
      {"registryPort=80", "registryPort"},
      {"config.log.format=xml", "config.log.format"},
      {"config.upstreams[0].auth=magic", "config.upstreams.0.auth"},
      {"config.aws.region=Mars", "config.aws.region"},
      {"config.aws.ecrEndpoint=vpce.example", "config.aws.ecrEndpoint"},
      {"containerd.certsDir=relative", "containerd.certsDir"},
      {"config.limits.maxConnections=0", "config.limits.maxConnections"},
      {"config.limits.headerTimeout=soon", "config.limits.headerTimeout"},
      {"colour=red", "colour"},
  };
  for (const auto& [set, key] : cases) {
    auto r = helm({"template", "x", kChart, "--set", set});
    EXPECT_NE(r.code, 0) << set;
    EXPECT_NE(r.output.find(key), std::string::npos) << set << ": " << r.output;
  }
}

TEST(HelmChart, PlainManifestsMatchTheChartAndBuildWithKustomize) {
  auto rendered = helm({"template", "pullcache", kChart, "--namespace", "kube-system"});
  ASSERT_EQ(rendered.code, 0) << rendered.output;
  const std::string deploy = std::string(PULLCACHE_SOURCE_DIR) + "/deploy";
  EXPECT_EQ(readTextFile(deploy + "/kustomize/pullcache.yaml"), rendered.output)
      << "deploy/kustomize/pullcache.yaml is stale: run `make deploy-manifests`";
  auto kustomized = runCommand({"kubectl", "kustomize", deploy + "/kustomize"});
  ASSERT_EQ(kustomized.code, 0) << kustomized.output;
  EXPECT_NE(kustomized.output.find("kind: DaemonSet"), std::string::npos);
  // The EKS example values pass the schema and render a valid daemon config with its private
  // ECR registry on auth: ecr.
  auto eks = helm({"lint", "--strict", kChart, "-f", deploy + "/eks-values.yaml"});
  EXPECT_EQ(eks.code, 0) << eks.output;
  auto objects = render({"-f", deploy + "/eks-values.yaml"});
  std::string config_text = daemonConfig(objects);
  auto c = config::parseConfig(config_text);
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  EXPECT_EQ(c.value().upstreams[0].auth, config::AuthMode::kEcr);
  EXPECT_EQ(c.value().aws.region, "eu-west-1");
}


TEST(HelmChart, RenderedObjectsValidateAgainstTheKubernetesSchemas) {
  const std::string validator =
      std::string(PULLCACHE_SOURCE_DIR) + "/tests/k8s-validate/validate.mjs";
  for (const std::string& set : std::vector<std::string>{"", "--set " + kAllOn,
                                                         "--set " + kAllOn +
                                                             ",peers.existingSecret=mine,"
                                                             "containerd.configure=false"}) {
    auto r = runCommand(
        {"sh", "-c", "helm template node-cache " + kChart + " " + set + " | node " + validator});
    EXPECT_EQ(r.code, 0) << set << ": " << r.output;
    EXPECT_NE(r.output.find("objects valid"), std::string::npos) << r.output;
  }
  // The validator does catch a wrong object.
  auto bad =
      runCommand({"sh", "-c",
                  "helm template x " + kChart +
                      " | sed 's/hostNetwork: true/hostNetwork: \"yes\"/' | node " + validator});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("hostNetwork must be boolean"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace pullcache::testing
