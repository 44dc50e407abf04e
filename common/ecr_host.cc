#include "common/ecr_host.h"

namespace pullcache {
namespace {

bool allDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

bool consume(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

// "us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "eu-central-2"
bool validAwsRegion(std::string_view r) {
  if (r.size() < 5 || r.size() > 32) return false;
  for (char c : r) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return r.front() != '-' && r.back() >= '0' && r.back() <= '9' &&
         r.find("--") == std::string_view::npos;
}

std::string EcrRegistry::apiHost() const {
  if (dual_stack) return std::string(fips ? "ecr-fips." : "ecr.") + region + ".api.aws";
  std::string suffix = china ? ".amazonaws.com.cn" : ".amazonaws.com";
  return (fips ? "ecr-fips." : "api.ecr.") + region + suffix;
}

std::optional<EcrRegistry> parseEcrHost(std::string_view host) {
  EcrRegistry r;
  auto dot = host.find('.');
  if (dot != 12 || !allDigits(host.substr(0, 12))) return std::nullopt;
  r.account = std::string(host.substr(0, 12));
  std::string_view rest = host.substr(13);
  if (consume(rest, "dkr.ecr.")) {
  } else if (consume(rest, "dkr.ecr-fips.")) {
    r.fips = true;
  } else if (consume(rest, "dkr-ecr.")) {
    r.dual_stack = true;
  } else if (consume(rest, "dkr-ecr-fips.")) {
    r.dual_stack = true;
    r.fips = true;
  } else {
    return std::nullopt;
  }
  auto region_end = rest.find('.');
  if (region_end == std::string_view::npos) return std::nullopt;
  r.region = std::string(rest.substr(0, region_end));
  rest = rest.substr(region_end + 1);
  if (!validAwsRegion(r.region)) return std::nullopt;
  if (r.dual_stack) {
    if (rest != "on.aws") return std::nullopt;
  } else if (rest == "amazonaws.com.cn") {
    r.china = true;
  } else if (rest != "amazonaws.com") {
    return std::nullopt;
  }
  return r;
}

}  // namespace pullcache
