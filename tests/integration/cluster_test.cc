// Cluster mode with real parts: six pullcache nodes, each its own process with its own cache,
// peer port on its own loopback address (127.0.1.N), one real upstream (Debian's
// docker-registry, counted at its access log), members from a static list; in the herd test each
// node also has its own containerd. bench/cluster.sh runs the same in network
// namespaces with shaped links.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/digest.h"
#include "daemon/peers/peer_token.h"
#include "daemon/peers/ranking.h"
#include "tests/integration/fixtures.h"
#include "tests/support/faulty_upstream.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr int kNodes = 6;
constexpr int kFanout = 2;  // small, so that six nodes already need the tree
const char* kSecret = "cluster-secret-for-the-integration-tests-0123456789";

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    registry_ = new RegistryServer(dir_->sub("registry"));
    registry_->start();
    auto image =
        writeOciLayout(dir_->sub("layout"), "v1", {{6 << 20, 101}, {3 << 20, 102}, {1 << 20, 103}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "test/app", &log), 0) << log;
    remote_ = new RemoteImage(inspectRemote(registry_->host(), "test/app", "v1"));
  }
  static void TearDownTestSuite() {
    delete remote_;
    delete registry_;
    delete dir_;
  }

  void SetUp() override {
    if (!registry_->port()) GTEST_SKIP();
    registry_->start();
    std::ofstream(local_.sub("peer-secret")) << kSecret << "\n";
  }

  // Nodes whose upstream is `upstream_host` (the registry, or a FaultyUpstream in front of it),
  // or, with `upstreams_yaml`, what that says.
  void startNodes(const std::string& upstream_host, const std::string& upstreams_yaml = "") {
    for (int i = 0; i < kNodes; ++i) members_.push_back(peerAddress(i));
    std::string list;
    for (const auto& m : members_) list += (list.empty() ? "" : ", ") + ("\"" + m + "\"");
    for (int i = 0; i < kNodes; ++i) {
      PullcacheOptions o;
      o.upstreams_yaml = upstreams_yaml;
      o.extra_yaml = "peers:\n  listen: " + members_[i] + "\n  static: [" + list +
                     "]\n  fanout: " + std::to_string(kFanout) +
                     "\n  secret_file: " + local_.sub("peer-secret") + "\n";
      nodes_.push_back(std::make_unique<PullcacheServer>(local_.sub("node" + std::to_string(i)),
                                                         upstream_host, o));
    }
    std::vector<std::thread> starters;
    for (auto& n : nodes_) starters.emplace_back([&n] { n->start(); });
    for (auto& t : starters) t.join();
  }

  std::string peerAddress(int i) {
    if (peer_ports_.empty())
      for (int n = 0; n < kNodes; ++n) peer_ports_.push_back(freePort());
    return "127.0.1." + std::to_string(i + 1) + ":" + std::to_string(peer_ports_[i]);
  }

  // Which node is `digest`'s root: the real ranking code, as every node computes it.
  int rootOf(const std::string& digest) const {
    auto p = peers::place(Digest::parse(digest).value(), members_, members_[0], kFanout);
    for (int i = 0; i < kNodes; ++i)
      if (members_[i] == p.root) return i;
    return -1;
  }

  static std::string blobPath(const std::string& repo, const std::string& digest) {
    return "/v2/" + repo + "/blobs/" + digest + "?ns=" + registry_->host();
  }

  // Every node GETs `digest` at once; each answer's status and whether its bytes hash right.
  std::vector<HttpResult> getEverywhere(const std::string& repo, const std::string& digest,
                                        const std::string& ns, int skip = -1) {
    std::vector<HttpResult> results(kNodes);
    std::vector<std::thread> clients;
    for (int i = 0; i < kNodes; ++i) {
      if (i == skip) continue;
      clients.emplace_back([&, i] {
        results[i] = httpGet(nodes_[i]->url("/v2/" + repo + "/blobs/" + digest + "?ns=" + ns));
      });
    }
    for (auto& t : clients) t.join();
    return results;
  }

  static bool cachedRight(const PullcacheServer& node, const std::string& digest) {
    std::ifstream in(node.blobFile(digest), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return in.good() || !bytes.empty() ? "sha256:" + sha256Hex(bytes) == digest : false;
  }

  // Bytes in a node's staging files (blobs on their way in).
  static std::uintmax_t stagedBytes(const PullcacheServer& node) {
    std::uintmax_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(node.cacheDir() + "/tmp", ec))
      if (e.is_regular_file(ec)) n += e.file_size(ec);
    return n;
  }

  // Commits follow the last byte sent: wait for the file.
  static bool eventuallyCachedRight(const PullcacheServer& node, const std::string& digest) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!std::filesystem::exists(node.blobFile(digest)) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return cachedRight(node, digest);
  }

  static double metric(const PullcacheServer& node, const std::string& series) {
    auto m = scrapeMetrics(node);
    auto it = m.find(series);
    return it == m.end() ? 0 : it->second;
  }

  // A containerd for every node, pointed at its own pullcache by hosts.toml (which, as on a real
  // node, falls back to the registry itself: a pull that went around pullcache would show in the
  // upstream's counts).
  void startContainerds() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      containerds_.push_back(std::make_unique<Containerd>(local_.sub("ctrd" + std::to_string(i))));
      writeHostsToml(local_.sub("hosts" + std::to_string(i)), registry_->host(),
                     nodes_[i]->url(""));
    }
    std::vector<std::thread> starters;
    for (auto& c : containerds_) starters.emplace_back([&c] { c->start(); });
    for (auto& t : starters) t.join();
  }

  // Every node's containerd pulls the image at once: each pull's exit code and output.
  std::vector<CommandResult> pullEverywhere() {
    std::vector<CommandResult> pulls(containerds_.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < containerds_.size(); ++i)
      threads.emplace_back([&, i] {
        pulls[i] = containerds_[i]->pull(imageRef(), local_.sub("hosts" + std::to_string(i)));
      });
    for (auto& t : threads) t.join();
    return pulls;
  }

  static std::string imageRef() { return registry_->host() + "/test/app:v1"; }
  static std::vector<std::string> imageBlobs() {
    std::vector<std::string> blobs = remote_->layer_digests;
    blobs.push_back(remote_->config_digest);
    return blobs;
  }
  static std::string manifestByTag() { return "/v2/test/app/manifests/v1"; }
  static std::string manifestByDigest() {
    return "/v2/test/app/manifests/" + remote_->manifest_digest;
  }

  // The upstream's GETs so far of each of the image's blobs and of its manifest (by tag and by
  // digest), by path.
  static std::map<std::string, int> upstreamGets() {
    std::map<std::string, int> gets;
    for (const auto& d : imageBlobs()) {
      const std::string path = "/v2/test/app/blobs/" + d;
      gets[path] = registry_->countRequests("GET", path);
    }
    for (const auto& path : {manifestByTag(), manifestByDigest()})
      gets[path] = registry_->countRequests("GET", path);
    return gets;
  }

  // Since `before`: every blob and the manifest's body left the upstream once for the whole
  // cluster, and the tag was never GET (each node asked for the tag's digest with a HEAD, which
  // Docker Hub does not count against its pull limit).
  static void expectTheImageLeftTheUpstreamOnce(const std::map<std::string, int>& before) {
    auto now = upstreamGets();
    for (const auto& d : imageBlobs()) {
      const std::string path = "/v2/test/app/blobs/" + d;
      EXPECT_EQ(now[path], before.at(path) + 1) << d << " did not leave the upstream exactly once";
    }
    EXPECT_EQ(now[manifestByTag()], before.at(manifestByTag()));
    EXPECT_EQ(now[manifestByDigest()], before.at(manifestByDigest()) + 1);
  }

  static double layerBytes() {
    double bytes = 0;
    for (auto size : remote_->layer_sizes) bytes += static_cast<double>(size);
    return bytes;
  }

  // `ctr` against node i's containerd, in the namespace pulls go to.
  CommandResult ctr(std::size_t i, std::vector<std::string> args) {
    std::vector<std::string> argv = {"ctr", "-a", containerds_[i]->socket(), "-n", "default"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv);
  }

  static TempDir* dir_;
  static RegistryServer* registry_;
  static RemoteImage* remote_;
  TempDir local_;
  std::vector<int> peer_ports_;
  std::vector<std::string> members_;
  std::vector<std::unique_ptr<PullcacheServer>> nodes_;
  std::vector<std::unique_ptr<Containerd>> containerds_;  // after nodes_: stops before them
};

