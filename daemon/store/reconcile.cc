#include "daemon/store/reconcile.h"

#include <unistd.h>

#include <unordered_map>

namespace pullcache::store {

Result<ReconcileReport> reconcile(BlobStore& store, index::Index& index) {
  ReconcileReport report;
  auto cleaned = store.cleanStaging();
  if (!cleaned) return cleaned.error();
  report.staging_removed = cleaned.value();

  std::unordered_map<std::string, std::uint64_t> indexed;  // digest -> size
  auto listed = index.forEachBlob(
      [&](const Digest& d, const index::BlobMeta& m) { indexed.emplace(d.str(), m.size); });
  if (!listed) return listed.error();

  std::vector<Digest> orphans;
  auto scanned = store.scan(
      [&](const Digest& d, std::uint64_t size) {
        auto it = indexed.find(d.str());
        if (it != indexed.end() && it->second == size) {
          ++report.blobs;
          report.bytes += size;
          indexed.erase(it);
          return;
        }
        orphans.push_back(d);  // no entry, or the file is not what the entry says: remove both
      },
      [&](const std::string& path) { ::unlink(path.c_str()); });
  if (!scanned) return scanned.error();
  for (const auto& d : orphans) {
    (void)store.remove(d);
    ++report.orphans_removed;
  }
  // Whatever is still in `indexed` has no file, or a wrong one (removed just above).
  for (const auto& [digest, size] : indexed) {
    auto d = Digest::parse(digest);
    if (d && index.deleteBlob(d.value())) ++report.entries_dropped;
  }
  return report;
}

}  // namespace pullcache::store
