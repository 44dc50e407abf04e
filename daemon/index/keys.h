#pragma once
// Key and value encoding of the RocksDB index. Pure functions, unit-tested.
//   b:<digest>                      -> BlobMeta       (v1: u8 version, u64 size, i64 stored, i64
//   access) m:<digest>                      -> ManifestRecord (v1: u8 version, i64 stored, u32 type
//   len, type, body) t:<upstream>\0<repo>\0<tag>     -> TagRecord      (v1: u8 version, i64 fetched
//   ms, digest)
// Integers are little-endian. '\0' cannot occur in validated hosts, names or tags.

#include <optional>
#include <string>
#include <string_view>

#include "daemon/index/index.h"

namespace pullcache::index::keys {

inline constexpr std::string_view kBlobPrefix = "b:";
inline constexpr std::string_view kManifestPrefix = "m:";
inline constexpr std::string_view kTagPrefix = "t:";

std::string blobKey(const Digest& digest);
std::string manifestKey(const Digest& digest);
std::string tagKey(const TagKey& key);
// The digest of a blob key, or nullopt if the key is not a valid blob key.
std::optional<Digest> digestFromBlobKey(std::string_view key);
// The parts of a tag key, or nullopt if the key is not a valid tag key.
std::optional<TagKey> tagKeyFromKey(std::string_view key);

std::string encodeBlobMeta(const BlobMeta& meta);
std::optional<BlobMeta> decodeBlobMeta(std::string_view value);
std::string encodeManifest(const ManifestRecord& record);
std::optional<ManifestRecord> decodeManifest(std::string_view value);
std::string encodeTag(const TagRecord& record);
std::optional<TagRecord> decodeTag(std::string_view value);

}  // namespace pullcache::index::keys
