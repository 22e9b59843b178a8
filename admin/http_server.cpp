// The admin HTTP/1.1 transport: listener, sessions, timeouts and limits.
#include "admin/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace rblzone::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// "ADDR:PORT" or "[V6]:PORT".
tcp::endpoint parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    throw std::runtime_error("bad HTTP listen address '" + text + "' (want ADDR:PORT)");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::runtime_error("bad HTTP listen address '" + text + "' (port 0..65535)");
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("bad HTTP listen address '" + text + "': " + ec.message());
  return {address, static_cast<std::uint16_t>(port)};
}

std::string to_text(const tcp::endpoint& e) {
  const auto a = e.address().to_string();
  return (e.address().is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(e.port());
}

// Runs `fn` on `pool` and resumes the awaiting coroutine on its own
// executor with what it returned (or rethrows what it threw).
template <typename Fn>
auto run_on(asio::thread_pool& pool, Fn fn) {
  using Result = std::invoke_result_t<Fn&>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, Result)>(
      [&pool](auto handler, Fn f) {
        asio::post(pool, [h = std::move(handler), f = std::move(f)]() mutable {
          std::exception_ptr error;
          Result result{};
          try {
            result = f();
          } catch (...) {
            error = std::current_exception();
          }
          auto executor = asio::get_associated_executor(h);
          asio::dispatch(executor, [h = std::move(h), error, r = std::move(result)]() mutable {
            std::move(h)(error, std::move(r));
          });
        });
      },
      asio::use_awaitable, std::move(fn));
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == beast::http::make_error_code(beast::http::error::bad_target).category();
}

}  // namespace

struct HttpServer::Impl {
  Impl(const HttpOptions& o, const Handler& h) : options(o), handler(h) {}

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(tcp::socket socket);

  const HttpOptions& options;
  const Handler& handler;
  unsigned connections = 0;  // open sessions; touched only on the io thread
  asio::io_context io{1};
  tcp::acceptor acceptor{io};  // after io: destroyed before it
  std::thread thread;
  // Handlers run here, off the io thread: a write waits for its commit's
  // sync, and writers that wait together commit together (group commit,
  // docs/store.md), while the io thread goes on reading and writing.
  asio::thread_pool handlers{options.handler_threads};
};

asio::awaitable<void> HttpServer::Impl::accept_loop() {
  asio::steady_timer backoff(io);
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or the like: do not spin; the backlog waits.
      spdlog::warn("HTTP accept: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (connections >= options.max_connections) {
      socket.close(ec);  // over the cap: the newest goes
      continue;
    }
    ++connections;  // the session gives it back
    asio::co_spawn(io, session(std::move(socket)), asio::detached);
  }
}

// GCC 12 calls asio's awaitable frame operator delete "mismatched" once a
// coroutine awaits an async_initiate with a lambda (run_on): a known false
// positive of -Wmismatched-new-delete on coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> HttpServer::Impl::session(tcp::socket socket) {
  struct Slot {
    unsigned& n;
    ~Slot() { --n; }
  } slot{connections};
  namespace http = beast::http;
  beast::error_code ec;
  // No Nagle delay between a response's writes (pdns's HTTP connector
  // stalls ~40 ms per call otherwise).
  socket.set_option(tcp::no_delay(true), ec);
  std::string peer;
  {
    beast::error_code pe;
    const auto ep = socket.remote_endpoint(pe);
    if (!pe) {
      const auto a = ep.address();
      peer = a.is_v6() && a.to_v6().is_v4_mapped()
                 ? asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string()
                 : a.to_string();
    }
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(options.header_limit);
    parser.body_limit(options.body_limit);
    stream.expires_after(options.timeout);  // a slow or idle client is dropped
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::end_of_stream) break;  // closed between requests: orderly

    std::optional<Response> res;
    bool keep_alive = false;
    if (ec == http::error::body_limit) {
      res = error_response(
          http::status::payload_too_large, "body_too_large",
          "the request body exceeds " + std::to_string(options.body_limit) + " bytes");
    } else if (ec == http::error::header_limit) {
      res = error_response(
          http::status::request_header_fields_too_large, "header_too_large",
          "the request header exceeds " + std::to_string(options.header_limit) + " bytes");
    } else if (ec && is_parse_error(ec) && ec != http::error::partial_message) {
      res = error_response(http::status::bad_request, "bad_request", "malformed HTTP request");
    } else if (ec) {
      // A timeout, a reset, or EOF inside a request: nothing to answer.
      spdlog::debug("HTTP read: {}", ec.message());
      break;
    } else {
      res = co_await run_on(handlers, [this, &parser, &peer]() -> Response {
        try {
          return handler(parser.get(), peer);
        } catch (const std::exception& e) {
          return error_response(http::status::internal_server_error, "internal", e.what());
        }
      });
      res->version(parser.get().version());
      keep_alive = parser.get().keep_alive();
    }
    // After an error the rest of the stream cannot be trusted: close.
    res->keep_alive(keep_alive);
    res->prepare_payload();
    stream.expires_after(options.timeout);
    co_await http::async_write(stream, *res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      spdlog::debug("HTTP write: {}", ec.message());
      break;
    }
    if (!keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

HttpServer::HttpServer(HttpOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  auto impl = std::make_unique<Impl>(options_, handler_);
  const auto endpoint = parse_listen(options_.listen);
  beast::error_code ec;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on HTTP " + options_.listen + ": " + ec.message());
  bound_ = to_text(impl->acceptor.local_endpoint());
  asio::co_spawn(impl->io, impl->accept_loop(), asio::detached);
  impl->thread = std::thread([io = &impl->io] { io->run(); });
  impl_ = std::move(impl);
}

void HttpServer::stop() {
  if (!impl_) return;
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // A handler still running finishes (its session's frame lives until
  // impl_ goes); its completion then finds the io_context stopped.
  impl_->handlers.join();
  // Destroying the io_context destroys every suspended session, which
  // closes its socket.
  impl_.reset();
}

}  // namespace rblzone::admin
