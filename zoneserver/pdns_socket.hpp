// The PowerDNS remote backend's unix socket connector: pdns_server connects
// with `remote-connection-string=unix:path=...` and sends newline-terminated
// JSON requests, one at a time per connection. Many connections are served
// at once, each in order; a connection is closed only when pdns closes it,
// sends garbage that cannot be framed, or the server stops.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

#include "core/store.hpp"
#include "zoneserver/pdns_backend.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::zoneserver {

struct PdnsSocketOptions {
  std::filesystem::path path;             // created (a stale socket replaced), removed on stop
  unsigned threads = 2;                   // io threads; each connection runs on one at a time
  std::size_t max_request = 1024 * 1024;  // a longer line closes the connection
  unsigned max_connections = 256;         // over it, a new connection is accepted and closed
  pdns::BackendOptions backend;
};

class PdnsSocketServer {
 public:
  PdnsSocketServer(core::Store& store, std::shared_ptr<const ZoneCatalog> catalog,
                   PdnsSocketOptions options, core::Clock clock = core::system_now);
  ~PdnsSocketServer();  // stops
  PdnsSocketServer(const PdnsSocketServer&) = delete;
  PdnsSocketServer& operator=(const PdnsSocketServer&) = delete;

  // Binds the socket (mode 0666: access is governed by its directory) and
  // starts the threads. Throws std::runtime_error naming the path when it
  // cannot listen, or when the path exists and is not a socket.
  void start();
  // Closes the listener and every connection, joins the threads and removes
  // the socket file. Idempotent.
  void stop();

  // Swaps the zone catalog; requests already running finish with the old one.
  void set_catalog(std::shared_ptr<const ZoneCatalog> catalog);

 private:
  struct Impl;
  core::Store& store_;
  std::shared_ptr<const ZoneCatalog> catalog_;  // accessed with std::atomic_load/store
  PdnsSocketOptions options_;
  core::Clock clock_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rblzone::zoneserver
