#pragma once
// The status line and header block of every response, formatted in one string: small answers
// (manifests, errors, HEADs) go out as this plus the body in one write, blobs as this and then
// sendfile; no Beast serializer, which profiling showed to be a large share of a cached manifest
// GET's CPU.

#include <cstdint>
#include <string>

#include "common/http_message.h"

namespace pullcache::server {

// `version` is 10 or 11. Keep-alive is said the way each version needs ("Connection: close" on
// 1.1 when not kept, "Connection: keep-alive" on 1.0 when kept). Content-Length is
// `content_length`; the response's own Content-Length and Connection headers, if any, are
// replaced. CR and LF in a header value become spaces, so no value can start a header of its own.
std::string formatResponseHead(const HttpResponse& r, unsigned version, bool keep_alive,
                               std::uint64_t content_length);

}  // namespace pullcache::server
