#include "daemon/index/image_walk.h"

#include "common/manifest_refs.h"

namespace pullcache::index {
namespace {

constexpr int kMaxManifestDepth = 2;

void walk(Index& index, const Digest& digest, int depth, std::unordered_set<std::string>& out) {
  if (!out.insert(digest.str()).second || depth > kMaxManifestDepth) return;
  auto m = index.getManifest(digest);
  if (!m || !m.value()) return;  // a blob, or a manifest not cached (yet)
  auto refs = parseManifestRefs(m.value()->body);
  if (!refs) return;
  for (const auto& child : refs.value().children) walk(index, child.digest, depth + 1, out);
  for (const auto& blob : refs.value().blobs) out.insert(blob.digest.str());
}

}  // namespace

void collectImage(Index& index, const Digest& root, std::unordered_set<std::string>& out) {
  walk(index, root, 0, out);
}

}  // namespace pullcache::index
