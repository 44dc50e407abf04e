#pragma once
// One access-log line per request: pure formatting, tested without a socket.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/http_message.h"
#include "common/request_info.h"

namespace pullcache::server {

enum class AccessLogFormat { kText, kJson };

struct AccessRecord {
  std::string_view listener;
  std::string_view method;  // as the client sent it
  const HttpResponse* response = nullptr;
  const RequestInfo* info = nullptr;
  std::uint64_t bytes = 0;  // body bytes written
  bool complete = false;    // the whole body was written
  double duration_ms = 0;
};

// kText: `key=value` pairs ("-" for empty); kJson: the members of a JSON object without the
// braces (the log pattern adds time, level and logger around them). Every string is escaped.
std::string formatAccessLine(const AccessRecord& record, AccessLogFormat format);

}  // namespace pullcache::server
