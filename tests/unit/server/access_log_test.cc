// Access lines: JSON mode yields an object with first-class fields; hostile input (a rejected
// request's method or ns) cannot break a line in either mode.
#include "daemon/server/access_log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pullcache::server {
namespace {

struct Line {
  HttpRequest req;
  HttpResponse resp;
  RequestInfo info;
  AccessRecord rec;
  Line() {
    req.method = "GET";
    resp.status = 200;
    info.route = RouteKind::kBlob;
    info.ns = "registry.example:5000";
    info.repository = "team/app";
    info.reference = "sha256:" + std::string(64, 'a');
    info.cache = CacheResult::kHit;
    info.upstream_ms = -1;
    rec.listener = "registry";
    rec.method = req.method;
    rec.response = &resp;
    rec.info = &info;
    rec.bytes = 1234;
    rec.complete = true;
    rec.duration_ms = 1.5;
  }
};

nlohmann::json parseObject(const std::string& members) {
  return nlohmann::json::parse("{" + members + "}", nullptr, /*allow_exceptions=*/false);
}

TEST(AccessLog, JsonHasEveryFieldTyped) {
  Line l;
  auto j = parseObject(formatAccessLine(l.rec, AccessLogFormat::kJson));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["listener"], "registry");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["route"], "blob");
  EXPECT_EQ(j["ns"], "registry.example:5000");
  EXPECT_EQ(j["repository"], "team/app");
  EXPECT_EQ(j["reference"], l.info.reference);
  EXPECT_EQ(j["cache"], "hit");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes"], 1234);
  EXPECT_EQ(j["complete"], true);
  EXPECT_EQ(j["upstream_ms"], -1);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.5);
}

TEST(AccessLog, JsonEmptyFieldsAreNull) {
  Line l;
  l.info.route = RouteKind::kBase;
  l.info.ns.clear();
  l.info.repository.clear();
  l.info.reference.clear();
  l.info.cache = CacheResult::kNone;
  auto j = parseObject(formatAccessLine(l.rec, AccessLogFormat::kJson));
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(j["ns"].is_null());
  EXPECT_TRUE(j["repository"].is_null());
  EXPECT_TRUE(j["reference"].is_null());
  EXPECT_TRUE(j["cache"].is_null());
}

TEST(AccessLog, HostileValuesStayInsideTheirField) {
  Line l;
  l.req.method = "GE\"T\n";
  l.rec.method = l.req.method;
  l.info.ns = "evil\",\"status\":1\r\n\x01";
  auto json = formatAccessLine(l.rec, AccessLogFormat::kJson);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  auto j = parseObject(json);
  ASSERT_TRUE(j.is_object()) << json;
  EXPECT_EQ(j["method"], l.req.method);
  EXPECT_EQ(j["ns"], l.info.ns);
  EXPECT_EQ(j["status"], 200);

  auto text = formatAccessLine(l.rec, AccessLogFormat::kText);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
}

TEST(AccessLog, TextIsKeyValue) {
  Line l;
  l.info.reference.clear();
  EXPECT_EQ(formatAccessLine(l.rec, AccessLogFormat::kText),
            "listener=registry method=GET route=blob ns=registry.example:5000 repo=team/app ref=- "
            "status=200 bytes=1234 complete=true cache=hit upstream_ms=-1 ms=1.50");
}

}  // namespace
}  // namespace pullcache::server
