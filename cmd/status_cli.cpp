// `rblzone status`: the store's figures and, when given, the daemon's.
#include "cmd/status_cli.hpp"

#include <lmdb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "core/config.hpp"
#include "core/listing.hpp"

namespace rblzone::cli {
namespace {

using nlohmann::json;

constexpr int kOk = 0;
constexpr int kBadInput = 2;
constexpr int kFailure = 3;

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", b, units[i]);
  return buf;
}

std::string human_seconds(double s) {
  const auto t = static_cast<long long>(s);
  char buf[48];
  if (t >= 86400) {
    std::snprintf(buf, sizeof buf, "%lldd%lldh", t / 86400, t % 86400 / 3600);
  } else if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%lldm", t / 3600, t % 3600 / 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%llds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%llds", t);
  }
  return buf;
}

// Store figures: one read transaction over every configured zone.
json store_status(const core::DaemonConfig& cfg, const std::vector<core::ZoneConfig>& zones,
                  const core::Clock& clock) {
  core::Store store(cfg.data_dir, clock);
  const auto now = clock();
  auto txn = store.env().begin_read();
  json out;
  out["data_dir"] = cfg.data_dir.string();
  MDB_envinfo info{};
  MDB_stat stat{};
  mdb_env_info(store.env().handle(), &info);
  mdb_env_stat(store.env().handle(), &stat);
  const auto used = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  out["store_used_bytes"] = used;
  out["store_map_bytes"] = info.me_mapsize;
  out["zones"] = json::array();
  for (const auto& z : zones) {
    json zj{{"name", z.name}, {"kind", std::string(core::to_string(z.kind))}};
    const auto ref = store.find_zone(txn, z.name);
    zj["serial"] = ref ? store.serial(txn, *ref) : 0;
    std::uint64_t listed = 0;
    std::uint64_t excluded = 0;
    std::uint64_t expired = 0;
    std::map<std::string, std::uint64_t> by_source;
    if (ref && z.kind != core::ZoneKind::combined) {
      store.for_each(txn, *ref, [&](const core::Subject&, const core::Listing& l) {
        if (l.exclusion()) {
          ++excluded;
        } else if (!l.active_at(now)) {
          ++expired;  // absent from DNS already; the sweeper removes it
        } else {
          ++listed;
          ++by_source[std::string(core::to_string(l.source))];
        }
        return true;
      });
    }
    zj["listed"] = listed;
    zj["excluded"] = excluded;
    zj["expired_unswept"] = expired;
    zj["listed_by_source"] = by_source;
    out["zones"].push_back(zj);
  }
  return out;
}

double value_or(const std::map<std::string, double>& m, const std::string& key, double dflt = 0) {
  const auto it = m.find(key);
  return it == m.end() ? dflt : it->second;
}

json daemon_status(const std::string& url) {
  const auto samples = parse_metrics(http_get(url, "/metrics"));
  json d;
  d["url"] = url;
  d["uptime_seconds"] = value_or(samples, "rblzone_uptime_seconds");
  d["dns_queries"] = value_or(samples, "rblzone_dns_queries_total");
  json rcodes = json::object();
  const std::string prefix = "rblzone_dns_responses_total{rcode=\"";
  for (const auto& [k, v] : samples) {
    if (k.rfind(prefix, 0) == 0) rcodes[k.substr(prefix.size(), k.size() - prefix.size() - 2)] = v;
  }
  d["dns_responses"] = rcodes;
  for (const double q : {0.5, 0.99}) {
    const auto v = histogram_quantile(samples, "rblzone_dns_query_duration_seconds", q);
    d[q == 0.5 ? "dns_latency_p50_seconds" : "dns_latency_p99_seconds"] =
        v ? json(*v) : json(nullptr);
  }
  d["reloads_ok"] = value_or(samples, "rblzone_config_reloads_total{result=\"success\"}");
  d["reloads_failed"] = value_or(samples, "rblzone_config_reloads_total{result=\"failure\"}");
  d["last_reload_ok"] = value_or(samples, "rblzone_config_last_reload_successful", 1) != 0;
  d["sweeper_lag_seconds"] = value_or(samples, "rblzone_sweeper_lag_seconds");
  return d;
}

void print_table(const json& s, std::ostream& out) {
  if (s.contains("store")) {
    const auto& st = s["store"];
    const double used = st["store_used_bytes"].get<double>();
    const double map = st["store_map_bytes"].get<double>();
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.1f%%", map > 0 ? used * 100 / map : 0.0);
    out << "data dir   " << st["data_dir"].get<std::string>() << "\n"
        << "store      " << human_bytes(used) << " used of a " << human_bytes(map) << " map ("
        << pct << ")\n\n";
    char line[256];
    std::snprintf(line, sizeof line, "%-28s %-9s %-11s %9s %9s %8s  %s\n", "ZONE", "KIND", "SERIAL",
                  "LISTED", "EXCLUDED", "EXPIRED", "BY SOURCE");
    out << line;
    for (const auto& z : st["zones"]) {
      std::string sources;
      for (const auto& [k, v] : z["listed_by_source"].items()) {
        sources += (sources.empty() ? "" : " ") + k + "=" + std::to_string(v.get<std::uint64_t>());
      }
      std::snprintf(line, sizeof line, "%-28s %-9s %-11u %9llu %9llu %8llu  %s\n",
                    z["name"].get<std::string>().c_str(), z["kind"].get<std::string>().c_str(),
                    z["serial"].get<unsigned>(), z["listed"].get<unsigned long long>(),
                    z["excluded"].get<unsigned long long>(),
                    z["expired_unswept"].get<unsigned long long>(),
                    sources.empty() ? "-" : sources.c_str());
      out << line;
    }
  }
  if (s.contains("daemon")) {
    const auto& d = s["daemon"];
    out << "\ndaemon     " << d["url"].get<std::string>() << ", up "
        << human_seconds(d["uptime_seconds"].get<double>()) << "\n";
    out << "dns        " << static_cast<unsigned long long>(d["dns_queries"].get<double>())
        << " queries;";
    for (const auto& [k, v] : d["dns_responses"].items()) {
      out << " " << k << " " << static_cast<unsigned long long>(v.get<double>());
    }
    out << "\n";
    const auto lat = [](const json& v) {
      if (v.is_null()) return std::string("-");
      char b[32];
      std::snprintf(b, sizeof b, "<= %.0f us", v.get<double>() * 1e6);
      return std::string(b);
    };
    out << "latency    p50 " << lat(d["dns_latency_p50_seconds"]) << ", p99 "
        << lat(d["dns_latency_p99_seconds"]) << "\n";
    out << "reloads    " << d["reloads_ok"].get<double>() << " applied, "
        << d["reloads_failed"].get<double>() << " refused; last "
        << (d["last_reload_ok"].get<bool>() ? "ok" : "REFUSED (see the log)") << "\n";
    out << "sweeper    lag " << human_seconds(d["sweeper_lag_seconds"].get<double>()) << "\n";
  }
  if (s.contains("daemon_error")) {
    out << "\ndaemon     unreachable: " << s["daemon_error"].get<std::string>() << "\n";
  }
}

}  // namespace

