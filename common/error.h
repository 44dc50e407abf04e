#pragma once
// Error vocabulary of pullcache: one enum, registered as a std::error_category, and a
// Result<T> that carries either a value or an Error (code + human-readable detail).
//
// Exceptions are used only at start-up and for bugs. Everything on the request path returns
// Result<T>: a cache miss, an upstream 404, an auth failure, a digest mismatch, ENOSPC.

#include <boost/outcome/basic_result.hpp>
#include <boost/outcome/policy/terminate.hpp>
#include <boost/outcome/success_failure.hpp>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

namespace pullcache {

enum class Errc {
  kOk = 0,
  // OCI distribution-spec error codes.
  kBlobUnknown,
  kManifestUnknown,
  kManifestInvalid,
  kNameUnknown,
  kNameInvalid,
  kTagInvalid,
  kDigestInvalid,
  kRangeInvalid,
  kUnauthorized,
  kDenied,
  kTooManyRequests,
  kUnsupported,
  kNotFound,
  kBadRequest,
  // Internal.
  kUpstreamUnavailable,  // connect/transport failure or 5xx: retrying later can help
  kUpstreamBadResponse,  // upstream answered something we cannot use
  kDigestMismatch,       // content did not hash to its digest: never cached
  kTooLarge,             // a body exceeded its limit
  kStoreFull,            // ENOSPC / quota
  kStoreIo,              // other local I/O error
  kTimeout,
  kConfigInvalid,
  kInternal,
  kPeerUnauthorized,  // the cluster peer port's token is missing or wrong (401 there)
};

const std::error_category& pullcacheCategory() noexcept;

inline std::error_code make_error_code(
    Errc e) noexcept {  // NOLINT(readability-identifier-naming): ADL hook
  return {static_cast<int>(e), pullcacheCategory()};
}

// An error: what went wrong (code) and for whom (detail, safe to log and to show a client:
// never put a credential in it).
struct Error {
  Errc code = Errc::kInternal;
  std::string detail;
  // Seconds a client should wait before asking again (an upstream's Retry-After); 0: unsaid.
  std::uint32_t retry_after_s = 0;

  // Whether trying the same operation again later can succeed.
  [[nodiscard]] bool retryable() const noexcept;
  [[nodiscard]] std::string message() const;
};

template <typename T>
using Result = boost::outcome_v2::basic_result<T, Error, boost::outcome_v2::policy::terminate>;

inline auto fail(Errc code, std::string detail = {}) {
  return boost::outcome_v2::failure(Error{code, std::move(detail)});
}
inline auto ok() { return boost::outcome_v2::success(); }

// errno -> Error with the operation named in the detail.
Error systemError(int err, std::string_view what);

}  // namespace pullcache

template <>
struct std::is_error_code_enum<pullcache::Errc> : std::true_type {};
