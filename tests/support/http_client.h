#pragma once
// A blocking HTTP client for tests (libcurl easy).
#include <map>
#include <string>
#include <vector>

namespace pullcache::testing {

struct HttpResult {
  int status = 0;     // 0: transport failure
  int curl_code = 0;  // CURLcode; e.g. 18 (partial file) when the server closed short
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  [[nodiscard]] std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

HttpResult httpRequest(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers = {}, long timeout_ms = 60'000);
inline HttpResult httpGet(const std::string& url, const std::vector<std::string>& headers = {}) {
  return httpRequest("GET", url, headers);
}

// The OCI error code of a JSON error body, or "".
std::string ociErrorCode(const std::string& body);

}  // namespace pullcache::testing
