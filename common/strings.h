#pragma once
// Small string helpers shared by parsers, and the rules for putting untrusted bytes into a
// message: whatever a client, an upstream or a file sent may be quoted in an error, a log line
// or a JSON body only through quoteUntrusted() (printable ASCII out, whatever came in), and a
// message cut to a length is cut with truncateUtf8() (never inside a UTF-8 sequence).

#include <string>
#include <string_view>

namespace pullcache {

// Without leading and trailing spaces, tabs, CR and LF.
std::string trimWhitespace(std::string_view s);
// ASCII lowercase (header names, config words); other bytes unchanged.
std::string asciiLower(std::string s);

// `s` for a message: printable ASCII kept, every other byte as \xNN, at most `max_bytes` of
// input (then "..."). The result is printable ASCII, so it is valid UTF-8, JSON-safe once
// escaped, and cannot forge a log line.
std::string quoteUntrusted(std::string_view s, std::size_t max_bytes = 64);

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool validUtf8(std::string_view s) noexcept;

// The length of the well-formed UTF-8 sequence at the start of `s`, or 0 when it is not one.
std::size_t utf8SequenceLength(std::string_view s) noexcept;

// Cuts `s` to at most `max_bytes` without splitting a UTF-8 sequence.
void truncateUtf8(std::string& s, std::size_t max_bytes);

}  // namespace pullcache
