#include "common/reference.h"

#include "common/strings.h"

namespace pullcache {
namespace {

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool validComponent(std::string_view c) {
  if (c.empty() || !isLowerAlnum(c.front()) || !isLowerAlnum(c.back())) return false;
  std::size_t i = 0;
  while (i < c.size()) {
    if (isLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    // A separator run: ".", "_", "__" or "-+".
    std::size_t start = i;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (i == start || i >= c.size() || !isLowerAlnum(c[i])) return false;
  }
  return true;
}

}  // namespace

Result<void> validateName(std::string_view name) {
  if (name.empty()) return fail(Errc::kNameInvalid, "repository name is empty");
  if (name.size() > kMaxNameLength)
    return fail(Errc::kNameInvalid, "repository name is longer than 255 characters");
  std::size_t start = 0;
  while (true) {
    std::size_t slash = name.find('/', start);
    std::string_view component =
        name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    if (!validComponent(component)) {
      return fail(Errc::kNameInvalid, "invalid repository name component '" +
                                          quoteUntrusted(component) + "'");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return ok();
}

Result<void> validateTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128)
    return fail(Errc::kTagInvalid, "tag must be 1 to 128 characters");
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag[0])) return fail(Errc::kTagInvalid, "tag must start with a letter, digit or '_'");
  for (char c : tag.substr(1)) {
    if (!word(c) && c != '.' && c != '-')
      return fail(Errc::kTagInvalid, "tag contains an invalid character");
  }
  return ok();
}

Result<void> validateRegistryHost(std::string_view host) {
  if (host.empty() || host.size() > 253 + 6)
    return fail(Errc::kNameInvalid, "registry host is empty or too long");
  std::string_view name = host;
  std::string_view port;
  if (host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos)
      return fail(Errc::kNameInvalid, "unterminated IPv6 registry host");
    for (char c : host.substr(1, close - 1)) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.')) {
        return fail(Errc::kNameInvalid, "invalid IPv6 registry host");
      }
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail(Errc::kNameInvalid, "invalid registry host");
      port = rest.substr(1);
      if (port.empty()) return fail(Errc::kNameInvalid, "empty registry port");
    }
    name = {};
  } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (port.empty()) return fail(Errc::kNameInvalid, "empty registry port");
  }
  if (!port.empty()) {
    if (port.size() > 5) return fail(Errc::kNameInvalid, "invalid registry port");
    for (char c : port) {
      if (c < '0' || c > '9') return fail(Errc::kNameInvalid, "invalid registry port");
    }
    if (std::stoul(std::string(port)) > 65535)
      return fail(Errc::kNameInvalid, "invalid registry port");
  }
  if (!name.empty() || host.front() != '[') {
    if (name.empty()) return fail(Errc::kNameInvalid, "empty registry host name");
    // DNS labels: [a-z0-9-]+ separated by dots, not starting or ending with '-'.
    std::size_t start = 0;
    while (true) {
      std::size_t dot = name.find('.', start);
      std::string_view label =
          name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
      if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
        return fail(Errc::kNameInvalid, "invalid registry host name");
      }
      for (char c : label) {
        if (!isLowerAlnum(c) && c != '-')
          return fail(Errc::kNameInvalid, "invalid registry host name");
      }
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  return ok();
}

Result<Reference> Reference::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    auto d = Digest::parse(text);
    if (!d) return d.error();
    return Reference{std::move(d).value()};
  }
  auto t = validateTag(text);
  if (!t) return t.error();
  return Reference{std::string(text)};
}

std::string Reference::str() const { return isDigest() ? digest().str() : tag(); }

}  // namespace pullcache
