#include "daemon/cli/toml_reader.h"

#include <algorithm>
#include <cstring>

namespace pullcache::cli {

namespace toml {
namespace {

bool isBareKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A recursive-descent reader over the whole text (so arrays may span lines). Errors carry the
// line they were found on.
class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<void> run(std::map<Path, Value>& values, std::vector<Path>& tables) {
    Path table;
    std::map<Path, int> array_tables;  // [[x]] -> how many seen
    for (;;) {
      skipBlankLines();
      if (eof()) return ok();
      if (peek() == '[') {
        const bool array = s_.substr(i_).starts_with("[[");
        i_ += array ? 2 : 1;
        auto key = parseKey();
        if (!key) return key.error();
        skipSpaces();
        if (!consume(array ? "]]" : "]")) return error("expected ']' after the table name");
        table = key.value();
        if (array) {
          // Each [[x]] element is a table of its own: keys go below x/#n.
          table.push_back("#" + std::to_string(array_tables[key.value()]++));
        }
        tables.push_back(table);
      } else {
        auto key = parseKey();
        if (!key) return key.error();
        skipSpaces();
        if (!consume("=")) return error("expected '=' after a key");
        skipSpaces();
        auto value = parseValue(0);
        if (!value) return value.error();
        Path full = table;
        full.insert(full.end(), key.value().begin(), key.value().end());
        if (!values.emplace(full, std::move(value).value()).second)
          return error("duplicate key " + join(full));
      }
      if (auto e = endOfLine(); !e) return e;
    }
  }

 private:
  static std::string join(const Path& p) {
    std::string out;
    for (const auto& part : p) out += (out.empty() ? "" : ".") + part;
    return out;
  }
  [[nodiscard]] bool eof() const { return i_ >= s_.size(); }
  [[nodiscard]] char peek() const { return eof() ? '\0' : s_[i_]; }
  bool consume(std::string_view token) {
    if (!s_.substr(i_).starts_with(token)) return false;
    i_ += token.size();
    return true;
  }
  Error error(const std::string& what) const {
    return Error{Errc::kConfigInvalid, "line " + std::to_string(line_) + ": " + what};
  }
  void skipSpaces() {
    while (!eof() && (peek() == ' ' || peek() == '\t')) ++i_;
  }
  void skipComment() {
    if (peek() != '#') return;
    while (!eof() && peek() != '\n') ++i_;
  }
  // Spaces, comments and newlines (between statements, and inside arrays).
  void skipBlankLines() {
    for (;;) {
      skipSpaces();
      skipComment();
      if (peek() == '\r' && s_.substr(i_).starts_with("\r\n")) ++i_;
      if (peek() != '\n') return;
      ++i_;
      ++line_;
    }
  }
  Result<void> endOfLine() {
    skipSpaces();
    skipComment();
    if (eof()) return ok();
    if (peek() == '\r') ++i_;
    if (peek() != '\n') return error("unexpected text after a value");
    ++i_;
    ++line_;
    return ok();
  }

  Result<Path> parseKey() {
    Path key;
    for (;;) {
      skipSpaces();
      if (peek() == '"' || peek() == '\'') {
        if (s_.substr(i_).starts_with("\"\"\"") || s_.substr(i_).starts_with("'''"))
          return error("a key cannot be a multi-line string");
        auto part = peek() == '"' ? basicString() : literalString();
        if (!part) return part.error();
        key.push_back(std::move(part).value());
      } else {
        std::size_t start = i_;
        while (!eof() && isBareKeyChar(peek())) ++i_;
        if (i_ == start) return error("expected a key");
        key.emplace_back(s_.substr(start, i_ - start));
      }
      skipSpaces();
      if (peek() != '.') return key;
      ++i_;
    }
  }

  Result<std::string> basicString() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (eof() || peek() == '\n') return error("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      auto esc = escape(out);
      if (!esc) return esc.error();
    }
  }

