// SigV4 against AWS's published vectors: the Signature Version 4 test suite (get-vanilla,
// post-vanilla, get-vanilla-query-order-key-case, post-x-www-form-urlencoded, get-utf8,
// get-unreserved, get-vanilla-with-session-token) and the S3 documentation's GET Object example.
#include "common/sigv4.h"

#include <gtest/gtest.h>

#include "common/digest.h"

namespace pullcache {
namespace {

using std::chrono::system_clock;

// 2015-08-30T12:36:00Z, the test suite's time.
const system_clock::time_point kSuiteTime = system_clock::from_time_t(1440938160);
const AwsCredentials kSuiteCreds{"AKIDEXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                 Secret()};

TEST(SigV4, GetVanilla) {
  SigV4Request r{"GET", "example.amazonaws.com", "/", "", {}, ""};
  auto s = signV4(r, kSuiteCreds, "us-east-1", "service", kSuiteTime);
  EXPECT_EQ(s.amz_date, "20150830T123600Z");
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, PostVanilla) {
  SigV4Request r{"POST", "example.amazonaws.com", "/", "", {}, ""};
  auto s = signV4(r, kSuiteCreds, "us-east-1", "service", kSuiteTime);
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

// The remaining suite vectors the ECR and STS calls depend on: query ordering, a form body,
// percent-encoded and unreserved paths, and a session token.
TEST(SigV4, SuiteVectors) {
  struct Vector {
    const char* name;
    SigV4Request request;
    const char* signed_headers;
    const char* signature;
  };
  const Vector vectors[] = {
      {"get-vanilla-query-order-key-case",
       {"GET", "example.amazonaws.com", "/", "Param2=value2&Param1=value1", {}, ""},
       "host;x-amz-date",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"post-x-www-form-urlencoded",
       {"POST",
        "example.amazonaws.com",
        "/",
        "",
        {{"Content-Type", "application/x-www-form-urlencoded"}},
        "Param1=value1"},
       "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
      {"get-utf8 (path U+1234, URI-encoded by the caller)",
       {"GET", "example.amazonaws.com", "/%E1%88%B4", "", {}, ""},
       "host;x-amz-date",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-unreserved",
       {"GET",
        "example.amazonaws.com",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "",
        {},
        ""},
       "host;x-amz-date",
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
  };
  for (const auto& v : vectors) {
    auto s = signV4(v.request, kSuiteCreds, "us-east-1", "service", kSuiteTime);
    EXPECT_EQ(s.authorization,
              std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                          "aws4_request, SignedHeaders=") +
                  v.signed_headers + ", Signature=" + v.signature)
        << v.name;
  }
  const AwsCredentials with_token{
      "AKIDEXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
      Secret("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267")};
  auto s = signV4({"GET", "example.amazonaws.com", "/", "", {}, ""}, with_token, "us-east-1",
                  "service", kSuiteTime);
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date;x-amz-security-token, "
            "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")
      << "get-vanilla-with-session-token";
}

TEST(SigV4, S3GetObjectExampleFromTheDocumentation) {
  // 2013-05-24T00:00:00Z
  const auto when = system_clock::from_time_t(1369353600);
  const AwsCredentials creds{"AKIAIOSFODNN7EXAMPLE",
                             Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), Secret()};
  const std::string empty_hash = std::string(sha256Of("").hex());
  SigV4Request r{"GET",
                 "examplebucket.s3.amazonaws.com",
                 "/test.txt",
                 "",
                 {{"Range", "bytes=0-9"}, {"x-amz-content-sha256", empty_hash}},
                 ""};
  auto s = signV4(r, creds, "us-east-1", "s3", when);
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_NE(s.authorization.find("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"),
            std::string::npos);
}

TEST(SigV4, TemporaryCredentialsSignTheSessionToken) {
  AwsCredentials temp{"AKIDEXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                      Secret("session-token-value")};
  SigV4Request r{"POST", "api.ecr.eu-west-1.amazonaws.com", "/", "", {}, "{}"};
  auto s = signV4(r, temp, "eu-west-1", "ecr", kSuiteTime);
  EXPECT_NE(s.authorization.find("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            std::string::npos)
      << s.authorization;
  EXPECT_NE(s.canonical_request.find("x-amz-security-token:session-token-value\n"),
            std::string::npos);
  // The secret key never appears in anything that may be logged.
  EXPECT_EQ(s.canonical_request.find("wJalrXUtnFEMI"), std::string::npos);
  EXPECT_EQ(s.authorization.find("wJalrXUtnFEMI"), std::string::npos);
}

TEST(SigV4, HeaderCanonicalisation) {
  SigV4Request r{"GET",
                 "example.amazonaws.com",
                 "/",
                 "b=2&a=1",
                 {{"My-Header1", "  value1  with   spaces "}, {"X-Amz-Target", "T"}},
                 ""};
  auto s = signV4(r, kSuiteCreds, "us-east-1", "service", kSuiteTime);
  EXPECT_NE(s.canonical_request.find("\na=1&b=2\n"), std::string::npos) << s.canonical_request;
  EXPECT_NE(s.canonical_request.find("my-header1:value1 with spaces\n"), std::string::npos)
      << s.canonical_request;
  EXPECT_NE(s.canonical_request.find("host;my-header1;x-amz-date;x-amz-target\n"),
            std::string::npos);
}

}  // namespace
}  // namespace pullcache