TempDir* ClusterTest::dir_ = nullptr;
RegistryServer* ClusterTest::registry_ = nullptr;
RemoteImage* ClusterTest::remote_ = nullptr;

TEST_F(ClusterTest, EveryLayerLeavesTheUpstreamOnceForTheWholeCluster) {
  if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
  startNodes(registry_->host());
  startContainerds();
  const auto before = upstreamGets();
  // All six nodes pull the whole image at once.
  auto pulls = pullEverywhere();
  for (int i = 0; i < kNodes; ++i)
    ASSERT_EQ(pulls[i].code, 0) << "node " << i << ": " << pulls[i].output << nodes_[i]->log();
  // Each containerd has the image: the tag names the manifest, every blob the manifest names is
  // there, and so is the manifest (the content store takes a blob only once its digest matched).
  const std::string blobs = std::to_string(imageBlobs().size());
  const std::string complete = "complete (" + blobs + "/" + blobs + ")";
  for (int i = 0; i < kNodes; ++i) {
    auto check = ctr(i, {"images", "check"});
    ASSERT_EQ(check.code, 0) << check.output;
    EXPECT_NE(check.output.find(imageRef()), std::string::npos) << "node " << i << check.output;
    EXPECT_NE(check.output.find(remote_->manifest_digest), std::string::npos)
        << "node " << i << ": " << check.output;
    EXPECT_NE(check.output.find(complete), std::string::npos)
        << "node " << i << ": " << check.output;
    auto content = ctr(i, {"content", "ls", "--quiet"});
    ASSERT_EQ(content.code, 0) << content.output;
    auto wanted = imageBlobs();
    wanted.push_back(remote_->manifest_digest);
    for (const auto& d : wanted)
      EXPECT_NE(content.output.find(d), std::string::npos) << d << " missing on node " << i;
  }
  expectTheImageLeftTheUpstreamOnce(before);
  for (const auto& d : imageBlobs())
    for (int i = 0; i < kNodes; ++i)
      EXPECT_TRUE(eventuallyCachedRight(*nodes_[i], d)) << d << " on node " << i;
  // The bytes came from peers, and the peers say so.
  double from_peers = 0;
  double served = 0;
  int fed_by_peers = 0;  // every node but a layer's root gets it from a peer
  for (const auto& n : nodes_) {
    const double bytes = metric(*n, "pullcache_source_bytes_total{source=\"peer\"}");
    from_peers += bytes;
    fed_by_peers += bytes > 0 ? 1 : 0;
    served += metric(*n, "pullcache_peer_requests_total{outcome=\"served\"}");
    EXPECT_EQ(metric(*n, "pullcache_peer_members"), kNodes);
  }
  EXPECT_GE(fed_by_peers, kNodes - 1);
  EXPECT_GE(from_peers, layerBytes() * (kNodes - 1));
  EXPECT_GE(served, (kNodes - 1) * static_cast<double>(remote_->layer_digests.size()));
}

