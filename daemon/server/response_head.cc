#include "daemon/server/response_head.h"

#include <boost/beast/http/status.hpp>

namespace pullcache::server {

std::string formatResponseHead(const HttpResponse& r, unsigned version, bool keep_alive,
                               std::uint64_t content_length) {
  std::string out;
  out.reserve(256);
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  const auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(r.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  const auto& entries = r.headers.entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [name, value] = entries[i];
    if (iequals(name, "content-length") || iequals(name, "connection")) continue;
    // A name given twice: the last value, as Beast's set() kept it.
    bool later = false;
    for (std::size_t j = i + 1; j < entries.size() && !later; ++j)
      later = iequals(entries[j].first, name);
    if (later) continue;
    out += name;
    out += ": ";
    for (char c : value) out += c == '\r' || c == '\n' ? ' ' : c;
    out += "\r\n";
  }
  out += "Content-Length: ";
  out += std::to_string(content_length);
  out += "\r\n";
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

}  // namespace pullcache::server
