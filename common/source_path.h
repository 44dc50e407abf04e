#pragma once
// A registry source as configured, "host[:port][/prefix]" (an ECR pull-through cache rule is
// "<account>.dkr.ecr.<region>.amazonaws.com/docker-hub"), and the repository a client's name
// becomes there: the prefix, then the name. Pure functions, checked at start-up (the config)
// and for every request (the mapped name).

#include <string>
#include <string_view>

#include "common/error.h"

namespace pullcache {

// ECR's limits: a repository name is 2 to 256 characters; a pull-through cache rule's prefix
// is 2 to 30 (CreatePullThroughCacheRule's ecrRepositoryPrefix).
inline constexpr std::size_t kEcrMaxRepositoryName = 256;
inline constexpr std::size_t kEcrMinPrefix = 2;
inline constexpr std::size_t kEcrMaxPrefix = 30;

struct SourcePath {
  std::string host;    // "host[:port]", lowercase
  std::string prefix;  // repository components without a trailing '/'; empty: none
  bool ecr = false;    // host is a private ECR registry (common/ecr_host.h)

  // Parses and validates "host[:port][/prefix]" (components as the OCI name grammar; an ECR
  // host's prefix must be one a pull-through cache rule can have).
  static Result<SourcePath> parse(std::string_view text);
  // "host/prefix" or "host": how metrics and logs name the source.
  [[nodiscard]] std::string str() const;
  // The repository to ask this source for a client's (already normalised) name: kNameInvalid
  // when the result is longer than the source accepts (ECR: 256 characters, others: 255 as the
  // OCI grammar here).
  [[nodiscard]] Result<std::string> repository(std::string_view name) const;
};

}  // namespace pullcache