TEST_F(ClusterTest, ThePeerPortWantsTheSecretAndServesDigestsOnly) {
  startNodes(registry_->host());
  const std::string d = remote_->layer_digests[2];
  const std::string target = blobPath("test/app", d);
  const std::string url = "http://" + members_[0] + target;
  auto none = httpGet(url);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(ociErrorCode(none.body), "UNAUTHORIZED");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto wrong = httpGet(
      url, {"Authorization: " +
            peers::peerAuthorization(Secret("not-the-cluster-secret-at-all"), now, "GET", target)});
  EXPECT_EQ(wrong.status, 401);
  // A good token for another blob does not open this one.
  auto replayed =
      httpGet(url, {"Authorization: " +
                    peers::peerAuthorization(Secret(kSecret), now, "GET",
                                             blobPath("test/app", remote_->layer_digests[0]))});
  EXPECT_EQ(replayed.status, 401);
  EXPECT_EQ(metric(*nodes_[0], "pullcache_peer_requests_total{outcome=\"unauthorized\"}"), 3);
  // With the secret: the blob; a tag, or a registry the node does not mirror: 404.
  auto good = httpGet(
      url, {"Authorization: " + peers::peerAuthorization(Secret(kSecret), now, "GET", target)});
  ASSERT_EQ(good.status, 200);
  EXPECT_EQ("sha256:" + sha256Hex(good.body), d);
  for (const std::string& t : {"/v2/test/app/manifests/v1?ns=" + registry_->host(),
                               "/v2/test/app/blobs/" + d + "?ns=evil.example.com"}) {
    auto r =
        httpGet("http://" + members_[0] + t,
                {"Authorization: " + peers::peerAuthorization(Secret(kSecret), now, "GET", t)});
    EXPECT_EQ(r.status, 404) << t << ": " << r.body;
  }
  EXPECT_EQ(metric(*nodes_[0], "pullcache_peer_requests_total{outcome=\"not_found\"}"), 2);
  // The registry port never listens on the peer address.
  EXPECT_EQ(httpGet("http://127.0.1.1:" + std::to_string(nodes_[0]->port()) + "/v2/").status, 0);
}

