#include "daemon/cli/containerd_facts.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/fs.h"

namespace pullcache::cli {

std::optional<std::string> versionFromGrpcBody(std::string_view body) {
  // gRPC message: 1 byte compressed flag, 4 bytes big-endian length, then the protobuf
  // containerd.services.version.v1.VersionResponse {string version = 1; string revision = 2;}.
  if (body.size() < 5 || body[0] != 0) return std::nullopt;
  std::uint32_t len = 0;
  for (int k = 1; k <= 4; ++k) len = (len << 8) | static_cast<unsigned char>(body[k]);
  std::string_view msg = body.substr(5);
  if (msg.size() < len) return std::nullopt;
  msg = msg.substr(0, len);
  std::size_t i = 0;
  auto varint = [&](std::uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64 && i < msg.size(); shift += 7) {
      auto b = static_cast<unsigned char>(msg[i++]);
      out |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  while (i < msg.size()) {
    std::uint64_t tag = 0;
    if (!varint(tag)) return std::nullopt;
    const auto wire = tag & 7;
    if (wire == 2) {
      std::uint64_t n = 0;
      if (!varint(n) || n > msg.size() - i) return std::nullopt;
      if ((tag >> 3) == 1) return std::string(msg.substr(i, n));
      i += n;
    } else if (wire == 0) {
      std::uint64_t ignored = 0;
      if (!varint(ignored)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

namespace {

std::size_t appendBody(char* data, std::size_t size, std::size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > 64 * 1024) return 0;
  body->append(data, size * n);
  return size * n;
}

std::size_t noteGrpcStatus(char* data, std::size_t size, std::size_t n, void* out) {
  std::string_view line(data, size * n);
  if (line.starts_with("grpc-status:") || line.starts_with("grpc-message:"))
    *static_cast<std::string*>(out) += std::string(line.substr(0, line.find('\r'))) + " ";
  return size * n;
}

// containerd.services.version.v1.Version/Version: gRPC, i.e. HTTP/2 with prior knowledge,
// over the unix socket.
Result<std::string> versionFromSocket(const std::string& socket) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return fail(Errc::kInternal, "curl_easy_init failed");
  static const char kEmptyMessage[5] = {0, 0, 0, 0, 0};  // uncompressed, length 0
  std::string body;
  std::string status;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/grpc");
  headers = curl_slist_append(headers, "TE: trailers");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers,
                                                                           curl_slist_free_all);
  curl_easy_setopt(h.get(), CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(h.get(), CURLOPT_URL,
                   "http://localhost/containerd.services.version.v1.Version/Version");
  curl_easy_setopt(h.get(), CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  curl_easy_setopt(h.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, kEmptyMessage);
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE, 5L);
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, noteGrpcStatus);
  curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &status);
  CURLcode rc = curl_easy_perform(h.get());
  if (rc != CURLE_OK) return fail(Errc::kUpstreamUnavailable, curl_easy_strerror(rc));
  long code = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &code);
  auto version = versionFromGrpcBody(body);
  if (code != 200 || !version)
    return fail(Errc::kUpstreamBadResponse, "HTTP " + std::to_string(code) +
                                                (status.empty() ? "" : " " + status) +
                                                "without a version");
  return *version;
}

Result<std::string> versionFromBinary() {
  std::FILE* p = ::popen("containerd --version 2>/dev/null", "r");
  if (p == nullptr) return fail(Errc::kInternal, "popen failed");
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr && out.size() < 4096) out += buf;
  const int status = ::pclose(p);
  if (status != 0 || out.empty()) return fail(Errc::kNotFound, "containerd --version failed");
  return out;
}

}  // namespace

ContainerdFacts readContainerdFacts(const ContainerdPaths& paths) {
  ContainerdFacts f;
  f.config_file = paths.config;
  f.certs_dir = paths.certs_dir;
  const std::string config = paths.host_root + paths.config;
  struct stat st {};
  if (::stat(config.c_str(), &st) == 0) {
    auto text = readFile(config, 4u << 20);
    if (text) {
      f.config_text = std::move(text).value();
    } else {
      f.config_error = text.error().message();
    }
    struct statvfs vfs {};
    const bool ro_mount = ::statvfs(config.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
    f.config_writable = (st.st_mode & 0222) != 0 && !ro_mount;
  } else if (errno != ENOENT) {
    f.config_error = std::string("cannot read it: ") + std::strerror(errno);
  }

  const std::string socket = paths.host_root + paths.address;
  auto from_socket = versionFromSocket(socket);
  std::string why =
      "socket " + paths.address + ": " + (from_socket ? std::string() : from_socket.error().detail);
  if (from_socket) {
    f.version = parseContainerdVersion(from_socket.value());
    f.version_source = "version API on " + paths.address;
    if (!f.version) why = "socket answered an unreadable version '" + from_socket.value() + "'";
  }
  if (!f.version && paths.host_root.empty()) {
    if (auto bin = versionFromBinary()) {
      f.version = parseContainerdVersion(bin.value());
      if (f.version) f.version_source = "containerd --version; " + why;
    }
  }
  if (!f.version) f.version_error = why;
  return f;
}

}  // namespace pullcache::cli
