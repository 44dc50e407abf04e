// ECR's pure parts: registry host grammar, the GetAuthorizationToken request as signed, and its
// answer.
#include "daemon/auth/ecr_api.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace pullcache::auth {
namespace {

TEST(EcrHost, RecognisesEveryEcrRegistryForm) {
  auto std_host = parseEcrHost("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
  ASSERT_TRUE(std_host);
  EXPECT_EQ(std_host->account, "123456789012");
  EXPECT_EQ(std_host->region, "eu-west-1");
  EXPECT_EQ(std_host->apiHost(), "api.ecr.eu-west-1.amazonaws.com");

  auto china = parseEcrHost("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn");
  ASSERT_TRUE(china);
  EXPECT_EQ(china->apiHost(), "api.ecr.cn-north-1.amazonaws.com.cn");

  auto fips = parseEcrHost("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com");
  ASSERT_TRUE(fips);
  EXPECT_TRUE(fips->fips);
  EXPECT_EQ(fips->region, "us-gov-west-1");
  EXPECT_EQ(fips->apiHost(), "ecr-fips.us-gov-west-1.amazonaws.com");

  auto dual = parseEcrHost("123456789012.dkr-ecr.us-east-1.on.aws");
  ASSERT_TRUE(dual);
  EXPECT_TRUE(dual->dual_stack);
  EXPECT_EQ(dual->apiHost(), "ecr.us-east-1.api.aws");
}

TEST(EcrHost, RejectsLookAlikes) {
  for (const char* host :
       {"public.ecr.aws", "docker.io", "12345678901.dkr.ecr.eu-west-1.amazonaws.com",
        "1234567890123.dkr.ecr.eu-west-1.amazonaws.com",
        "12345678901a.dkr.ecr.eu-west-1.amazonaws.com",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example",
        "123456789012.dkr.ecr.eu-west-1.evil.com", "123456789012.dkr.ecr..amazonaws.com",
        "123456789012.dkr.ecr.EU-WEST-1.amazonaws.com", "123456789012.dkr-ecr.us-east-1.aws",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com:443"}) {
    EXPECT_FALSE(parseEcrHost(host)) << host;
  }
}

TEST(EcrApi, GetAuthorizationTokenRequestIsSignedForEcr) {
  auto req = getAuthorizationTokenRequest("api.ecr.eu-west-1.amazonaws.com");
  AwsCredentials creds{"AKIDEXAMPLE", Secret("secret"), Secret("token")};
  auto s =
      signV4(req, creds, "eu-west-1", "ecr", std::chrono::system_clock::from_time_t(1700000000));
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.payload, "{}");
  EXPECT_NE(s.authorization.find("/eu-west-1/ecr/aws4_request"), std::string::npos);
  EXPECT_NE(s.authorization.find(
                "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"),
            std::string::npos)
      << s.authorization;
  EXPECT_NE(s.canonical_request.find(
                "x-amz-target:AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken\n"),
            std::string::npos);
}

TEST(EcrApi, ParsesTheTokenAndItsExpiry) {
  const std::string token = base64Encode("AWS:hunter2");
  auto t = parseGetAuthorizationTokenResponse(
      R"({"authorizationData":[{"authorizationToken":")" + token +
      R"(","expiresAt":1700043200.5,"proxyEndpoint":"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"}]})");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t.value().basic.reveal(), token);
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.value().expires_at.time_since_epoch())
          .count(),
      1700043200500);
  for (const std::string& bad : std::vector<std::string>{
           std::string("{}"), std::string("not json"), std::string(R"({"authorizationData":[]})"),
           R"({"authorizationData":[{"authorizationToken":")" + base64Encode("user:pw") +
               R"(","expiresAt":1}]})",
           R"({"authorizationData":[{"authorizationToken":")" + token + R"("}]})"}) {
    auto r = parseGetAuthorizationTokenResponse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::kUpstreamBadResponse);
      EXPECT_EQ(r.error().detail.find("hunter2"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace pullcache::auth
