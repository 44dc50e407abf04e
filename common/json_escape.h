#pragma once
// JSON string escaping for log lines written without a JSON library on the hot path.
#include <string>
#include <string_view>

namespace pullcache {

// Appends `s` to `out` escaped for the inside of a JSON string (no surrounding quotes): quote,
// backslash and control characters; well-formed UTF-8 passes through, and each byte that is not
// part of a well-formed sequence becomes \ufffd, so the output is always valid JSON.
void appendJsonEscaped(std::string& out, std::string_view s);

}  // namespace pullcache
