// The registry API of pullcache against a real upstream (Debian's docker-registry), over HTTP.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr const char* kAcceptAll =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

class PullThroughTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    registry_ = new RegistryServer(dir_->sub("registry"));
    registry_->start();
    auto image = writeOciLayout(dir_->sub("layout"), "v1", {{3 << 20, 11}, {1 << 20, 12}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "test/app", &log), 0) << log;
    remote_ = new RemoteImage(inspectRemote(registry_->host(), "test/app", "v1"));
    auto big = writeOciLayout(dir_->sub("big"), "v1", {{32 << 20, 21}});
    ASSERT_EQ(pushWithSkopeo(big, registry_->host(), "test/big", &log), 0) << log;
    big_ = new RemoteImage(inspectRemote(registry_->host(), "test/big", "v1"));
  }
  static void TearDownTestSuite() {
    delete big_;
    delete remote_;
    delete registry_;
    delete dir_;
  }

  void SetUp() override {
    if (!registry_->port()) GTEST_SKIP();
    registry_->start();  // a test may have stopped it
  }

  std::unique_ptr<PullcacheServer> startPullcache(PullcacheOptions options = {}) {
    auto pc = std::make_unique<PullcacheServer>(local_.sub("pc"), registry_->host(), options);
    pc->start();
    return pc;
  }

  static std::string blobPath(const std::string& repo, const std::string& digest) {
    return "/v2/" + repo + "/blobs/" + digest + "?ns=" + registry_->host();
  }
  static std::string upstreamBlobPath(const std::string& repo, const std::string& digest) {
    return "/v2/" + repo + "/blobs/" + digest;
  }

  static TempDir* dir_;
  static RegistryServer* registry_;
  static RemoteImage* remote_;
  static RemoteImage* big_;
  TempDir local_;
};

TempDir* PullThroughTest::dir_ = nullptr;
RegistryServer* PullThroughTest::registry_ = nullptr;
RemoteImage* PullThroughTest::remote_ = nullptr;
RemoteImage* PullThroughTest::big_ = nullptr;

TEST_F(PullThroughTest, BaseEndpointAnswersWithoutAuth) {
  auto pc = startPullcache();
  auto r = httpGet(pc->url("/v2/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
  EXPECT_EQ(r.header("docker-distribution-api-version"), "registry/2.0");
}

TEST_F(PullThroughTest, ManifestByTagByDigestAndHead) {
  auto pc = startPullcache();
  const std::string tag_path = "/v2/test/app/manifests/v1?ns=" + registry_->host();
  const int before = registry_->countRequests("GET", "/v2/test/app/manifests/v1");

  auto first = httpGet(pc->url(tag_path), {kAcceptAll});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ("sha256:" + sha256Hex(first.body), remote_->manifest_digest);
  EXPECT_EQ(first.header("docker-content-digest"), remote_->manifest_digest);
  EXPECT_EQ(first.header("content-type"), remote_->media_type);
  EXPECT_EQ(first.header("oci-namespace"), registry_->host());

  auto again = httpGet(pc->url(tag_path), {kAcceptAll});
  EXPECT_EQ(again.body, first.body);
  // Within tag_ttl the tag is answered from the cache: still one upstream GET.
  EXPECT_EQ(registry_->countRequests("GET", "/v2/test/app/manifests/v1"), before + 1);

  auto head = httpRequest("HEAD", pc->url(tag_path), {kAcceptAll});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(first.body.size()));
  EXPECT_EQ(head.header("docker-content-digest"), remote_->manifest_digest);
  EXPECT_TRUE(head.body.empty());

  auto by_digest = httpGet(
      pc->url("/v2/test/app/manifests/" + remote_->manifest_digest + "?ns=" + registry_->host()),
      {kAcceptAll});
  EXPECT_EQ(by_digest.status, 200);
  EXPECT_EQ(by_digest.body, first.body);
  EXPECT_EQ(registry_->countRequests("GET", "/v2/test/app/manifests/" + remote_->manifest_digest),
            0);
  // Some containerd versions send a Range on manifests: the whole body (RFC 9110 lets a server
  // ignore Range), never a piece that would not parse.
  for (const char* range : {"bytes=0-", "bytes=0-9", "bytes=5-,0-1"}) {
    auto ranged = httpGet(
        pc->url("/v2/test/app/manifests/" + remote_->manifest_digest + "?ns=" + registry_->host()),
        {kAcceptAll, std::string("Range: ") + range});
    EXPECT_EQ(ranged.status, 200) << range;
    EXPECT_EQ(ranged.body, first.body) << range;
  }

  // A client that accepts only another type is not given this one.
  auto wrong = httpGet(pc->url(tag_path),
                       {"Accept: application/vnd.docker.distribution.manifest.v1+prettyjws"});
  EXPECT_EQ(wrong.status, 404);
}

TEST_F(PullThroughTest, BlobGetHeadAndRanges) {
  auto pc = startPullcache();
  const std::string digest = remote_->layer_digests[0];
  const std::string path = blobPath("test/app", digest);
  const int before = registry_->countRequests("GET", upstreamBlobPath("test/app", digest));

  auto full = httpGet(pc->url(path));
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ("sha256:" + sha256Hex(full.body), digest);
  EXPECT_EQ(full.header("docker-content-digest"), digest);
  EXPECT_EQ(full.header("content-type"), "application/octet-stream");
  EXPECT_EQ(full.header("content-encoding"), "");
  EXPECT_EQ(full.body.size(), remote_->layer_sizes[0]);

  auto head = httpRequest("HEAD", pc->url(path));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(full.body.size()));

  auto tail = httpGet(pc->url(path), {"Range: bytes=1000-"});
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, full.body.substr(1000));
  EXPECT_EQ(tail.header("content-range"), "bytes 1000-" + std::to_string(full.body.size() - 1) +
                                              "/" + std::to_string(full.body.size()));

  auto middle = httpGet(pc->url(path), {"Range: bytes=10-19"});
  EXPECT_EQ(middle.status, 206);
  EXPECT_EQ(middle.body, full.body.substr(10, 10));

  auto past = httpGet(pc->url(path), {"Range: bytes=" + std::to_string(full.body.size()) + "-"});
  EXPECT_EQ(past.status, 416);
  EXPECT_EQ(past.header("content-range"), "bytes */" + std::to_string(full.body.size()));

  // Everything above left the upstream once.
  EXPECT_EQ(registry_->countRequests("GET", upstreamBlobPath("test/app", digest)), before + 1);
}

