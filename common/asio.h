#pragma once
// The part of Boost.Asio that coroutine code on the request path needs. Beast is included
// only by daemon/server/http_session.cc. Asio itself is compiled once (common/asio_impl.cc,
// BOOST_ASIO_SEPARATE_COMPILATION).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace pullcache {
namespace asio = boost::asio;
template <typename T>
using Task = asio::awaitable<T>;
}  // namespace pullcache
