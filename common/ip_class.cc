#include "common/ip_class.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

namespace pullcache {
namespace {

bool nonPublicV4(std::uint32_t host_order) {
  const std::uint8_t a = host_order >> 24;
  const std::uint8_t b = (host_order >> 16) & 0xff;
  if (a == 0 || a == 127 || a == 10) return true;          // unspecified, loopback, private
  if (a == 169 && b == 254) return true;                   // link-local (IMDS, ECS, EKS agents)
  if (a == 172 && b >= 16 && b <= 31) return true;         // private
  if (a == 192 && b == 168) return true;                   // private
  if (a == 100 && b >= 64 && b <= 127) return true;        // carrier-grade NAT
  if (a >= 224) return true;                               // multicast, reserved, broadcast
  return false;
}

bool nonPublicV6(const in6_addr& a) {
  const std::uint8_t* p = a.s6_addr;
  static const std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(p, kMappedPrefix, 12) == 0) {
    std::uint32_t v4 = (std::uint32_t(p[12]) << 24) | (std::uint32_t(p[13]) << 16) |
                       (std::uint32_t(p[14]) << 8) | p[15];
    return nonPublicV4(v4);
  }
  static const std::uint8_t kZero[15] = {};
  if (std::memcmp(p, kZero, 15) == 0 && (p[15] == 0 || p[15] == 1)) return true;  // :: and ::1
  if ((p[0] & 0xfe) == 0xfc) return true;                 // unique local fc00::/7
  if (p[0] == 0xfe && (p[1] & 0xc0) == 0x80) return true;  // link-local fe80::/10
  if (p[0] == 0xff) return true;                           // multicast
  return false;
}

}  // namespace

bool isNonPublicAddress(const sockaddr* address) {
  if (address == nullptr) return true;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return nonPublicV4(ntohl(in->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    return nonPublicV6(reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr);
  }
  return true;  // unix sockets and anything else: never a redirect target
}

bool isNonPublicLiteral(std::string_view host) {
  std::string h(host);
  if (!h.empty() && h.front() == '[') h = h.substr(1, h.find(']') - 1);
  if (h == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return nonPublicV4(ntohl(v4.s_addr));
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return nonPublicV6(v6);
  return false;
}

}  // namespace pullcache
