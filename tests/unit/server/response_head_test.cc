// The status line and header block written for small responses (daemon/server/response_head.h).
#include "daemon/server/response_head.h"

#include <gtest/gtest.h>

namespace pullcache::server {
namespace {

HttpResponse manifest() {
  HttpResponse r;
  r.headers.add("Content-Type", "application/vnd.oci.image.manifest.v1+json");
  r.headers.add("Docker-Content-Digest", "sha256:abc");
  return r;
}

TEST(ResponseHead, StatusLineHeadersLengthAndTheBlankLine) {
  EXPECT_EQ(formatResponseHead(manifest(), 11, true, 1234),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
            "Docker-Content-Digest: sha256:abc\r\n"
            "Content-Length: 1234\r\n"
            "\r\n");
  HttpResponse missing;
  missing.status = 404;
  EXPECT_EQ(formatResponseHead(missing, 11, true, 0),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
}

TEST(ResponseHead, KeepAliveIsSaidAsEachVersionNeedsIt) {
  HttpResponse r;
  EXPECT_EQ(formatResponseHead(r, 11, true, 0).find("Connection"), std::string::npos);
  EXPECT_NE(formatResponseHead(r, 11, false, 0).find("\r\nConnection: close\r\n"),
            std::string::npos);
  EXPECT_NE(formatResponseHead(r, 10, true, 0).find("\r\nConnection: keep-alive\r\n"),
            std::string::npos);
  EXPECT_EQ(formatResponseHead(r, 10, false, 0).find("Connection"), std::string::npos);
  EXPECT_TRUE(formatResponseHead(r, 10, false, 0).starts_with("HTTP/1.0 200 OK\r\n"));
}

TEST(ResponseHead, TheLengthAndConnectionAreOursAndALaterValueReplacesAnEarlierOne) {
  HttpResponse r;
  r.headers.add("Content-Length", "999");
  r.headers.add("Connection", "upgrade");
  r.headers.add("Docker-Distribution-API-Version", "first");
  r.headers.add("docker-distribution-api-version", "registry/2.0");
  const std::string head = formatResponseHead(r, 11, true, 5);
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\n"
            "docker-distribution-api-version: registry/2.0\r\n"
            "Content-Length: 5\r\n"
            "\r\n");
}

TEST(ResponseHead, ALineBreakInAValueCannotStartAHeaderOfItsOwn) {
  HttpResponse r;
  r.headers.add("Content-Type", "text/plain\r\nSet-Cookie: x=1");
  const std::string head = formatResponseHead(r, 11, true, 0);
  EXPECT_EQ(head.find("\r\nSet-Cookie"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: text/plain  Set-Cookie: x=1\r\n"), std::string::npos) << head;
}

}  // namespace
}  // namespace pullcache::server
