// The containerd check against the containerd that runs here (Debian's 1.6), with its CRI
// plugin on: `doctor` reads its real config and asks its socket for the version;
// `containerd-config --strict` fails on a config it cannot use; and the
// pullcache_containerd_last_request_timestamp_seconds gauge moves for containerd's requests
// (?ns=) and for nothing else.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr const char* kGauge = "pullcache_containerd_last_request_timestamp_seconds";

class ContainerdDoctorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    auto image = writeOciLayout(dir_.sub("a"), "v1", {{256 << 10, 1}, {128 << 10, 2}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "team/a", &log), 0) << log;
    pullcache_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host());
    pullcache_->start();
    certs_ = dir_.sub("certs.d");
    ctd_ = dir_.sub("ctd");
    socket_ = ctd_ + "/containerd.sock";
  }

  void TearDown() override {
    if (containerd_) {
      containerd_->kill(SIGTERM);
      if (containerd_->wait(std::chrono::seconds(10)) < 0) containerd_->kill(SIGKILL);
      runCommand({"sh", "-c", "grep -o ' " + ctd_ + "[^ ]*' /proc/mounts | xargs -r -n1 umount -l"},
                 std::chrono::seconds(20));
    }
  }

  // A containerd of its own (root, state, socket in the temp dir) with the CRI plugin on and
  // `registry` as the body of its CRI registry table.
  std::string configWith(const std::string& registry) {
    return "version = 2\n"
           "root = \"" +
           ctd_ +
           "/root\"\n"
           "state = \"" +
           ctd_ +
           "/state\"\n"
           "[grpc]\n  address = \"" +
           socket_ +
           "\"\n"
           "[debug]\n  level = \"warn\"\n"
           "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
           "  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n" +
           registry;
  }

  void startContainerd(const std::string& config) {
    writeTextFile(ctd_ + "/config.toml", config);
    containerd_ = std::make_unique<Process>(
        std::vector<std::string>{"containerd", "--config", ctd_ + "/config.toml"},
        ctd_ + "/containerd.log");
    ASSERT_TRUE(waitFor(
        [&] {
          return runCommand({"ctr", "-a", socket_, "version"}, std::chrono::seconds(5)).code == 0;
        },
        std::chrono::seconds(30)))
        << containerd_->log();
  }

  CommandResult containerdConfig(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {pullcacheBinary(),        "containerd-config",  "--config",
                                     pullcache_->configPath(), "--certs-dir",        certs_,
                                     "--containerd-config",    ctd_ + "/config.toml"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return runCommand(argv);
  }

  CommandResult doctor() {
    return runCommand(
        {pullcacheBinary(), "doctor", "--config", pullcache_->configPath(), "--containerd-config",
         ctd_ + "/config.toml", "--containerd-address", socket_, "--certs-dir", certs_},
        std::chrono::seconds(60));
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<PullcacheServer> pullcache_;
  std::unique_ptr<Process> containerd_;
  std::string certs_;
  std::string ctd_;
  std::string socket_;
};

TEST_F(ContainerdDoctorTest, DoctorReportsTheVersionAndAWorkingSetup) {
  startContainerd(configWith("    config_path = \"" + certs_ + "\"\n"));
  auto install = containerdConfig({"--strict"});
  ASSERT_EQ(install.code, 0) << install.output;
  EXPECT_EQ(install.output.find("WARNING"), std::string::npos) << install.output;
  EXPECT_NE(install.output.find("containerd config_path: config_path = \"" + certs_ + "\""),
            std::string::npos)
      << install.output;

  auto ctr = runCommand({"ctr", "-a", socket_, "version"});
  auto r = doctor();
  EXPECT_EQ(r.code, 0) << r.output;
  // The version the socket reports, the same ctr prints.
  for (const std::string& line :
       {"ok    containerd       version: containerd 1.6.20~ds1 (version API on " + socket_ + ")",
        "ok    containerd       config_path: config_path = \"" + certs_ +
            "\" in [plugins.\"io.containerd.grpc.v1.cri\".registry] includes " + certs_ +
            ": CRI pulls read " + certs_ + "/<registry>/hosts.toml via the local pull path",
        std::string("ok    hosts.toml       1 of 1 written by pullcache"),
        std::string("ok    cache dir"), std::string("all checks passed")}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << "missing: " << line << "\n" << r.output;
  }
  EXPECT_NE(ctr.output.find("1.6.20~ds1"), std::string::npos) << ctr.output;
}

TEST_F(ContainerdDoctorTest, DoctorReportsAMissingConfigPath) {
  startContainerd(configWith("    # no config_path\n"));
  // The install itself succeeds and warns; --strict makes it fail.
  auto install = containerdConfig();
  EXPECT_EQ(install.code, 0) << install.output;
  EXPECT_NE(install.output.find("WARNING: containerd config_path: no config_path in "
                                "[plugins.\"io.containerd.grpc.v1.cri\".registry]"),
            std::string::npos)
      << install.output;
  EXPECT_NE(install.output.find("--strict makes this an error"), std::string::npos)
      << install.output;
  EXPECT_EQ(containerdConfig({"--strict"}).code, 1);

  auto r = doctor();
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("ok    containerd       version: containerd 1.6.20~ds1"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("FAIL  containerd       config_path: no config_path in "
                          "[plugins.\"io.containerd.grpc.v1.cri\".registry] of " +
                          ctd_ + "/config.toml: containerd 1.6.20~ds1 reads no hosts.toml"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Set config_path = \"" + certs_ + "\""), std::string::npos) << r.output;
  // The chain stops there.
  EXPECT_EQ(r.output.find("registry "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("all checks passed"), std::string::npos) << r.output;
}

TEST_F(ContainerdDoctorTest, GaugeMovesOnlyForContainerdRequests) {
  startContainerd(configWith("    config_path = \"" + certs_ + "\"\n"));
  ASSERT_EQ(containerdConfig().code, 0);
  EXPECT_EQ(scrapeMetrics(*pullcache_)[kGauge], 0);

  // A client without ?ns= (skopeo, curl): the gauge stays where it was.
  auto plain = httpGet(pullcache_->url("/v2/team/a/manifests/v1"),
                       {"Accept: application/vnd.oci.image.manifest.v1+json"});
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(scrapeMetrics(*pullcache_)[kGauge], 0);

  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto pull = runCommand({"ctr", "-a", socket_, "-n", "default", "images", "pull", "--plain-http",
                          "--hosts-dir", certs_, registry_->host() + "/team/a:v1"},
                         std::chrono::seconds(120));
  ASSERT_EQ(pull.code, 0) << pull.output << pullcache_->log();
  const double after =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double seen = scrapeMetrics(*pullcache_)[kGauge];
  EXPECT_GE(seen, before - 1) << pullcache_->log();
  EXPECT_LE(seen, after + 1);

  // Another request without ns does not move it.
  ASSERT_EQ(httpGet(pullcache_->url("/v2/")).status, 200);
  EXPECT_EQ(scrapeMetrics(*pullcache_)[kGauge], seen);
}

}  // namespace
}  // namespace pullcache::testing
