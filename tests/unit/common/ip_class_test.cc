// Which addresses count as non-public for redirect targets and token realms.
#include "common/ip_class.h"

#include <gtest/gtest.h>

namespace pullcache {
namespace {

TEST(IpClass, LoopbackLinkLocalPrivateAndMappedFormsAreNonPublic) {
  for (const char* ip : {"127.0.0.1", "127.1.2.3", "0.0.0.0", "10.0.0.5", "172.16.0.1",
                         "172.31.255.255", "192.168.1.1", "169.254.169.254", "169.254.170.23",
                         "100.64.0.1", "100.127.255.255", "224.0.0.1", "255.255.255.255", "::1",
                         "::", "fe80::1", "fd00:ec2::254", "fc00::1", "::ffff:127.0.0.1",
                         "::ffff:169.254.169.254", "[::1]", "localhost", "ff02::1"})
    EXPECT_TRUE(isNonPublicLiteral(ip)) << ip;
}

TEST(IpClass, PublicAddressesAndNamesAreNot) {
  for (const char* ip : {"52.94.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255",
                         "100.128.0.1", "198.51.100.7", "8.8.8.8", "2600:1f18::1",
                         "::ffff:52.94.1.1", "registry-1.docker.io", "s3.amazonaws.com"})
    EXPECT_FALSE(isNonPublicLiteral(ip)) << ip;
}

}  // namespace
}  // namespace pullcache
