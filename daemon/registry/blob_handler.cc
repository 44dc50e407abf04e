#include "daemon/registry/blob_handler.h"

#include <charconv>
#include <cstdio>
#include <random>

#include "common/http_range.h"
#include "common/oci_error.h"

namespace pullcache::registry {
namespace {

void blobHeaders(HttpResponse& r, const Digest& digest) {
  r.headers.add("Content-Type", "application/octet-stream");
  r.headers.add("Docker-Content-Digest", digest.str());
  r.headers.add("Accept-Ranges", "bytes");
  r.headers.add("Cache-Control", "max-age=31536000, immutable");
}

// 206 multipart/byteranges (RFC 9110 §14.6): each range a part with its own Content-Range.
void multipartBody(HttpResponse& r, const std::vector<ByteRange>& ranges, std::uint64_t size) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char boundary[17];
  std::snprintf(boundary, sizeof boundary, "%016llx", static_cast<unsigned long long>(random()));
  r.status = 206;
  r.headers.set("Content-Type", std::string("multipart/byteranges; boundary=") + boundary);
  std::uint64_t length = 0;
  for (const auto& br : ranges) {
    HttpResponse::Part part;
    part.head =
        std::string("--") + boundary +
        "\r\nContent-Type: application/octet-stream\r\nContent-Range: " + br.contentRange(size) +
        "\r\n\r\n";
    part.offset = br.first;
    part.length = br.length();
    length += part.head.size() + part.length + 2;  // and its CRLF
    r.parts.push_back(std::move(part));
  }
  r.parts_end = std::string("--") + boundary + "--\r\n";
  r.content_length = length + r.parts_end.size();
}

}  // namespace

Task<Result<HttpResponse>> BlobHandler::serve(Route route, HttpRequest request,
                                              std::shared_ptr<const upstream::Upstream> up,
                                              RequestInfo& info) {
  const Digest& digest = route.reference.digest();  // the router gives blobs a digest
  HttpResponse r;
  blobHeaders(r, digest);

  if (request.method == "HEAD") {
    r.head = true;
    auto cached = d_.fetches.openCached(digest);
    if (!cached) co_return cached.error();
    if (cached.value()) {
      r.content_length = cached.value()->size;
      info.cache = CacheResult::kHit;
      co_return r;
    }
    if (auto size = d_.fetches.inflightSize(digest)) {
      r.content_length = *size;
      info.cache = CacheResult::kCoalesced;
      co_return r;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::string path = "blobs/" + digest.str();  // named: see common/blocking.h
    Headers no_headers;
    auto resp = co_await d_.client.request(up, "HEAD", route.name, std::move(path),
                                           std::move(no_headers), 0);
    if (!resp) co_return resp.error();
    if (resp.value().status != 200) {
      co_return upstream::upstreamStatusError(resp.value(), Errc::kBlobUnknown,
                                              "blob " + digest.str());
    }
    std::string_view cl = resp.value().headers.get("content-length");
    std::uint64_t size = 0;
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), size);
    if (cl.empty() || ec != std::errc() || p != cl.data() + cl.size()) {
      co_return fail(Errc::kUpstreamBadResponse, "upstream HEAD of a blob without Content-Length");
    }
    r.content_length = size;
    info.cache = CacheResult::kPassThrough;
    info.upstream_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    co_return r;
  }

  // From a peer (the peer port passes the header on; the registry port drops it): the members
  // this request passed through.
  std::vector<std::string> trail = parseTrail(request.headers.get(kTrailHeader));
  auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&t0] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0)
        .count();
  };
  std::string range_header(request.headers.get("range"));
  if (range_header.empty()) {
    auto opened = co_await d_.fetches.open(up, route.name, digest, std::move(trail));
    if (!opened) co_return opened.error();
    BlobOpenResult& blob = opened.value();
    if (blob.cache != CacheResult::kHit) info.upstream_ms = elapsed();
    info.cache = blob.cache;
    r.blob = std::move(blob.source);
    r.content_length = blob.size;
    co_return r;
  }
  // A range: served as soon as its bytes can come, cached or not (fetch_coordinator.h).
  auto opened = co_await d_.fetches.openRange(up, route.name, digest, std::move(range_header),
                                              std::move(trail));
  if (!opened && opened.error().code == Errc::kRangeInvalid) {
    HttpResponse bad;
    bad.status = 416;
    bad.headers.add("Content-Range", "bytes */" + opened.error().detail);
    bad.headers.add("Content-Type", "application/json");
    bad.body = ociErrorBody(Error{Errc::kRangeInvalid, "range not satisfiable"});
    bad.content_length = bad.body.size();
    co_return bad;
  }
  if (!opened) co_return opened.error();
  RangeOpenResult& ranged = opened.value();
  if (ranged.blob.cache != CacheResult::kHit) info.upstream_ms = elapsed();
  info.cache = ranged.blob.cache;
  r.blob = std::move(ranged.blob.source);
  const std::uint64_t size = ranged.blob.size;
  if (ranged.ranges.empty()) {
    r.content_length = size;
  } else if (ranged.ranges.size() == 1) {
    const ByteRange& br = ranged.ranges.front();
    r.status = 206;
    r.headers.add("Content-Range", br.contentRange(size));
    r.blob_offset = br.first;
    r.content_length = br.length();
  } else {
    multipartBody(r, ranged.ranges, size);
  }
  co_return r;
}

}  // namespace pullcache::registry
