#pragma once
// Registry host globs from the config: '*' matches any run of characters within one DNS
// label (it never crosses '.' or ':'); everything else matches itself, case-insensitively.
//   "*.dkr.ecr.*.amazonaws.com" matches "123.dkr.ecr.eu-west-1.amazonaws.com"
//   "docker.io" matches only "docker.io"

#include <string_view>

namespace pullcache {

bool hostGlobMatches(std::string_view glob, std::string_view host) noexcept;

}  // namespace pullcache
