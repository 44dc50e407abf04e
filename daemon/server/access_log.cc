#include "daemon/server/access_log.h"

#include <fmt/format.h>

#include "common/json_escape.h"

namespace pullcache::server {
namespace {

std::string_view orDash(std::string_view s) { return s.empty() ? std::string_view("-") : s; }

}  // namespace

std::string formatAccessLine(const AccessRecord& rec, AccessLogFormat format) {
  const HttpResponse& r = *rec.response;
  const RequestInfo& info = *rec.info;
  std::string out;
  out.reserve(256);
  if (format == AccessLogFormat::kText) {
    // Values are validated names, digests and tags, except the method and ns of a rejected
    // request: those are escaped so one line stays one line.
    auto field = [&out](std::string_view key, std::string_view value) {
      if (!out.empty()) out += ' ';
      out += key;
      out += '=';
      appendJsonEscaped(out, orDash(value));
    };
    field("listener", rec.listener);
    field("method", rec.method);
    field("route", routeKindName(info.route));
    field("ns", info.ns);
    field("repo", info.repository);
    field("ref", info.reference);
    fmt::format_to(std::back_inserter(out),
                   " status={} bytes={} complete={} cache={} upstream_ms={} ms={:.2f}", r.status,
                   rec.bytes, rec.complete, cacheResultName(info.cache), info.upstream_ms,
                   rec.duration_ms);
    return out;
  }
  auto field = [&out](std::string_view key, std::string_view value) {
    if (!out.empty()) out += ',';
    out += '"';
    out += key;
    out += "\":";
    if (value.empty()) {
      out += "null";
      return;
    }
    out += '"';
    appendJsonEscaped(out, value);
    out += '"';
  };
  field("listener", rec.listener);
  field("method", rec.method);
  field("route", routeKindName(info.route));
  field("ns", info.ns);
  field("repository", info.repository);
  field("reference", info.reference);
  field("cache",
        info.cache == CacheResult::kNone ? std::string_view() : cacheResultName(info.cache));
  fmt::format_to(std::back_inserter(out),
                 ",\"status\":{},\"bytes\":{},\"complete\":{},\"upstream_ms\":{},"
                 "\"duration_ms\":{:.3f}",
                 r.status, rec.bytes, rec.complete, info.upstream_ms, rec.duration_ms);
  return out;
}

}  // namespace pullcache::server
