#include "daemon/http/curl_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "common/ip_class.h"
#include "daemon/http/sink_queue.h"

namespace pullcache::http {

namespace {
constexpr std::size_t kErrorBodyCap = 64 * 1024;

// Type-erased completion: posts the result to the awaiting coroutine's executor.
class Completion {
 public:
  virtual ~Completion() = default;
  virtual void complete(Result<Response> result) = 0;
};

template <typename Handler>
class CompletionImpl final : public Completion {
 public:
  CompletionImpl(Handler handler, const asio::any_io_executor& fallback)
      : handler_(std::move(handler)),
        executor_(asio::get_associated_executor(handler_, fallback)) {}
  void complete(Result<Response> result) override {
    asio::post(executor_, [h = std::move(handler_), r = std::move(result)]() mutable {
      std::move(h)(std::move(r));
    });
  }

 private:
  Handler handler_;
  asio::any_io_executor executor_;
};

std::once_flag g_curl_init;
}  // namespace

// Where a sink's strand asks for its paused transfer to go on. Outlives the client (a sink may
// finish after it), so a late request after the client stopped is dropped.
struct CurlClient::Resumes {
  std::mutex mu;
  void* multi = nullptr;           // CURLM*; null once the client stopped
  std::vector<std::uint64_t> ids;  // guarded by mu: transfers to resume
  void request(std::uint64_t id) {
    std::lock_guard lock(mu);
    if (multi == nullptr) return;
    ids.push_back(id);
    curl_multi_wakeup(static_cast<CURLM*>(multi));
  }
};

struct CurlClient::Transfer {
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  std::uint64_t id = 0;
  Request request;
  Response response;
  std::shared_ptr<SinkQueue> sink;  // streaming: the body goes to the sink through this
  std::unique_ptr<Completion> completion;
  bool headers_final = false;
  bool to_sink = false;  // final response is 2xx and there is a sink
  bool aborted = false;  // a callback asked to stop
  bool paused = false;   // the sink is behind: no body is read until it catches up
  Error abort_error;
  std::optional<Error> blocked;  // a non-public address was refused at connect time
  char errbuf[CURL_ERROR_SIZE] = {};
  // Stall detection: the last time a byte arrived (or the transfer left libcurl's queue).
  std::chrono::milliseconds stall_timeout{0};
  std::chrono::steady_clock::time_point last_progress{};
  curl_off_t last_dlnow = -1;

  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (header_list != nullptr) curl_slist_free_all(header_list);
  }
};

namespace {

std::string_view trimCrlf(std::string_view s) {
  while (!s.empty() &&
         (s.back() == '\r' || s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

bool isRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::size_t onHeaderLine(char* data, std::size_t size, std::size_t nitems, void* userdata) {
  auto* t = static_cast<CurlClient::Transfer*>(userdata);
  std::size_t len = size * nitems;
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {  // a new response (redirect hop or 100-continue)
    t->response.headers = Headers();
    t->headers_final = false;
    return len;
  }
  std::string_view trimmed = trimCrlf(line);
  if (!trimmed.empty()) {
    std::size_t colon = trimmed.find(':');
    if (colon != std::string_view::npos) {
      t->response.headers.add(std::string(trimCrlf(trimmed.substr(0, colon))),
                              std::string(trimCrlf(trimmed.substr(colon + 1))));
    }
    return len;
  }
  // End of one header block.
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status / 100 == 1) return len;
  if (t->request.follow_redirects && isRedirect(status) && t->response.headers.has("location"))
    return len;
  t->headers_final = true;
  t->response.status = static_cast<int>(status);
  if (t->sink && status / 100 == 2) {
    t->to_sink = true;
    // The sink judges them on its strand; a refusal stops the body at its next chunk.
    t->sink->offerHeaders(static_cast<int>(status), t->response.headers);
  }
  return len;
}

// Called by libcurl about once a second for an active transfer (not while it waits in the queue
// for a connection). libcurl's own low-speed check averages over several seconds, so a burst
// followed by silence goes unnoticed for long; this one counts from the last byte.
int onProgress(void* userdata, curl_off_t /*dltotal*/, curl_off_t dlnow, curl_off_t /*ultotal*/,
               curl_off_t /*ulnow*/) {
  auto* t = static_cast<CurlClient::Transfer*>(userdata);
  const auto now = std::chrono::steady_clock::now();
  // Paused for the sink, the upstream is not silent: we are not reading. (libcurl's own
  // low-speed check skips paused transfers too.)
  if (t->last_dlnow < 0 || dlnow != t->last_dlnow || t->paused) {
    t->last_dlnow = dlnow;
    t->last_progress = now;
    return 0;
  }
  if (now - t->last_progress < t->stall_timeout) return 0;
  t->aborted = true;
  t->abort_error =
      Error{Errc::kTimeout,
            "no data from the upstream for " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(t->stall_timeout).count()) +
                " s"};
  return 1;
}

std::size_t onBody(char* data, std::size_t size, std::size_t nmemb, void* userdata) {
  auto* t = static_cast<CurlClient::Transfer*>(userdata);
  std::size_t len = size * nmemb;
  if (!t->headers_final) return len;  // body of a redirect hop
  if (t->to_sink) {
    switch (t->sink->offerData(data, len)) {
      case SinkQueue::Offer::kTaken:
        t->response.body_bytes += len;
        return len;
      case SinkQueue::Offer::kPause:
        t->paused = true;  // libcurl offers the same bytes again after curl_easy_pause
        return CURL_WRITEFUNC_PAUSE;
      case SinkQueue::Offer::kStopped:
        t->aborted = true;  // the sink's verdict names the error (finish)
        t->abort_error = Error{Errc::kStoreIo, "receiver stopped the transfer"};
        return 0;
    }
  }
  t->response.body_bytes += len;
  std::uint64_t cap = t->sink ? kErrorBodyCap : t->request.max_body;
  if (t->response.body.size() + len > cap) {
    if (t->sink) return len;  // error body: keep the head, drop the rest
    t->aborted = true;
    t->abort_error =
        Error{Errc::kTooLarge, "upstream response body exceeds " + std::to_string(cap) + " bytes"};
    return 0;
  }
  t->response.body.append(data, len);
  return len;
}

// Refuses non-public addresses for requests that may only reach public ones.
curl_socket_t openSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address) {
  auto* t = static_cast<CurlClient::Transfer*>(clientp);
  if (purpose == CURLSOCKTYPE_IPCXN && isNonPublicAddress(&address->addr)) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (address->family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address->addr)->sin_addr, ip,
                  sizeof ip);
    } else if (address->family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address->addr)->sin6_addr, ip,
                  sizeof ip);
    }
    t->blocked = Error{Errc::kUpstreamBadResponse,
                       std::string("refused to connect to the non-public address ") + ip +
                           " (a redirect or token realm of an upstream on a public address; "
                           "allow_private_redirects permits it)"};
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

}  // namespace

