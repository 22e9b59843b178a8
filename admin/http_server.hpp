// The admin HTTP/1.1 transport (Boost.Beast): a listener and one coroutine
// session per connection on the server's own io_context thread. It reads a
// request, hands it to the handler and writes what comes back; it never
// interprets a request itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "admin/router.hpp"

namespace rblzone::admin {

struct HttpOptions {
  std::string listen = "127.0.0.1:8080";  // "ADDR:PORT" or "[V6]:PORT"; port 0: any
  // A connection that does not deliver a whole request (or take a response)
  // within this time is closed; it is also the keep-alive idle limit.
  std::chrono::milliseconds timeout{10000};
  unsigned max_connections = 256;  // over it, a new connection is accepted and closed
  std::uint32_t header_limit = std::uint32_t{8} * 1024;  // over it: 431, then close
  std::uint64_t body_limit = std::uint64_t{64} * 1024;   // over it: 413, then close
  // Threads that run the handler (the io thread only reads and writes).
  unsigned handler_threads = 4;
};

// Called on one of the server's handler threads for each request, several
// at once: it must be safe to call concurrently; it must not throw (handle()
// does not).
// The second argument is the client's address ("192.0.2.1", "2001:db8::1").
using Handler = std::function<Response(const Request&, std::string_view peer)>;

class HttpServer {
 public:
  HttpServer(HttpOptions options, Handler handler);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the thread. Throws std::runtime_error naming the
  // address when it cannot listen.
  void start();
  // Closes the listener and every connection and joins the thread.
  // Idempotent; after it, no handler runs.
  void stop();

  // The address actually bound ("127.0.0.1:8080", "[::1]:8080"), after start().
  const std::string& bound() const { return bound_; }

 private:
  struct Impl;
  HttpOptions options_;
  Handler handler_;
  std::string bound_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rblzone::admin
