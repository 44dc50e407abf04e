#pragma once
// Small string helpers shared by parsers.

#include <string>
#include <string_view>

namespace pullcache {

// Without leading and trailing spaces, tabs, CR and LF.
std::string trimWhitespace(std::string_view s);
// ASCII lowercase (header names, config words); other bytes unchanged.
std::string asciiLower(std::string s);

}  // namespace pullcache
