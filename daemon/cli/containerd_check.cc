#include "daemon/cli/containerd_check.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/fs.h"

namespace pullcache::cli {

// ---- toml -------------------------------------------------------------------------------------

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

// ---- decision ---------------------------------------------------------------------------------

std::optional<ContainerdVersion> parseContainerdVersion(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') ++i;
    std::string_view token = text.substr(start, i - start);
    std::string_view digits = token;
    if (digits.starts_with('v')) digits.remove_prefix(1);
    if (digits.empty() || digits[0] < '0' || digits[0] > '9') continue;
    int parts[3] = {0, 0, 0};
    std::size_t k = 0;
    int n = 0;
    for (std::size_t j = 0; j <= digits.size() && n < 3; ++j) {
      if (j < digits.size() && digits[j] >= '0' && digits[j] <= '9') {
        parts[n] = parts[n] * 10 + (digits[j] - '0');
        if (parts[n] > 100000) return std::nullopt;
        ++k;
        continue;
      }
      if (k == 0) break;
      ++n;
      k = 0;
      if (j >= digits.size() || digits[j] != '.') break;
    }
    if (n < 2) continue;  // needs at least major.minor
    return ContainerdVersion{parts[0], parts[1], parts[2], std::string(token)};
  }
  return std::nullopt;
}

std::string_view severityName(Severity s) noexcept {
  switch (s) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarn:
      return "warn";
    case Severity::kFail:
      return "FAIL";
  }
  return "?";
}

bool ContainerdReport::broken() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kFail; });
}

bool ContainerdReport::warned() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kWarn; });
}

namespace {

constexpr std::string_view kV3Images = "io.containerd.cri.v1.images";
constexpr std::string_view kV2Cri = "io.containerd.grpc.v1.cri";
constexpr std::string_view kDefaultConfigPath22 = "/etc/containerd/certs.d:/etc/docker/certs.d";

std::string tableName(const toml::Path& p) {
  std::string out;
  for (const auto& part : p) {
    const bool bare = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    });
    out += (out.empty() ? "" : ".") + (bare ? part : "\"" + part + "\"");
  }
  return "[" + out + "]";
}

toml::Path child(toml::Path p, std::initializer_list<std::string_view> more) {
  for (auto m : more) p.emplace_back(m);
  return p;
}

std::vector<std::string> splitList(std::string_view value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto colon = value.find(':', start);
    auto part = value.substr(start, colon == std::string_view::npos ? value.npos : colon - start);
    if (!part.empty()) out.emplace_back(part);
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return out;
}

