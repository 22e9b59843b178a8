// The NOTIFY sender (see notify.hpp).
#include "zoneserver/notify.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include "zoneserver/tsig.hpp"
#include "zoneserver/zone_content.hpp"

namespace rblzone::zoneserver {
namespace {

constexpr std::uint16_t kOpcodeNotify = 4;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// "ADDR:PORT" or "[V6]:PORT" (validated by the config loader).
std::optional<Target> parse_target(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 2 > text.size()) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  const int p = std::atoi(port.c_str());
  if (p <= 0 || p > 65535) return std::nullopt;
  Target t;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&t.addr);   // NOLINT
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&t.addr);  // NOLINT
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(p));
    t.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(p));
    t.len = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;
  }
  return t;
}

bool same_peer(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a);  // NOLINT
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b);  // NOLINT
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const auto* x = reinterpret_cast<const sockaddr_in6*>(&a);  // NOLINT
  const auto* y = reinterpret_cast<const sockaddr_in6*>(&b);  // NOLINT
  return x->sin6_port == y->sin6_port && std::memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

int open_socket(int family) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_storage any{};
  socklen_t len = 0;
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&any);  // NOLINT
    v4->sin_family = AF_INET;
    len = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&any);  // NOLINT
    v6->sin6_family = AF_INET6;
    const int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    len = sizeof(sockaddr_in6);
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&any), len) != 0) {  // NOLINT
    close(fd);
    return -1;
  }
  return fd;
}

// One secondary of one zone still waiting for its acknowledgement.
struct Pending {
  std::string zone;
  std::string target_text;
  Target target;
  std::uint16_t id = 0;
  std::uint32_t serial = 0;
  unsigned attempts = 0;
  std::int64_t next_ms = 0;
  std::optional<core::TsigKeyConfig> key;  // the zone's: NOTIFY signed, answer verified
  std::string mac;                         // of the last NOTIFY sent, to verify the answer
};

struct ZoneState {
  std::uint32_t notified = 0;
  bool any = false;
  std::int64_t last_ms = 0;
};

}  // namespace

std::string notify_message(const CatalogZone& zone, std::uint16_t id, std::uint32_t serial) {
  std::string m;
  const auto put16 = [&m](std::uint32_t v) {
    m.push_back(static_cast<char>(v >> 8));
    m.push_back(static_cast<char>(v));
  };
  put16(id);
  put16((kOpcodeNotify << 11) | wire::flag::AA);
  put16(1);  // question
  put16(1);  // answer: the SOA, a hint of the new serial
  put16(0);
  put16(0);
  m.append(reinterpret_cast<const char*>(zone.apex.wire), zone.apex.size);  // NOLINT
  put16(wire::type::SOA);
  put16(wire::kClassIN);
  put16(0xc000 | wire::kHeaderSize);
  put16(wire::type::SOA);
  put16(wire::kClassIN);
  put16(zone.config.soa.ttl >> 16);
  put16(zone.config.soa.ttl & 0xffff);
  const std::string rdata = soa_rdata(zone, serial);
  put16(static_cast<std::uint32_t>(rdata.size()));
  m += rdata;
  return m;
}

Notifier::Notifier(core::Store& store, CatalogSource catalog, NotifyOptions options)
    : store_(store), catalog_(std::move(catalog)), options_(options) {}

Notifier::~Notifier() {
  stop();
}

void Notifier::start() {
  fd4_ = open_socket(AF_INET);
  fd6_ = open_socket(AF_INET6);  // may fail on hosts without IPv6
  if (fd4_ < 0 && fd6_ < 0) throw std::runtime_error("NOTIFY: cannot open a UDP socket");
  running_ = true;
  thread_ = std::thread([this] { run_(); });
}

