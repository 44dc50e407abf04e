#include "common/image_ref.h"

#include "common/reference.h"
#include "common/strings.h"

namespace pullcache {

Result<ImageRef> ImageRef::parse(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return fail(Errc::kNameInvalid, "image reference '" + quoteUntrusted(text, 256) + "': " + why);
  };
  if (text.empty()) return bad("empty");
  ImageRef ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto d = Digest::parse(rest.substr(at + 1));
    if (!d) return bad(d.error().detail);
    ref.digest = d.value();
    rest = rest.substr(0, at);
  }
  // The first component is a registry host if it looks like one (docker's rule: it contains
  // '.' or ':' or is "localhost").
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
      ref.host = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (ref.host.empty()) ref.host = "docker.io";
  if (ref.host == "index.docker.io" || ref.host == "registry-1.docker.io") ref.host = "docker.io";
  if (auto h = validateRegistryHost(ref.host); !h) return bad(h.error().detail);
  // A tag follows the last ':' after the last '/'.
  std::size_t last_slash = rest.rfind('/');
  std::size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (auto t = validateTag(ref.tag); !t) return bad(t.error().detail);
  }
  ref.repository = std::string(rest);
  if (ref.host == "docker.io" && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (auto n = validateName(ref.repository); !n) return bad(n.error().detail);
  if (ref.tag.empty() && !ref.digest) ref.tag = "latest";
  return ref;
}

std::string ImageRef::str() const {
  std::string s = host + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (digest) s += "@" + digest->str();
  return s;
}

}  // namespace pullcache
