// Range reads of blobs that are not cached yet, with real parts: the upstream is Debian's
// docker-registry in a network namespace of its own behind a veth shaped with tc tbf (what it
// sends), so a whole blob takes seconds to come; the client side is plain HTTP, as SOCI's
// resolver and containerd 2.1's chunked fetch send it (containerd 1.6, the one here, does not
// send ranges; these requests emulate the newer clients').
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"
#include "tests/support/raw_http.h"

namespace pullcache::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

std::string randomBytes(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  std::mt19937_64 g(seed);
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t v = g();
    std::memcpy(s.data() + i, &v, 8);
  }
  return s;
}

// docker-registry in its own network namespace; what it sends crosses a veth shaped to `rate`.
class ShapedUpstream {
 public:
  ShapedUpstream(const std::string& dir, const std::string& rate) : dir_(dir) {
    const int tag = static_cast<int>(::getpid() % 100000);
    ns_ = "pcrg" + std::to_string(tag);
    dev_ = "pcrg" + std::to_string(tag);
    const std::string net = "10.206." + std::to_string(tag % 250) + ".";
    ip_ = net + "2";
    std::filesystem::create_directories(dir_);
    removeNetwork();  // a namespace left by a test run that was killed
    const std::string script =
        "set -e; ip netns add " + ns_ + "; ip link add " + dev_ + "a type veth peer name " + dev_ +
        "b; ip link set " + dev_ + "b netns " + ns_ + "; ip addr add " + net + "1/24 dev " + dev_ +
        "a; ip link set " + dev_ + "a up; ip -n " + ns_ + " addr add " + ip_ + "/24 dev " + dev_ +
        "b; ip -n " + ns_ + " link set " + dev_ + "b up; ip -n " + ns_ +
        " link set lo up; ip netns exec " + ns_ + " tc qdisc add dev " + dev_ + "b root tbf rate " +
        rate + " burst 1mb latency 50ms";
    auto r = runCommand({"sh", "-c", script});
    if (r.code != 0) {
      removeNetwork();
      throw std::runtime_error("network namespace set-up failed: " + r.output);
    }
    std::ofstream(dir_ + "/registry.yml")
        << "version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: " << dir_
        << "/data}}\nhttp: {addr: \"" << host() << "\"}\n";
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"ip", "netns", "exec", ns_, "docker-registry", "serve",
                                 dir_ + "/registry.yml"},
        dir_ + "/registry.log");
    if (!waitFor([&] { return httpGet("http://" + host() + "/v2/").status == 200; },
                 std::chrono::seconds(20))) {
      std::string log = process_->log();
      process_.reset();
      removeNetwork();
      throw std::runtime_error("registry did not start: " + log);
    }
  }
  ~ShapedUpstream() {
    process_.reset();
    removeNetwork();
  }
  void removeNetwork() {
    runCommand(
        {"sh", "-c",
         "ip netns del " + ns_ + " 2>/dev/null; ip link del " + dev_ + "a 2>/dev/null; true"});
  }
  [[nodiscard]] std::string host() const { return ip_ + ":5000"; }
  // Bytes the upstream sent so far (they arrive on the host side of the veth).
  [[nodiscard]] std::uint64_t sent() const {
    std::ifstream in("/sys/class/net/" + dev_ + "a/statistics/rx_bytes");
    std::uint64_t n = 0;
    in >> n;
    return n;
  }
  // Uploads `bytes` as a blob of `repo`; returns its digest.
  std::string push(const std::string& repo, const std::string& bytes) {
    const std::string digest = "sha256:" + sha256Hex(bytes);
    const std::string file = dir_ + "/upload";
    std::ofstream(file, std::ios::binary) << bytes;
    auto r = runCommand(
        {"sh", "-c",
         "loc=$(curl -s -D - -o /dev/null -X POST http://" + host() + "/v2/" + repo +
             "/blobs/uploads/ | tr -d '\\r' | awk 'tolower($1)==\"location:\"{print $2}'); "
             "curl -sf -T " +
             file + " -H 'Content-Type: application/octet-stream' \"$loc&digest=" + digest + "\""},
        std::chrono::seconds(120));
    std::filesystem::remove(file);
    if (r.code != 0) throw std::runtime_error("blob upload failed: " + r.output);
    return digest;
  }
  [[nodiscard]] std::string blobData(const std::string& digest) const {
    const std::string hex = digest.substr(7);
    return dir_ + "/data/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  }

 private:
  std::string dir_;
  std::string ns_;
  std::string dev_;
  std::string ip_;
  std::unique_ptr<Process> process_;
};

