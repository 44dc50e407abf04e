#pragma once
// What a manifest points at: the children of an index (with their platforms), or the config
// and layers of an image manifest. Pure parsing; used to pin images and to prefetch them.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/error.h"

namespace pullcache {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;  // may be empty
  friend bool operator==(const Platform&, const Platform&) = default;
};

struct ManifestChild {
  Digest digest;
  std::string media_type;
  Platform platform;  // empty fields when the index gives none (attestations, artifacts)
};

struct BlobRef {
  Digest digest;
  std::uint64_t size = 0;  // as the descriptor declares it (0 if absent)
};

struct ManifestRefs {
  bool is_index = false;
  std::vector<ManifestChild> children;  // index: the manifests it lists
  std::vector<BlobRef> blobs;           // image manifest: config first, then layers
};

// Fails with ManifestInvalid when the body is not JSON or a digest in it is malformed.
Result<ManifestRefs> parseManifestRefs(std::string_view body);

// This machine's platform in OCI terms (linux/amd64, linux/arm64/v8, ...).
Platform hostPlatform();

// Whether an index entry's platform is the one asked for. An empty variant in `want` matches
// any; "arm64" with no variant matches "v8" (containerd's normalisation).
bool platformMatches(const Platform& have, const Platform& want);

}  // namespace pullcache
