// The Helm chart's cluster mode, with the real helm binary: the headless Service, the Secret
// (generated once, kept with lookup, or an existing one), the pod wiring, values reaching the
// daemon config, and bad peer values refused at install time.
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

}  // namespace
}  // namespace pullcache::testing