TEST_F(ClusterTest, ABlobCorruptedOnOnePeerIsCachedNowhere) {
  startNodes(registry_->host());
  const std::string d = remote_->layer_digests[1];
  const int root = rootOf(d);
  ASSERT_GE(root, 0);
  // The root gets the blob (from the upstream), then its copy rots on disk, same size.
  ASSERT_EQ(httpGet(nodes_[root]->url(blobPath("test/app", d))).status, 200);
  ASSERT_TRUE(eventuallyCachedRight(*nodes_[root], d));
  {
    std::fstream f(nodes_[root]->blobFile(d), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(4096);
    f.put('\x00');
    f.seekp(4097);
    f.put('\x01');
  }
  const int asker = (root + 1) % kNodes;
  auto first = httpGet(nodes_[asker]->url(blobPath("test/app", d)));
  // The asker verified what the peer sent: its client never gets the whole wrong blob (the
  // connection is cut before the last bytes).
  EXPECT_TRUE(first.status != 200 || first.curl_code != 0)
      << "a wrong blob was delivered whole: " << first.body.size() << " bytes, "
      << (("sha256:" + sha256Hex(first.body)) == d ? "right" : "wrong") << " bytes\n"
      << nodes_[asker]->log();
  EXPECT_FALSE(std::filesystem::exists(nodes_[asker]->blobFile(d)));
  EXPECT_EQ(metric(*nodes_[asker], "pullcache_peer_fetch_errors_total{peer=\"" + members_[root] +
                                       "\",reason=\"digest\"}"),
            1);
  // The client retries (containerd does): the bad peer is skipped, the bytes are right, and no
  // node holds a wrong copy apart from the rotten one.
  auto again = httpGet(nodes_[asker]->url(blobPath("test/app", d)));
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.curl_code, 0);
  EXPECT_EQ("sha256:" + sha256Hex(again.body), d);
  for (int i = 0; i < kNodes; ++i) {
    if (i == root || !std::filesystem::exists(nodes_[i]->blobFile(d))) continue;
    EXPECT_TRUE(cachedRight(*nodes_[i], d)) << "node " << i << " cached wrong bytes";
  }
}

TEST_F(ClusterTest, WithTheUpstreamDownAPeersCopyServesEveryNode) {
  startNodes(registry_->host());
  const std::string d = remote_->layer_digests[0];
  const int root = rootOf(d);
  const int first = (root + 1) % kNodes;
  ASSERT_EQ(httpGet(nodes_[first]->url(blobPath("test/app", d))).status, 200);
  ASSERT_TRUE(eventuallyCachedRight(*nodes_[root], d)) << "the root holds what went through it";
  registry_->stop();
  auto results = getEverywhere("test/app", d, registry_->host());
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_EQ(results[i].status, 200) << "node " << i << ": " << results[i].body;
    EXPECT_EQ(results[i].curl_code, 0) << "node " << i;
    EXPECT_EQ("sha256:" + sha256Hex(results[i].body), d) << "node " << i;
  }
}