  Result<void> escape(std::string& out) {
    if (eof()) return error("unterminated string");
    char e = s_[i_++];
    switch (e) {
      case 'b':
        out += '\b';
        return ok();
      case 't':
        out += '\t';
        return ok();
      case 'n':
        out += '\n';
        return ok();
      case 'f':
        out += '\f';
        return ok();
      case 'r':
        out += '\r';
        return ok();
      case 'e':
        out += '\x1b';
        return ok();
      case '"':
        out += '"';
        return ok();
      case '\\':
        out += '\\';
        return ok();
      case 'u':
      case 'U': {
        const std::size_t n = e == 'u' ? 4 : 8;
        if (i_ + n > s_.size()) return error("short \\" + std::string(1, e) + " escape");
        std::uint32_t cp = 0;
        for (std::size_t k = 0; k < n; ++k) {
          char h = s_[i_ + k];
          int v = h >= '0' && h <= '9'   ? h - '0'
                  : h >= 'a' && h <= 'f' ? h - 'a' + 10
                  : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                         : -1;
          if (v < 0) return error("bad \\" + std::string(1, e) + " escape");
          cp = cp * 16 + static_cast<std::uint32_t>(v);
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return error("bad code point");
        i_ += n;
        appendUtf8(out, cp);
        return ok();
      }
      default:
        return error(std::string("unknown escape \\") + e);
    }
  }

  Result<std::string> literalString() {
    ++i_;
    std::size_t start = i_;
    while (!eof() && peek() != '\'' && peek() != '\n') ++i_;
    if (peek() != '\'') return error("unterminated string");
    std::string out(s_.substr(start, i_ - start));
    ++i_;
    return out;
  }

  Result<std::string> multiLineString(bool basic) {
    const std::string_view close = basic ? "\"\"\"" : "'''";
    i_ += 3;
    // A newline right after the opening quotes is not part of the string.
    if (consume("\r\n") || consume("\n")) ++line_;
    std::string out;
    for (;;) {
      if (eof()) return error("unterminated multi-line string");
      if (s_.substr(i_).starts_with(close)) {
        // Up to two quotes right before the closing three belong to the string.
        std::size_t q = 0;
        while (i_ + q < s_.size() && s_[i_ + q] == close[0] && q < 5) ++q;
        out.append(q - 3, close[0]);
        i_ += q;
        return out;
      }
      char c = s_[i_++];
      if (c == '\n') ++line_;
      if (!basic || c != '\\') {
        out += c;
        continue;
      }
      // A backslash at the end of a line trims the newline and the whitespace after it.
      std::size_t j = i_;
      while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t')) ++j;
      if (j < s_.size() && (s_[j] == '\n' || s_[j] == '\r')) {
        i_ = j;
        while (!eof() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
          if (peek() == '\n') ++line_;
          ++i_;
        }
        continue;
      }
      auto esc = escape(out);
      if (!esc) return esc.error();
    }
  }

  Result<Value> parseValue(int depth) {
    if (depth > 32) return error("values nested too deeply");
    if (eof()) return error("expected a value");
    const char c = peek();
    if (c == '"') {
      auto str = s_.substr(i_).starts_with("\"\"\"") ? multiLineString(true) : basicString();
      if (!str) return str.error();
      return Value{std::move(str).value()};
    }
    if (c == '\'') {
      auto str = s_.substr(i_).starts_with("'''") ? multiLineString(false) : literalString();
      if (!str) return str.error();
      return Value{std::move(str).value()};
    }
    if (c == '[') return parseArray(depth);
    if (c == '{') return parseInlineTable(depth);
    std::size_t start = i_;
    while (!eof() && peek() != ' ' && peek() != '\t' && peek() != '\n' && peek() != '\r' &&
           peek() != ',' && peek() != ']' && peek() != '}' && peek() != '#')
      ++i_;
    std::string_view token = s_.substr(start, i_ - start);
    // A local date-time may have one space between date and time ("1979-05-27 07:32:00").
    if (token.size() == 10 && token[4] == '-' && peek() == ' ' && i_ + 1 < s_.size() &&
        s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9') {
      ++i_;
      while (!eof() && peek() != ' ' && peek() != '\t' && peek() != '\n' && peek() != '\r' &&
             peek() != ',' && peek() != ']' && peek() != '}' && peek() != '#')
        ++i_;
      return Value{Other{}};
    }
    if (token == "true") return Value{true};
    if (token == "false") return Value{false};
    if (token.empty()) return error("expected a value");
    if (auto n = integer(token)) return Value{*n};
    if (std::all_of(token.begin(), token.end(),
                    [](char ch) {
                      return (ch >= '0' && ch <= '9') || ch == '_' || ch == '+' || ch == '-';
                    }) &&
        token.find('-', 1) == std::string_view::npos)
      return error("invalid value '" + std::string(token) + "'");  // 01, 1__0, overflow
    // Floats, inf/nan, dates and times: well-formed enough if they use their characters.
    const bool numeric_like = std::all_of(token.begin(), token.end(),
                                          [](char ch) {
                                            return (ch >= '0' && ch <= '9') || ch == '.' ||
                                                   ch == '-' || ch == '+' || ch == ':' ||
                                                   ch == '_' || ch == 'e' || ch == 'E' ||
                                                   ch == 'T' || ch == 'Z' || ch == 't' || ch == 'z';
                                          }) ||
                              token == "inf" || token == "+inf" || token == "-inf" ||
                              token == "nan" || token == "+nan" || token == "-nan";
    if (!numeric_like || !((token[0] >= '0' && token[0] <= '9') || token[0] == '+' ||
                           token[0] == '-' || token[0] == 'i' || token[0] == 'n'))
      return error("invalid value '" + std::string(token) + "'");
    return Value{Other{}};
  }

  static std::optional<std::int64_t> integer(std::string_view t) {
    bool negative = false;
    if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
      negative = t[0] == '-';
      t.remove_prefix(1);
    }
    int base = 10;
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
      base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
      t.remove_prefix(2);
    } else if (t.size() > 1 && t[0] == '0') {
      return std::nullopt;  // no leading zeros in decimal
    }
    if (t.empty() || t.front() == '_' || t.back() == '_') return std::nullopt;
    std::int64_t v = 0;
    char prev = 0;
    for (char ch : t) {
      if (ch == '_') {
        if (prev == '_') return std::nullopt;
        prev = ch;
        continue;
      }
      int d = ch >= '0' && ch <= '9'   ? ch - '0'
              : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                       : 99;
      if (d >= base) return std::nullopt;
      if (v > (INT64_MAX - d) / base) return std::nullopt;
      v = v * base + d;
      prev = ch;
    }
    return negative ? -v : v;
  }

