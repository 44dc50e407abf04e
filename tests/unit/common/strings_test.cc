// Untrusted bytes in messages: quoting, UTF-8 checks and cuts, and the two sinks that must
// never throw or emit invalid output on them (the OCI error body and the JSON log escaper).
#include "common/strings.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/json_escape.h"
#include "common/oci_error.h"
#include "common/reference.h"
#include "daemon/auth/aws_answers.h"

namespace pullcache {
namespace {

TEST(QuoteUntrusted, KeepsPrintableAsciiAndEscapesEverythingElse) {
  EXPECT_EQ(quoteUntrusted("library/nginx"), "library/nginx");
  EXPECT_EQ(quoteUntrusted("a\xff"
                           "b"),
            "a\\xffb");
  EXPECT_EQ(quoteUntrusted("line\r\nforged"), "line\\x0d\\x0aforged");
  EXPECT_EQ(quoteUntrusted("back\\slash"), "back\\x5cslash");
  EXPECT_EQ(quoteUntrusted(std::string(100, 'x'), 8), "xxxxxxxx...");
  EXPECT_TRUE(validUtf8(quoteUntrusted("\xc3\x28\xed\xa0\x80\xf8")));
}

TEST(Utf8, AcceptsWellFormedAndRejectsMalformedSequences) {
  EXPECT_TRUE(validUtf8(""));
  EXPECT_TRUE(validUtf8("plain"));
  EXPECT_TRUE(validUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3"));  // é € 🐳
  EXPECT_FALSE(validUtf8("\xff"));
  EXPECT_FALSE(validUtf8("\xc3"));              // truncated
  EXPECT_FALSE(validUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(validUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(validUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(validUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(validUtf8("\x80"));              // a lone continuation byte
}

TEST(Utf8, TruncationNeverSplitsASequence) {
  const std::string euro = "\xe2\x82\xac";  // three bytes
  std::string s = "ab" + euro + euro;       // 8 bytes
  for (std::size_t limit = 0; limit <= s.size() + 1; ++limit) {
    std::string t = s;
    truncateUtf8(t, limit);
    EXPECT_LE(t.size(), limit);
    EXPECT_TRUE(validUtf8(t)) << "limit " << limit;
    EXPECT_EQ(s.substr(0, t.size()), t);
  }
  std::string at_boundary = s;
  truncateUtf8(at_boundary, 5);
  EXPECT_EQ(at_boundary, "ab" + euro);
  std::string inside = s;
  truncateUtf8(inside, 7);
  EXPECT_EQ(inside, "ab" + euro);
}

TEST(JsonEscape, InvalidUtf8BecomesReplacementCharactersAndTheLineStaysJson) {
  std::string out = "{\"repo\":\"";
  appendJsonEscaped(out,
                    "a\xff"
                    "b caf\xc3\xa9 \xc3");
  out += "\"}";
  auto parsed = nlohmann::json::parse(out);  // throws (fails the test) on invalid JSON
  EXPECT_EQ(parsed["repo"].get<std::string>(),
            "a\xef\xbf\xbd"
            "b caf\xc3\xa9 \xef\xbf\xbd");
}

TEST(OciErrorBody, NeverThrowsOnBytesThatAreNotUtf8) {
  Error e{Errc::kNameInvalid, "raw \xff\xfe bytes"};
  std::string body;
  ASSERT_NO_THROW(body = ociErrorBody(e));
  auto parsed = nlohmann::json::parse(body);
  EXPECT_EQ(parsed["errors"][0]["code"], "NAME_INVALID");
}

TEST(OciErrorBody, ARepositoryNameThatIsNotUtf8GivesAValidBody) {
  auto v = validateName(
      "a\xff"
      "b");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kNameInvalid);
  EXPECT_NE(v.error().message().find("a\\xffb"), std::string::npos) << v.error().message();
  auto parsed = nlohmann::json::parse(ociErrorBody(v.error()));
  EXPECT_EQ(parsed["errors"][0]["code"], "NAME_INVALID");
}

TEST(AwsAnswers, AnErrorMessageCutAtItsLimitStaysUtf8) {
  // 299 ASCII bytes and then a 3-byte character across the 300-byte cut.
  const std::string message = std::string(299, 'm') + "\xe2\x82\xac and more";
  nlohmann::json body = {{"__type", "AccessDeniedException"}, {"message", message}};
  auto e = auth::parseAwsJsonError(body.dump(), "");
  EXPECT_EQ(e.code, "AccessDeniedException");
  EXPECT_EQ(e.message, std::string(299, 'm'));
  EXPECT_TRUE(validUtf8(e.message));
  const std::string xml = "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>" +
                          std::string(298, 'x') +
                          "\xf0\x9f\x90\xb3</Message></Error></ErrorResponse>";
  auto x = auth::parseAwsXmlError(xml);
  EXPECT_EQ(x.message, std::string(298, 'x'));
  Error wrapped{Errc::kUnauthorized, "ECR: " + e.message + " / " + x.message};
  EXPECT_NO_THROW(nlohmann::json::parse(ociErrorBody(wrapped)));
}

}  // namespace
}  // namespace pullcache
