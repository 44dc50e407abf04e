#include <gtest/gtest.h>

#include "common/digest.h"
#include "common/host_glob.h"
#include "common/reference.h"

namespace pullcache {
namespace {

TEST(Name, AcceptsSpecGrammar) {
  for (const char* ok : {"a", "library/alpine", "a-b/c.d/e__f", "x1/y_2/z---3", "123/456"}) {
    EXPECT_TRUE(validateName(ok)) << ok;
  }
}

TEST(Name, RejectsEverythingElse) {
  for (const char* bad : {"", "A", "a//b", "/a", "a/", "..", "a/../b", "a/./b", ".a", "a.", "a_-b",
                          "a___b", "a/%2e", "a b", "a\\b", "a:b"}) {
    auto r = validateName(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::kNameInvalid) << bad;
  }
  EXPECT_FALSE(validateName(std::string(256, 'a')));
}

TEST(Tag, Grammar) {
  EXPECT_TRUE(validateTag("v1.2.3-rc_1"));
  EXPECT_TRUE(validateTag("_x"));
  EXPECT_TRUE(validateTag(std::string(128, 'a')));
  EXPECT_FALSE(validateTag(std::string(129, 'a')));
  EXPECT_FALSE(validateTag(".v1"));
  EXPECT_FALSE(validateTag("-v1"));
  EXPECT_FALSE(validateTag("v/1"));
  EXPECT_FALSE(validateTag(""));
}

TEST(Digest, ParsesOnlyRegisteredAlgorithmsInLowercaseHex) {
  std::string hex(64, 'a');
  EXPECT_TRUE(Digest::parse("sha256:" + hex));
  EXPECT_TRUE(Digest::parse("sha512:" + std::string(128, '0')));
  EXPECT_FALSE(Digest::parse("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(Digest::parse("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(Digest::parse("sha256:" + std::string(63, 'a') + "/"));
  EXPECT_FALSE(Digest::parse("md5:" + hex));
  EXPECT_FALSE(Digest::parse("sha256:../../../../etc/passwd"));
  EXPECT_EQ(Digest::parse("sha256").error().code, Errc::kDigestInvalid);
}

TEST(Digest, HasherMatchesKnownVectors) {
  EXPECT_EQ(sha256Of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Of("abc").str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Hasher h(DigestAlgorithm::kSha256);
  h.update("a");
  h.update("bc");
  EXPECT_EQ(h.finish(), sha256Of("abc"));
  Hasher h512(DigestAlgorithm::kSha512);
  h512.update("abc");
  EXPECT_EQ(h512.finish().str(),
            "sha512:"
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c"
            "23a3feebbd"
            "454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(Reference, TagOrDigest) {
  auto t = Reference::parse("latest");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t.value().isDigest());
  auto d = Reference::parse("sha256:" + std::string(64, 'f'));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d.value().isDigest());
  EXPECT_EQ(Reference::parse("sha256:zz").error().code, Errc::kDigestInvalid);
  EXPECT_EQ(Reference::parse("bad/tag").error().code, Errc::kTagInvalid);
}

TEST(RegistryHost, Grammar) {
  for (const char* ok : {"docker.io", "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                         "localhost:5000", "127.0.0.1:5001", "[::1]:5000", "ghcr.io"}) {
    EXPECT_TRUE(validateRegistryHost(ok)) << ok;
  }
  for (const char* bad : {"", "Docker.io", "a..b", "-a.com", "a.com:", "a.com:99999", "a.com/path",
                          "a.com:x", "[::1"}) {
    EXPECT_FALSE(validateRegistryHost(bad)) << bad;
  }
}

TEST(HostGlob, StarStaysWithinOneLabel) {
  EXPECT_TRUE(
      hostGlobMatches("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
  EXPECT_FALSE(hostGlobMatches("*.dkr.ecr.*.amazonaws.com",
                               "x.evil.com.dkr.ecr.eu-west-1.amazonaws.com.evil"));
  EXPECT_FALSE(hostGlobMatches("*.amazonaws.com", "a.b.amazonaws.com"));
  EXPECT_TRUE(hostGlobMatches("docker.io", "DOCKER.IO"));
  EXPECT_FALSE(hostGlobMatches("docker.io", "docker.io.evil.com"));
  EXPECT_TRUE(hostGlobMatches("127.0.0.1:*", "127.0.0.1:5000"));
  EXPECT_FALSE(hostGlobMatches("127.0.0.1:*", "127.0.0.1"));
}

}  // namespace
}  // namespace pullcache