bool sameDir(const std::string& a, const std::string& b) {
  auto norm = [](const std::string& p) {
    auto s = std::filesystem::path(p).lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  return norm(a) == norm(b);
}

// The CRI image settings, each with the table it comes from (or should be written to).
struct CriSettings {
  toml::Path images;    // where use_local_image_pull and the image settings live
  toml::Path registry;  // where config_path lives
  toml::Path layers;    // where discard_unpacked_layers / disable_snapshot_annotations live
  std::optional<std::string> config_path;
  std::optional<bool> use_local_image_pull;
  std::optional<bool> discard_unpacked_layers;
  std::optional<bool> disable_snapshot_annotations;
  std::optional<std::int64_t> max_concurrent_downloads;
  std::optional<bool> image_pull_with_sync_fs;
  bool mirrors = false;
  bool configs = false;
  bool auths = false;
};

// Which tables containerd reads for CRI, given the file's version and containerd's.
CriSettings criSettings(const toml::Document& doc, std::int64_t file_version,
                        const std::optional<ContainerdVersion>& v) {
  const toml::Path v3{"plugins", std::string(kV3Images)};
  const toml::Path v2{"plugins", file_version <= 1 ? std::string("cri") : std::string(kV2Cri)};
  CriSettings s;
  auto readFrom = [&](const toml::Path& images, const toml::Path& registry,
                      const toml::Path& layers) {
    if (!s.config_path) s.config_path = doc.string(child(registry, {"config_path"}));
    s.mirrors = s.mirrors || doc.hasValuesUnder(child(registry, {"mirrors"}));
    s.configs = s.configs || doc.hasValuesUnder(child(registry, {"configs"}));
    s.auths = s.auths || doc.hasValuesUnder(child(registry, {"auths"}));
    if (!s.discard_unpacked_layers)
      s.discard_unpacked_layers = doc.boolean(child(layers, {"discard_unpacked_layers"}));
    if (!s.disable_snapshot_annotations)
      s.disable_snapshot_annotations = doc.boolean(child(layers, {"disable_snapshot_annotations"}));
    if (!s.max_concurrent_downloads)
      s.max_concurrent_downloads = doc.integer(child(images, {"max_concurrent_downloads"}));
    if (!s.image_pull_with_sync_fs)
      s.image_pull_with_sync_fs = doc.boolean(child(images, {"image_pull_with_sync_fs"}));
  };
  if (file_version >= 3) {
    s.images = v3;
    s.registry = child(v3, {"registry"});
    s.layers = v3;
    readFrom(v3, s.registry, v3);
  } else {
    s.registry = child(v2, {"registry"});
    s.layers = child(v2, {"containerd"});
    // containerd 2.x copies the version 2 CRI settings into the version 3 images section;
    // what the version 2 section does not set comes from there (a whole registry table
    // replaces the images section's).
    const bool two = !v || v->major >= 2;
    s.images = two ? v3 : v2;
    readFrom(v2, s.registry, s.layers);
    if (two) {
      if (!doc.hasAnyUnder(s.registry)) {
        s.registry = child(v3, {"registry"});
        readFrom(v3, s.registry, v3);
      } else {
        readFrom(v3, child(v2, {"registry"}), v3);
      }
    }
  }
  if (!v || v->major >= 2)
    s.use_local_image_pull = doc.boolean(child(v3, {"use_local_image_pull"}));
  return s;
}

// Why containerd 2.1+ keeps CRI on the local pull path whatever use_local_image_pull says;
// empty when nothing does.
std::string localPullFallback(const CriSettings& s) {
  if (s.discard_unpacked_layers.value_or(false))
    return "discard_unpacked_layers = true (" + tableName(s.layers) + ")";
  if (!s.disable_snapshot_annotations.value_or(true))
    return "disable_snapshot_annotations = false (" + tableName(s.layers) + ")";
  if (s.mirrors) return "registry.mirrors (" + tableName(s.registry) + ")";
  if (s.configs) return "registry.configs (" + tableName(s.registry) + ")";
  if (s.auths) return "registry.auths (" + tableName(s.registry) + ")";
  if (s.max_concurrent_downloads && *s.max_concurrent_downloads != 3)
    return "max_concurrent_downloads = " + std::to_string(*s.max_concurrent_downloads) + " (" +
           tableName(s.images) + ")";
  if (s.image_pull_with_sync_fs.value_or(false))
    return "image_pull_with_sync_fs = true (" + tableName(s.images) + ")";
  return "";
}

bool listContains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

namespace {

// Everything but the read-only note; returns at the first finding that settles the verdict.
void decide(const ContainerdFacts& facts, ContainerdReport& report) {
  auto add = [&](Severity sev, std::string what, std::string detail) {
    report.findings.push_back({sev, std::move(what), std::move(detail)});
  };
  const std::string& file = facts.config_file;
  const std::string& certs = facts.certs_dir;
  const auto& v = facts.version;
  const std::string restart =
      ", then restart containerd (pullcache never edits " + file + " or restarts containerd)";

  if (v) {
    add(Severity::kOk, "version",
        "containerd " + v->text +
            (facts.version_source.empty() ? "" : " (" + facts.version_source + ")"));
  } else {
    add(Severity::kOk, "version",
        "unknown" + (facts.version_error.empty() ? "" : " (" + facts.version_error + ")") +
            ": the config is judged for every containerd version");
  }

  if (!facts.config_error.empty()) {
    add(Severity::kFail, "config", file + ": " + facts.config_error);
    return;
  }
  auto parsed = toml::parse(facts.config_text.value_or(""));
  if (!parsed) {
    add(Severity::kFail, "config",
        file + " is not valid TOML (" + parsed.error().detail +
            "): containerd refuses to start with it");
    return;
  }
  const toml::Document& doc = parsed.value();
  if (!facts.config_text) {
    add(Severity::kWarn, "config",
        "no " + file +
            ": containerd runs on its built-in defaults (pass the right path with "
            "--containerd-config if the node keeps it elsewhere)");
  }
  const std::int64_t file_version = doc.integer({"version"}).value_or(1);
  if (file_version >= 3 && v && v->major < 2) {
    add(Severity::kFail, "config",
        file + " is a version 3 file, which containerd " + v->text +
            " cannot read (version 3 needs containerd 2.0): write it as version = 2");
    return;
  }
  const CriSettings s = criSettings(doc, file_version, v);
  report.cri_section = tableName(s.images);
  const std::string reg = tableName(s.registry);

  // The CRI plugin itself must be on.
  if (const auto* dp = doc.find({"disabled_plugins"})) {
    if (const auto* list = std::get_if<std::vector<std::string>>(dp)) {
      for (const auto& name : {std::string("cri"), std::string(kV2Cri), std::string(kV3Images)}) {
        if (listContains(*list, name)) {
          add(Severity::kFail, "cri plugin",
              "disabled_plugins in " + file + " lists \"" + name +
                  "\": kubelet's image pulls do not go through this containerd's CRI at all. "
                  "Remove it from disabled_plugins" +
                  restart);
          return;
        }
      }
    }
  }

  std::string config_path = s.config_path.value_or("");
  bool defaulted = false;
  if (config_path.empty() && s.mirrors) {
    add(Severity::kFail, "config_path",
        "no config_path in " + reg +
            " but registry.mirrors is set: containerd uses those mirrors "
            "and reads no hosts.toml. Replace registry.mirrors with config_path = \"" +
            certs + "\"" + restart);
    return;
  }
  if (!config_path.empty() && s.mirrors) {
    add(Severity::kFail, "config_path",
        reg +
            " sets both config_path and registry.mirrors: containerd's CRI plugin refuses to "
            "load (\"mirrors cannot be set when config_path is provided\"). Remove "
            "registry.mirrors" +
            restart);
    return;
  }
  if (config_path.empty()) {
    if (v && v->atLeast(2, 2)) {
      config_path = std::string(kDefaultConfigPath22);
      defaulted = true;
    } else {
      add(Severity::kFail, "config_path",
          "no config_path in " + reg + " of " + file + ": containerd " +
              (v ? v->text : std::string("before 2.2")) +
              " reads no hosts.toml, so it never asks pullcache. Set config_path = \"" + certs +
              "\" in " + reg + restart);
      return;
    }
  }
  const std::vector<std::string> dirs = splitList(config_path);
  const bool includes = std::any_of(dirs.begin(), dirs.end(),
                                    [&](const std::string& d) { return sameDir(d, certs); });
  const std::string shown =
      "config_path = \"" + config_path + "\"" +
      (defaulted ? " (containerd 2.2's default: no config_path in " + reg + ")" : " in " + reg);
  if (!includes) {
    add(Severity::kFail, "config_path",
        shown + " does not include " + certs +
            ", where pullcache writes hosts.toml: containerd never asks pullcache. Set "
            "config_path = \"" +
            certs + "\" in " + reg + " (or give pullcache --certs-dir one of those directories)" +
            restart);
    return;
  }

  // containerd 2.1+: the transfer service, which takes config_path as one directory.
  const bool may_transfer = !v || v->atLeast(2, 1);
  const bool list = dirs.size() > 1;
  const std::string images = tableName(s.images);
  std::string path_kind = "the local pull path";
  if (may_transfer) {
    const std::string fallback = localPullFallback(s);
    const bool forced_local = s.use_local_image_pull.value_or(false);
    const std::string fix = "Set use_local_image_pull = true in " + images +
                            ", or config_path = \"" + certs + "\" (one directory) in " + reg +
                            restart;
    if (forced_local) {
      add(Severity::kOk, "transfer service", "not used: use_local_image_pull = true in " + images);
    } else if (!fallback.empty()) {
      if (list) {
        add(Severity::kWarn, "transfer service",
            std::string(v ? "containerd " + v->text : "containerd 2.1 and later") +
                " would pull through the transfer service, which reads config_path \"" +
                config_path + "\" as ONE directory (no hosts.toml found); only " + fallback +
                " keeps CRI on the local pull path. If that setting goes (Spegel, for one, needs "
                "discard_unpacked_layers = false), containerd stops using the mirror. " +
                fix);
      } else {
        add(Severity::kOk, "transfer service",
            "not used (" + fallback +
                " keeps CRI on the local pull path); config_path is one "
                "directory, so either path reads it");
      }
    } else if (list) {
      const std::string what =
          "pulls through the transfer service (use_local_image_pull is not true in " + images +
          "), which reads config_path \"" + config_path +
          "\" as ONE directory: no such directory, so no hosts.toml is read and containerd never "
          "asks pullcache. " +
          fix;
      if (v) {
        add(Severity::kFail, "transfer service", "containerd " + v->text + " " + what);
        return;
      }
      add(Severity::kWarn, "transfer service", "on containerd 2.1 and later, CRI " + what);
    } else {
      path_kind = v ? "the transfer service" : "the transfer service (2.1+) or the local pull path";
      add(Severity::kOk, "transfer service",
          std::string(v ? "in use" : "in use from containerd 2.1") +
              "; config_path is one directory, which it reads");
    }
    if (forced_local || !fallback.empty()) path_kind = "the local pull path";
  }

  add(Severity::kOk, "config_path",
      shown + " includes " + certs + ": CRI pulls read " + certs + "/<registry>/hosts.toml via " +
          path_kind);
}

}  // namespace

ContainerdReport checkContainerd(const ContainerdFacts& facts) {
  ContainerdReport report;
  decide(facts, report);
  // Whatever needs changing in the file: can it be changed there?
  if (!facts.config_writable && facts.config_text) {
    const bool needs_edit = report.broken() || report.warned();
    report.findings.push_back(
        {needs_edit ? Severity::kWarn : Severity::kOk, "read-only",
         facts.config_file +
             " is read-only (no write permission for anyone, or a read-only mount)" +
             (needs_edit ? std::string(": the settings above cannot be changed in the file. On "
                                       "Bottlerocket the file is generated from its settings API "
                                       "(settings.container-registry, settings.kubernetes), which "
                                       "does not expose use_local_image_pull "
                                       "(bottlerocket-os/bottlerocket#4710)")
                         : std::string("; nothing needs changing"))});
  }

  return report;
}

// ---- facts (I/O) ------------------------------------------------------------------------------

std::optional<std::string> versionFromGrpcBody(std::string_view body) {
  // gRPC message: 1 byte compressed flag, 4 bytes big-endian length, then the protobuf
  // containerd.services.version.v1.VersionResponse {string version = 1; string revision = 2;}.
  if (body.size() < 5 || body[0] != 0) return std::nullopt;
  std::uint32_t len = 0;
  for (int k = 1; k <= 4; ++k) len = (len << 8) | static_cast<unsigned char>(body[k]);
  std::string_view msg = body.substr(5);
  if (msg.size() < len) return std::nullopt;
  msg = msg.substr(0, len);
  std::size_t i = 0;
  auto varint = [&](std::uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64 && i < msg.size(); shift += 7) {
      auto b = static_cast<unsigned char>(msg[i++]);
      out |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  while (i < msg.size()) {
    std::uint64_t tag = 0;
    if (!varint(tag)) return std::nullopt;
    const auto wire = tag & 7;
    if (wire == 2) {
      std::uint64_t n = 0;
      if (!varint(n) || n > msg.size() - i) return std::nullopt;
      if ((tag >> 3) == 1) return std::string(msg.substr(i, n));
      i += n;
    } else if (wire == 0) {
      std::uint64_t ignored = 0;
      if (!varint(ignored)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

namespace {

std::size_t appendBody(char* data, std::size_t size, std::size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > 64 * 1024) return 0;
  body->append(data, size * n);
  return size * n;
}

std::size_t noteGrpcStatus(char* data, std::size_t size, std::size_t n, void* out) {
  std::string_view line(data, size * n);
  if (line.starts_with("grpc-status:") || line.starts_with("grpc-message:"))
    *static_cast<std::string*>(out) += std::string(line.substr(0, line.find('\r'))) + " ";
  return size * n;
}

// containerd.services.version.v1.Version/Version: gRPC, i.e. HTTP/2 with prior knowledge,
// over the unix socket.
Result<std::string> versionFromSocket(const std::string& socket) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return fail(Errc::kInternal, "curl_easy_init failed");
  static const char kEmptyMessage[5] = {0, 0, 0, 0, 0};  // uncompressed, length 0
  std::string body;
  std::string status;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/grpc");
  headers = curl_slist_append(headers, "TE: trailers");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers,
                                                                           curl_slist_free_all);
  curl_easy_setopt(h.get(), CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(h.get(), CURLOPT_URL,
                   "http://localhost/containerd.services.version.v1.Version/Version");
  curl_easy_setopt(h.get(), CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  curl_easy_setopt(h.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, kEmptyMessage);
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE, 5L);
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, noteGrpcStatus);
  curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &status);
  CURLcode rc = curl_easy_perform(h.get());
  if (rc != CURLE_OK) return fail(Errc::kUpstreamUnavailable, curl_easy_strerror(rc));
  long code = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &code);
  auto version = versionFromGrpcBody(body);
  if (code != 200 || !version)
    return fail(Errc::kUpstreamBadResponse, "HTTP " + std::to_string(code) +
                                                (status.empty() ? "" : " " + status) +
                                                "without a version");
  return *version;
}

Result<std::string> versionFromBinary() {
  std::FILE* p = ::popen("containerd --version 2>/dev/null", "r");
  if (p == nullptr) return fail(Errc::kInternal, "popen failed");
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr && out.size() < 4096) out += buf;
  const int status = ::pclose(p);
  if (status != 0 || out.empty()) return fail(Errc::kNotFound, "containerd --version failed");
  return out;
}

}  // namespace

