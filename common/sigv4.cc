#include "common/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

#include "common/digest.h"

namespace pullcache {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Trim, and fold runs of spaces into one (SigV4's canonical header value).
std::string canonicalValue(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string canonicalQuery(const std::string& query) {
  if (query.empty()) return {};
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start <= query.size()) {
    auto amp = query.find('&', start);
    std::string part =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = part.find('=');
    params.emplace_back(part.substr(0, eq), eq == std::string::npos ? "" : part.substr(eq + 1));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string formatTime(std::chrono::system_clock::time_point now, const char* format) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

}  // namespace

std::string hexLower(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string hmacSha256(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

SigV4Signature signV4(const SigV4Request& request, const AwsCredentials& credentials,
                      const std::string& region, const std::string& service,
                      std::chrono::system_clock::time_point now) {
  SigV4Signature s;
  s.amz_date = formatTime(now, "%Y%m%dT%H%M%SZ");
  const std::string date = s.amz_date.substr(0, 8);
  s.payload_hash = std::string(sha256Of(request.payload).hex());

  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("host", request.host);
  headers.emplace_back("x-amz-date", s.amz_date);
  if (!credentials.session_token.empty())
    headers.emplace_back("x-amz-security-token", credentials.session_token.reveal());
  for (const auto& [name, value] : request.headers) {
    std::string n = lower(name);
    if (n == "host" || n == "x-amz-date" || n == "authorization") continue;
    headers.emplace_back(std::move(n), canonicalValue(value));
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  std::string signed_headers;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const auto& [name, value] = headers[i];
    // Repeated names join their values with commas, in order.
    if (i > 0 && headers[i - 1].first == name) {
      canonical_headers.back() = ',';
      canonical_headers += value + "\n";
      continue;
    }
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  s.canonical_request = request.method + "\n" + request.path + "\n" +
                        canonicalQuery(request.query) + "\n" + canonical_headers + "\n" +
                        signed_headers + "\n" + s.payload_hash;
  const std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  s.string_to_sign = "AWS4-HMAC-SHA256\n" + s.amz_date + "\n" + scope + "\n" +
                     std::string(sha256Of(s.canonical_request).hex());

  std::string key = hmacSha256("AWS4" + credentials.secret_access_key.reveal(), date);
  key = hmacSha256(key, region);
  key = hmacSha256(key, service);
  key = hmacSha256(key, "aws4_request");
  s.signature = hexLower(hmacSha256(key, s.string_to_sign));
  s.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                    ", SignedHeaders=" + signed_headers + ", Signature=" + s.signature;
  return s;
}

}  // namespace pullcache