void Notifier::stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
  for (int* fd : {&fd4_, &fd6_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void Notifier::run_() {
  std::map<std::string, ZoneState> zones;
  std::vector<Pending> pending;
  std::mt19937 rng(std::random_device{}());
  std::uint64_t last_txn = 0;
  bool first = true;

  const auto send = [&](Pending& p, const CatalogZone& z) {
    const int fd = p.target.addr.ss_family == AF_INET ? fd4_ : fd6_;
    std::string m = notify_message(z, p.id, p.serial);
    p.key = z.config.transfer.tsig;
    if (p.key) {
      tsig::Signer signer(*p.key, std::nullopt, static_cast<std::uint64_t>(std::time(nullptr)));
      signer.sign(m);
      p.mac = signer.last_mac();
    }
    if (fd >= 0) {
      sendto(fd, m.data(), m.size(), 0,
             reinterpret_cast<const sockaddr*>(&p.target.addr),  // NOLINT
             p.target.len);
      sent_.fetch_add(1);
    }
    ++p.attempts;
    const unsigned shift = std::min(p.attempts - 1, 16u);
    const std::int64_t wait =
        std::min<std::int64_t>(std::int64_t{options_.retry_ms} << shift, options_.max_retry_ms);
    p.next_ms = now_ms() + wait;
    if (p.attempts > 1) {
      spdlog::warn("NOTIFY {} serial {} to {}: no answer yet, attempt {}", p.zone, p.serial,
                   p.target_text, p.attempts);
    }
  };

  while (running_.load()) {
    pollfd fds[2] = {{fd4_, POLLIN, 0}, {fd6_, POLLIN, 0}};
    poll(fds, 2, static_cast<int>(options_.poll_ms));
    // Acknowledgements: a response with our id, opcode NOTIFY, from the target.
    for (const int fd : {fd4_, fd6_}) {
      if (fd < 0) continue;
      for (;;) {
        std::uint8_t buf[4096];
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        const ssize_t n =
            recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from),  // NOLINT
                     &flen);
        if (n < 0) break;
        if (n < 12 || (buf[2] & 0x80) == 0 || ((buf[2] >> 3) & 0xf) != kOpcodeNotify) continue;
        const auto id = static_cast<std::uint16_t>((buf[0] << 8) | buf[1]);
        for (auto it = pending.begin(); it != pending.end(); ++it) {
          if (it->id == id && same_peer(it->target.addr, from)) {
            // With a key, only a signed answer counts (RFC 8945 section 5.4.2).
            if (it->key && !tsig::verify_response(buf, static_cast<std::size_t>(n), *it->key,
                                                  it->mac, std::time(nullptr))) {
              spdlog::warn("NOTIFY {} to {}: answer without a valid TSIG of key {}, ignored",
                           it->zone, it->target_text, it->key->name);
              break;
            }
            const int rcode = buf[3] & 0xf;
            if (rcode != 0) {
              spdlog::warn("NOTIFY {} to {}: answered with rcode {}", it->zone, it->target_text,
                           rcode);
            }
            acked_.fetch_add(1);
            pending.erase(it);
            break;
          }
        }
      }
    }

    const auto catalog = catalog_();
    if (!catalog) continue;
    const std::int64_t now = now_ms();
    // Serials are read only when some process has committed since last time.
    std::uint64_t txn = 0;
    try {
      txn = store_.env().last_txn_id();
    } catch (const std::exception&) {
      continue;
    }
    const bool changed = first || txn != last_txn;
    bool held_back = false;
    if (changed) {
      try {
        const core::ReadTxn read = store_.env().begin_read();
        for (const auto& z : catalog->zones()) {
          if (z->config.transfer.notify.empty()) continue;
          const std::uint32_t serial = zone_serial(*z, store_, read);
          ZoneState& st = zones[z->config.name];
          if (st.any && st.notified == serial) continue;
          if (st.any && now - st.last_ms < options_.min_interval_ms) {
            held_back = true;  // coalesced into the next round
            continue;
          }
          st.any = true;
          st.notified = serial;
          st.last_ms = now;
          for (const auto& text : z->config.transfer.notify) {
            const auto target = parse_target(text);
            if (!target) continue;
            // A newer serial replaces an unacknowledged older one.
            std::erase_if(pending, [&](const Pending& p) {
              return p.zone == z->config.name && p.target_text == text;
            });
            Pending p;
            p.zone = z->config.name;
            p.target_text = text;
            p.target = *target;
            p.id = static_cast<std::uint16_t>(rng());
            p.serial = serial;
            send(p, *z);
            pending.push_back(std::move(p));
          }
        }
      } catch (const std::exception& e) {
        spdlog::error("NOTIFY: cannot read serials: {}", e.what());
        continue;
      }
    }
    if (!held_back) {
      last_txn = txn;
      first = false;
    }
    for (auto& p : pending) {
      if (now < p.next_ms) continue;
      const CatalogZone* zone = nullptr;
      for (const auto& z : catalog->zones()) {
        if (z->config.name == p.zone) zone = z.get();
      }
      if (zone) send(p, *zone);
    }
    std::erase_if(pending, [&](const Pending& p) {
      for (const auto& z : catalog->zones()) {
        if (z->config.name == p.zone) return false;
      }
      return true;  // the zone is gone after a reload
    });
  }
}

}  // namespace rblzone::zoneserver
