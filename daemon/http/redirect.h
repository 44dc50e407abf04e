#pragma once
// URL helpers for following upstream redirects by hand (per-host auth, hop limit).

#include <string>
#include <string_view>

#include "common/error.h"

namespace pullcache::http {

inline constexpr int kMaxRedirects = 5;

// "host[:port]" of an absolute http(s) URL, lowercase; empty if it is not one.
std::string urlHost(std::string_view url);
// Resolves a Location header against the URL that answered it. Only http and https results are
// accepted (kUpstreamBadResponse otherwise).
Result<std::string> resolveRedirect(const std::string& base, const std::string& location);
bool isRedirectStatus(int status) noexcept;

}  // namespace pullcache::http