TEST_F(ClusterTest, TheRootKilledMidBlobCostsNoPull) {
  FaultyUpstream faulty(registry_->host());
  startNodes(faulty.hostPort());
  const std::string d = remote_->layer_digests[0];  // 6 MiB
  const int root = rootOf(d);
  // The root's upstream stalls after half the blob; the others stream that half from it.
  faulty.add(
      Fault{.kind = FaultKind::kStallMidBody, .path_contains = d, .method = "GET", .times = 1});
  std::vector<HttpResult> results(kNodes);
  std::vector<std::thread> clients;
  for (int i = 0; i < kNodes; ++i) {
    if (i == root) continue;
    clients.emplace_back([&, i] {
      results[i] = httpGet(nodes_[i]->url("/v2/test/app/blobs/" + d + "?ns=" + faulty.hostPort()));
    });
  }
  // Once the others hold bytes they streamed from it (their staging files grow), kill it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::uintmax_t staged = 0;
  while (staged == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    staged = 0;
    for (int i = 0; i < kNodes; ++i)
      if (i != root) staged += stagedBytes(*nodes_[i]);
  }
  ASSERT_GT(staged, 0u) << "no node got bytes from the root: the test would prove nothing";
  nodes_[root]->kill9();
  for (auto& t : clients) t.join();
  faulty.releaseStalls();
  for (int i = 0; i < kNodes; ++i) {
    if (i == root) continue;
    ASSERT_EQ(results[i].status, 200) << "node " << i << ": " << results[i].body;
    EXPECT_EQ(results[i].curl_code, 0) << "node " << i;
    EXPECT_EQ("sha256:" + sha256Hex(results[i].body), d) << "node " << i;
    EXPECT_TRUE(eventuallyCachedRight(*nodes_[i], d)) << "node " << i;
  }
}

TEST_F(ClusterTest, ABlobsRootFetchesThroughTheUpstreamsOrderedSources) {
  // mirror.test's first source refuses connections; the second is the registry. Only the
  // blob's root goes to the sources (the others get it from peers), and it falls through once.
  const int dead_port = freePort();
  startNodes("mirror.test",
             "upstreams:\n  - match: mirror.test\n    sources:\n      - registry: 127.0.0.1:" +
                 std::to_string(dead_port) + "/rule\n        url: http://127.0.0.1:" +
                 std::to_string(dead_port) + "\n      - registry: " + registry_->host() +
                 "\n        url: http://" + registry_->host() + "\n");
  const std::string d = remote_->layer_digests[1];
  const int before = registry_->countRequests("GET", "/v2/test/app/blobs/" + d);
  auto results = getEverywhere("test/app", d, "mirror.test");
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_EQ(results[i].status, 200) << "node " << i << ": " << results[i].body;
    EXPECT_EQ("sha256:" + sha256Hex(results[i].body), d) << "node " << i;
  }
  EXPECT_EQ(registry_->countRequests("GET", "/v2/test/app/blobs/" + d), before + 1);
  const std::string unreachable =
      "pullcache_upstream_source_fallbacks_total{upstream=\"mirror.test\",source=\"127.0.0.1:" +
      std::to_string(dead_port) + "/rule\",reason=\"unreachable\"}";
  const int root = rootOf(d);
  for (int i = 0; i < kNodes; ++i)
    EXPECT_EQ(metric(*nodes_[i], unreachable), i == root ? 1 : 0) << "node " << i;
}

// Membership from a real DNS server: dnsmasq serves the headless Service's name with one A
// record per node, and each node resolves it through its own system resolver (a mount namespace
// with its own /etc/resolv.conf, as `ip netns exec` gives a network namespace).
class ClusterDnsTest : public ClusterTest {
 protected:
  static constexpr const char* kName = "pullcache-peers.kube-system.svc.cluster.local";
  static constexpr int kDnsNodes = 4;

  void SetUp() override {
    ClusterTest::SetUp();
    if (IsSkipped()) return;
    if (::geteuid() != 0 || runCommand({"sh", "-c", "command -v dnsmasq"}).code != 0)
      GTEST_SKIP() << "needs root (mount namespaces) and dnsmasq (scripts/setup.sh installs it)";
    peer_port_ = freePort();
    for (int i = 0; i < kDnsNodes; ++i) addresses_.push_back("127.0.1." + std::to_string(i + 11));
    writeRecords(addresses_);
    std::ofstream(local_.sub("resolv.conf")) << "nameserver 127.0.2.53\n";
    startDns();
  }
  void TearDown() override {
    nodes_.clear();
    if (dns_) {
      dns_->kill(SIGTERM);
      dns_->wait(std::chrono::seconds(5));
    }
  }

