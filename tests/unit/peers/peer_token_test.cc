#include "daemon/peers/peer_token.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace pullcache::peers {
namespace {

const Secret kSecret("a-long-shared-cluster-secret-0123456789");
constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::string_view kTarget = "/v2/library/nginx/blobs/sha256:00?ns=docker.io";

TEST(PeerToken, AcceptsItsOwnToken) {
  auto h = peerAuthorization(kSecret, kNow, "GET", kTarget);
  EXPECT_TRUE(h.starts_with("Bearer pc1.1800000000."));
  EXPECT_EQ(h.find(kSecret.reveal()), std::string::npos) << "the secret must never travel";
  EXPECT_TRUE(checkPeerAuthorization(kSecret, h, kNow, "GET", kTarget));
  EXPECT_TRUE(checkPeerAuthorization(kSecret, h, kNow + 100, "GET", kTarget));  // clock skew
  EXPECT_TRUE(checkPeerAuthorization(kSecret, h, kNow - 100, "GET", kTarget));
}

TEST(PeerToken, RefusesEverythingElse) {
  const auto good = peerAuthorization(kSecret, kNow, "GET", kTarget);
  struct Case {
    const char* what;
    std::string header;
    std::int64_t now;
    std::string method;
    std::string target;
  };
  const Case cases[] = {
      {"no header", "", kNow, "GET", std::string(kTarget)},
      {"basic", "Basic dXNlcjpwYXNz", kNow, "GET", std::string(kTarget)},
      {"another secret",
       peerAuthorization(Secret("another-secret-of-enough-length"), kNow, "GET", kTarget), kNow,
       "GET", std::string(kTarget)},
      {"another blob", good, kNow, "GET", "/v2/library/nginx/blobs/sha256:01?ns=docker.io"},
      {"another registry", good, kNow, "GET", "/v2/library/nginx/blobs/sha256:00?ns=evil.io"},
      {"another method", good, kNow, "HEAD", std::string(kTarget)},
      {"too old", good, kNow + 121, "GET", std::string(kTarget)},
      {"from the future", good, kNow - 121, "GET", std::string(kTarget)},
      {"truncated mac", good.substr(0, good.size() - 1), kNow, "GET", std::string(kTarget)},
      {"no mac", "Bearer pc1.1800000000.", kNow, "GET", std::string(kTarget)},
      {"bad time", "Bearer pc1.18x0000000.abcd", kNow, "GET", std::string(kTarget)},
      {"other version", "Bearer pc2" + good.substr(10), kNow, "GET", std::string(kTarget)},
  };
  // A direct request's token does not make its bearer a tree child.
  auto as_child = checkPeerAuthorization(kSecret, good, kNow, "GET", kTarget, "child");
  EXPECT_FALSE(as_child);
  EXPECT_TRUE(checkPeerAuthorization(kSecret,
                                     peerAuthorization(kSecret, kNow, "GET", kTarget, "child"),
                                     kNow, "GET", kTarget, "child"));
  for (const auto& c : cases) {
    auto r = checkPeerAuthorization(kSecret, c.header, c.now, c.method, c.target);
    ASSERT_FALSE(r) << c.what;
    EXPECT_EQ(r.error().code, Errc::kPeerUnauthorized) << c.what;
    EXPECT_EQ(r.error().detail.find(kSecret.reveal()), std::string::npos) << c.what;
  }
}

TEST(PeerToken, TheSecretFileNeedsSixteenBytes) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/secret";
  std::ofstream(path) << "short\n";
  auto r = readPeerSecret(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("fewer than 16 bytes"), std::string::npos);
  std::ofstream(path) << "0123456789abcdef0123\n\n";
  r = readPeerSecret(path);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r.value().reveal(), "0123456789abcdef0123");  // trailing newlines dropped
  auto missing = readPeerSecret(dir.path() + "/none");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().detail.find("cannot be read"), std::string::npos);
}

}  // namespace
}  // namespace pullcache::peers
