#pragma once
// Grammars of the OCI distribution spec, checked before a name, tag or digest touches the
// disk or an upstream URL:
//   name      [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//   tag       [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//   digest    see common/digest.h
// and of the registry host that containerd sends as ?ns= (host or host:port).

#include <string>
#include <string_view>
#include <variant>

#include "common/digest.h"
#include "common/error.h"

namespace pullcache {

inline constexpr std::size_t kMaxNameLength = 255;

Result<void> validateName(std::string_view name);
Result<void> validateTag(std::string_view tag);
// A registry host: DNS name or IPv4 address, optional :port, or [IPv6]:port. Lowercase only.
Result<void> validateRegistryHost(std::string_view host);

// A manifest reference: a tag or a digest.
struct Reference {
  std::variant<std::string, Digest> value;

  static Result<Reference> parse(std::string_view text);
  [[nodiscard]] bool isDigest() const noexcept { return std::holds_alternative<Digest>(value); }
  [[nodiscard]] const Digest& digest() const { return std::get<Digest>(value); }
  [[nodiscard]] const std::string& tag() const { return std::get<std::string>(value); }
  [[nodiscard]] std::string str() const;
};

}  // namespace pullcache
