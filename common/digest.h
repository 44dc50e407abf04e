#pragma once
// Content digests (OCI image-spec "algorithm:encoded") and an incremental hasher.
// Only the registered algorithms sha256 and sha512 are accepted; the encoded part must be
// lowercase hex of the exact length, so a Digest can be used as a file name safely.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace pullcache {

enum class DigestAlgorithm { kSha256, kSha512 };

class Digest {
 public:
  // Parses "sha256:<64 hex>" or "sha512:<128 hex>" (lowercase only).
  static Result<Digest> parse(std::string_view text);

  [[nodiscard]] DigestAlgorithm algorithm() const noexcept { return algorithm_; }
  [[nodiscard]] std::string_view algorithmName() const noexcept;
  [[nodiscard]] std::string_view hex() const noexcept;
  [[nodiscard]] const std::string& str() const noexcept { return text_; }

  friend bool operator==(const Digest&, const Digest&) = default;

 private:
  friend class Hasher;
  Digest(DigestAlgorithm algorithm, std::string text)
      : algorithm_(algorithm), text_(std::move(text)) {}
  DigestAlgorithm algorithm_ = DigestAlgorithm::kSha256;
  std::string text_;
};

// Incremental hash over a stream of bytes. Not thread-safe: one writer at a time.
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Finishes the hash; the Hasher must not be used afterwards.
  Digest finish();

 private:
  struct Ctx;
  DigestAlgorithm algorithm_;
  std::unique_ptr<Ctx> ctx_;
};

Digest sha256Of(std::string_view data);

}  // namespace pullcache