CurlClient::CurlClient(asio::any_io_executor default_executor, CurlOptions options)
    : default_executor_(std::move(default_executor)), options_(std::move(options)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  resumes_ = std::make_shared<Resumes>();
  resumes_->multi = multi_;
  curl_multi_setopt(static_cast<CURLM*>(multi_), CURLMOPT_MAX_HOST_CONNECTIONS,
                    options_.max_host_connections);
  thread_ = std::thread([this] { run(); });
}

CurlClient::~CurlClient() {
  stop();
  {
    std::lock_guard lock(resumes_->mu);
    resumes_->multi = nullptr;
  }
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void CurlClient::stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
}

Task<Result<Response>> CurlClient::send(Request request) {
  return start(std::move(request), nullptr);
}

Task<Result<Response>> CurlClient::stream(Request request, std::shared_ptr<BodySink> sink) {
  return start(std::move(request), std::move(sink));
}

Task<Result<Response>> CurlClient::start(Request request, std::shared_ptr<BodySink> sink) {
  auto initiate = [this](auto handler, Request req, std::shared_ptr<BodySink> s) {
    auto t = std::make_unique<Transfer>();
    t->completion =
        std::make_unique<CompletionImpl<decltype(handler)>>(std::move(handler), default_executor_);
    t->request = std::move(req);
    t->id = next_id_.fetch_add(1);
    if (s) {
      std::weak_ptr<Resumes> resumes = resumes_;
      auto resume = [resumes, id = t->id] {
        if (auto r = resumes.lock()) r->request(id);
      };
      t->sink = std::make_shared<SinkQueue>(
          std::move(s), options_.sink_executor ? options_.sink_executor : default_executor_,
          options_.sink_buffer, std::move(resume));
    }
    enqueue(std::move(t));
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result<Response>)>(
      initiate, asio::use_awaitable, std::move(request), std::move(sink));
}

