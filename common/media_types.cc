#include "common/media_types.h"

#include <nlohmann/json.hpp>

#include "common/http_message.h"

namespace pullcache::media {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool accepts(std::string_view accept_header, std::string_view type) noexcept {
  if (trim(accept_header).empty()) return true;
  std::size_t start = 0;
  while (start <= accept_header.size()) {
    std::size_t comma = accept_header.find(',', start);
    std::string_view item = accept_header.substr(
        start, comma == std::string_view::npos ? accept_header.npos : comma - start);
    std::string_view range = item;
    bool excluded = false;
    if (std::size_t semi = item.find(';'); semi != std::string_view::npos) {
      range = item.substr(0, semi);
      std::string_view params = item.substr(semi + 1);
      std::size_t q = params.find("q=");
      if (q != std::string_view::npos) {
        std::string_view qv = trim(params.substr(q + 2));
        excluded = qv.starts_with("0") && qv.find_first_not_of("0.") == std::string_view::npos;
      }
    }
    range = trim(range);
    if (!excluded) {
      if (range == "*/*" || range == "application/*" || iequals(range, type)) return true;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

std::string declaredMediaType(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return {};
  auto it = json.find("mediaType");
  if (it == json.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace pullcache::media
