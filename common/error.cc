#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace pullcache {
namespace {

std::string_view errcName(Errc e) noexcept {
  switch (e) {
    case Errc::kOk:
      return "ok";
    case Errc::kBlobUnknown:
      return "blob unknown";
    case Errc::kManifestUnknown:
      return "manifest unknown";
    case Errc::kManifestInvalid:
      return "manifest invalid";
    case Errc::kNameUnknown:
      return "name unknown";
    case Errc::kNameInvalid:
      return "name invalid";
    case Errc::kTagInvalid:
      return "tag invalid";
    case Errc::kDigestInvalid:
      return "digest invalid";
    case Errc::kRangeInvalid:
      return "range not satisfiable";
    case Errc::kUnauthorized:
      return "unauthorized";
    case Errc::kDenied:
      return "denied";
    case Errc::kTooManyRequests:
      return "too many requests";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kNotFound:
      return "not found";
    case Errc::kBadRequest:
      return "bad request";
    case Errc::kUpstreamUnavailable:
      return "upstream unavailable";
    case Errc::kUpstreamBadResponse:
      return "bad upstream response";
    case Errc::kDigestMismatch:
      return "digest mismatch";
    case Errc::kTooLarge:
      return "too large";
    case Errc::kStoreFull:
      return "cache store full";
    case Errc::kStoreIo:
      return "cache store I/O error";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kConfigInvalid:
      return "invalid configuration";
    case Errc::kInternal:
      return "internal error";
    case Errc::kPeerUnauthorized:
      return "peer not authenticated";
  }
  return "unknown error";
}

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pullcache"; }
  std::string message(int ev) const override {
    return std::string(errcName(static_cast<Errc>(ev)));
  }
};

}  // namespace

const std::error_category& pullcacheCategory() noexcept {
  static const Category kCategory;
  return kCategory;
}

bool Error::retryable() const noexcept {
  switch (code) {
    case Errc::kTooManyRequests:
    case Errc::kUpstreamUnavailable:
    case Errc::kTimeout:
    case Errc::kStoreFull:
    case Errc::kStoreIo:
    case Errc::kDigestMismatch:  // a flaky transfer; the next fetch may be right
      return true;
    default:
      return false;
  }
}

std::string Error::message() const {
  std::string out(errcName(code));
  if (!detail.empty()) {
    out += ": ";
    out += detail;
  }
  return out;
}

Error systemError(int err, std::string_view what) {
  Errc code = (err == ENOSPC || err == EDQUOT) ? Errc::kStoreFull : Errc::kStoreIo;
  std::string detail(what);
  detail += ": ";
  detail += std::strerror(err);  // NOLINT(concurrency-mt-unsafe): glibc strerror is thread-safe
  return Error{code, std::move(detail)};
}

}  // namespace pullcache
