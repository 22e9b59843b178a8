// UDP workers and the TCP listener (see server.hpp).
#include "zoneserver/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "zoneserver/rrl.hpp"
#include "zoneserver/tsig.hpp"
#include "zoneserver/xfr.hpp"

namespace rblzone::zoneserver {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr unsigned kBatch = 64;
constexpr std::size_t kRecvSize = 4096;
constexpr std::size_t kSendSize = 4096;

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Endpoint parse_endpoint(const std::string& text) {
  Endpoint e;
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::runtime_error("bad listen address '" + text + "' (want [V6]:PORT)");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      throw std::runtime_error("bad listen address '" + text + "' (want ADDR:PORT)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    throw std::runtime_error("bad port in listen address '" + text + "'");
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.addr);   // NOLINT
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.addr);  // NOLINT
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(p));
    e.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(p));
    e.len = sizeof(sockaddr_in6);
  } else {
    throw std::runtime_error("bad address in listen address '" + text + "'");
  }
  return e;
}

std::uint16_t port_of(const sockaddr_storage& a) {
  return ntohs(a.ss_family == AF_INET
                   ? reinterpret_cast<const sockaddr_in*>(&a)->sin_port      // NOLINT
                   : reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);  // NOLINT
}

void set_port(sockaddr_storage& a, std::uint16_t port) {
  if (a.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a)->sin_port = htons(port);  // NOLINT
  } else {
    reinterpret_cast<sockaddr_in6*>(&a)->sin6_port = htons(port);  // NOLINT
  }
}

std::string to_text(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, buf,
              sizeof buf);  // NOLINT
    return std::string(buf) + ":" + std::to_string(port_of(a));
  }
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr, buf,
            sizeof buf);  // NOLINT
  return "[" + std::string(buf) + "]:" + std::to_string(port_of(a));
}

core::IpPrefix::Bytes client_bytes(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);  // NOLINT
    return core::IpPrefix::v4(ntohl(v4->sin_addr.s_addr), 32).bytes();
  }
  core::IpPrefix::Bytes b{};
  std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr, 16);  // NOLINT
  return b;
}

int bind_udp(const Endpoint& e, const std::string& text) {
  const int fd = socket(e.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error(text + ": socket: " + std::generic_category().message(errno));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (e.addr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  timeval tv{0, 250000};  // wake up to notice stop()
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&e.addr), e.len) != 0) {  // NOLINT
    const int err = errno;
    close(fd);
    throw std::runtime_error("cannot listen on UDP " + text + ": " +
                             std::generic_category().message(err));
  }
  return fd;
}

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// --- TCP -----------------------------------------------------------------------

