// The request target of every client request: path, name, reference and ?ns=.
#include <string_view>

#include "common/digest.h"
#include "common/reference.h"
#include "daemon/server/router.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  std::string_view target(reinterpret_cast<const char*>(data), size);
  auto route = pullcache::server::parseRoute(target);
  if (!route) return 0;
  using pullcache::RouteKind;
  const auto& r = route.value();
  // Whatever is accepted is valid by the OCI grammar: no path tricks reach the cache or upstream.
  if (r.kind != RouteKind::kBase && r.kind != RouteKind::kOther) {
    FUZZ_CHECK(pullcache::validateName(r.name));
    FUZZ_CHECK(r.name.find("..") == std::string::npos);
  }
  // The reference is parsed once, by the router: a blob's is a digest, and every reference's
  // text parses back to itself.
  if (r.kind == RouteKind::kBlob) FUZZ_CHECK(r.reference.isDigest());
  if (r.kind == RouteKind::kManifest || r.kind == RouteKind::kBlob) {
    auto again = pullcache::Reference::parse(r.reference.str());
    FUZZ_CHECK(again && again.value().str() == r.reference.str());
  }
  if (!r.ns.empty()) FUZZ_CHECK(pullcache::validateRegistryHost(r.ns));
  return 0;
}