// A client that sends one GET with `range`, reads the headers and `n` body bytes, and hangs up
// (containerd 2.1's chunked fetch does this with "bytes=<offset>-").
struct ChunkRead {
  std::string head;
  std::string body;
};
ChunkRead readAndHangUp(int port, const std::string& path, const std::string& range,
                        std::size_t n) {
  ChunkRead out;
  int fd = connectTo(port);
  if (fd < 0) return out;
  sendRaw(fd, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: " + range + "\r\n\r\n");
  std::string data;
  std::size_t body_at = std::string::npos;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  char buf[1 << 16];
  while (std::chrono::steady_clock::now() < deadline) {
    if (body_at != std::string::npos && data.size() - body_at >= n) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    if (got <= 0) break;
    data.append(buf, static_cast<std::size_t>(got));
    if (body_at == std::string::npos) {
      auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) body_at = end + 4;
    }
  }
  ::close(fd);
  if (body_at == std::string::npos) return out;
  out.head = data.substr(0, body_at);
  out.body = data.substr(body_at, std::min(n, data.size() - body_at));
  return out;
}

// The parts of a multipart/byteranges body: each part's Content-Range and bytes.
std::vector<std::pair<std::string, std::string>> parseMultipart(const std::string& content_type,
                                                                const std::string& body) {
  std::vector<std::pair<std::string, std::string>> parts;
  auto b = content_type.find("boundary=");
  if (b == std::string::npos) return parts;
  const std::string delimiter = "--" + content_type.substr(b + 9);
  std::size_t pos = 0;
  while (body.compare(pos, delimiter.size(), delimiter) == 0) {
    pos += delimiter.size();
    if (body.compare(pos, 2, "--") == 0) return parts;  // the closing delimiter
    auto head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) return {};
    std::string head = body.substr(pos, head_end - pos);
    auto cr = head.find("Content-Range: bytes ");
    if (cr == std::string::npos) return {};
    std::string range = head.substr(cr + 21, head.find("\r\n", cr) - cr - 21);
    std::uint64_t first = std::stoull(range.substr(0, range.find('-')));
    std::uint64_t last = std::stoull(range.substr(range.find('-') + 1));
    std::size_t data_at = head_end + 4;
    parts.emplace_back(range, body.substr(data_at, last - first + 1));
    pos = data_at + (last - first + 1);
    if (body.compare(pos, 2, "\r\n") != 0) return {};
    pos += 2;
  }
  return {};  // no closing delimiter
}

std::string span(std::uint64_t first, std::uint64_t length) {
  return std::to_string(first) + "-" + std::to_string(first + length - 1);
}

class RangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespace, tc)";
  }
  void start(const std::string& rate) {
    upstream_ = std::make_unique<ShapedUpstream>(dir_.sub("upstream"), rate);
    pc_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), upstream_->host());
    pc_->start();
  }
  std::string path(const std::string& digest) {
    return "/v2/lab/blob/blobs/" + digest + "?ns=" + upstream_->host();
  }
  bool cachedRight(const std::string& digest, const std::string& bytes) {
    if (!waitFor([&] { return std::filesystem::exists(pc_->blobFile(digest)); },
                 std::chrono::seconds(30)))
      return false;
    std::ifstream in(pc_->blobFile(digest), std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return got == bytes;
  }
  double metric(const std::string& series) {
    auto m = scrapeMetrics(*pc_);
    auto it = m.find(series);
    return it == m.end() ? 0 : it->second;
  }

  TempDir dir_;
  std::unique_ptr<ShapedUpstream> upstream_;
  std::unique_ptr<PullcacheServer> pc_;
};

