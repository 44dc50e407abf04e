#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace pullcache {
// Percent-encodes everything but RFC 3986 unreserved characters.
std::string urlEncode(std::string_view s);
// Decodes %XX and (in queries) '+'; nullopt on a malformed escape.
std::optional<std::string> urlDecode(std::string_view s, bool plus_is_space);
// `s` as it may appear in an error or a log line: userinfo ("user:password@" before a host, with
// or without a scheme) becomes "***@".
std::string hideUserinfo(std::string_view s);
// The value of `key` in a query string "a=1&b=2" (decoded), or nullopt.
std::optional<std::string> queryParam(std::string_view query, std::string_view key);
}  // namespace pullcache