TEST_F(PullThroughTest, ErrorsFollowTheSpec) {
  auto pc = startPullcache();
  const std::string ns = "?ns=" + registry_->host();
  const std::string missing = "sha256:" + std::string(64, 'a');

  auto blob = httpGet(pc->url("/v2/test/app/blobs/" + missing + ns));
  EXPECT_EQ(blob.status, 404);
  EXPECT_EQ(ociErrorCode(blob.body), "BLOB_UNKNOWN");

  auto tag = httpGet(pc->url("/v2/test/app/manifests/nope" + ns), {kAcceptAll});
  EXPECT_EQ(tag.status, 404);
  EXPECT_EQ(ociErrorCode(tag.body), "MANIFEST_UNKNOWN");

  auto unknown_ns =
      httpGet(pc->url("/v2/test/app/manifests/v1?ns=registry.example.com"), {kAcceptAll});
  EXPECT_EQ(unknown_ns.status, 404);
  EXPECT_EQ(ociErrorCode(unknown_ns.body), "NAME_UNKNOWN");

  auto bad_digest = httpGet(pc->url("/v2/test/app/blobs/sha256:XYZ" + ns));
  EXPECT_EQ(bad_digest.status, 400);
  EXPECT_EQ(ociErrorCode(bad_digest.body), "DIGEST_INVALID");

  auto bad_name = httpGet(pc->url("/v2/Test/App/manifests/v1" + ns));
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(ociErrorCode(bad_name.body), "NAME_INVALID");

  for (const std::string& traversal :
       {"/v2/../../etc/passwd/blobs/" + missing, "/v2/a/%2e%2e/%2e%2e/blobs/" + missing,
        "/v2/a/../blobs/" + missing}) {
    auto r = httpGet(pc->url(traversal + ns));
    EXPECT_EQ(r.status, 400) << traversal;
    EXPECT_EQ(ociErrorCode(r.body), "NAME_INVALID") << traversal;
  }

  auto put = httpRequest("PUT", pc->url("/v2/test/app/manifests/v1" + ns));
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(ociErrorCode(put.body), "UNSUPPORTED");
  auto upload = httpRequest("POST", pc->url("/v2/test/app/blobs/uploads/" + ns));
  EXPECT_EQ(upload.status, 405);

  // Nothing of the above reached the disk.
  EXPECT_FALSE(std::filesystem::exists(pc->cacheDir() + "/blobs/sha256/aa"));
}

TEST_F(PullThroughTest, SixteenConcurrentMissesMakeOneUpstreamFetch) {
  auto pc = startPullcache();
  const std::string digest = big_->layer_digests[0];
  const int before = registry_->countRequests("GET", upstreamBlobPath("test/big", digest));
  std::vector<HttpResult> results(16);
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] { results[i] = httpGet(pc->url(blobPath("test/big", digest))); });
  }
  for (auto& t : clients) t.join();
  for (const auto& r : results) {
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), big_->layer_sizes[0]);
    EXPECT_EQ("sha256:" + sha256Hex(r.body), digest);
  }
  EXPECT_EQ(registry_->countRequests("GET", upstreamBlobPath("test/big", digest)), before + 1);
}