TEST_F(RangeTest, ASpanAtNinetyPercentOfABlobStillDownloadingComesWithoutWaitingForIt) {
  start("1gbit");
  const std::string blob = randomBytes(512 * kMiB, 17);
  const std::string d = upstream_->push("lab/blob", blob);
  const std::uint64_t sent0 = upstream_->sent();
  // A whole GET starts the download (about 4.5 s at 1 Gbit/s).
  std::atomic<bool> whole_done{false};
  HttpResult whole;
  std::thread puller([&] {
    whole = httpGet(pc_->url(path(d)));
    whole_done = true;
  });
  ASSERT_TRUE(
      waitFor([&] { return upstream_->sent() - sent0 > 8 * kMiB; }, std::chrono::seconds(20)));
  const std::uint64_t at = blob.size() / 10 * 9;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = httpGet(pc_->url(path(d)), {"Range: bytes=" + span(at, 4 * kMiB)});
  const auto span_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  const bool whole_was_running = !whole_done;
  puller.join();
  ASSERT_EQ(r.status, 206) << r.body.substr(0, 200);
  EXPECT_EQ(r.header("content-range"),
            "bytes " + span(at, 4 * kMiB) + "/" + std::to_string(blob.size()));
  EXPECT_TRUE(r.body == blob.substr(at, 4 * kMiB));
  EXPECT_TRUE(whole_was_running) << "the span waited for the sequential download";
  std::printf("span at 90%%: %lld ms; the whole blob was still coming\n",
              static_cast<long long>(span_ms));
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(whole.curl_code, 0);
  EXPECT_TRUE(whole.body == blob);
  EXPECT_TRUE(cachedRight(d, blob)) << "cached whole and verified";
  // The fill skipped the span's bytes: about one blob crossed the link.
  EXPECT_LE(upstream_->sent() - sent0, blob.size() + blob.size() / 20);
}

TEST_F(RangeTest, TheSociPatternGetsItsSpansAndMultipartFramingAndCachesNothing) {
  start("400mbit");
  const std::string blob = randomBytes(96 * kMiB, 18);
  const std::string d = upstream_->push("lab/blob", blob);
  const std::uint64_t sent0 = upstream_->sent();
  // The resolver's probe.
  auto probe = httpGet(pc_->url(path(d)), {"Range: bytes=0-1"});
  ASSERT_EQ(probe.status, 206);
  EXPECT_EQ(probe.header("content-range"), "bytes 0-1/" + std::to_string(blob.size()));
  EXPECT_TRUE(probe.body == blob.substr(0, 2));
  // Several 4 MiB spans in one request.
  const std::vector<std::uint64_t> starts = {80 * kMiB, 10 * kMiB, 50 * kMiB};
  std::string header = "Range: bytes=";
  for (auto s : starts) header += (s == starts.front() ? "" : ",") + span(s, 4 * kMiB);
  auto multi = httpGet(pc_->url(path(d)), {header});
  ASSERT_EQ(multi.status, 206) << multi.body.substr(0, 200);
  EXPECT_EQ(multi.header("content-type").rfind("multipart/byteranges; boundary=", 0), 0u);
  EXPECT_EQ(std::to_string(multi.body.size()), multi.header("content-length"));
  auto parts = parseMultipart(multi.header("content-type"), multi.body);
  ASSERT_EQ(parts.size(), starts.size()) << "framing";
  for (std::size_t i = 0; i < starts.size(); ++i) {
    EXPECT_EQ(parts[i].first, span(starts[i], 4 * kMiB) + "/" + std::to_string(blob.size()));
    EXPECT_TRUE(parts[i].second == blob.substr(starts[i], 4 * kMiB)) << "part " << i;
  }
  // Then single spans here and there.
  std::mt19937_64 g(5);
  for (int i = 0; i < 4; ++i) {
    std::uint64_t s = g() % (blob.size() - 4 * kMiB);
    auto one = httpGet(pc_->url(path(d)), {"Range: bytes=" + span(s, 4 * kMiB)});
    ASSERT_EQ(one.status, 206);
    EXPECT_TRUE(one.body == blob.substr(s, 4 * kMiB)) << "span at " << s;
  }
  // 28 MiB asked, under ranges.fill_after: those bytes crossed the link, no more, and the
  // unverified bytes were not kept.
  EXPECT_LE(upstream_->sent() - sent0, 28 * kMiB + 4 * kMiB);
  EXPECT_FALSE(std::filesystem::exists(pc_->blobFile(d)));
  // Counted once each response is written, which the server learns just after the client has
  // read its last byte.
  EXPECT_TRUE(
      waitFor([&] { return metric("pullcache_range_requests_total{result=\"miss\"}") >= 6; },
              std::chrono::seconds(5)))
      << metric("pullcache_range_requests_total{result=\"miss\"}");
  EXPECT_EQ(metric("pullcache_background_fill_bytes_total"), 0);
}

