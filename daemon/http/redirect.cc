#include "daemon/http/redirect.h"

#include <curl/curl.h>

#include <memory>

namespace pullcache::http {

std::string urlHost(std::string_view url) {
  std::size_t start;
  if (url.starts_with("https://"))
    start = 8;
  else if (url.starts_with("http://"))
    start = 7;
  else
    return {};
  std::size_t end = url.find_first_of("/?#", start);
  std::string host(url.substr(start, end == std::string_view::npos ? url.npos : end - start));
  if (auto at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

bool isRedirectStatus(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

Result<std::string> resolveRedirect(const std::string& base, const std::string& location) {
  struct UrlDeleter {
    void operator()(CURLU* u) const { curl_url_cleanup(u); }
  };
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    return fail(Errc::kUpstreamBadResponse, "upstream redirected to an invalid URL");
  }
  char* out = nullptr;
  if (curl_url_get(u.get(), CURLUPART_URL, &out, 0) != CURLUE_OK || out == nullptr) {
    return fail(Errc::kUpstreamBadResponse, "upstream redirected to an invalid URL");
  }
  std::string resolved(out);
  curl_free(out);
  if (!resolved.starts_with("https://") && !resolved.starts_with("http://")) {
    return fail(Errc::kUpstreamBadResponse, "upstream redirected to a non-HTTP URL");
  }
  return resolved;
}

}  // namespace pullcache::http
