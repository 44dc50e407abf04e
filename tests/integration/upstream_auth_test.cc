// Static credentials against a real registry that requires them (docker-registry + htpasswd).
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/base64.h"
#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr const char* kAccept = "Accept: application/vnd.oci.image.manifest.v1+json";

class UpstreamAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"), "robot", "s3cr3t-pw");
    registry_->start();
    auto image = writeOciLayout(dir_.sub("layout"), "v1", {{1 << 20, 41}});
    auto r = runCommand({"skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                         "--dest-creds", "robot:s3cr3t-pw", "oci:" + image.layout_dir + ":v1",
                         "docker://" + registry_->host() + "/private/app:v1"});
    ASSERT_EQ(r.code, 0) << r.output;
    auto m = httpGet("http://" + registry_->host() + "/v2/private/app/manifests/v1",
                     {kAccept, "Authorization: Basic " + base64Encode("robot:s3cr3t-pw")});
    ASSERT_EQ(m.status, 200);
    manifest_digest_ = "sha256:" + sha256Hex(m.body);
    layer_digest_ = m.body.substr(m.body.find("sha256:", m.body.find("\"layers\"")), 71);
  }

  std::unique_ptr<PullcacheServer> start(const std::string& auth_yaml) {
    auto pc = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host());
    std::string yaml = readTextFile(pc->configPath());
    auto pos = yaml.find("    url: http://");
    yaml.insert(yaml.find('\n', pos) + 1, auth_yaml);
    writeTextFile(pc->configPath(), yaml);
    pc->start();
    return pc;
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::string manifest_digest_;
  std::string layer_digest_;
};

TEST_F(UpstreamAuthTest, BasicCredentialsFromTheConfigPullAPrivateImage) {
  writeTextFile(dir_.sub("pw"), "s3cr3t-pw\n");
  auto pc =
      start("    auth: basic\n    username: robot\n    password_file: " + dir_.sub("pw") + "\n");
  const std::string ns = "?ns=" + registry_->host();
  auto m = httpGet(pc->url("/v2/private/app/manifests/v1" + ns), {kAccept});
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.header("docker-content-digest"), manifest_digest_);
  auto b = httpGet(pc->url("/v2/private/app/blobs/" + layer_digest_ + ns));
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ("sha256:" + sha256Hex(b.body), layer_digest_);
  EXPECT_EQ(pc->log().find("s3cr3t-pw"), std::string::npos);
}

TEST_F(UpstreamAuthTest, CredentialsFromADockerConfigFile) {
  writeTextFile(dir_.sub("config.json"), R"({"auths":{")" + registry_->host() + R"(":{"auth":")" +
                                             base64Encode("robot:s3cr3t-pw") + R"("}}})");
  auto pc = start("    auth: basic\n    docker_config: " + dir_.sub("config.json") + "\n");
  auto m = httpGet(pc->url("/v2/private/app/manifests/v1?ns=" + registry_->host()), {kAccept});
  EXPECT_EQ(m.status, 200) << m.body;
}

TEST_F(UpstreamAuthTest, RefusedCredentialsAreDeniedNot401) {
  // containerd treats DENIED from a mirror as "try the next host" (with its own credentials).
  auto pc = start("    auth: basic\n    username: robot\n    password: wrong\n");
  auto m = httpGet(pc->url("/v2/private/app/manifests/v1?ns=" + registry_->host()), {kAccept});
  EXPECT_EQ(m.status, 403);
  EXPECT_EQ(ociErrorCode(m.body), "DENIED");
  auto anonymous = std::make_unique<PullcacheServer>(dir_.sub("anon"), registry_->host());
  anonymous->start();
  auto a = httpGet(
      anonymous->url("/v2/private/app/blobs/" + layer_digest_ + "?ns=" + registry_->host()));
  EXPECT_EQ(a.status, 403);
}

TEST_F(UpstreamAuthTest, ContainerdFallsBackToTheRegistryWithItsOwnCredentials) {
  if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
  // pullcache has no credentials for this registry: it answers DENIED, and containerd goes on to
  // the registry itself with the pull secret it holds (kubelet's, here ctr --user).
  auto pc = std::make_unique<PullcacheServer>(dir_.sub("anon"), registry_->host());
  pc->start();
  writeHostsToml(dir_.sub("hosts"), registry_->host(), pc->url(""));
  Containerd node(dir_.sub("node"));
  node.start();
  auto r = runCommand(
      {"ctr", "-a", node.socket(), "images", "pull", "--plain-http", "--hosts-dir",
       dir_.sub("hosts"), "--user", "robot:s3cr3t-pw", registry_->host() + "/private/app:v1"},
      std::chrono::seconds(120));
  EXPECT_EQ(r.code, 0) << r.output << pc->log();
  // It did ask pullcache first.
  EXPECT_TRUE(waitFor([&] { return pc->log().find("status=403") != std::string::npos; },
                      std::chrono::seconds(5)));
}

}  // namespace
}  // namespace pullcache::testing
