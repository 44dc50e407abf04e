// The Helm chart with the real helm binary: lint --strict (default and every option on), the
// rendered objects (DaemonSet shape, the daemon config, optional monitoring objects, cluster
// mode's Service, Secret and pod wiring), the example values in deploy/ (the EKS pull-through
// cache setup checked by `pullcache check-config`), and bad values refused by
// values.schema.json at install time.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/base64.h"
#include "daemon/config/config.h"
#include "tests/integration/fixtures.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace pullcache::testing {
namespace {

const std::string kChart = std::string(PULLCACHE_SOURCE_DIR) + "/helm/pullcache";
const std::string kAllOn =
    "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,"
    "peers.enabled=true";

CommandResult helm(std::vector<std::string> args) {
  args.insert(args.begin(), "helm");
  return runCommand(args);
}

// kind -> documents of that kind, from `helm template` output.
std::multimap<std::string, YAML::Node> render(const std::vector<std::string>& extra = {}) {
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
TEST(HelmChart, PeersRenderAHeadlessServiceASecretAndThePodWiring) {
  auto objects = render({"--set", "peers.enabled=true"});

  auto ds = only(objects, "DaemonSet");
  ASSERT_TRUE(ds.IsMap());
  const auto pod_labels = ds["spec"]["template"]["metadata"]["labels"];
  auto service = only(objects, "Service");
  ASSERT_TRUE(service.IsMap());
  EXPECT_EQ(service["metadata"]["name"].as<std::string>(), "node-cache-pullcache-peers");
  EXPECT_EQ(service["metadata"]["namespace"].as<std::string>(), "kube-system");
  EXPECT_EQ(service["spec"]["clusterIP"].as<std::string>(), "None");
  // Only ready pods are peers: a starting or failing pod must not be in anyone's view.
  ASSERT_TRUE(service["spec"]["publishNotReadyAddresses"]);
  EXPECT_FALSE(service["spec"]["publishNotReadyAddresses"].as<bool>());
  // The selector picks the DaemonSet's pods: the same labels as its own selector, each on the
  // pod template.
  const auto selector = service["spec"]["selector"];
  ASSERT_TRUE(selector.IsMap());
  EXPECT_EQ(selector.size(), ds["spec"]["selector"]["matchLabels"].size());
  for (const auto& kv : selector) {
    const auto key = kv.first.as<std::string>();
    EXPECT_EQ(kv.second.as<std::string>(), pod_labels[key].as<std::string>("<missing>")) << key;
    EXPECT_EQ(kv.second.as<std::string>(),
              ds["spec"]["selector"]["matchLabels"][key].as<std::string>("<missing>"))
        << key;
  }
  ASSERT_EQ(service["spec"]["ports"].size(), 1u);
  const auto service_port = service["spec"]["ports"][0];
  EXPECT_EQ(service_port["name"].as<std::string>(), "peer");
  EXPECT_EQ(service_port["port"].as<int>(), 5001);
  EXPECT_EQ(service_port["targetPort"].as<std::string>(), "peer");

  auto secret = only(objects, "Secret");
  ASSERT_TRUE(secret.IsMap());
  const auto secret_name = secret["metadata"]["name"].as<std::string>();
  EXPECT_EQ(secret_name, "node-cache-pullcache-peer-secret");
  auto value = base64Decode(secret["data"]["peer-secret"].as<std::string>(""));
  ASSERT_TRUE(value);
  EXPECT_GE(value->size(), 32u);  // the daemon needs 16 bytes; the chart makes 64

  // The config: the peer port on the node's IP, the registry still on loopback.
  const std::string config_text = daemonConfig(objects);
  auto config_yaml = YAML::Load(config_text);
  const auto peers = config_yaml["peers"];
  ASSERT_TRUE(peers.IsMap()) << config_text;
  EXPECT_EQ(peers["listen"].as<std::string>(), "${HOST_IP}:5001");
  EXPECT_FALSE(peers["advertise"]);  // default: the listen address
  EXPECT_EQ(peers["dns"].as<std::string>(),
            service["metadata"]["name"].as<std::string>() + ".kube-system.svc.cluster.local:5001");
  EXPECT_EQ(peers["fanout"].as<int>(), 4);
  EXPECT_EQ(peers["refresh"].as<std::string>(), "5s");
  EXPECT_EQ(peers["connect_timeout"].as<std::string>(), "500ms");
  EXPECT_EQ(config_yaml["listen"].as<std::string>(), "127.0.0.1:5000");

  // The pod: HOST_IP from the node, the peer port on the host, and the Secret mounted where
  // peers.secret_file says.
  auto spec = ds["spec"]["template"]["spec"];
  EXPECT_TRUE(spec["hostNetwork"].as<bool>());
  auto main = findContainer(spec["containers"], "pullcache");
  ASSERT_TRUE(main.IsMap());
  auto host_ip = findWhere(main["env"], "name", "HOST_IP");
  ASSERT_TRUE(host_ip.IsMap());
  EXPECT_EQ(host_ip["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(), "status.hostIP");
  auto peer_port = findWhere(main["ports"], "name", "peer");
  ASSERT_TRUE(peer_port.IsMap());
  EXPECT_EQ(peer_port["containerPort"].as<int>(), 5001);
  EXPECT_EQ(peer_port["hostPort"].as<int>(), 5001);
  EXPECT_EQ(peer_port["protocol"].as<std::string>(), "TCP");
  EXPECT_EQ(main["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");

  const auto secret_file = peers["secret_file"].as<std::string>();
  const auto slash = secret_file.rfind('/');
  ASSERT_NE(slash, std::string::npos);
  const std::string secret_dir = secret_file.substr(0, slash);
  const std::string secret_path = secret_file.substr(slash + 1);
  auto mount = findWhere(main["volumeMounts"], "mountPath", secret_dir);
  ASSERT_TRUE(mount.IsMap()) << "nothing mounted at " << secret_dir;
  EXPECT_TRUE(mount["readOnly"].as<bool>());
  EXPECT_FALSE(mount["subPath"]);
  auto volume = findWhere(spec["volumes"], "name", mount["name"].as<std::string>());
  ASSERT_TRUE(volume.IsMap());
  bool config_source = false;
  bool secret_source = false;
  for (const auto& source : volume["projected"]["sources"]) {
    if (source["configMap"]) {
      config_source = true;
      EXPECT_EQ(source["configMap"]["name"].as<std::string>(), "node-cache-pullcache");
    }
    if (source["secret"]) {
      secret_source = true;
      EXPECT_EQ(source["secret"]["name"].as<std::string>(), secret_name);
      ASSERT_EQ(source["secret"]["items"].size(), 1u);
      EXPECT_EQ(source["secret"]["items"][0]["key"].as<std::string>(), "peer-secret");
      EXPECT_EQ(source["secret"]["items"][0]["path"].as<std::string>(), secret_path);
      EXPECT_EQ(source["secret"]["items"][0]["mode"].as<int>(), 0400);
    }
  }
  EXPECT_TRUE(config_source) << "config.yaml must stay at " << secret_dir;
  EXPECT_TRUE(secret_source);
  // The init container does not get the secret.
  auto init = findContainer(spec["initContainers"], "containerd-config");
  ASSERT_TRUE(init.IsMap());
  for (const auto& m : init["volumeMounts"])
    EXPECT_NE(m["name"].as<std::string>(), mount["name"].as<std::string>());
}

TEST(HelmChart, PeerValuesReachTheServiceTheConfigAndThePod) {
  auto objects = render({"--set",
                         "peers.enabled=true,peers.port=5101,peers.fanout=8,peers.refresh=10s,"
                         "peers.connectTimeout=250ms,peers.clusterDomain=corp.internal"});
  auto peers = YAML::Load(daemonConfig(objects))["peers"];
  ASSERT_TRUE(peers.IsMap());
  EXPECT_EQ(peers["listen"].as<std::string>(), "${HOST_IP}:5101");
  EXPECT_EQ(peers["dns"].as<std::string>(),
            "node-cache-pullcache-peers.kube-system.svc.corp.internal:5101");
  EXPECT_EQ(peers["fanout"].as<int>(), 8);
  EXPECT_EQ(peers["refresh"].as<std::string>(), "10s");
  EXPECT_EQ(peers["connect_timeout"].as<std::string>(), "250ms");
  auto service = only(objects, "Service");
  ASSERT_TRUE(service.IsMap());
  EXPECT_EQ(service["spec"]["ports"][0]["port"].as<int>(), 5101);
  auto ds = only(objects, "DaemonSet");
  ASSERT_TRUE(ds.IsMap());
  auto main = findContainer(ds["spec"]["template"]["spec"]["containers"], "pullcache");
  auto peer_port = findWhere(main["ports"], "name", "peer");
  ASSERT_TRUE(peer_port.IsMap());
  EXPECT_EQ(peer_port["containerPort"].as<int>(), 5101);
  EXPECT_EQ(peer_port["hostPort"].as<int>(), 5101);
}

TEST(HelmChart, ExistingSecretReplacesTheGeneratedOne) {
  auto objects = render({"--set", "peers.enabled=true,peers.existingSecret=my-peer-secret"});
  EXPECT_EQ(objects.count("Secret"), 0u);
  EXPECT_EQ(objects.count("Service"), 1u);
  auto ds = only(objects, "DaemonSet");
  ASSERT_TRUE(ds.IsMap());
  std::vector<std::string> secrets;
  for (const auto& v : ds["spec"]["template"]["spec"]["volumes"]) {
    if (!v["projected"]) continue;
    for (const auto& source : v["projected"]["sources"]) {
      if (source["secret"]) secrets.push_back(source["secret"]["name"].as<std::string>());
    }
  }
  EXPECT_EQ(secrets, std::vector<std::string>{"my-peer-secret"});
}

// `lookup` keeps the generated secret across upgrades, but it only answers with a cluster to
// ask: `helm template` (no cluster) cannot exercise it. What can be checked here: the template
// asks for this release's Secret and reuses its data, and without an answer a fresh random
// value is generated (two renders differ), never a constant.
TEST(HelmChart, PeerSecretIsGeneratedOnceAndKeptWithLookup) {
  const auto source = readTextFile(kChart + "/templates/peer-secret.yaml");
  EXPECT_NE(source.find(R"(lookup "v1" "Secret" .Release.Namespace $name)"), std::string::npos)
      << source;
  EXPECT_NE(source.find(R"(dig "data" "peer-secret" "" $existing)"), std::string::npos) << source;
  auto secretOf = [](const std::multimap<std::string, YAML::Node>& objects) {
    auto secret = only(objects, "Secret");
    return secret.IsMap() ? secret["data"]["peer-secret"].as<std::string>("") : std::string();
  };
  const auto first = secretOf(render({"--set", "peers.enabled=true"}));
  const auto second = secretOf(render({"--set", "peers.enabled=true"}));
  EXPECT_FALSE(first.empty());
  EXPECT_NE(first, second);
}

TEST(HelmChart, PeersOffByDefaultRenderNoPeerObjects) {
  auto objects = render();
  EXPECT_EQ(objects.count("Service"), 0u);
  EXPECT_EQ(objects.count("Secret"), 0u);
  auto config_yaml = YAML::Load(daemonConfig(objects));
  EXPECT_FALSE(config_yaml["peers"]);
  auto ds = only(objects, "DaemonSet");
  ASSERT_TRUE(ds.IsMap());
  auto spec = ds["spec"]["template"]["spec"];
  auto main = findContainer(spec["containers"], "pullcache");
  ASSERT_TRUE(main.IsMap());
  EXPECT_FALSE(findWhere(main["env"], "name", "HOST_IP").IsMap());
  for (const auto& port : main["ports"]) EXPECT_NE(port["name"].as<std::string>(), "peer");
  for (const auto& v : spec["volumes"]) EXPECT_FALSE(v["projected"]) << v["name"];
}

// The rendered config with peers on, as the pod sees it: the daemon's own parser accepts it,
// and `pullcache check-config` accepts it with HOST_IP set and the rendered Secret's value at
// peers.secret_file. Needs the daemon's peers.* keys (until then the parser rejects `peers`).
TEST(HelmChart, PeersConfigIsAcceptedByTheDaemon) {
  auto objects = render({"--set", "peers.enabled=true"});
  std::string config_text = daemonConfig(objects);
  ASSERT_FALSE(config_text.empty());
  ::setenv("HOST_IP", "10.0.1.5", 1);
  auto c = config::parseConfig(config_text);
  ::unsetenv("HOST_IP");
  EXPECT_TRUE(c) << c.error().detail << "\n" << config_text;

  auto secret = only(objects, "Secret");
  ASSERT_TRUE(secret.IsMap());
  auto value = base64Decode(secret["data"]["peer-secret"].as<std::string>(""));
  ASSERT_TRUE(value);
  TempDir dir;
  writeTextFile(dir.sub("peer-secret"), *value);
  const std::string mounted = "/etc/pullcache/peer-secret";
  const auto at = config_text.find(mounted);
  ASSERT_NE(at, std::string::npos) << config_text;
  config_text.replace(at, mounted.size(), dir.sub("peer-secret"));
  writeTextFile(dir.sub("config.yaml"), config_text);
  auto check = runCommand({pullcacheBinary(), "check-config", dir.sub("config.yaml")},
                          std::chrono::seconds(30), {"HOST_IP=10.0.1.5"});
  EXPECT_EQ(check.code, 0) << check.output << "\n" << config_text;
}

TEST(HelmChart, BadPeerValuesFailAtInstallTime) {
  const std::pair<const char*, const char*> cases[] = {
      {"peers.fanout=0", "peers.fanout"},
      {"peers.fanout=65", "peers.fanout"},
      {"peers.port=80", "peers.port"},
      {"peers.port=70000", "peers.port"},
      {"peers.refresh=often", "peers.refresh"},
      {"peers.connectTimeout=500", "peers.connectTimeout"},
      {"peers.clusterDomain=Cluster_Local", "peers.clusterDomain"},
      {"peers.existingSecret=My/Secret", "peers.existingSecret"},
      {"peers.enabled=yes", "peers.enabled"},
      {"peers.colour=red", "colour"},
      // The peer port shares the node's IP with the metrics port.
      {"peers.enabled=true,peers.port=9095", "peers.port must differ"},
  };
  for (const auto& [set, key] : cases) {
    auto r = helm({"template", "x", kChart, "--set", set});
    EXPECT_NE(r.code, 0) << set;
    EXPECT_NE(r.output.find(key), std::string::npos) << set << ": " << r.output;
  }
}

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

TEST(HelmChart, AwsEndpointsReachTheDaemonConfig) {
  auto objects = render(
      {"--set", "config.aws.ecrEndpoint=https://vpce-1.api.ecr.eu-west-1.vpce.amazonaws.com",
       "--set", "config.aws.stsEndpoint=https://vpce-2.sts.eu-west-1.vpce.amazonaws.com", "--set",
       "config.defaultUpstream=", "--set-json",
       R"(config.upstreams=[{"match":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","auth":"ecr"}])"});
  std::string config_text = daemonConfig(objects);
  auto c = config::parseConfig(config_text);
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  EXPECT_EQ(c.value().aws.ecr_endpoint, "https://vpce-1.api.ecr.eu-west-1.vpce.amazonaws.com");
  EXPECT_EQ(c.value().aws.sts_endpoint, "https://vpce-2.sts.eu-west-1.vpce.amazonaws.com");
  EXPECT_TRUE(c.value().aws.region.empty());
  // Defaults render no aws: section at all.
  EXPECT_EQ(daemonConfig(render()).find("aws:"), std::string::npos);
}

// deploy/eks-pull-through-cache-values.yaml, a private cluster with no egress: it lints strict,
// every public registry goes first to its ECR pull-through cache rule through the ecr.dkr VPC
// endpoint and then to the registry itself, the API calls go to the ecr.api endpoint, and the
// daemon accepts the rendered config (its parser and `pullcache check-config`).
TEST(HelmChart, EksPullThroughCacheValuesRenderAConfigTheDaemonAccepts) {
  const std::string values =
      std::string(PULLCACHE_SOURCE_DIR) + "/deploy/eks-pull-through-cache-values.yaml";
  auto lint = helm({"lint", "--strict", kChart, "-f", values});
  EXPECT_EQ(lint.code, 0) << lint.output;
  const std::string config_text = daemonConfig(render({"-f", values}));
  ASSERT_FALSE(config_text.empty());

  const std::string ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
  const std::string dkr_endpoint =
      "https://vpce-0123456789abcdef0-abcdefgh.dkr.ecr.eu-west-1.vpce.amazonaws.com";
  const std::pair<const char*, const char*> rules[] = {
      {"docker.io", "docker-hub"},
      {"ghcr.io", "github"},
      {"quay.io", "quay"},
      {"registry.k8s.io", "k8s"},
      {"public.ecr.aws", "ecr-public"},
  };
  // The rendered YAML, as the daemon reads it.
  auto config_yaml = YAML::Load(config_text);
  for (const auto& [registry, prefix] : rules) {
    auto upstream = findWhere(config_yaml["upstreams"], "match", registry);
    ASSERT_TRUE(upstream.IsMap()) << registry << "\n" << config_text;
    EXPECT_FALSE(upstream["url"]) << registry;
    const auto sources = upstream["sources"];
    ASSERT_EQ(sources.size(), 2u) << registry;
    EXPECT_EQ(sources[0]["registry"].as<std::string>(), ecr + "/" + prefix);
    EXPECT_EQ(sources[0]["url"].as<std::string>(), dkr_endpoint);
    EXPECT_EQ(sources[1]["registry"].as<std::string>(), registry);
    EXPECT_FALSE(sources[1]["url"]) << registry;
  }
  EXPECT_EQ(config_yaml["aws"]["ecr_endpoint"].as<std::string>(""),
            "https://vpce-0fedcba9876543210-hgfedcba.api.ecr.eu-west-1.vpce.amazonaws.com");

  // The daemon's own parser: the ECR sources get auth ecr from their host, the registries'
  // own stay anonymous.
  auto c = config::parseConfig(config_text);
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  for (const auto& [registry, prefix] : rules) {
    const config::UpstreamConfig* upstream = nullptr;
    for (const auto& u : c.value().upstreams) {
      if (u.match == registry) upstream = &u;
    }
    ASSERT_NE(upstream, nullptr) << registry;
    ASSERT_EQ(upstream->sources.size(), 2u) << registry;
    EXPECT_EQ(upstream->sources[0].registry, ecr + "/" + prefix);
    EXPECT_EQ(upstream->sources[0].url, dkr_endpoint);
    EXPECT_EQ(upstream->sources[0].auth, config::AuthMode::kEcr) << registry;
    EXPECT_EQ(upstream->sources[1].registry, registry);
    EXPECT_EQ(upstream->sources[1].auth, config::AuthMode::kAnonymous) << registry;
  }
  EXPECT_EQ(c.value().aws.region, "eu-west-1");

  TempDir dir;
  writeTextFile(dir.sub("config.yaml"), config_text);
  auto check = runCommand({pullcacheBinary(), "check-config", dir.sub("config.yaml")});
  EXPECT_EQ(check.code, 0) << check.output << "\n" << config_text;
}

TEST(HelmChart, SourceBreakerValuesReachTheDaemonConfig) {
  // The chart's defaults are the daemon's.
  auto defaults = config::parseConfig(daemonConfig(render()));
  ASSERT_TRUE(defaults) << defaults.error().detail;
  EXPECT_EQ(defaults.value().source_breaker, config::SourceBreakerConfig{});

  auto objects = render({"--set",
                         "config.sourceBreaker.failures=5,config.sourceBreaker.backoff=10s,"
                         "config.sourceBreaker.maxBackoff=2m"});
  const std::string config_text = daemonConfig(objects);
  auto breaker = YAML::Load(config_text)["source_breaker"];
  ASSERT_TRUE(breaker.IsMap()) << config_text;
  EXPECT_EQ(breaker["failures"].as<int>(), 5);
  EXPECT_EQ(breaker["backoff"].as<std::string>(), "10s");
  EXPECT_EQ(breaker["max_backoff"].as<std::string>(), "2m");
  auto c = config::parseConfig(config_text);
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  EXPECT_EQ(c.value().source_breaker.failures, 5);
  EXPECT_EQ(c.value().source_breaker.backoff.count(), 10'000);
  EXPECT_EQ(c.value().source_breaker.max_backoff.count(), 120'000);
}

TEST(HelmChart, BadSourceValuesFailAtInstallTime) {
  const std::string ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
  std::string nine = R"("sources":[)";
  for (int i = 0; i < 9; ++i) nine += std::string(i ? "," : "") + R"({"registry":"docker.io"})";
  nine += "]";
  struct Case {
    std::string flag;  // --set or --set-json
    std::string value;
    std::string error;  // what helm's output must name
  };
  const Case cases[] = {
      // An entry with sources has no url or auth keys of its own.
      {"--set-json",
       dockerIoWith(R"("url":"https://mirror.example","sources":[{"registry":"docker.io"}])"),
       "config.upstreams.0.url"},
      {"--set-json", dockerIoWith(R"("auth":"basic","sources":[{"registry":"docker.io"}])"),
       "config.upstreams.0.auth"},
      {"--set-json",
       dockerIoWith(R"("docker_config":"/etc/d.json","sources":[{"registry":"docker.io"}])"),
       "config.upstreams.0.docker_config"},
      // ...and a literal host.
      {"--set-json",
       R"(config.upstreams=[{"match":"*.docker.io","sources":[{"registry":"docker.io"}]}])",
       "config.upstreams.0.match"},
      {"--set-json", dockerIoWith(R"("sources":[{"url":"https://mirror.example"}])"),
       "config.upstreams.0.sources.0: registry is required"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"Registry-1.Docker.io"}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"docker.io/Library"}])"),
       "config.upstreams.0.sources.0.registry"},
      // An ECR pull-through cache rule's prefix: 2 to 30 characters of ECR's grammar.
      {"--set-json", dockerIoWith(R"("sources":[{"registry":")" + ecr + R"(/d"}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json",
       dockerIoWith(R"("sources":[{"registry":")" + ecr + "/" + std::string(31, 'd') + R"("}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":")" + ecr + R"(/docker__hub"}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json",
       dockerIoWith(R"("sources":[{"registry":"docker.io","url":"https://mirror.example/v2"}])"),
       "config.upstreams.0.sources.0.url"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"docker.io","auth":"magic"}])"),
       "config.upstreams.0.sources.0.auth"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"docker.io","colour":"red"}])"),
       "colour"},
      {"--set-json", dockerIoWith(R"("sources":[])"), "config.upstreams.0.sources"},
      {"--set-json", dockerIoWith(nine), "config.upstreams.0.sources"},
      {"--set", "config.sourceBreaker.failures=0", "config.sourceBreaker.failures"},
      {"--set", "config.sourceBreaker.backoff=soon", "config.sourceBreaker.backoff"},
      {"--set", "config.sourceBreaker.maxBackoff=300", "config.sourceBreaker.maxBackoff"},
      {"--set", "config.sourceBreaker.colour=red", "colour"},
  };
  for (const auto& [flag, value, error] : cases) {
    auto r = helm({"template", "x", kChart, flag, value});
    EXPECT_NE(r.code, 0) << value;
    EXPECT_NE(r.output.find(error), std::string::npos) << value << ": " << r.output;
  }
  // What the schema refuses is only that: the same keys, rightly placed, pass.
  for (const std::string& good : {
           dockerIoWith(
               R"("sources":[{"registry":")" + ecr +
               R"(/docker-hub","url":"https://vpce-1.dkr.ecr.eu-west-1.vpce.amazonaws.com"},)"
               R"({"registry":"mirror.internal:5000/hub/docker_io","auth":"basic",)"
               R"("username":"u","password_file":"/etc/pullcache/p"},)"
               R"({"registry":"docker.io","allow_private_redirects":false}])"),
           dockerIoWith(R"("sources":[{"registry":")" + ecr + "/" + std::string(30, 'd') +
                        R"("}])"),
       }) {
    auto r = helm({"template", "x", kChart, "--set-json", good});
    EXPECT_EQ(r.code, 0) << good << ": " << r.output;
  }
}

// Every rendered object, with every option on, against the Kubernetes API schemas
// (kubernetes-models, and the Prometheus Operator's for PodMonitor and PrometheusRule).
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
