// One HTTP/1.1 connection: read a request (with a deadline), hand it to the RequestHandler,
// write the response, repeat while keep-alive. Blob bodies go out with sendfile(2) from the
// blob's file descriptor; the bytes never pass through user space.
//
// This is the only translation unit that includes Boost.Beast.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <optional>

#include "common/log.h"
#include "common/scope_exit.h"
#include "common/spawn.h"
#include "daemon/server/access_log.h"
#include "daemon/server/error_response.h"
#include "daemon/server/listener.h"
#include "daemon/server/response_head.h"

namespace pullcache::server {
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t kSendfileChunk = 1u << 20;

const std::shared_ptr<spdlog::logger>& accessLog() {
  static const auto log = componentLogger("access");
  return log;
}

void setCork(int fd, bool on) {
  int v = on ? 1 : 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
}

struct WriteOutcome {
  bool ok = false;
  std::uint64_t body_bytes = 0;
};

// Waits until the socket is writable or the deadline passes. False on timeout or error.
Task<bool> waitWritable(tcp::socket& socket, asio::steady_timer& timer,
                        std::chrono::milliseconds timeout) {
  timer.expires_after(timeout);
  auto result =
      co_await (socket.async_wait(tcp::socket::wait_write, asio::as_tuple(asio::use_awaitable)) ||
                timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() != 0) co_return false;
  auto [ec] = std::get<0>(result);
  co_return !ec;
}

// A deadline for reads that, when it passes, cancels the pending read instead of closing the
// socket (as the stream's own expiry does), so a client that trickled its header in too slowly
// can still be told 408. One timer wait per arm and no parallel group (`||`): this runs for
// every request, and the awaitable operators cost about a fifth of the manifest rate.
class ReadDeadline {
 public:
  explicit ReadDeadline(tcp::socket& socket)
      : timer_(socket.get_executor()), state_(std::make_shared<State>(&socket)) {}
  ~ReadDeadline() { state_->socket = nullptr; }  // a queued handler may outlive this object
  ReadDeadline(const ReadDeadline&) = delete;
  ReadDeadline& operator=(const ReadDeadline&) = delete;

  void arm(std::chrono::milliseconds timeout) {
    const std::uint64_t gen = ++state_->gen;
    state_->fired = false;
    timer_.expires_after(timeout);
    timer_.async_wait([state = state_, gen](const boost::system::error_code& ec) {
      if (ec || state->gen != gen || state->socket == nullptr) return;
      state->fired = true;
      boost::system::error_code ignored;
      state->socket->cancel(ignored);
    });
  }
  // A deadline that fires after this no longer touches the socket (its writes included).
  void disarm() { ++state_->gen; }
  [[nodiscard]] bool fired() const { return state_->fired; }

