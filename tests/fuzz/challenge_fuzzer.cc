// WWW-Authenticate from any upstream (or anything between it and us).
#include <string_view>

#include "daemon/auth/challenge.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  std::string_view header(reinterpret_cast<const char*>(data), size);
  auto challenges = pullcache::auth::parseChallenges(header);
  if (!challenges) return 0;
  for (const auto& c : challenges.value()) {
    FUZZ_CHECK(!c.scheme.empty());
    for (char ch : c.scheme) FUZZ_CHECK(!(ch >= 'A' && ch <= 'Z'));  // lowercased
    for (const auto& [k, v] : c.params) {
      for (char ch : k) FUZZ_CHECK(!(ch >= 'A' && ch <= 'Z'));
    }
  }
  return 0;
}