CLI::App* add_status_command(CLI::App& app, StatusOptions& options) {
  auto* cmd = app.add_subcommand(
      "status", "the service at a glance: zones, listings, store; with --url the daemon's figures");
  cmd->add_option("--url", options.url, "the daemon's admin address, e.g. http://127.0.0.1:8080");
  return cmd;
}

int run_status(const StatusOptions& options, const std::string& config_file,
               const std::string& data_dir, const std::string& zones_dir, bool as_json,
               std::ostream& out, std::ostream& err, const core::Clock& clock) {
  core::DaemonConfig cfg;
  std::vector<core::ZoneConfig> zones;
  try {
    if (!config_file.empty()) cfg = core::load_daemon_config(config_file);
    if (!data_dir.empty()) cfg.data_dir = data_dir;
    if (!zones_dir.empty()) cfg.zones_dir = zones_dir;
    zones = core::load_zones(cfg.zones_dir);
  } catch (const core::ConfigError& e) {
    err << "rblzone: " << e.what() << "\n";
    return kBadInput;
  }
  if (!options.url.empty() && options.url.rfind("http://", 0) != 0) {
    err << "rblzone: --url must start with http:// (got '" << options.url << "')\n";
    return kBadInput;
  }
  int rc = kOk;
  json s;
  if (!std::filesystem::exists(cfg.data_dir)) {
    s["store_error"] = "no data directory " + cfg.data_dir.string();
    rc = kFailure;
  } else {
    try {
      s["store"] = store_status(cfg, zones, clock);
    } catch (const std::exception& e) {
      s["store_error"] = e.what();
      rc = kFailure;
    }
  }
  if (!options.url.empty()) {
    try {
      s["daemon"] = daemon_status(options.url);
    } catch (const std::exception& e) {
      s["daemon_error"] = e.what();
      rc = kFailure;
    }
  }
  if (as_json) {
    out << s.dump() << "\n";
  } else {
    print_table(s, out);
  }
  if (s.contains("store_error")) {
    err << "rblzone: store: " << s["store_error"].get<std::string>() << "\n";
  }
  if (s.contains("daemon_error")) {
    err << "rblzone: daemon: " << s["daemon_error"].get<std::string>() << "\n";
  }
  return rc;
}

std::map<std::string, double> parse_metrics(std::string_view text) {
  std::map<std::string, double> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string_view::npos) continue;
    try {
      out[std::string(line.substr(0, sp))] = std::stod(std::string(line.substr(sp + 1)));
    } catch (const std::exception&) {
      // Not a number ("NaN" parses; anything else is skipped).
    }
  }
  return out;
}

std::optional<double> histogram_quantile(const std::map<std::string, double>& samples,
                                         std::string_view name, double q) {
  const std::string prefix = std::string(name) + "_bucket{le=\"";
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative)
  for (const auto& [k, v] : samples) {
    if (k.rfind(prefix, 0) != 0) continue;
    const auto le = k.substr(prefix.size(), k.size() - prefix.size() - 2);
    buckets.emplace_back(le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le), v);
  }
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0) return std::nullopt;
  const double want = q * buckets.back().second;
  for (const auto& [le, cumulative] : buckets) {
    if (cumulative >= want) return le;
  }
  return buckets.back().first;
}

std::string http_get(const std::string& url, const std::string& path) {
  // http://HOST:PORT or http://[V6]:PORT, nothing after but an optional '/'.
  std::string rest = url.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string host;
  std::string port = "80";
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) throw std::runtime_error("bad URL " + url);
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (host.empty() || rest.find('/') != std::string::npos)
    throw std::runtime_error("bad URL " + url);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    throw std::runtime_error("cannot resolve " + host + ":" + port);
  }
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot connect to " + url + ": " + std::strerror(errno));
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
  std::string resp;
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[16384];
    for (;;) {
      const auto n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      resp.append(buf, static_cast<std::size_t>(n));
      if (resp.size() > (64U << 20)) break;
    }
  }
  close(fd);
  const auto body = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    throw std::runtime_error("no HTTP answer from " + url);
  }
  if (resp.compare(9, 3, "200") != 0) {
    throw std::runtime_error(url + path + ": " + resp.substr(9, resp.find('\r') - 9));
  }
  return resp.substr(body + 4);
}

}  // namespace rblzone::cli
