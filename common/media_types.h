#pragma once
// Manifest media types pullcache understands, and Accept-header matching.

#include <string>
#include <string_view>

namespace pullcache::media {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";

// What pullcache asks an upstream for: every manifest and index type it can cache.
inline constexpr std::string_view kManifestAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// Whether an Accept header value admits `type`. An empty header accepts everything, as do
// "*/*" and "application/*". Parameters (";q=...") are ignored except q=0, which excludes.
bool accepts(std::string_view accept_header, std::string_view type) noexcept;

// The media type a manifest body declares in its "mediaType" field, if any.
std::string declaredMediaType(std::string_view body);

}  // namespace pullcache::media
