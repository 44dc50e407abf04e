#include "daemon/index/image_walk.h"

#include "common/manifest_refs.h"

namespace pullcache::index {
namespace {

constexpr int kMaxManifestDepth = 2;

// Whether `digest` is a cached manifest (then walked).
bool walk(Index& index, const Digest& digest, int depth, std::unordered_set<std::string>& out) {
  if (!out.insert(digest.str()).second || depth > kMaxManifestDepth) return false;
  auto m = index.getManifest(digest);
  if (!m || !m.value()) return false;  // a blob, or a manifest not cached (yet)
  auto refs = parseManifestRefs(m.value()->body);
  if (!refs) return true;
  for (const auto& child : refs.value().children) walk(index, child.digest, depth + 1, out);
  for (const auto& blob : refs.value().blobs) out.insert(blob.digest.str());
  return true;
}

}  // namespace

bool collectImage(Index& index, const Digest& root, std::unordered_set<std::string>& out) {
  return walk(index, root, 0, out);
}

}  // namespace pullcache::index
