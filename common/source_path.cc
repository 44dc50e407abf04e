#include "common/source_path.h"

#include <cctype>

#include "common/ecr_host.h"
#include "common/reference.h"
#include "common/url.h"

namespace pullcache {

Result<SourcePath> SourcePath::parse(std::string_view raw) {
  if (raw.empty()) return fail(Errc::kConfigInvalid, "is empty (host[:port][/prefix])");
  const std::string text = hideUserinfo(raw);  // as it is quoted in errors
  SourcePath p;
  const auto slash = raw.find('/');
  p.host = std::string(raw.substr(0, slash));
  // Host names are case-insensitive (as upstreams[].match, which is lowercased too).
  for (char& c : p.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto h = validateRegistryHost(p.host); !h)
    return fail(Errc::kConfigInvalid, "'" + text + "': " + h.error().detail);
  p.ecr = parseEcrHost(p.host).has_value();
  if (slash == std::string_view::npos) return p;
  std::string_view prefix = raw.substr(slash + 1);
  if (prefix.ends_with('/')) prefix.remove_suffix(1);  // ECR assumes the trailing '/'
  if (prefix.empty()) return p;                        // "docker.io/": no prefix
  if (auto v = validateName(prefix); !v)
    return fail(Errc::kConfigInvalid, "'" + text + "': prefix: " + v.error().detail);
  if (p.ecr && (prefix.size() < kEcrMinPrefix || prefix.size() > kEcrMaxPrefix)) {
    return fail(Errc::kConfigInvalid, "'" + text +
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
