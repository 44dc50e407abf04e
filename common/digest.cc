#include "common/digest.h"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace pullcache {
namespace {

constexpr std::string_view kSha256Prefix = "sha256:";
constexpr std::string_view kSha512Prefix = "sha512:";

bool isLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Result<Digest> Digest::parse(std::string_view text) {
  DigestAlgorithm algorithm;
  std::size_t hex_len;
  if (text.starts_with(kSha256Prefix)) {
    algorithm = DigestAlgorithm::kSha256;
    hex_len = 64;
  } else if (text.starts_with(kSha512Prefix)) {
    algorithm = DigestAlgorithm::kSha512;
    hex_len = 128;
  } else {
    return fail(Errc::kDigestInvalid, "unsupported or missing digest algorithm");
  }
  std::string_view hex = text.substr(7);
  if (hex.size() != hex_len || !isLowerHex(hex)) {
    return fail(Errc::kDigestInvalid,
                "digest must be " + std::to_string(hex_len) + " lowercase hex characters");
  }
  return Digest(algorithm, std::string(text));
}

std::string_view Digest::algorithmName() const noexcept {
  return algorithm_ == DigestAlgorithm::kSha256 ? "sha256" : "sha512";
}

std::string_view Digest::hex() const noexcept { return std::string_view(text_).substr(7); }

struct Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(DigestAlgorithm algorithm) : algorithm_(algorithm), ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  const EVP_MD* md = algorithm == DigestAlgorithm::kSha256 ? EVP_sha256() : EVP_sha512();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, md, nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest init failed");
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t size) { EVP_DigestUpdate(ctx_->md, data, size); }

Digest Hasher::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, out.data(), &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(algorithm_ == DigestAlgorithm::kSha256 ? kSha256Prefix : kSha512Prefix);
  text.reserve(7 + 2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    text.push_back(kHex[out[i] >> 4]);
    text.push_back(kHex[out[i] & 0xf]);
  }
  return Digest(algorithm_, std::move(text));
}

Digest sha256Of(std::string_view data) {
  Hasher h(DigestAlgorithm::kSha256);
  h.update(data);
  return h.finish();
}

}  // namespace pullcache