struct DnsServer::Tcp {
  asio::io_context io{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::thread thread;
  unsigned connections = 0;  // only touched on the io thread
  QueryStats* stats = nullptr;
  HotSubjects* hot = nullptr;  // written on the io thread only
};

namespace {

asio::awaitable<void> tcp_session(tcp::socket socket, DnsServer* server, core::Store& store,
                                  const std::shared_ptr<const ZoneCatalog>* catalog,
                                  const ServerOptions& options, const core::Clock& clock,
                                  QueryStats* stats, unsigned* connections, HotSubjects* hot) {
  struct Guard {
    unsigned* n;
    ~Guard() { --*n; }
  } guard{connections};
  auto executor = co_await asio::this_coro::executor;
  // Shared with the watchdog, which may wake after this coroutine ends.
  struct Conn {
    tcp::socket socket;
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point deadline;
    bool done = false;
  };
  auto conn =
      std::make_shared<Conn>(Conn{std::move(socket), asio::steady_timer(executor), {}, false});
  const auto idle = std::chrono::milliseconds(options.tcp_idle_timeout_ms);
  conn->deadline = std::chrono::steady_clock::now() + idle;
  // The watchdog closes a connection that stays idle past its deadline,
  // which also ends a slow reader or writer.
  asio::co_spawn(
      executor,
      [conn]() -> asio::awaitable<void> {
        while (!conn->done) {
          conn->timer.expires_at(conn->deadline);
          boost::system::error_code ec;
          co_await conn->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          if (conn->done) co_return;
          if (std::chrono::steady_clock::now() >= conn->deadline) {
            conn->socket.close(ec);
            co_return;
          }
        }
      },
      asio::detached);
  auto& socket_ref = conn->socket;
  auto& deadline = conn->deadline;

  core::IpPrefix::Bytes addr{};
  boost::system::error_code ec;
  const auto remote = socket_ref.remote_endpoint(ec);
  if (!ec) {
    if (remote.address().is_v4()) {
      addr = core::IpPrefix::v4(remote.address().to_v4().to_uint(), 32).bytes();
    } else {
      const auto b = remote.address().to_v6().to_bytes();
      std::memcpy(addr.data(), b.data(), 16);
    }
  }
  Snapshot snapshot(store);
  std::vector<std::uint8_t> in(65535);
  std::vector<std::uint8_t> out(65535 + 2);
  AnswerOptions answer_options{options.edns_udp_size};
  const Client client{addr, Transport::tcp};
  Matched matched;
  for (;;) {
    deadline = std::chrono::steady_clock::now() + idle;
    std::uint8_t len_bytes[2];
    co_await asio::async_read(socket_ref, asio::buffer(len_bytes),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    const std::size_t len = (std::size_t{len_bytes[0]} << 8) | len_bytes[1];
    co_await asio::async_read(socket_ref, asio::buffer(in.data(), len),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    if (server != nullptr && is_transfer_query(in.data(), len)) {
      // A transfer goes to its own thread on a duplicate of the socket;
      // this session ends here and the transfer closes the connection.
      const int fd = dup(socket_ref.native_handle());
      if (fd >= 0) {
        server->start_transfer(fd, std::vector<std::uint8_t>(in.data(), in.data() + len), client);
      }
      break;
    }
    wire::Writer w(out.data() + 2, 65535);
    snapshot.renew();
    const auto cat = std::atomic_load(catalog);
    const std::int64_t now = clock();
    const auto outcome = tsig::answer_signed(in.data(), len, client, *cat, snapshot, now,
                                             answer_options, w, stats, &matched);
    snapshot.reset();
    if (hot) hot->count(matched, now);
    if (outcome == Outcome::drop) break;  // garbage on a stream: hang up
    out[0] = static_cast<std::uint8_t>(w.size() >> 8);
    out[1] = static_cast<std::uint8_t>(w.size());
    co_await asio::async_write(socket_ref, asio::buffer(out.data(), w.size() + 2),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  conn->done = true;
  conn->timer.cancel();
  socket_ref.close(ec);
}

}  // namespace

// --- server --------------------------------------------------------------------

DnsServer::DnsServer(core::Store& store, std::shared_ptr<const ZoneCatalog> catalog,
                     ServerOptions options, core::Clock clock)
    : store_(store),
      catalog_(std::move(catalog)),
      options_(std::move(options)),
      clock_(std::move(clock)) {
  query_log_.store(options_.query_log, std::memory_order_relaxed);
}

DnsServer::~DnsServer() {
  stop();
}

void DnsServer::set_catalog(std::shared_ptr<const ZoneCatalog> catalog) {
  std::atomic_store(&catalog_, std::move(catalog));
}

void DnsServer::start() {
  unsigned threads = options_.threads ? options_.threads : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  const std::size_t zones = catalog_->zones().size();
  tcp_ = std::make_unique<Tcp>();
  stats_.push_back(std::make_unique<QueryStats>(zones));
  tcp_->stats = stats_.back().get();
  hot_.push_back(std::make_unique<HotSubjects>());
  tcp_->hot = hot_.back().get();

  struct Bound {
    int fd;
  };
  std::vector<Bound> udp_sockets;
  const auto close_all = [&udp_sockets] {
    for (const auto& b : udp_sockets) close(b.fd);
    udp_sockets.clear();
  };
  for (const auto& text : options_.listen) {
    const Endpoint requested = parse_endpoint(text);
    const bool any_port = port_of(requested.addr) == 0;
    // Port 0: the first UDP socket picks a port and the other workers and
    // TCP join it. TCP may already have that port in use by someone else;
    // then all of them start over on another.
    for (int attempt = 1;; ++attempt) {
      Endpoint e = requested;
      std::vector<Bound> mine;
      sockaddr_storage actual{};
      try {
        mine.push_back({bind_udp(e, text)});
        socklen_t alen = sizeof actual;
        getsockname(mine.front().fd, reinterpret_cast<sockaddr*>(&actual), &alen);  // NOLINT
        set_port(e.addr, port_of(actual));
        for (unsigned i = 1; i < threads; ++i) mine.push_back({bind_udp(e, text)});
      } catch (...) {
        for (const auto& b : mine) close(b.fd);
        close_all();
        throw;
      }

      boost::system::error_code ec;
      const auto address = asio::ip::make_address(
          e.addr.ss_family == AF_INET ? to_text(actual).substr(0, to_text(actual).rfind(':'))
                                      : to_text(actual).substr(1, to_text(actual).rfind(']') - 1),
          ec);
      auto acceptor = std::make_unique<tcp::acceptor>(tcp_->io);
      const tcp::endpoint ep(address, port_of(actual));
      acceptor->open(ep.protocol(), ec);
      if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor->bind(ep, ec);
      if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        for (const auto& b : mine) close(b.fd);
        if (any_port && ec == asio::error::address_in_use && attempt < 50) continue;
        close_all();
        throw std::runtime_error("cannot listen on TCP " + text + ": " + ec.message());
      }
      udp_sockets.insert(udp_sockets.end(), mine.begin(), mine.end());
      tcp_->acceptors.push_back(std::move(acceptor));
      bound_.push_back(to_text(actual));
      break;
    }
  }

  running_ = true;
  for (const auto& b : udp_sockets) {
    udp_fds_.push_back(b.fd);
    stats_.push_back(std::make_unique<QueryStats>(zones));
    QueryStats& s = *stats_.back();
    hot_.push_back(std::make_unique<HotSubjects>());
    HotSubjects& h = *hot_.back();
    threads_.emplace_back([this, fd = b.fd, &s, &h] { udp_worker_(fd, s, h); });
  }
  for (auto& acceptor : tcp_->acceptors) {
    asio::co_spawn(
        tcp_->io,
        [this, a = acceptor.get()]() -> asio::awaitable<void> {
          for (;;) {
            boost::system::error_code ec;
            tcp::socket socket =
                co_await a->async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
              if (ec == asio::error::operation_aborted || !running_) co_return;
              continue;
            }
            if (tcp_->connections >= options_.tcp_max_connections) {
              socket.close(ec);  // over the cap: refuse the newest
              continue;
            }
            ++tcp_->connections;
            asio::co_spawn(a->get_executor(),
                           tcp_session(std::move(socket), this, store_, &catalog_, options_, clock_,
                                       tcp_->stats, &tcp_->connections, tcp_->hot),
                           asio::detached);
          }
        },
        asio::detached);
  }
  tcp_->thread = std::thread([this] { tcp_->io.run(); });
}

namespace {
// The client's address as text (an IPv4-mapped one as IPv4), for the
// transfer log and metrics.
std::string address_text(const Client& client) {
  char text[INET6_ADDRSTRLEN] = "";
  const auto& a = client.addr;
  const bool v4 = std::all_of(a.begin(), a.begin() + 10, [](auto b) { return b == 0; }) &&
                  a[10] == 0xff && a[11] == 0xff;
  inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a.data() + 12 : a.data(), text, sizeof text);
  return text;
}
}  // namespace

void DnsServer::start_transfer(int fd, std::vector<std::uint8_t> query, const Client& client) {
  // The duplicate shares the non-blocking flag asio set: make it blocking,
  // with a send timeout so a stalled secondary cannot hold a thread forever.
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  timeval drain_tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &drain_tv, sizeof drain_tv);
  {
    std::lock_guard lock(transfers_mutex_);
    transfer_fds_.push_back(fd);
  }
  std::thread([this, fd, query = std::move(query), client] {
    try {
      const auto catalog = std::atomic_load(&catalog_);
      std::vector<std::uint8_t> framed;
      const auto send = [&](const std::uint8_t* data, std::size_t size) {
        if (!running_.load(std::memory_order_relaxed)) return false;
        framed.assign({static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)});
        framed.insert(framed.end(), data, data + size);
        for (std::size_t off = 0; off < framed.size();) {
          const ssize_t n = ::send(fd, framed.data() + off, framed.size() - off, MSG_NOSIGNAL);
          if (n <= 0) return false;
          off += static_cast<std::size_t>(n);
        }
        return true;
      };
      const auto t0 = std::chrono::steady_clock::now();
      const auto st =
          serve_transfer(query.data(), query.size(), client, *catalog, store_, clock_(), send);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
      log_transfer_(st, client, true);
      spdlog::info("transfer: {} records in {} messages, {} ms, zone {}, secondary {}{}{}",
                   st.records, st.messages, ms, st.zone.empty() ? "-" : st.zone,
                   address_text(client),
                   st.refused       ? " (refused)"
                   : st.incremental ? " (incremental)"
                                    : "",
                   st.tsig_error != 0 ? " (TSIG error " + std::to_string(st.tsig_error) + ")" : "");
    } catch (const std::exception& e) {
      log_transfer_(TransferStats{}, client, false);
      spdlog::error("transfer failed: {}", e.what());
    }
    // Let the secondary read everything before the close.
    shutdown(fd, SHUT_WR);
    // Bounded: a secondary may keep the connection and send more queries.
    char drain[512];
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (running_.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < until &&
           recv(fd, drain, sizeof drain, 0) > 0) {
    }
    std::lock_guard lock(transfers_mutex_);
    close(fd);
    std::erase(transfer_fds_, fd);
    transfers_done_.notify_all();
  }).detach();
}

