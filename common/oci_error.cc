#include "common/oci_error.h"

#include <nlohmann/json.hpp>

namespace pullcache {

OciError ociError(Errc errc) noexcept {
  switch (errc) {
    case Errc::kOk:
      return {200, ""};
    case Errc::kBlobUnknown:
      return {404, "BLOB_UNKNOWN"};
    case Errc::kManifestUnknown:
      return {404, "MANIFEST_UNKNOWN"};
    case Errc::kNameUnknown:
      return {404, "NAME_UNKNOWN"};
    case Errc::kNotFound:
      return {404, "NOT_FOUND"};
    case Errc::kManifestInvalid:
      return {502, "MANIFEST_INVALID"};
    case Errc::kNameInvalid:
      return {400, "NAME_INVALID"};
    case Errc::kTagInvalid:
      return {400, "TAG_INVALID"};
    case Errc::kDigestInvalid:
      return {400, "DIGEST_INVALID"};
    case Errc::kBadRequest:
      return {400, "UNSUPPORTED"};
    case Errc::kRangeInvalid:
      return {416, "BLOB_UNKNOWN"};
    // pullcache never asks its clients for credentials (it authenticates upstream itself), so an
    // upstream refusal is DENIED (403): containerd then tries the next host with its own.
    case Errc::kUnauthorized:
      return {403, "DENIED"};
    case Errc::kDenied:
      return {403, "DENIED"};
    case Errc::kTooManyRequests:
      return {429, "TOOMANYREQUESTS"};
    case Errc::kUnsupported:
      return {405, "UNSUPPORTED"};
    case Errc::kUpstreamUnavailable:
      return {503, "UNAVAILABLE"};
    case Errc::kUpstreamBadResponse:
      return {502, "UNKNOWN"};
    case Errc::kDigestMismatch:
      return {502, "DIGEST_INVALID"};
    case Errc::kTooLarge:
      return {502, "SIZE_INVALID"};
    case Errc::kStoreFull:
      return {503, "UNAVAILABLE"};
    case Errc::kStoreIo:
      return {503, "UNAVAILABLE"};
    case Errc::kTimeout:
      return {504, "UNAVAILABLE"};
    case Errc::kConfigInvalid:
      return {500, "UNKNOWN"};
    case Errc::kInternal:
      return {500, "UNKNOWN"};
    // Only the peer port answers this: a peer must present the cluster's token.
    case Errc::kPeerUnauthorized:
      return {401, "UNAUTHORIZED"};
  }
  return {500, "UNKNOWN"};
}

std::string ociErrorBody(const Error& error) {
  nlohmann::json body = {{"errors", nlohmann::json::array({{{"code", ociError(error.code).code},
                                                            {"message", error.message()}}})}};
  // Messages may quote what a client or an upstream sent: never throw on bytes that are not
  // UTF-8 (nlohmann's default), replace them.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pullcache