TEST_F(RangeTest, EightParallelOpenEndedChunksThatHangUpFetchTheBlobOnceAndItIsCached) {
  start("1gbit");
  const std::string blob = randomBytes(256 * kMiB, 19);
  const std::string d = upstream_->push("lab/blob", blob);
  const std::uint64_t sent0 = upstream_->sent();
  std::vector<ChunkRead> reads(8);
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      reads[i] = readAndHangUp(pc_->port(), path(d), "bytes=" + std::to_string(i * 32 * kMiB) + "-",
                               32 * kMiB);
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_NE(reads[i].head.find(" 206 "), std::string::npos) << i << ": " << reads[i].head;
    EXPECT_TRUE(reads[i].body == blob.substr(i * 32 * kMiB, 32 * kMiB)) << "chunk " << i;
  }
  EXPECT_TRUE(cachedRight(d, blob)) << "the blob is kept whole and verified after the chunks";
  EXPECT_LE(upstream_->sent() - sent0, blob.size() / 4 * 5);
  EXPECT_GT(metric("pullcache_background_fill_bytes_total"), 0) << pc_->log();
}

TEST_F(RangeTest, AWrongBlobReadByRangesIsNeverCached) {
  start("1gbit");
  const std::string blob = randomBytes(32 * kMiB, 20);
  const std::string d = upstream_->push("lab/blob", blob);
  {  // the registry's copy rots (same size)
    std::fstream f(upstream_->blobData(d), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(20 * kMiB);
    f.put(static_cast<char>(blob[20 * kMiB] ^ 0x5a));
  }
  // A chunk read starts the fill; the fill finds the digest wrong.
  auto chunk = readAndHangUp(pc_->port(), path(d), "bytes=" + std::to_string(kMiB) + "-", kMiB);
  EXPECT_NE(chunk.head.find(" 206 "), std::string::npos) << chunk.head;
  EXPECT_TRUE(waitFor([&] { return pc_->log().find("digest mismatch") != std::string::npos; },
                      std::chrono::seconds(30)))
      << pc_->log();
  EXPECT_FALSE(std::filesystem::exists(pc_->blobFile(d)));
  // The whole blob is never delivered complete.
  auto whole = httpGet(pc_->url(path(d)));
  EXPECT_TRUE(whole.status != 200 || whole.curl_code != 0) << "a wrong blob was delivered whole";
  EXPECT_FALSE(std::filesystem::exists(pc_->blobFile(d)));
}

}  // namespace
}  // namespace pullcache::testing
