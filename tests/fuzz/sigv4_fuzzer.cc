// The SigV4 canonicaliser, with request parts taken from the input. Signing is deterministic,
// the signature is 64 hex digits, and no secret appears in what may be logged.
#include <string>
#include <string_view>
#include <vector>

#include "common/sigv4.h"
#include "tests/fuzz/fuzz_check.h"

namespace {
std::vector<std::string> split(std::string_view in, char sep, std::size_t max_parts) {
  std::vector<std::string> out;
  while (out.size() + 1 < max_parts) {
    auto p = in.find(sep);
    if (p == std::string_view::npos) break;
    out.emplace_back(in.substr(0, p));
    in.remove_prefix(p + 1);
  }
  out.emplace_back(in);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parts = split(in, '\n', 6);  // method, path, query, headers ("k:v;k:v"), payload
  parts.resize(6);
  pullcache::SigV4Request req;
  req.method = parts[0];
  req.host = "ecr.eu-west-1.amazonaws.com";
  req.path = parts[1];
  req.query = parts[2];
  for (const auto& h : split(parts[3], ';', 32)) {
    auto c = h.find(':');
    if (c != std::string::npos) req.headers.emplace_back(h.substr(0, c), h.substr(c + 1));
  }
  req.payload = parts[4];
  pullcache::AwsCredentials creds{"AKIDFUZZ", pullcache::Secret("fuzz-secret-key-XYZ"),
                                  pullcache::Secret(parts[5].empty() ? "" : "fuzz-session-TOK")};
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  // The secret may only appear in the output if the input put it there itself.
  const bool secret_in_input = in.find("fuzz-secret-key-XYZ") != std::string_view::npos;
  auto a = pullcache::signV4(req, creds, "eu-west-1", "ecr", now);
  auto b = pullcache::signV4(req, creds, "eu-west-1", "ecr", now);
  FUZZ_CHECK(a.signature == b.signature);
  FUZZ_CHECK(a.canonical_request == b.canonical_request);
  FUZZ_CHECK(a.signature.size() == 64);
  FUZZ_CHECK(a.signature.find_first_not_of("0123456789abcdef") == std::string::npos);
  if (!secret_in_input) {
    FUZZ_CHECK(a.canonical_request.find("fuzz-secret-key-XYZ") == std::string::npos);
    FUZZ_CHECK(a.string_to_sign.find("fuzz-secret-key-XYZ") == std::string::npos);
    FUZZ_CHECK(a.authorization.find("fuzz-secret-key-XYZ") == std::string::npos);
  }
  return 0;
}
