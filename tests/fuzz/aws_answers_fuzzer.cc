// Answers from AWS endpoints and the files of the credential chain: STS XML, IMDS/container
// JSON, AWS error bodies, the shared credentials file, ISO 8601 times.
#include <string>
#include <string_view>

#include "daemon/auth/aws_answers.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned char which = data[0] % 6;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  using namespace pullcache::auth;
  switch (which) {
    case 0: {
      auto c = parseAssumeRoleWithWebIdentityResponse(in);
      if (c) FUZZ_CHECK(!c.value().credentials.access_key_id.empty());
      break;
    }
    case 1: {
      auto c = parseCredentialsJson(in);
      if (c) FUZZ_CHECK(!c.value().credentials.access_key_id.empty());
      break;
    }
    case 2:
      (void)parseAwsJsonError(in, "");
      break;
    case 3:
      (void)parseAwsXmlError(in);
      break;
    case 4:
      (void)parseCredentialsFile(in, "default");
      break;
    default:
      (void)parseIso8601Utc(in);
      break;
  }
  return 0;
}