 private:
  struct State {
    explicit State(tcp::socket* s) : socket(s) {}
    tcp::socket* socket;  // on the session's strand, as the timer's handler
    std::uint64_t gen = 0;
    bool fired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

struct HeaderRead {
  boost::system::error_code ec;
  bool started = false;                // a byte of this request arrived
  bool request_line_complete = false;  // tells 414 from 431 when the limit is hit
};

// Reads one request's header. Until its first byte the deadline is `wait_timeout` (idle
// keep-alive, or a new connection); from the first byte the whole header must arrive within
// `header_timeout`, however slowly it trickles in.
Task<HeaderRead> readHeader(tcp::socket& socket, beast::flat_buffer& buffer,
                            http::request_parser<http::empty_body>& parser, ReadDeadline& deadline,
                            std::chrono::milliseconds wait_timeout,
                            std::chrono::milliseconds header_timeout) {
  HeaderRead out;
  out.started = buffer.size() > 0;  // pipelined: already begun
  deadline.arm(out.started ? header_timeout : wait_timeout);
  bool header_clock = out.started;
  for (;;) {
    if (buffer.size() > 0) {
      out.started = true;
      if (!out.request_line_complete) {
        std::string_view seen(static_cast<const char*>(buffer.data().data()), buffer.size());
        out.request_line_complete = seen.find('\n') != std::string_view::npos;
      }
      std::size_t used = parser.put(buffer.data(), out.ec);
      buffer.consume(used);
      if (!out.ec && parser.is_header_done()) break;
      if (out.ec && out.ec != http::error::need_more) break;
      out.ec = {};
      if (!header_clock) {  // the header began but is not complete: its own clock starts now
        header_clock = true;
        deadline.arm(header_timeout);
      }
    }
    const std::size_t room = buffer.max_size() - buffer.size();
    if (room == 0) {
      out.ec = http::error::header_limit;
      break;
    }
    auto [ec, n] = co_await socket.async_read_some(
        buffer.prepare(std::min<std::size_t>(room, 8192)), asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (ec == asio::error::operation_aborted && deadline.fired()) {
      out.ec = beast::error::timeout;
      break;
    }
    if (ec == asio::error::eof) {
      out.ec = buffer.size() > 0 ? http::error::partial_message : http::error::end_of_stream;
      break;
    }
    if (ec) {
      out.ec = ec;
      break;
    }
  }
  deadline.disarm();
  co_return out;
}

// A request refused before it reached the handler: the status says which limit it broke.
struct Refusal {
  http::status status;
  const char* message;
  metrics::ClientError reason;
};

std::optional<Refusal> refusalFor(const HeaderRead& read) {
  const auto& ec = read.ec;
  if (ec == http::error::header_limit) {
    // Over the limit before the request line ended: the target itself is too long.
    if (!read.request_line_complete)
      return Refusal{http::status::uri_too_long, "request line too long",
                     metrics::ClientError::kUriTooLong};
    return Refusal{http::status::request_header_fields_too_large, "request header fields too large",
                   metrics::ClientError::kHeaderTooLarge};
  }
  if (ec == beast::error::timeout) {
    if (!read.started) return std::nullopt;  // nothing asked, nothing answered
    return Refusal{http::status::request_timeout, "request headers not received in time",
                   metrics::ClientError::kHeaderTimeout};
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
      ec == http::error::partial_message) {
    return std::nullopt;  // the client went away
  }
  return Refusal{http::status::bad_request, "malformed request", metrics::ClientError::kMalformed};
}

Task<void> writeRefusal(beast::tcp_stream& stream, Refusal refusal,
                        std::chrono::milliseconds write_timeout) {
  http::response<http::string_body> res{refusal.status, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::string(refusal.message) + "\n";
  res.keep_alive(false);
  res.prepare_payload();
  stream.expires_after(write_timeout);
  co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  stream.expires_never();
}

// Sends bytes [pos, end) of `blob` on the (non-blocking) socket as they become readable;
// `sent` counts them. False when the blob failed, the client went away or stopped reading.
Task<bool> sendBlobRange(tcp::socket& socket, asio::steady_timer& timer, BlobSource& blob,
                         std::uint64_t pos, std::uint64_t end, const SessionOptions& options,
                         std::uint64_t& sent_bytes) {
  const int sock = socket.native_handle();
  while (pos < end) {
    auto readable = co_await blob.readable(pos);
    // The blob failed (upstream error or digest mismatch) after the headers went out: close
    // short, so the client can never mistake what it got for the whole blob.
    if (!readable) co_return false;
    std::uint64_t limit = std::min<std::uint64_t>(readable.value(), end);
    while (pos < limit) {
      off_t off = static_cast<off_t>(pos);
      ssize_t sent =
          ::sendfile(sock, blob.fd(), &off, std::min<std::uint64_t>(limit - pos, kSendfileChunk));
      if (sent > 0) {
        pos += static_cast<std::uint64_t>(sent);
        sent_bytes += static_cast<std::uint64_t>(sent);
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && errno == EAGAIN) {
        bool writable = co_await waitWritable(socket, timer, options.write_timeout);
        if (!writable) co_return false;
        continue;
      }
      co_return false;  // EPIPE, ECONNRESET, or the file is shorter than it should be
    }
  }
  co_return true;
}

// Bytes that are not the blob's (multipart delimiters and part headers).
Task<bool> sendText(beast::tcp_stream& stream, const std::string& text,
                    const SessionOptions& options) {
  stream.expires_after(options.write_timeout);
  auto [ec, n] =
      co_await asio::async_write(stream, asio::buffer(text), asio::as_tuple(asio::use_awaitable));
  stream.expires_never();
  co_return !ec;
}

Task<WriteOutcome> writeBlob(beast::tcp_stream& stream, HttpResponse& r, unsigned version,
                             bool keep_alive, const SessionOptions& options) {
  WriteOutcome out;
  tcp::socket& socket = stream.socket();
  const int sock = socket.native_handle();
  setCork(sock, true);  // header and first body bytes in one segment
  const std::string head = formatResponseHead(r, version, keep_alive, r.content_length);
  const bool head_sent = co_await sendText(stream, head, options);
  if (!head_sent) co_return out;

  boost::system::error_code nb_ec;
  socket.native_non_blocking(true, nb_ec);
  asio::steady_timer timer(socket.get_executor());
  bool sent = true;
  if (r.parts.empty()) {
    sent = co_await sendBlobRange(socket, timer, *r.blob, r.blob_offset,
                                  r.blob_offset + r.content_length, options, out.body_bytes);
  } else {
    const std::string crlf = "\r\n";
    // One co_await per statement (GCC 12 mishandles co_await inside && and ?:).
    for (const auto& part : r.parts) {
      sent = co_await sendText(stream, part.head, options);
      if (!sent) break;
      sent = co_await sendBlobRange(socket, timer, *r.blob, part.offset, part.offset + part.length,
                                    options, out.body_bytes);
      if (!sent) break;
      sent = co_await sendText(stream, crlf, options);
      if (!sent) break;
    }
    if (sent) sent = co_await sendText(stream, r.parts_end, options);
  }
  setCork(sock, false);
  out.ok = sent;
  co_return out;
}

Task<WriteOutcome> writeResponse(beast::tcp_stream& stream, HttpResponse& r, unsigned version,
                                 bool keep_alive, const SessionOptions& options) {
  if (r.blob && !r.head) co_return co_await writeBlob(stream, r, version, keep_alive, options);
  WriteOutcome out;
  stream.expires_after(options.write_timeout);
  // Head and body in one write (response_head.h).
  const std::uint64_t length = r.head ? r.content_length : r.body.size();
  const std::string head = formatResponseHead(r, version, keep_alive, length);
  const std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(head), r.head ? asio::const_buffer() : asio::buffer(r.body)};
  auto [ec, n] = co_await asio::async_write(stream, buffers, asio::as_tuple(asio::use_awaitable));
  out.ok = !ec;
  if (!r.head) out.body_bytes = r.body.size();
  stream.expires_never();
  co_return out;
}

// The handler's answer; if it throws (a bug: handlers turn every error into a response), the
// escape is logged and counted and the client gets a 500 and a closed connection, not silence.
// `info` lives in the caller's frame, which awaits this to the end.
Task<HttpResponse> handleGuarded(std::shared_ptr<RequestHandler> handler, HttpRequest req,
                                 RequestInfo& info) {
  const bool head = req.method == "HEAD";
  std::exception_ptr escaped;
  try {
    HttpResponse resp = co_await handler->handle(std::move(req), info);
    co_return resp;
  } catch (...) {
    escaped = std::current_exception();
  }
  noteEscapedException("request handler", escaped);
  HttpResponse resp = errorResponse(Error{Errc::kInternal, "internal error"}, head);
  info.cache = CacheResult::kError;
  resp.close = true;
  co_return resp;
}

void logAccess(const std::string& listener, AccessLogFormat format, std::string_view method,
               const HttpResponse& r, const RequestInfo& info, std::uint64_t bytes, bool complete,
               std::chrono::steady_clock::time_point t0) {
  const auto& log = accessLog();
  if (!log->should_log(spdlog::level::info)) return;
  AccessRecord rec;
  rec.listener = listener;
  rec.method = method;
  rec.response = &r;
  rec.info = &info;
  rec.bytes = bytes;
  rec.complete = complete;
  rec.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  log->info("{}", formatAccessLine(rec, format));
}

}  // namespace

Task<void> runSession(tcp::socket socket, std::shared_ptr<RequestHandler> handler,
                      SessionOptions options, std::shared_ptr<ConnectionSet> connections,
                      std::string listener_name) {
  beast::tcp_stream stream(std::move(socket));
  // Declared after the stream its closer uses: leaves the set first, however the session ends.
  const auto registration = connections->add(stream.get_executor(), [&stream] {
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
  });
  beast::flat_buffer buffer(options.max_header_bytes);
  bool peer_loopback = false;
  {
    boost::system::error_code peer_ec;
    auto peer = stream.socket().remote_endpoint(peer_ec);
    if (!peer_ec) {
      auto addr = peer.address();
      peer_loopback = addr.is_loopback() ||
                      (addr.is_v6() && addr.to_v6().is_v4_mapped() &&
                       asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).is_loopback());
    }
  }
  if (options.metrics != nullptr) options.metrics->http_connections.add(1);
  ScopeExit count_close([&options] {
    if (options.metrics != nullptr) options.metrics->http_connections.add(-1);
  });
  ReadDeadline deadline(stream.socket());
  bool first = true;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    auto read = co_await readHeader(stream.socket(), buffer, parser, deadline,
                                    first ? options.header_timeout : options.idle_timeout,
                                    options.header_timeout);
    first = false;
    if (read.ec) {
      auto refusal = refusalFor(read);
      if (refusal) {
        if (options.metrics != nullptr) options.metrics->clientError(refusal->reason);
        co_await writeRefusal(stream, *refusal, options.write_timeout);
      }
      break;
    }
    auto t0 = std::chrono::steady_clock::now();
    const auto& msg = parser.get();
    HttpRequest req;
    req.peer_loopback = peer_loopback;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& field : msg)
      req.headers.add(std::string(field.name_string()), std::string(field.value()));
    const bool has_body = !parser.is_done();
    const bool client_keep_alive = msg.keep_alive();
    const unsigned version = msg.version();

