#pragma once
// Which addresses an upstream's redirects and token realms may lead to. A registry on the public
// internet has no business sending pullcache to the node's loopback, the instance metadata
// service (169.254.169.254), or the VPC's private ranges: that is how a hostile or compromised
// registry would turn a node-local cache into a proxy into the node's network (SSRF).

#include <string_view>

struct sockaddr;

namespace pullcache {

// Loopback, link-local, private (RFC 1918, unique-local fc00::/7), carrier-grade NAT
// (100.64.0.0/10, often pod CIDRs on EKS), unspecified and IPv4-mapped forms of these.
bool isNonPublicAddress(const sockaddr* address);
// The same for a literal address ("10.0.0.5", "::1", "[fd00::1]"); false for a host name.
bool isNonPublicLiteral(std::string_view host);

}  // namespace pullcache
