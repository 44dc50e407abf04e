#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace pullcache {
std::string base64Encode(std::string_view data);
std::optional<std::string> base64Decode(std::string_view data);  // nullopt if malformed
}  // namespace pullcache