TEST_F(PullThroughTest, TagsListIsPassedThroughUncached) {
  auto pc = startPullcache();
  const int before = registry_->countRequests("GET", "/v2/test/app/tags/list");
  for (int i = 0; i < 2; ++i) {
    auto r = httpGet(pc->url("/v2/test/app/tags/list?ns=" + registry_->host()));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"v1\""), std::string::npos);
  }
  EXPECT_EQ(registry_->countRequests("GET", "/v2/test/app/tags/list"), before + 2);
  auto missing = httpGet(pc->url("/v2/test/nothing/tags/list?ns=" + registry_->host()));
  EXPECT_EQ(missing.status, 404);
}

TEST_F(PullThroughTest, CorruptedUpstreamBlobIsNeverCached) {
  // An image of its own, so corrupting it does not disturb the other tests.
  auto image = writeOciLayout(local_.sub("corrupt"), "v1", {{2 << 20, 31}});
  std::string log;
  ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "test/corrupt", &log), 0) << log;
  auto remote = inspectRemote(registry_->host(), "test/corrupt", "v1");
  const std::string digest = remote.layer_digests[0];
  {
    std::fstream f(registry_->blobDataPath(digest),
                   std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(1000);
    f.put('\x5a');
    f.seekp(1001);
    f.put('\xa5');
  }
  auto pc = startPullcache();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = httpGet(pc->url(blobPath("test/corrupt", digest)));
    // Either an error before the body, or a body closed short: never the whole (wrong) blob.
    EXPECT_TRUE(r.status != 200 || r.body.size() < remote.layer_sizes[0]) << "attempt " << attempt;
    EXPECT_NE("sha256:" + sha256Hex(r.body), digest);
  }
  EXPECT_FALSE(std::filesystem::exists(pc->blobFile(digest)));
  // The second request went upstream again: nothing wrong was kept.
  EXPECT_EQ(registry_->countRequests("GET", upstreamBlobPath("test/corrupt", digest)), 2);
  EXPECT_TRUE(std::filesystem::is_empty(pc->cacheDir() + "/tmp"));
}

TEST_F(PullThroughTest, StaleTagIsServedWhenTheUpstreamIsDown) {
  PullcacheOptions options;
  options.tag_ttl = "0s";  // revalidate on every request
  auto pc = startPullcache(options);
  const std::string tag_path = "/v2/test/app/manifests/v1?ns=" + registry_->host();
  auto first = httpGet(pc->url(tag_path), {kAcceptAll});
  ASSERT_EQ(first.status, 200);
  const int heads = registry_->countRequests("HEAD", "/v2/test/app/manifests/v1");
  auto revalidated = httpGet(pc->url(tag_path), {kAcceptAll});
  EXPECT_EQ(revalidated.status, 200);
  EXPECT_EQ(registry_->countRequests("HEAD", "/v2/test/app/manifests/v1"), heads + 1);

  registry_->stop();
  auto stale = httpGet(pc->url(tag_path), {kAcceptAll});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, first.body);
  // The access-log line is written after the response: wait for it.
  EXPECT_TRUE(waitFor([&] { return pc->log().find("cache=stale") != std::string::npos; },
                      std::chrono::seconds(5)));

  // An uncached blob with the upstream down: a clean 503 before any body byte.
  auto miss = httpGet(pc->url(blobPath("test/app", "sha256:" + std::string(64, 'b'))));
  EXPECT_EQ(miss.status, 503);
  EXPECT_EQ(ociErrorCode(miss.body), "UNAVAILABLE");
}

TEST_F(PullThroughTest, RestartAfterKill9ServesOnlyVerifiedBlobs) {
  auto pc = startPullcache();
  const std::string digest = remote_->layer_digests[1];
  auto r = httpGet(pc->url(blobPath("test/app", digest)));
  ASSERT_EQ(r.status, 200);
  // The blob is committed (renamed into place) just after its last byte is verified and sent.
  std::string blob_file = pc->blobFile(digest);
  ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(blob_file); }, std::chrono::seconds(5)));
  pc->kill9();

  // What a crash can leave behind: a half-written staging file, and (power loss after rename
  // without data) a blob file whose content is short.
  std::filesystem::resize_file(blob_file, 100);
  writeTextFile(pc->cacheDir() + "/tmp/sha256-" + std::string(64, 'c') + ".1.0", "partial");

  pc->start();
  EXPECT_TRUE(std::filesystem::is_empty(pc->cacheDir() + "/tmp"));
  const int before = registry_->countRequests("GET", upstreamBlobPath("test/app", digest));
  auto after = httpGet(pc->url(blobPath("test/app", digest)));
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ("sha256:" + sha256Hex(after.body), digest);
  EXPECT_EQ(registry_->countRequests("GET", upstreamBlobPath("test/app", digest)), before + 1);
}

}  // namespace
}  // namespace pullcache::testing
