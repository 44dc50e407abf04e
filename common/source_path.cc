#include "common/source_path.h"

#include "common/ecr_host.h"
#include "common/reference.h"

namespace pullcache {

Result<SourcePath> SourcePath::parse(std::string_view text) {
  if (text.empty()) return fail(Errc::kConfigInvalid, "is empty (host[:port][/prefix])");
  SourcePath p;
  const auto slash = text.find('/');
  p.host = std::string(text.substr(0, slash));
  if (auto h = validateRegistryHost(p.host); !h)
    return fail(Errc::kConfigInvalid, "'" + std::string(text) + "': " + h.error().detail);
  p.ecr = parseEcrHost(p.host).has_value();
  if (slash == std::string_view::npos) return p;
  std::string_view prefix = text.substr(slash + 1);
  if (prefix.ends_with('/')) prefix.remove_suffix(1);  // ECR assumes the trailing '/'
  if (prefix.empty())
    return fail(Errc::kConfigInvalid, "'" + std::string(text) + "': the prefix after '/' is empty");
  if (auto v = validateName(prefix); !v)
    return fail(Errc::kConfigInvalid, "'" + std::string(text) + "': prefix: " + v.error().detail);
  if (p.ecr && (prefix.size() < kEcrMinPrefix || prefix.size() > kEcrMaxPrefix)) {
    return fail(Errc::kConfigInvalid, "'" + std::string(text) +
                                          "': an ECR pull-through cache rule's prefix is " +
                                          std::to_string(kEcrMinPrefix) + " to " +
                                          std::to_string(kEcrMaxPrefix) + " characters");
  }
  p.prefix = std::string(prefix);
  return p;
}

std::string SourcePath::str() const { return prefix.empty() ? host : host + "/" + prefix; }

Result<std::string> SourcePath::repository(std::string_view name) const {
  std::string out = prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
  const std::size_t limit = ecr ? kEcrMaxRepositoryName : kMaxNameLength;
  if (out.size() > limit) {
    return fail(Errc::kNameInvalid, "repository " + std::to_string(out.size()) +
                                        " characters long at " + str() + " (at most " +
                                        std::to_string(limit) + ")");
  }
  return out;
}

}  // namespace pullcache