void CurlClient::enqueue(std::unique_ptr<Transfer> t) {
  if (stopping_) {
    t->completion->complete(Error{Errc::kUpstreamUnavailable, "shutting down"});
    return;
  }
  CURL* e = curl_easy_init();
  t->easy = e;
  const Request& r = t->request;
  curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, r.follow_redirects ? 1L : 0L);
  if (r.no_proxy) curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, options_.max_redirects);
  // Authorization is never sent to a host other than the original one (libcurl's default for
  // custom headers since 7.58; stated explicitly here).
  curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(
      e, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(r.connect_timeout.count() > 0 ? r.connect_timeout.count()
                                                      : options_.connect_timeout.count()));
  t->stall_timeout = options_.stall_timeout;
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &onProgress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, t.get());
  // Kept as a backstop, and because it makes libcurl wake a transfer every second.
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(options_.stall_timeout.count() / 1000)));
  if (r.timeout.count() > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!r.allow_non_public) {
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &openSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
  }
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  // A streamed body has a TCP connection of its own: pausing it (its sink is behind) is TCP
  // flow control on that connection alone, and what libcurl holds meanwhile is one buffer. Over
  // HTTP/2 a paused stream's window (megabytes) would still arrive and be held in memory.
  if (t->sink) curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  if (r.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (r.method == "POST" || r.method == "PUT") {
    // The body lives in t->request, which outlives the transfer.
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
    if (r.method == "PUT") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
  } else if (r.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  for (const auto& [k, v] : r.headers.entries()) {
    std::string line = k + ": " + v;
    t->header_list = curl_slist_append(t->header_list, line.c_str());
  }
  if (!r.headers.has("accept"))
    t->header_list = curl_slist_append(t->header_list, "Accept:");  // no default */*
  if (!r.headers.has("content-type") && (r.method == "POST" || r.method == "PUT"))
    t->header_list = curl_slist_append(t->header_list, "Content-Type:");  // no form default
  t->header_list = curl_slist_append(t->header_list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &onHeaderLine);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(t));
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void CurlClient::run() {
  auto* multi = static_cast<CURLM*>(multi_);
  std::unordered_map<std::uint64_t, std::unique_ptr<Transfer>> active;
  std::vector<std::uint64_t> resume;
  while (true) {
    {
      std::lock_guard lock(mu_);
      while (!pending_.empty()) {
        auto t = std::move(pending_.front());
        pending_.pop_front();
        curl_multi_add_handle(multi, t->easy);
        const std::uint64_t id = t->id;
        active.emplace(id, std::move(t));
      }
    }
    {
      std::lock_guard lock(resumes_->mu);
      resume.swap(resumes_->ids);
    }
    for (std::uint64_t id : resume) {
      auto it = active.find(id);
      if (it == active.end() || !it->second->paused) continue;  // it ended meanwhile
      Transfer* t = it->second.get();
      t->paused = false;
      t->last_progress = std::chrono::steady_clock::now();
      // May offer the held bytes at once; when the sink has refused, that write fails and
      // libcurl reports it here, not through the multi handle: the transfer ends now.
      if (CURLcode rc = curl_easy_pause(t->easy, CURLPAUSE_CONT); rc != CURLE_OK) {
        curl_multi_remove_handle(multi, t->easy);
        finish(t, static_cast<int>(rc));
        active.erase(it);
      }
    }
    resume.clear();
    if (stopping_) break;
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi, msg->easy_handle);
      auto it = active.find(t->id);
      finish(t, static_cast<int>(code));
      active.erase(it);
    }
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  for (auto& [id, t] : active) {
    curl_multi_remove_handle(multi, t->easy);
    t->aborted = true;
    t->abort_error = Error{Errc::kUpstreamUnavailable, "shutting down"};
    finish(t.get(), CURLE_ABORTED_BY_CALLBACK);
  }
  std::lock_guard lock(mu_);
  for (auto& t : pending_) {
    t->aborted = true;
    t->abort_error = Error{Errc::kUpstreamUnavailable, "shutting down"};
    finish(t.get(), CURLE_ABORTED_BY_CALLBACK);
  }
  pending_.clear();
}

void CurlClient::finish(Transfer* t, int curl_code) {
  Result<Response> result = Error{};
  auto code = static_cast<CURLcode>(curl_code);
  if (t->aborted) {
    result = t->abort_error;
  } else if (code != CURLE_OK && t->blocked) {
    result = *t->blocked;
  } else if (code == CURLE_OK) {
    char* url = nullptr;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
    if (url != nullptr) t->response.effective_url = url;
    if (!t->headers_final) {
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      t->response.status = static_cast<int>(status);
    }
    result = std::move(t->response);
  } else {
    std::string detail =
        t->errbuf[0] != '\0' ? std::string(t->errbuf) : std::string(curl_easy_strerror(code));
    Errc errc = code == CURLE_OPERATION_TIMEDOUT ? Errc::kTimeout : Errc::kUpstreamUnavailable;
    if (code == CURLE_TOO_MANY_REDIRECTS) errc = Errc::kUpstreamBadResponse;
    // The sink saw a partial body: report how far it got through body_bytes.
    result = Error{errc, detail};
  }
  if (!t->sink) {
    t->completion->complete(std::move(result));
    return;
  }
  // The completion waits for the sink's last call; a refusal of the sink names the error (it
  // came first in the body, whatever the network did after it).
  std::shared_ptr<Completion> completion = std::move(t->completion);
  auto outcome = std::make_shared<Result<Response>>(std::move(result));
  t->sink->close([completion, outcome](SinkQueue::Verdict verdict) {
    if (verdict == SinkQueue::Verdict::kHeadersRejected) {
      *outcome = Error{Errc::kUpstreamBadResponse, "response rejected by receiver"};
    } else if (verdict == SinkQueue::Verdict::kDataRefused) {
      *outcome = Error{Errc::kStoreIo, "receiver stopped the transfer"};
    }
    completion->complete(std::move(*outcome));
  });
  t->sink.reset();
}

}  // namespace pullcache::http
