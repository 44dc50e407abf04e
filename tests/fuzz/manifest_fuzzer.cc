// Manifests and indexes from upstreams: what the cache indexes and the prefetcher walks.
#include <string_view>

#include "common/manifest_refs.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto refs = pullcache::parseManifestRefs(body);
  if (!refs) {
    FUZZ_CHECK(refs.error().code == pullcache::Errc::kManifestInvalid);
    return 0;
  }
  // Every digest that came out is well formed (it becomes a file name in the cache).
  for (const auto& b : refs.value().blobs) FUZZ_CHECK(pullcache::Digest::parse(b.digest.str()));
  for (const auto& c : refs.value().children) FUZZ_CHECK(pullcache::Digest::parse(c.digest.str()));
  if (refs.value().is_index) FUZZ_CHECK(refs.value().blobs.empty());
  return 0;
}
