#include "common/host_glob.h"

namespace pullcache {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool match(std::string_view g, std::string_view h) {
  while (!g.empty()) {
    if (g.front() == '*') {
      g.remove_prefix(1);
      // Try every split point within the current label (never past '.' or ':').
      for (std::size_t i = 0;; ++i) {
        if (match(g, h.substr(i))) return true;
        if (i >= h.size() || h[i] == '.' || h[i] == ':') return false;
      }
    }
    if (h.empty() || lower(g.front()) != lower(h.front())) return false;
    g.remove_prefix(1);
    h.remove_prefix(1);
  }
  return h.empty();
}

}  // namespace

bool hostGlobMatches(std::string_view glob, std::string_view host) noexcept {
  return match(glob, host);
}

}  // namespace pullcache