  Result<Value> parseArray(int depth) {
    ++i_;  // [
    std::vector<std::string> strings;
    bool only_strings = true;
    for (;;) {
      skipBlankLines();
      if (eof()) return error("unterminated array");
      if (peek() == ']') {
        ++i_;
        break;
      }
      auto v = parseValue(depth + 1);
      if (!v) return v.error();
      if (auto* str = std::get_if<std::string>(&v.value()))
        strings.push_back(std::move(*str));
      else
        only_strings = false;
      skipBlankLines();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == ']') {
        ++i_;
        break;
      }
      return error("expected ',' or ']' in an array");
    }
    if (!only_strings) return Value{Other{}};
    return Value{std::move(strings)};
  }

  // Read for well-formedness; the check never looks inside one.
  Result<Value> parseInlineTable(int depth) {
    ++i_;  // {
    skipSpaces();
    if (consume("}")) return Value{Other{}};
    for (;;) {
      skipBlankLines();
      auto key = parseKey();
      if (!key) return key.error();
      skipSpaces();
      if (!consume("=")) return error("expected '=' in an inline table");
      skipSpaces();
      auto v = parseValue(depth + 1);
      if (!v) return v.error();
      skipBlankLines();
      if (consume(",")) continue;
      if (consume("}")) return Value{Other{}};
      return error("expected ',' or '}' in an inline table");
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  int line_ = 1;
};

bool startsWith(const Path& path, const Path& prefix) {
  return path.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

}  // namespace

const Value* Document::find(const Path& path) const {
  auto it = values_.find(path);
  return it == values_.end() ? nullptr : &it->second;
}

std::optional<std::string> Document::string(const Path& path) const {
  const auto* v = find(path);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  return std::nullopt;
}

std::optional<bool> Document::boolean(const Path& path) const {
  const auto* v = find(path);
  if (v == nullptr) return std::nullopt;
  if (const auto* b = std::get_if<bool>(v)) return *b;
  return std::nullopt;
}

std::optional<std::int64_t> Document::integer(const Path& path) const {
  const auto* v = find(path);
  if (v == nullptr) return std::nullopt;
  if (const auto* n = std::get_if<std::int64_t>(v)) return *n;
  return std::nullopt;
}

bool Document::hasValuesUnder(const Path& prefix) const {
  auto it = values_.lower_bound(prefix);
  return it != values_.end() && startsWith(it->first, prefix);
}

bool Document::hasAnyUnder(const Path& prefix) const {
  for (auto it = values_.lower_bound(prefix); it != values_.end(); ++it) {
    if (!startsWith(it->first, prefix)) break;
    return true;
  }
  return std::any_of(tables_.begin(), tables_.end(),
                     [&](const Path& t) { return startsWith(t, prefix); });
}

Result<Document> parse(std::string_view text) {
  Document doc;
  Parser p(text);
  if (auto r = p.run(doc.values_, doc.tables_); !r) return r.error();
  return doc;
}

}  // namespace toml

}  // namespace pullcache::cli
