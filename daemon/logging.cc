#include "daemon/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/json_escape.h"

namespace pullcache {
namespace {

// %j: the message, escaped for a JSON string.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    appendJsonEscaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

}  // namespace

void setupLogging(const config::LogConfig& log) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (log.format == "json") {
    formatter->add_flag<JsonEscapedMessage>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%j"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %-8n %v");
  }
  sink->set_formatter(std::move(formatter));
  auto level = spdlog::level::from_str(log.level);
  auto root = std::make_shared<spdlog::logger>("pullcache", sink);
  root->set_level(level);
  spdlog::set_default_logger(root);
  for (const char* name : {"fetch", "manifest", "app", "evict", "prefetch", "aws"}) {
    spdlog::drop(name);
    auto l = std::make_shared<spdlog::logger>(name, sink);
    l->set_level(level);
    spdlog::register_logger(l);
  }
  // Access lines are formatted by server/access_log: in JSON mode the message is already the
  // object's members, so its fields are first-class JSON, not text inside "msg".
  auto access_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (log.format == "json") {
    access_sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n",%v})",
        spdlog::pattern_time_type::utc));
  } else {
    access_sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %-5l %-8n %v", spdlog::pattern_time_type::utc));
  }
  spdlog::drop("access");
  auto access = std::make_shared<spdlog::logger>("access", access_sink);
  access->set_level(level);
  spdlog::register_logger(access);
}

}  // namespace pullcache