  void writeRecords(const std::vector<std::string>& ips) {
    std::ofstream out(local_.sub("hosts"));
    for (const auto& ip : ips) out << ip << " " << kName << "\n";
  }
  void startDns() {
    dns_ = std::make_unique<Process>(
        std::vector<std::string>{"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                                 "--no-resolv", "--no-hosts", "--addn-hosts=" + local_.sub("hosts"),
                                 "--listen-address=127.0.2.53", "--bind-interfaces", "--port=53",
                                 "--user=root", "--log-queries", "--log-facility=-"},
        local_.sub("dnsmasq.log"));
    ASSERT_TRUE(waitFor(
        [] {
          return runCommand({"bash", "-c", "exec 3<>/dev/tcp/127.0.2.53/53"}).code == 0;
        },
        std::chrono::seconds(10)))
        << dns_->log();
  }

  void startDnsNodes() {
    for (int i = 0; i < kDnsNodes; ++i) {
      PullcacheOptions o;
      o.resolv_conf = local_.sub("resolv.conf");
      o.extra_yaml = "peers:\n  listen: " + addresses_[i] + ":" + std::to_string(peer_port_) +
                     "\n  dns: \"" + std::string(kName) + ":" + std::to_string(peer_port_) +
                     "\"\n  refresh: 200ms\n  fanout: " + std::to_string(kFanout) +
                     "\n  secret_file: " + local_.sub("peer-secret") + "\n";
      nodes_.push_back(std::make_unique<PullcacheServer>(local_.sub("dnsnode" + std::to_string(i)),
                                                         registry_->host(), o));
      members_.push_back(addresses_[i] + ":" + std::to_string(peer_port_));
    }
    std::vector<std::thread> starters;
    for (auto& n : nodes_) starters.emplace_back([&n] { n->start(); });
    for (auto& t : starters) t.join();
  }

  // The first `nodes` nodes all have `members` members in view.
  bool nodesSee(int nodes, int members) {
    return waitFor(
        [&] {
          for (int i = 0; i < nodes; ++i)
            if (metric(*nodes_[i], "pullcache_peer_members") != members) return false;
          return true;
        },
        std::chrono::seconds(20));
  }

  int peer_port_ = 0;
  std::vector<std::string> addresses_;
  std::unique_ptr<Process> dns_;
};

TEST_F(ClusterDnsTest, MembersComeFromTheServicesRecordsAndTheLastGoodViewSurvivesDns) {
  startDnsNodes();
  ASSERT_TRUE(nodesSee(kDnsNodes, kDnsNodes)) << dns_->log();
  // One cluster: a layer every node wants leaves the upstream once.
  const std::string d = remote_->layer_digests[2];
  const int before = registry_->countRequests("GET", "/v2/test/app/blobs/" + d);
  std::vector<HttpResult> results(kDnsNodes);
  std::vector<std::thread> clients;
  for (int i = 0; i < kDnsNodes; ++i)
    clients.emplace_back([&, i] { results[i] = httpGet(nodes_[i]->url(blobPath("test/app", d))); });
  for (auto& t : clients) t.join();
  for (int i = 0; i < kDnsNodes; ++i) {
    ASSERT_EQ(results[i].status, 200) << "node " << i;
    EXPECT_EQ("sha256:" + sha256Hex(results[i].body), d) << "node " << i;
  }
  EXPECT_EQ(registry_->countRequests("GET", "/v2/test/app/blobs/" + d), before + 1);
  EXPECT_NE(dns_->log().find(kName), std::string::npos) << "the nodes asked the DNS server";

  // A pod goes away: its record goes, and every view follows.
  writeRecords({addresses_[0], addresses_[1], addresses_[2]});
  dns_->kill(SIGHUP);  // dnsmasq re-reads its hosts file
  EXPECT_TRUE(nodesSee(3, 3));
  EXPECT_EQ(metric(*nodes_[3], "pullcache_peer_members"), 4) << "a node is always its own member";

  // The DNS server dies: the views stay as they were (a DNS outage must not split the cluster).
  dns_->kill(SIGTERM);
  dns_->wait(std::chrono::seconds(5));
  dns_.reset();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // five refresh periods
  for (int i = 0; i < 3; ++i) EXPECT_EQ(metric(*nodes_[i], "pullcache_peer_members"), 3) << i;
  EXPECT_NE(nodes_[0]->log().find("peer discovery failed, keeping the last view"),
            std::string::npos);
}

}  // namespace
}  // namespace pullcache::testing
