// The daemon's process plumbing without a daemon: sd_notify datagrams to a
// socket the test owns, the watchdog pinger, the journal log format, config
// comparison for reloads, and the upkeep metrics.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "admin/metrics.hpp"
#include "cmd/daemon_log.hpp"
#include "cmd/daemon_reload.hpp"
#include "cmd/sd_notify.hpp"
#include "cmd/status_cli.hpp"
#include "temp_dir.hpp"

using namespace rblzone;

namespace {

// A bound unix datagram socket; receive() returns one message or "" on timeout.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    REQUIRE(bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) == 0);
    timeval tv{2, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  std::string receive() const {
    char buf[4096];
    const auto n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("sd_notify messages reach a path socket", "[daemon]") {
  testing::TempDir dir("notify");
  const auto path = (dir.path() / "notify.sock").string();
  NotifySocket sock(path);
  const daemon::Notifier n(path);
  REQUIRE(n.enabled());
  REQUIRE(n.ready("serving 3 zones"));
  const auto ready = sock.receive();
  CHECK(ready.find("READY=1\n") == 0);
  CHECK(ready.find("STATUS=serving 3 zones") != std::string::npos);
  CHECK(ready.find("MAINPID=" + std::to_string(getpid())) != std::string::npos);
  REQUIRE(n.reloading());
  const auto reloading = sock.receive();
  CHECK(reloading.find("RELOADING=1\nMONOTONIC_USEC=") == 0);
  REQUIRE(n.stopping());
  CHECK(sock.receive() == "STOPPING=1");
}

TEST_CASE("sd_notify reaches an abstract socket ('@' name)", "[daemon]") {
  const std::string name = "@rblzone-test-" + std::to_string(getpid());
  NotifySocket sock(name);
  REQUIRE(daemon::Notifier(name).status("hello"));
  CHECK(sock.receive() == "STATUS=hello");
}

TEST_CASE("sd_notify outside systemd does nothing", "[daemon]") {
  const daemon::Notifier none;
  CHECK_FALSE(none.enabled());
  CHECK_FALSE(none.ready("x"));
  // A relative path is not a valid NOTIFY_SOCKET.
  CHECK_FALSE(daemon::Notifier("relative.sock").enabled());
  // A socket nobody listens on: false, no throw.
  CHECK_FALSE(daemon::Notifier("/nonexistent/rblzone.sock").ready("x"));
}

TEST_CASE("the environment sets the socket and the watchdog", "[daemon]") {
  setenv("NOTIFY_SOCKET", "@rblzone-env", 1);
  setenv("WATCHDOG_USEC", "250000", 1);
  unsetenv("WATCHDOG_PID");
  auto n = daemon::Notifier::from_environment();
  CHECK(n.enabled());
  REQUIRE(n.watchdog());
  CHECK(n.watchdog()->count() == 250000);
  // The watchdog is for another process: not ours to ping.
  setenv("WATCHDOG_PID", "1", 1);
  CHECK_FALSE(daemon::Notifier::from_environment().watchdog());
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  CHECK(daemon::Notifier::from_environment().watchdog());
  setenv("WATCHDOG_USEC", "12x", 1);
  CHECK_FALSE(daemon::Notifier::from_environment().watchdog());
  unsetenv("NOTIFY_SOCKET");
  setenv("WATCHDOG_USEC", "250000", 1);
  CHECK_FALSE(daemon::Notifier::from_environment().enabled());
  CHECK_FALSE(daemon::Notifier::from_environment().watchdog());
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

TEST_CASE("the watchdog pings at half the interval while alive", "[daemon]") {
  testing::TempDir dir("watchdog");
  const auto path = (dir.path() / "notify.sock").string();
  NotifySocket sock(path);
  const daemon::Notifier n(path, std::chrono::microseconds(100000));
  const auto t0 = std::chrono::steady_clock::now();
  {
    daemon::WatchdogPinger pinger(n, [] { return true; });
    for (int i = 0; i < 4; ++i) CHECK(sock.receive() == "WATCHDOG=1");
  }
  // Four pings 50 ms apart (the first at once): at least 150 ms.
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(140));
}

TEST_CASE("a daemon that is not alive stops pinging", "[daemon]") {
  testing::TempDir dir("watchdog-dead");
  const auto path = (dir.path() / "notify.sock").string();
  NotifySocket sock(path);
  const daemon::Notifier n(path, std::chrono::microseconds(20000));
  daemon::WatchdogPinger pinger(n, [] { return false; });
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  n.status("marker");
  CHECK(sock.receive() == "STATUS=marker");
}

TEST_CASE("journal priorities follow sd-daemon(3)", "[daemon]") {
  CHECK(daemon::journal_priority("debug") == 7);
  CHECK(daemon::journal_priority("trace") == 7);
  CHECK(daemon::journal_priority("info") == 6);
  CHECK(daemon::journal_priority("warning") == 4);
  CHECK(daemon::journal_priority("error") == 3);
  CHECK(daemon::journal_priority("critical") == 2);
}

TEST_CASE("JOURNAL_STREAM counts only when it names our stdout or stderr", "[daemon]") {
  struct stat st {};
  REQUIRE(fstat(2, &st) == 0);
  const auto ours = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  setenv("JOURNAL_STREAM", ours.c_str(), 1);
  CHECK(daemon::logging_to_journal());
  setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":1").c_str(), 1);
  CHECK_FALSE(daemon::logging_to_journal());
  setenv("JOURNAL_STREAM", "garbage", 1);
  CHECK_FALSE(daemon::logging_to_journal());
  unsetenv("JOURNAL_STREAM");
  CHECK_FALSE(daemon::logging_to_journal());
}

TEST_CASE("the command line wins over the config file", "[daemon]") {
  testing::TempDir dir("resolve");
  dir.write("d.toml",
            "data_dir = \"/srv/data\"\nlog_level = \"warn\"\n[dns]\nlisten = [\"0.0.0.0:53\"]\n");
  daemon::DaemonArgs args;
  args.config_file = (dir.path() / "d.toml").string();
  auto cfg = daemon::resolve_config(args);
  CHECK(cfg.data_dir == "/srv/data");
  CHECK(cfg.log_level == "warn");
  CHECK(cfg.dns_listen == std::vector<std::string>{"0.0.0.0:53"});
  args.data_dir = "/tmp/x";
  args.dns_listen = {""};
  args.http_listen = "127.0.0.1:0";
  args.log_level = "debug";
  cfg = daemon::resolve_config(args);
  CHECK(cfg.data_dir == "/tmp/x");
  CHECK_FALSE(cfg.dns_enabled);
  CHECK(cfg.http_listen == "127.0.0.1:0");
  CHECK(cfg.log_level == "debug");
  dir.write("bad.toml", "log_level = \"loud\"\n");
  args.config_file = (dir.path() / "bad.toml").string();
  CHECK_THROWS_AS(daemon::resolve_config(args), core::ConfigError);
}

TEST_CASE("a reload applies live settings and keeps the rest", "[daemon]") {
  core::DaemonConfig running;
  core::DaemonConfig next = running;
  CHECK(daemon::compare_config(running, next).live.empty());
  CHECK(daemon::compare_config(running, next).need_restart.empty());
  next.log_level = "debug";
  next.query_log = true;
  next.zones_dir = "/other/zones";
  next.dns_listen = {"0.0.0.0:53"};
  next.data_dir = "/elsewhere";
  next.tcp_idle_timeout_ms = 1;
  const auto c = daemon::compare_config(running, next);
  CHECK(c.live == std::vector<std::string>{"log_level", "dns.query_log", "zones_dir"});
  CHECK(c.need_restart ==
        std::vector<std::string>{"data_dir", "dns.listen", "dns.tcp_idle_timeout"});
  const auto merged = daemon::merge_live(running, next);
  CHECK(merged.log_level == "debug");
  CHECK(merged.query_log);
  CHECK(merged.zones_dir == "/other/zones");
  CHECK(merged.dns_listen == running.dns_listen);
  CHECK(merged.data_dir == running.data_dir);
  CHECK(merged.tcp_idle_timeout_ms == running.tcp_idle_timeout_ms);
}

TEST_CASE("zone changes name what was added and removed", "[daemon]") {
  std::vector<core::ZoneConfig> a(2);
  a[0].name = "one.test";
  a[1].name = "two.test";
  std::vector<core::ZoneConfig> b(2);
  b[0].name = "two.test";
  b[1].name = "three.test";
  const auto c = daemon::compare_zones(a, b);
  CHECK(c.added == std::vector<std::string>{"three.test"});
  CHECK(c.removed == std::vector<std::string>{"one.test"});
}

TEST_CASE("upkeep metrics show reloads and sweeper lag", "[daemon][metrics]") {
  admin::DaemonHealth h;
  h.started = 1000;
  h.reloads_ok = 3;
  h.reloads_failed = 1;
  h.last_reload = 1500;
  h.last_reload_ok = false;
  const auto before_sweep = admin::render_daemon_metrics(h, 1600);
  CHECK(before_sweep.find("rblzone_uptime_seconds 600\n") != std::string::npos);
  CHECK(before_sweep.find("rblzone_config_reloads_total{result=\"success\"} 3\n") !=
        std::string::npos);
  CHECK(before_sweep.find("rblzone_config_reloads_total{result=\"failure\"} 1\n") !=
        std::string::npos);
  CHECK(before_sweep.find("rblzone_config_last_reload_successful 0\n") != std::string::npos);
  CHECK(before_sweep.find("rblzone_config_last_reload_timestamp_seconds 1500\n") !=
        std::string::npos);
  // No sweep yet: lag counts from the start.
  CHECK(before_sweep.find("rblzone_sweeper_lag_seconds 600\n") != std::string::npos);
  h.last_sweep = 1590;
  h.swept = 7;
  const auto after = admin::render_daemon_metrics(h, 1600);
  CHECK(after.find("rblzone_sweeper_lag_seconds 10\n") != std::string::npos);
  CHECK(after.find("rblzone_sweeper_last_success_timestamp_seconds 1590\n") != std::string::npos);
  CHECK(after.find("rblzone_sweeper_removed_total 7\n") != std::string::npos);
  // A clock that went back never gives a huge unsigned lag.
  CHECK(admin::render_daemon_metrics(h, 1500).find("rblzone_sweeper_lag_seconds 0\n") !=
        std::string::npos);
}

TEST_CASE("status reads Prometheus text and histogram quantiles", "[daemon][status]") {
  const auto m = cli::parse_metrics(
      "# HELP x y\n# TYPE x counter\nrblzone_dns_queries_total 42\n"
      "rblzone_dns_responses_total{rcode=\"NOERROR\"} 40\n"
      "h_bucket{le=\"0.001\"} 50\nh_bucket{le=\"0.01\"} 99\nh_bucket{le=\"+Inf\"} 100\n"
      "garbage\nbad value\n");
  CHECK(m.at("rblzone_dns_queries_total") == 42);
  CHECK(m.at("rblzone_dns_responses_total{rcode=\"NOERROR\"}") == 40);
  CHECK(m.count("bad") == 0);
  CHECK(cli::histogram_quantile(m, "h", 0.5) == Approx(0.001));
  CHECK(cli::histogram_quantile(m, "h", 0.99) == Approx(0.01));
  CHECK(std::isinf(*cli::histogram_quantile(m, "h", 1.0)));
  CHECK_FALSE(cli::histogram_quantile(m, "none", 0.5));
}

TEST_CASE("status says why a daemon cannot be read", "[daemon][status]") {
  CHECK_THROWS_WITH(cli::http_get("http://127.0.0.1:1", "/metrics"),
                    Catch::Contains("cannot connect to http://127.0.0.1:1"));
  CHECK_THROWS_WITH(cli::http_get("http://[::1", "/metrics"), Catch::Contains("bad URL"));
}