void DnsServer::log_transfer_(const TransferStats& st, const Client& client, bool ok) {
  const std::string text = address_text(client);
  std::lock_guard lock(transfer_log_mutex_);
  auto& r = transfer_log_[{st.zone, text}];
  r.zone = st.zone;
  r.secondary = text;
  if (!ok) {
    ++r.failed;
  } else if (st.refused) {
    ++r.refused;
  } else {
    ++r.transfers;
    r.last_time = clock_();
    r.last_serial = st.serial;
    r.last_incremental = st.incremental;
  }
}

std::vector<TransferRecord> DnsServer::transfers() const {
  std::lock_guard lock(transfer_log_mutex_);
  std::vector<TransferRecord> out;
  for (const auto& [key, r] : transfer_log_) out.push_back(r);
  return out;
}

void DnsServer::stop() {
  if (!running_.exchange(false)) return;
  {
    // A secondary that stopped reading would hold its transfer in send():
    // shutting the sockets down ends every transfer at once.
    std::unique_lock lock(transfers_mutex_);
    for (const int fd : transfer_fds_) shutdown(fd, SHUT_RDWR);
    transfers_done_.wait(lock, [this] { return transfer_fds_.empty(); });
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (const int fd : udp_fds_) close(fd);
  udp_fds_.clear();
  if (tcp_) {
    tcp_->io.stop();
    if (tcp_->thread.joinable()) tcp_->thread.join();
  }
}

void DnsServer::udp_worker_(int fd, QueryStats& stats, HotSubjects& hot) {
  // Every buffer is allocated once, here; the loop itself does not allocate.
  std::vector<std::uint8_t> in(kBatch * kRecvSize);
  std::vector<std::uint8_t> out(kBatch * kSendSize);
  std::vector<mmsghdr> rmsg(kBatch);
  std::vector<mmsghdr> smsg(kBatch);
  std::vector<iovec> riov(kBatch);
  std::vector<iovec> siov(kBatch);
  std::vector<sockaddr_storage> peers(kBatch);
  Snapshot snapshot(store_);
  const AnswerOptions answer_options{options_.edns_udp_size};
  bool store_error_logged = false;
  std::optional<ResponseRateLimiter> rrl;  // this worker's own table: no lock
  if (options_.rrl.responses_per_second > 0) rrl.emplace(options_.rrl);
  Matched matched;

  while (running_.load(std::memory_order_relaxed)) {
    for (unsigned i = 0; i < kBatch; ++i) {
      riov[i] = {in.data() + i * kRecvSize, kRecvSize};
      rmsg[i].msg_hdr = {};
      rmsg[i].msg_hdr.msg_name = &peers[i];
      rmsg[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      rmsg[i].msg_hdr.msg_iov = &riov[i];
      rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(fd, rmsg.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) {  // timeout (to notice stop) or EINTR: idle, so pin no snapshot
      snapshot.reset();
      continue;
    }
    const std::int64_t now = clock_();
    // The snapshot is kept across batches until some process commits: a
    // change is answered from the next batch on, and an unchanged store
    // costs one read of the meta pages instead of a renewal.
    if (snapshot.stale()) {
      snapshot.reset();
      if (!snapshot.renew() && !store_error_logged) {
        spdlog::error("store {} cannot be read: answering SERVFAIL", store_.env().dir().string());
        store_error_logged = true;
      } else if (snapshot.valid()) {
        store_error_logged = false;
      }
    }
    const auto catalog = std::atomic_load(&catalog_);
    unsigned m = 0;
    for (int i = 0; i < n; ++i) {
      const std::int64_t t0 = monotonic_ns();
      wire::Writer w(out.data() + static_cast<std::size_t>(m) * kSendSize, kSendSize);
      const Client client{client_bytes(peers[static_cast<std::size_t>(i)]), Transport::udp};
      // A datagram longer than the buffer was cut by the kernel: garbage.
      const std::size_t len = rmsg[static_cast<std::size_t>(i)].msg_len;
      if ((rmsg[static_cast<std::size_t>(i)].msg_hdr.msg_flags & MSG_TRUNC) != 0) continue;
      const auto outcome =
          tsig::answer_signed(in.data() + static_cast<std::size_t>(i) * kRecvSize, len, client,
                              *catalog, snapshot, now, answer_options, w, &stats, &matched);
      hot.count(matched, now);
      stats.count_latency(static_cast<std::uint64_t>(monotonic_ns() - t0));
      if (outcome == Outcome::drop) continue;
      if (rrl) {
        const auto verdict = rrl->check(client.addr, t0 / 1000000);
        if (verdict == ResponseRateLimiter::Verdict::drop) {
          stats.rrl_dropped.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (verdict == ResponseRateLimiter::Verdict::slip) {
          stats.rrl_slipped.fetch_add(1, std::memory_order_relaxed);
          w.rollback(truncate_response(w.data(), w.size()));
        }
      }
      if (query_log_.load(std::memory_order_relaxed)) {
        spdlog::info("query from {} len {} -> {} bytes",
                     to_text(peers[static_cast<std::size_t>(i)]), len, w.size());
      }
      siov[m] = {out.data() + static_cast<std::size_t>(m) * kSendSize, w.size()};
      smsg[m].msg_hdr = {};
      smsg[m].msg_hdr.msg_name = &peers[static_cast<std::size_t>(i)];
      smsg[m].msg_hdr.msg_namelen = rmsg[static_cast<std::size_t>(i)].msg_hdr.msg_namelen;
      smsg[m].msg_hdr.msg_iov = &siov[m];
      smsg[m].msg_hdr.msg_iovlen = 1;
      ++m;
    }
    for (unsigned sent = 0; sent < m;) {
      const int r = sendmmsg(fd, smsg.data() + sent, m - sent, 0);
      if (r <= 0) break;  // a full socket buffer: the client will retry
      sent += static_cast<unsigned>(r);
    }
  }
}

}  // namespace rblzone::zoneserver
