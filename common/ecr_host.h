#pragma once
// Which registry hosts are private Amazon ECR registries, and their account and region: a
// grammar, like common/reference.h, used by the config (auth defaults, pull-through cache rule
// prefixes) and by ECR authentication.

#include <optional>
#include <string>
#include <string_view>

namespace pullcache {

struct EcrRegistry {
  std::string account;  // 12 digits
  std::string region;   // "eu-west-1", "cn-north-1", "us-gov-west-1"
  bool fips = false;
  bool dual_stack = false;
  bool china = false;
  // Where GetAuthorizationToken goes unless an endpoint is configured.
  [[nodiscard]] std::string apiHost() const;
};

// "us-east-1", "cn-north-1", "us-gov-west-1": the shape of an AWS region name.
bool validAwsRegion(std::string_view region);

// <account>.dkr.ecr.<region>.amazonaws.com, .amazonaws.com.cn, <account>.dkr.ecr-fips.<region>...,
// and dual-stack <account>.dkr-ecr[-fips].<region>.on.aws. nullopt for any other host.
std::optional<EcrRegistry> parseEcrHost(std::string_view host);

}  // namespace pullcache
