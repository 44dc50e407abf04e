#include "daemon/auth/aws_answers.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/strings.h"

namespace pullcache::auth {
namespace {

std::string xmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (auto [entity, c] : kEntities) {
      if (s.substr(i, entity.size()) == entity) {
        out += c;
        i += entity.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += '&';
  }
  return out;
}

// Text of the first <tag>...</tag> inside `xml` (no nesting of the same tag in the answers
// parsed here), unescaped; nullopt if absent.
std::optional<std::string> xmlText(std::string_view xml, std::string_view tag) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  auto b = xml.find(open);
  if (b == std::string_view::npos) return std::nullopt;
  b += open.size();
  auto e = xml.find(close, b);
  if (e == std::string_view::npos) return std::nullopt;
  return xmlUnescape(xml.substr(b, e - b));
}

// AWS's error text goes into log lines and error bodies: at most 300 bytes, cut on a UTF-8
// boundary, and no control characters (a newline could forge a log line).
AwsError sanitized(AwsError e) {
  truncateUtf8(e.message, 300);
  for (char& c : e.message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  e.code = quoteUntrusted(e.code, 100);
  return e;
}

}  // namespace

AwsError parseAwsJsonError(std::string_view body, std::string_view error_type_header) {
  AwsError e;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    for (const char* k : {"__type", "code", "Code"}) {
      if (j.contains(k) && j[k].is_string()) {
        e.code = j[k].get<std::string>();
        break;
      }
    }
    for (const char* k : {"message", "Message"}) {
      if (j.contains(k) && j[k].is_string()) {
        e.message = j[k].get<std::string>();
        break;
      }
    }
  }
  if (e.code.empty()) e.code = std::string(error_type_header.substr(0, error_type_header.find(':')));
  // "com.amazonaws.ecr#AccessDeniedException" -> "AccessDeniedException"
  if (auto hash = e.code.rfind('#'); hash != std::string::npos) e.code = e.code.substr(hash + 1);
  return sanitized(std::move(e));
}

AwsError parseAwsXmlError(std::string_view body) {
  AwsError e;
  e.code = xmlText(body, "Code").value_or("");
  e.message = xmlText(body, "Message").value_or("");
  return sanitized(std::move(e));
}

std::optional<std::chrono::system_clock::time_point> parseIso8601Utc(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS
  if (s.size() < 20) return std::nullopt;
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, year) || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(11, 2, hour) || s[13] != ':' || !digits(14, 2, minute) || s[16] != ':' ||
      !digits(17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  // system_clock counts nanoseconds in 64 bits: about 1678..2262. An AWS expiry outside
  // 1970..2200 is nonsense anyway (found by tests/fuzz/aws_answers_fuzzer: year 0001 overflowed).
  if (year < 1970 || year > 2200) return std::nullopt;
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    std::size_t n = 0;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n == 0) return std::nullopt;
    rest.remove_prefix(n);
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00") return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

Result<std::optional<AwsCredentials>> parseCredentialsFile(std::string_view text,
                                                           std::string_view profile) {
  std::istringstream in{std::string(text)};
  std::string line;
  bool in_profile = false;
  bool found = false;
  AwsCredentials c;
  while (std::getline(in, line)) {
    std::string t = trimWhitespace(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[') {
      if (t.back() != ']') return fail(Errc::kConfigInvalid, "malformed section line '" + quoteUntrusted(t) + "'");
      std::string name = trimWhitespace(std::string_view(t).substr(1, t.size() - 2));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    auto eq = t.find('=');
    if (eq == std::string::npos) continue;
    std::string key = asciiLower(trimWhitespace(std::string_view(t).substr(0, eq)));
    std::string value = trimWhitespace(std::string_view(t).substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = Secret(value);
    if (key == "aws_session_token") c.session_token = Secret(value);
  }
  if (!found) return std::optional<AwsCredentials>{};
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return fail(Errc::kConfigInvalid,
                "profile '" + std::string(profile) +
                    "' has no aws_access_key_id/aws_secret_access_key (role_arn, SSO and "
                    "credential_process profiles are not supported)");
  return std::optional<AwsCredentials>(std::move(c));
}

Result<TimedCredentials> parseAssumeRoleWithWebIdentityResponse(std::string_view xml) {
  auto id = xmlText(xml, "AccessKeyId");
  auto secret = xmlText(xml, "SecretAccessKey");
  auto token = xmlText(xml, "SessionToken");
  auto expiration = xmlText(xml, "Expiration");
  if (!id || !secret || !token || !expiration || id->empty() || secret->empty())
    return fail(Errc::kUpstreamBadResponse, "STS answer has no Credentials");
  auto exp = parseIso8601Utc(*expiration);
  if (!exp) return fail(Errc::kUpstreamBadResponse, "STS answer has a bad Expiration");
  TimedCredentials c;
  c.credentials = {*id, Secret(*secret), Secret(*token)};
  c.expiration = exp;
  if (auto user = xml.find("<AssumedRoleUser>"); user != std::string_view::npos)
    c.identity = xmlText(xml.substr(user), "Arn").value_or("");
  return c;
}

Result<TimedCredentials> parseCredentialsJson(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return fail(Errc::kUpstreamBadResponse, "credentials answer is not JSON");
  if (j.contains("Code") && j["Code"].is_string() && j["Code"].get<std::string>() != "Success") {
    std::string msg = j.contains("Message") && j["Message"].is_string()
                          ? j["Message"].get<std::string>()
                          : std::string();
    return fail(Errc::kUpstreamUnavailable,
                "credentials answer " + j["Code"].get<std::string>() + ": " + msg.substr(0, 300));
  }
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  TimedCredentials c;
  c.credentials = {str("AccessKeyId"), Secret(str("SecretAccessKey")), Secret(str("Token"))};
  if (c.credentials.access_key_id.empty() || c.credentials.secret_access_key.empty())
    return fail(Errc::kUpstreamBadResponse, "credentials answer has no AccessKeyId/SecretAccessKey");
  if (std::string e = str("Expiration"); !e.empty()) {
    c.expiration = parseIso8601Utc(e);
    if (!c.expiration) return fail(Errc::kUpstreamBadResponse, "credentials answer: bad Expiration");
  }
  c.identity = str("RoleArn");
  return c;
}

}  // namespace pullcache::auth
