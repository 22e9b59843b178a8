// The unix socket connector: an Asio listener and one coroutine per
// connection; framing only, every request goes to pdns::handle_text().
#include "zoneserver/pdns_socket.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rblzone::zoneserver {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

struct PdnsSocketServer::Impl {
  explicit Impl(PdnsSocketServer& o) : owner(o), io(static_cast<int>(o.options_.threads)) {}

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(local::socket socket);

  PdnsSocketServer& owner;
  std::atomic<unsigned> connections{0};
  asio::io_context io;
  local::acceptor acceptor{io};  // after io: destroyed before it
  std::vector<std::thread> threads;
};

asio::awaitable<void> PdnsSocketServer::Impl::accept_loop() {
  asio::steady_timer backoff(io);
  for (;;) {
    boost::system::error_code ec;
    local::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or the like: do not spin; the backlog waits.
      spdlog::warn("pdns socket accept: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (connections.load() >= owner.options_.max_connections) {
      socket.close(ec);  // over the cap: the newest goes
      continue;
    }
    ++connections;  // the session gives it back
    asio::co_spawn(io, session(std::move(socket)), asio::detached);
  }
}

// Lock-step: pdns sends one request line and waits for its reply, so the
// requests of one connection are answered in order, each in one write. The
// snapshot is reset inside handle_text(), never held across an await.
asio::awaitable<void> PdnsSocketServer::Impl::session(local::socket socket) {
  struct Slot {
    std::atomic<unsigned>& n;
    ~Slot() { --n; }
  } slot{connections};
  Snapshot snapshot(owner.store_);
  std::string in;
  std::string reply;
  boost::system::error_code ec;
  for (;;) {
    const std::size_t n = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(in, owner.options_.max_request), '\n',
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // EOF is pdns closing (orderly); a line over the limit cannot be framed.
      if (ec != asio::error::eof && ec != asio::error::operation_aborted) {
        spdlog::warn("pdns socket: {}", ec == asio::error::not_found
                                            ? "request longer than the limit, closing"
                                            : ec.message());
      }
      break;
    }
    std::string_view line(in.data(), n - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      in.erase(0, n);
      continue;
    }
    const auto catalog = std::atomic_load(&owner.catalog_);
    reply = pdns::handle_text(line, *catalog, snapshot, owner.clock_(), owner.options_.backend);
    reply += '\n';
    in.erase(0, n);
    co_await asio::async_write(socket, asio::buffer(reply),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  socket.close(ec);
}

PdnsSocketServer::PdnsSocketServer(core::Store& store, std::shared_ptr<const ZoneCatalog> catalog,
                                   PdnsSocketOptions options, core::Clock clock)
    : store_(store),
      catalog_(std::move(catalog)),
      options_(std::move(options)),
      clock_(std::move(clock)) {
  if (options_.threads == 0) options_.threads = 1;
}

PdnsSocketServer::~PdnsSocketServer() {
  stop();
}

void PdnsSocketServer::start() {
  const auto& path = options_.path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    // A socket left by a previous run is replaced; anything else is not ours.
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error("cannot listen on pdns socket " + path.string() +
                               ": exists and is not a socket");
    }
    std::filesystem::remove(path);
  }
  auto impl = std::make_unique<Impl>(*this);
  boost::system::error_code ec;
  impl->acceptor.open(local(), ec);
  if (!ec) impl->acceptor.bind(local::endpoint(path.string()), ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on pdns socket " + path.string() + ": " + ec.message());
  }
  ::chmod(path.c_str(), 0666);
  asio::co_spawn(impl->io, impl->accept_loop(), asio::detached);
  for (unsigned i = 0; i < options_.threads; ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  impl_ = std::move(impl);
}

void PdnsSocketServer::stop() {
  if (!impl_) return;
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  // Destroying the io_context destroys every suspended session, which
  // closes its socket.
  impl_.reset();
  std::error_code ec;
  std::filesystem::remove(options_.path, ec);
}

void PdnsSocketServer::set_catalog(std::shared_ptr<const ZoneCatalog> catalog) {
  std::atomic_store(&catalog_, std::move(catalog));
}

}  // namespace rblzone::zoneserver
