#include "daemon/index/keys.h"

#include <cstdint>
#include <cstring>

namespace pullcache::index::keys {
namespace {

constexpr char kVersion1 = 1;

void putU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool u8(char& v) {
    if (data_.empty()) return false;
    v = data_.front();
    data_.remove_prefix(1);
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (data_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(data_[i])) << (8 * i);
    data_.remove_prefix(8);
    return true;
  }
  bool i64(std::int64_t& v) {
    std::uint64_t u = 0;
    if (!u64(u)) return false;
    v = static_cast<std::int64_t>(u);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (data_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(data_[i])) << (8 * i);
    data_.remove_prefix(4);
    return true;
  }
  bool bytes(std::size_t n, std::string& out) {
    if (data_.size() < n) return false;
    out.assign(data_.substr(0, n));
    data_.remove_prefix(n);
    return true;
  }
  std::string_view rest() const { return data_; }

 private:
  std::string_view data_;
};

}  // namespace

std::string blobKey(const Digest& digest) { return std::string(kBlobPrefix) + digest.str(); }
std::string manifestKey(const Digest& digest) {
  return std::string(kManifestPrefix) + digest.str();
}

std::string tagKey(const TagKey& key) {
  std::string out(kTagPrefix);
  out.reserve(out.size() + key.upstream.size() + key.repository.size() + key.tag.size() + 2);
  out += key.upstream;
  out.push_back('\0');
  out += key.repository;
  out.push_back('\0');
  out += key.tag;
  return out;
}

std::optional<TagKey> tagKeyFromKey(std::string_view key) {
  if (!key.starts_with(kTagPrefix)) return std::nullopt;
  key.remove_prefix(kTagPrefix.size());
  auto first = key.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = key.find('\0', first + 1);
  if (second == std::string_view::npos || key.find('\0', second + 1) != std::string_view::npos)
    return std::nullopt;
  return TagKey{std::string(key.substr(0, first)),
                std::string(key.substr(first + 1, second - first - 1)),
                std::string(key.substr(second + 1))};
}

std::optional<Digest> digestFromBlobKey(std::string_view key) {
  if (!key.starts_with(kBlobPrefix)) return std::nullopt;
  auto d = Digest::parse(key.substr(kBlobPrefix.size()));
  if (!d) return std::nullopt;
  return std::move(d).value();
}

std::string encodeBlobMeta(const BlobMeta& meta) {
  std::string out;
  out.reserve(25);
  out.push_back(kVersion1);
  putU64(out, meta.size);
  putU64(out, static_cast<std::uint64_t>(meta.stored_unix));
  putU64(out, static_cast<std::uint64_t>(meta.last_access_unix));
  return out;
}

std::optional<BlobMeta> decodeBlobMeta(std::string_view value) {
  Reader r(value);
  char version = 0;
  BlobMeta m;
  if (!r.u8(version) || version != kVersion1 || !r.u64(m.size) || !r.i64(m.stored_unix) ||
      !r.i64(m.last_access_unix) || !r.rest().empty()) {
    return std::nullopt;
  }
  return m;
}

std::string encodeManifest(const ManifestRecord& record) {
  std::string out;
  out.reserve(13 + record.media_type.size() + record.body.size());
  out.push_back(kVersion1);
  putU64(out, static_cast<std::uint64_t>(record.stored_unix));
  putU32(out, static_cast<std::uint32_t>(record.media_type.size()));
  out += record.media_type;
  out += record.body;
  return out;
}

std::optional<ManifestRecord> decodeManifest(std::string_view value) {
  Reader r(value);
  char version = 0;
  std::uint32_t type_len = 0;
  ManifestRecord m;
  if (!r.u8(version) || version != kVersion1 || !r.i64(m.stored_unix) || !r.u32(type_len) ||
      !r.bytes(type_len, m.media_type)) {
    return std::nullopt;
  }
  m.body.assign(r.rest());
  return m;
}

std::string encodeTag(const TagRecord& record) {
  std::string out;
  out.push_back(kVersion1);
  putU64(out, static_cast<std::uint64_t>(record.fetched_unix_ms));
  out += record.digest;
  return out;
}

std::optional<TagRecord> decodeTag(std::string_view value) {
  Reader r(value);
  char version = 0;
  TagRecord t;
  if (!r.u8(version) || version != kVersion1 || !r.i64(t.fetched_unix_ms)) return std::nullopt;
  if (!Digest::parse(r.rest())) return std::nullopt;
  t.digest.assign(r.rest());
  return t;
}

}  // namespace pullcache::index::keys
