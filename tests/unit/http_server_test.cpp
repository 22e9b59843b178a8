// Tests for admin/http_server: the transport on loopback (port 0) with a
// stub handler: keep-alive, limits, the read timeout, the cap, and stop().
#include "admin/http_server.hpp"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

namespace rblzone::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct Fixture {
  explicit Fixture(HttpOptions o = {})
      : server(with_port0(std::move(o)), [this](const Request& req, std::string_view) {
          ++calls;
          Response res{http::status::ok, req.version()};
          res.body() = std::string(req.target());
          return res;
        }) {
    server.start();
    port = static_cast<unsigned short>(
        std::stoi(server.bound().substr(server.bound().rfind(':') + 1)));
  }
  static HttpOptions with_port0(HttpOptions o) {
    o.listen = "127.0.0.1:0";
    return o;
  }

  tcp::socket connect() {
    tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    return s;
  }

  std::atomic<int> calls{0};
  asio::io_context io;
  HttpServer server;
  unsigned short port = 0;
};

// Reads until the peer closes; returns what came (a reset ends it too).
std::string read_to_close(tcp::socket& s) {
  std::string out;
  char buf[4096];
  boost::system::error_code ec;
  for (;;) {
    const auto n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) return out;
  }
}

http::response<http::string_body> roundtrip(tcp::socket& s, beast::flat_buffer& buffer,
                                            const std::string& target) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  http::write(s, req);
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  return res;
}

TEST_CASE("http server: the server binds port 0 and serves keep-alive requests", "[http]") {
  Fixture f;
  CHECK(f.port != 0);
  CHECK(f.server.bound() == "127.0.0.1:" + std::to_string(f.port));
  auto s = f.connect();
  beast::flat_buffer buffer;
  auto a = roundtrip(s, buffer, "/one");
  auto b = roundtrip(s, buffer, "/two");
  CHECK(a.body() == "/one");
  CHECK(b.body() == "/two");
  CHECK(a.keep_alive());
  CHECK(f.calls == 2);
}

TEST_CASE("http server: header and body limits answer 431 and 413 and close", "[http]") {
  Fixture f;
  {
    auto s = f.connect();
    asio::write(s, asio::buffer("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n"));
    const auto got = read_to_close(s);
    CHECK(got.rfind("HTTP/1.1 431 ", 0) == 0);
    CHECK(got.find("header_too_large") != std::string::npos);
  }
  {
    auto s = f.connect();
    asio::write(s, asio::buffer(std::string("POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n")));
    const auto got = read_to_close(s);
    CHECK(got.rfind("HTTP/1.1 413 ", 0) == 0);
    CHECK(got.find("body_too_large") != std::string::npos);
  }
  {
    auto s = f.connect();
    asio::write(s, asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
    CHECK(read_to_close(s).rfind("HTTP/1.1 400 ", 0) == 0);
  }
  CHECK(f.calls == 0);
}

TEST_CASE("http server: a client that does not finish its request is dropped after the timeout",
          "[http]") {
  HttpOptions o;
  o.timeout = std::chrono::milliseconds(200);
  Fixture f(o);
  auto s = f.connect();
  asio::write(s, asio::buffer(std::string("GET /sl")));
  const auto start = std::chrono::steady_clock::now();
  CHECK(read_to_close(s).empty());
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(150));
}

TEST_CASE("http server: connections over the cap are closed at once", "[http]") {
  HttpOptions o;
  o.max_connections = 1;
  Fixture f(o);
  auto first = f.connect();
  beast::flat_buffer buffer;
  CHECK(roundtrip(first, buffer, "/a").result() == http::status::ok);  // the session is up
  auto second = f.connect();
  CHECK(read_to_close(second).empty());
  CHECK(roundtrip(first, buffer, "/b").body() == "/b");
}

TEST_CASE("http server: stop() ends with connections open and is idempotent", "[http]") {
  Fixture f;
  auto idle = f.connect();
  auto half = f.connect();
  asio::write(half, asio::buffer(std::string("GET / HTTP/1.1\r\nHo")));
  f.server.stop();
  CHECK(read_to_close(idle).empty());
  f.server.stop();
}

TEST_CASE("http server: handlers run side by side on the handler threads", "[http]") {
  // Each of the first two requests waits (up to 5 s) until both are inside
  // the handler: with one handler thread, or handlers on the io thread,
  // they would be served one after the other and each would time out.
  std::atomic<int> inside{0};
  std::atomic<int> met{0};
  HttpOptions o;
  o.listen = "127.0.0.1:0";
  o.handler_threads = 2;
  HttpServer server(o, [&](const Request& req, std::string_view) {
    Response res{http::status::ok, req.version()};
    if (req.target() == "/wait") {
      ++inside;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (inside < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (inside >= 2) ++met;
    }
    res.body() = std::string(req.target());
    return res;
  });
  server.start();
  const auto port =
      static_cast<unsigned short>(std::stoi(server.bound().substr(server.bound().rfind(':') + 1)));
  asio::io_context io;
  const auto ask = [&](const std::string& target) {
    tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    beast::flat_buffer buffer;
    return roundtrip(s, buffer, target).body();
  };
  std::string a, b;
  std::thread first([&] { a = ask("/wait"); });
  std::thread second([&] { b = ask("/wait"); });
  first.join();
  second.join();
  CHECK(a == "/wait");
  CHECK(b == "/wait");
  CHECK(met == 2);
}

TEST_CASE("http server: a bad listen address is refused at start", "[http]") {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", "nohost:80"}) {
    INFO(bad);
    HttpOptions o;
    o.listen = bad;
    HttpServer server(o, [](const Request&, std::string_view) { return Response{}; });
    CHECK_THROWS_AS(server.start(), std::runtime_error);
  }
}

}  // namespace
}  // namespace rblzone::admin
