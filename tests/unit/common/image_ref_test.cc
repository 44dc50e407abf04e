// Image references as users write them, normalised like docker/containerd; manifests walked
// for what they point at; platform matching.
#include "common/image_ref.h"

#include <gtest/gtest.h>

#include "common/manifest_refs.h"

namespace pullcache {
namespace {

TEST(ImageRef, NormalisesLikeDocker) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"alpine", "docker.io/library/alpine:latest"},
      {"alpine:3.19", "docker.io/library/alpine:3.19"},
      {"bitnami/redis:7", "docker.io/bitnami/redis:7"},
      {"index.docker.io/library/nginx:1", "docker.io/library/nginx:1"},
      {"ghcr.io/org/team/app:v1.2", "ghcr.io/org/team/app:v1.2"},
      {"localhost/app", "localhost/app:latest"},
      {"registry.local:5000/app:dev", "registry.local:5000/app:dev"},
      {"123456789012.dkr.ecr.eu-west-1.amazonaws.com/svc:prod",
       "123456789012.dkr.ecr.eu-west-1.amazonaws.com/svc:prod"},
  };
  for (const auto& c : cases) {
    auto r = ImageRef::parse(c.in);
    ASSERT_TRUE(r) << c.in << ": " << r.error().detail;
    EXPECT_EQ(r.value().str(), c.out) << c.in;
  }
  const std::string digest = "sha256:" + std::string(64, 'a');
  auto d = ImageRef::parse("quay.io/x/y@" + digest);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d.value().tag.empty());
  EXPECT_EQ(d.value().digest->str(), digest);
  EXPECT_EQ(d.value().repository, "x/y");
  auto both = ImageRef::parse("quay.io/x/y:1@" + digest);
  ASSERT_TRUE(both);
  EXPECT_EQ(both.value().tag, "1");
  EXPECT_EQ(both.value().str(), "quay.io/x/y:1@" + digest);
}

TEST(ImageRef, RejectsWhatIsNotAReference) {
  for (const char* bad : {"", "UPPER/case", "ghcr.io/", "app:", "app:bad tag", "a/../b",
                          "app@sha256:123", "ghcr.io/app@md5:abc", "-x/app", "Host.io/app"}) {
    auto r = ImageRef::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::kNameInvalid) << bad;
    }
  }
}

TEST(ManifestRefs, ImageManifestListsConfigThenLayers) {
  const std::string c = "sha256:" + std::string(64, 'c');
  const std::string l1 = "sha256:" + std::string(64, '1');
  const std::string l2 = "sha256:" + std::string(64, '2');
  auto r = parseManifestRefs(R"({"schemaVersion":2,"config":{"digest":")" + c +
                             R"("},"layers":[{"digest":")" + l1 + R"("},{"digest":")" + l2 +
                             R"(","size":1234}]})");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r.value().is_index);
  ASSERT_EQ(r.value().blobs.size(), 3u);
  EXPECT_EQ(r.value().blobs[0].digest.str(), c);
  EXPECT_EQ(r.value().blobs[2].digest.str(), l2);
  EXPECT_EQ(r.value().blobs[2].size, 1234u);
  EXPECT_EQ(r.value().blobs[1].size, 0u);
}

TEST(ManifestRefs, IndexListsChildrenWithPlatforms) {
  const std::string a = "sha256:" + std::string(64, 'a');
  const std::string b = "sha256:" + std::string(64, 'b');
  auto r = parseManifestRefs(
      R"({"manifests":[{"digest":")" + a +
      R"(","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},{"digest":")" + b +
      R"("}]})");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r.value().is_index);
  ASSERT_EQ(r.value().children.size(), 2u);
  EXPECT_EQ(r.value().children[0].platform, (Platform{"linux", "arm64", "v8"}));
  EXPECT_EQ(r.value().children[1].platform, Platform{});
}

TEST(ManifestRefs, MalformedManifestsAreErrors) {
  for (const char* bad : {"not json", "[]", R"({"layers":{}})", R"({"layers":[{"digest":"x"}]})",
                          R"({"manifests":[{}]})", R"({"config":{"digest":"sha256:zz"}})"}) {
    auto r = parseManifestRefs(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::kManifestInvalid) << bad;
    }
  }
}

TEST(Platform, MatchingFollowsContainerd) {
  EXPECT_TRUE(platformMatches({"linux", "amd64", ""}, {"linux", "amd64", ""}));
  EXPECT_FALSE(platformMatches({"linux", "arm64", "v8"}, {"linux", "amd64", ""}));
  EXPECT_FALSE(platformMatches({"windows", "amd64", ""}, {"linux", "amd64", ""}));
  EXPECT_TRUE(platformMatches({"linux", "arm64", ""}, {"linux", "arm64", "v8"}));
  EXPECT_FALSE(platformMatches({"linux", "arm", "v6"}, {"linux", "arm", "v7"}));
  auto host = hostPlatform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_FALSE(host.architecture.empty());
}

}  // namespace
}  // namespace pullcache
