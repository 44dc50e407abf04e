#include "daemon/auth/challenge.h"

namespace pullcache::auth {
namespace {

bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}
  void skipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool atEnd() const { return i_ >= s_.size(); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void advance() { ++i_; }
  std::size_t pos() const { return i_; }
  void seek(std::size_t p) { i_ = p; }
  std::string token() {
    std::string out;
    while (i_ < s_.size() && isTokenChar(s_[i_])) out.push_back(s_[i_++]);
    return out;
  }
  std::string bareValue() {
    std::string out;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != ' ' && s_[i_] != '\t')
      out.push_back(s_[i_++]);
    return out;
  }
  Result<std::string> quoted() {
    ++i_;  // opening quote
    std::string out;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (i_ >= s_.size()) break;
        c = s_[i_++];
      }
      out.push_back(c);
    }
    return fail(Errc::kUpstreamBadResponse, "unterminated quoted string in WWW-Authenticate");
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

Result<std::vector<Challenge>> parseChallenges(std::string_view header) {
  std::vector<Challenge> out;
  Parser p(header);
  while (true) {
    p.skipSpace();
    while (p.peek() == ',') {
      p.advance();
      p.skipSpace();
    }
    if (p.atEnd()) break;
    std::string scheme = p.token();
    if (scheme.empty())
      return fail(Errc::kUpstreamBadResponse, "malformed WWW-Authenticate header");
    Challenge ch;
    for (char c : scheme) ch.scheme.push_back(lower(c));
    // auth-params: name=value pairs until the next scheme (a token not followed by '=').
    while (true) {
      p.skipSpace();
      while (p.peek() == ',') {
        p.advance();
        p.skipSpace();
      }
      if (p.atEnd()) break;
      std::size_t mark = p.pos();
      std::string name = p.token();
      p.skipSpace();
      if (name.empty() || p.peek() != '=') {
        p.seek(mark);  // start of the next challenge (or token68, which registries do not use)
        if (name.empty())
          return fail(Errc::kUpstreamBadResponse, "malformed WWW-Authenticate parameter");
        break;
      }
      p.advance();  // '='
      p.skipSpace();
      std::string value;
      if (p.peek() == '"') {
        auto q = p.quoted();
        if (!q) return q.error();
        value = std::move(q).value();
      } else {
        value = p.bareValue();  // unquoted: up to the next ',' (some servers do not quote URLs)
      }
      std::string key;
      for (char c : name) key.push_back(lower(c));
      ch.params[key] = value;
    }
    out.push_back(std::move(ch));
  }
  if (out.empty()) return fail(Errc::kUpstreamBadResponse, "empty WWW-Authenticate header");
  return out;
}

}  // namespace pullcache::auth