    // The request goes to the handler whole (no copy); the log and the metrics need its method.
    const std::string method = req.method;
    RequestInfo info;
    HttpResponse resp = co_await handleGuarded(handler, std::move(req), info);
    const bool keep_alive = client_keep_alive && !resp.close && !has_body;
    auto outcome = co_await writeResponse(stream, resp, version, keep_alive, options);
    if (options.metrics != nullptr) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      options.metrics->httpRequest(metrics::routeLabel(info.route), metrics::methodFromName(method),
                                   resp.status, secs);
      const bool content = info.route == RouteKind::kBlob || info.route == RouteKind::kManifest;
      if (outcome.body_bytes > 0 && content) {
        bool from_cache = info.cache == CacheResult::kHit || info.cache == CacheResult::kStale;
        options.metrics->servedBytes(from_cache, outcome.body_bytes);
      }
      if (resp.status == 206 && info.route == RouteKind::kBlob)
        options.metrics->rangeRequest(metrics::outcomeFrom(info.cache), outcome.body_bytes);
    }
    if (options.body_bytes != nullptr) options.body_bytes->inc(outcome.body_bytes);
    logAccess(listener_name, options.access_log_format, method, resp, info, outcome.body_bytes,
              outcome.ok, t0);
    if (!outcome.ok || !keep_alive) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.socket().close(ec);
}

}  // namespace pullcache::server