ContainerdFacts readContainerdFacts(const ContainerdPaths& paths) {
  ContainerdFacts f;
  f.config_file = paths.config;
  f.certs_dir = paths.certs_dir;
  const std::string config = paths.host_root + paths.config;
  struct stat st {};
  if (::stat(config.c_str(), &st) == 0) {
    auto text = readFile(config, 4u << 20);
    if (text) {
      f.config_text = std::move(text).value();
    } else {
      f.config_error = text.error().message();
    }
    struct statvfs vfs {};
    const bool ro_mount = ::statvfs(config.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
    f.config_writable = (st.st_mode & 0222) != 0 && !ro_mount;
  } else if (errno != ENOENT) {
    f.config_error = std::string("cannot read it: ") + std::strerror(errno);
  }

  const std::string socket = paths.host_root + paths.address;
  auto from_socket = versionFromSocket(socket);
  std::string why =
      "socket " + paths.address + ": " + (from_socket ? std::string() : from_socket.error().detail);
  if (from_socket) {
    f.version = parseContainerdVersion(from_socket.value());
    f.version_source = "version API on " + paths.address;
    if (!f.version) why = "socket answered an unreadable version '" + from_socket.value() + "'";
  }
  if (!f.version && paths.host_root.empty()) {
    if (auto bin = versionFromBinary()) {
      f.version = parseContainerdVersion(bin.value());
      if (f.version) f.version_source = "containerd --version; " + why;
    }
  }
  if (!f.version) f.version_error = why;
  return f;
}

}  // namespace pullcache::cli
