// The `rblzone import` command: flags and a source TOML into an importer
// run, a progress line on a terminal, a summary at the end, and --watch.
#include "cmd/import_cli.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>

#include "cmd/operator_cli.hpp"
#include "core/config.hpp"
#include "importer/import_run.hpp"

namespace rblzone::cli {
namespace fs = std::filesystem;
using nlohmann::json;

struct ImportCommand {
  CLI::App* app = nullptr;
  std::string source;
  std::string zone;
  std::vector<std::string> paths;
  std::string source_config;
  std::string feed;
  std::vector<std::string> trusted;
  std::vector<std::string> trusted_hosts;
  std::string trust;
  double weight = -1;
  std::size_t batch = 0;
  std::uint64_t threshold = 200;
  std::string window = "1d";
  std::string by = "address";
  std::string type;
  std::string subzone = "@";
  std::string as = "import";
  std::string duration;
  bool keep_removed = false;
  bool watch = false;
  bool no_progress = false;
};

namespace {

struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) {
  g_stop.store(true);
}

std::int64_t duration_seconds(const std::string& text) {
  const auto d = core::parse_duration(text);
  if (!d || d->count() < 1000)
    throw BadInput("bad duration '" + text + "' (want e.g. 90s, 15m, 24h, 7d)");
  return static_cast<std::int64_t>(d->count() / 1000);
}

core::IpPrefix prefix_of(const std::string& text) {
  std::string error;
  const auto p = core::IpPrefix::parse(text, &error);
  if (!p) throw BadInput("bad trusted prefix '" + text + "': " + error);
  return *p;
}

importer::SourceConfig source_config(const ImportCommand& c) {
  importer::SourceConfig s;
  if (!c.source_config.empty()) {
    toml::table t;
    try {
      t = toml::parse_file(c.source_config);
    } catch (const toml::parse_error& e) {
      throw BadInput(c.source_config + ":" + std::to_string(e.source().begin.line) + ": " +
                     std::string(e.description()));
    }
    for (const auto& [k, v] : t) {
      const std::string key(k.str());
      const auto bad = [&](const char* want) {
        throw BadInput(c.source_config + ": " + key + ": expected " + want);
      };
      if (key == "name") {
        if (!v.is_string()) bad("a string");
        s.name = *v.value<std::string>();
      } else if (key == "trust") {
        const auto tr = v.value<std::string>();
        const auto parsed = tr ? core::parse_trust(*tr) : std::nullopt;
        if (!parsed) bad("trap, trusted or untrusted");
        s.trust = *parsed;
      } else if (key == "weight") {
        const auto w = v.value<double>();
        if (!w) bad("a number");
        s.weight = *w;
      } else if (key == "trusted" || key == "trusted_hosts") {
        const auto* arr = v.as_array();
        if (arr == nullptr) bad("an array of strings");
        for (const auto& e : *arr) {
          const auto str = e.value<std::string>();
          if (!str) bad("an array of strings");
          if (key == "trusted") {
            s.trusted.prefixes.push_back(prefix_of(*str));
          } else {
            std::string h = *str;
            std::transform(h.begin(), h.end(), h.begin(), ::tolower);
            s.trusted.hosts.push_back(h);
          }
        }
      } else if (key == "weights") {
        const auto* tab = v.as_table();
        if (tab == nullptr) bad("a table of trap = weight");
        for (const auto& [tk, tv] : *tab) {
          const auto w = tv.value<double>();
          if (!w) bad("numbers");
          s.trap_weights[std::string(tk.str())] = *w;
        }
      } else if (key == "batch") {
        const auto b = v.value<std::int64_t>();
        if (!b || *b < 1) bad("a positive integer");
        s.batch = static_cast<std::size_t>(*b);
      } else {
        throw BadInput(c.source_config + ": unknown key '" + key +
                       "' (name, trust, weight, weights, trusted, trusted_hosts, batch)");
      }
    }
  }
  if (!c.feed.empty()) s.name = c.feed;
  if (!c.trust.empty()) {
    const auto t = core::parse_trust(c.trust);
    if (!t) throw BadInput("bad trust '" + c.trust + "' (want trap, trusted or untrusted)");
    s.trust = *t;
  }
  if (c.weight >= 0) s.weight = c.weight;
  if (c.batch > 0) s.batch = c.batch;
  for (const auto& p : c.trusted) s.trusted.prefixes.push_back(prefix_of(p));
  for (auto h : c.trusted_hosts) {
    std::transform(h.begin(), h.end(), h.begin(), ::tolower);
    s.trusted.hosts.push_back(h);
  }
  return s;
}

void print_summary(const ImportCommand& c, const importer::Summary& s, bool as_json,
                   std::ostream& out, std::ostream& err) {
  if (as_json) {
    auto j = s.to_json();
    j["source"] = c.source;
    j["zone"] = c.zone;
    out << j.dump() << "\n";
    return;
  }
  out << c.source << " -> " << c.zone << ": read " << s.read << ", reports " << s.reports
      << ", new listings " << s.listed << ", extended " << s.extended << ", already imported "
      << s.already;
  if (c.source == "rbldnsd") out << ", removed " << s.removed;
  std::uint64_t skipped = 0;
  for (const auto& [k, v] : s.skipped) skipped += v;
  out << ", skipped " << skipped << "\n";
  for (const auto& [k, v] : s.skipped) out << "  skipped " << v << ": " << k << "\n";
  const std::size_t shown = std::min<std::size_t>(s.problems.size(), 20);
  for (std::size_t i = 0; i < shown; ++i) err << "rblzone: " << s.problems[i] << "\n";
  if (s.problems.size() > shown)
    err << "rblzone: ... and " << (skipped - shown) << " more (--json lists the first 1000)\n";
}

// One pass over every path. Returns false when a source could not be read.
bool run_once(const ImportCommand& c, core::Store& store, const core::ZoneConfig& zone,
              const importer::SourceConfig& cfg, bool as_json, bool progress, std::ostream& out,
              std::ostream& err) {
  importer::Importer imp(store, zone, cfg);
  if (progress) {
    imp.on_progress([&](const importer::Summary& s) {
      err << "\r" << c.source << " [";
      if (s.total > 0) {
        const auto filled = static_cast<int>(20 * std::min(s.done, s.total) / s.total);
        err << std::string(static_cast<std::size_t>(filled), '#')
            << std::string(static_cast<std::size_t>(20 - filled), '.') << "] "
            << 100 * std::min(s.done, s.total) / s.total << "%";
      } else {
        err << std::string(20, '?') << "]";
      }
      err << "  read " << s.read << "  reports " << s.reports << "  new listings " << s.listed
          << "   " << std::flush;
    });
  }
  bool ok = true;
  for (const auto& p : c.paths) {
    try {
      if (c.source == "traplog") {
        imp.traplog(p);
      } else if (c.source == "maildir") {
        imp.maildir(p);
      } else if (c.source == "mbox") {
        imp.mbox(p);
      } else if (c.source == "postfix") {
        importer::VolumeConfig v;
        v.threshold = c.threshold;
        v.window = static_cast<std::uint32_t>(duration_seconds(c.window));
        v.by_sasl = c.by == "sasl";
        imp.postfix(p, v);
      } else if (c.source == "rbldnsd") {
        importer::RbldnsdOptions o;
        o.type = *importer::parse_dataset_type(c.type);
        o.subzone = c.subzone;
        o.manual = c.as == "manual";
        if (!c.duration.empty()) o.duration = duration_seconds(c.duration);
        o.keep_removed = c.keep_removed;
        imp.rbldnsd(p, o);
      }
    } catch (const core::StoreError&) {
      throw;
    } catch (const std::runtime_error& e) {
      err << "rblzone: " << e.what() << "\n";
      ok = false;
    }
  }
  if (progress) err << "\r" << std::string(90, ' ') << "\r";
  print_summary(c, imp.summary(), as_json, out, err);
  return ok;
}

// Blocks until something changes under the sources (or a signal): true to
// run again.
bool wait_for_change(int fd) {
  while (!g_stop.load()) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, 500);
    if (r > 0) {
      // Let a burst of writes settle, then drain every event.
      ::usleep(200 * 1000);
      char buf[8192];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
      return true;
    }
  }
  return false;
}

}  // namespace

std::shared_ptr<ImportCommand> add_import_command(CLI::App& app) {
  auto c = std::make_shared<ImportCommand>();
  auto* a = app.add_subcommand(
      "import", "import trap hits, trap mailboxes, Postfix logs or rbldnsd files (docs/import.md)");
  c->app = a;
  a->add_option("SOURCE", c->source, "traplog, maildir, mbox, postfix or rbldnsd")
      ->required()
      ->check(CLI::IsMember({"traplog", "maildir", "mbox", "postfix", "rbldnsd"}));
  a->add_option("ZONE", c->zone, "the zone the reports or listings go to")->required();
  a->add_option("PATH", c->paths, "files (logs, mbox, rbldnsd data) or Maildir directories")
      ->required();
  a->add_option("--source-config", c->source_config,
                "TOML: name, trust, weight, [weights], trusted, trusted_hosts, batch");
  a->add_option("--feed", c->feed, "feed name: actor import:NAME, default trap name (traps)");
  a->add_option("--trusted", c->trusted, "mailboxes: a trusted relay prefix (repeatable)")
      ->allow_extra_args(false);
  a->add_option("--trusted-host", c->trusted_hosts,
                "mailboxes: a trusted relay name, '.example.org' for a suffix (repeatable)")
      ->allow_extra_args(false);
  a->add_option("--trust", c->trust, "trap (default), trusted or untrusted");
  a->add_option("--weight", c->weight, "weight of each report (default: the zone's for the trust)");
  a->add_option("--batch", c->batch, "reports per write transaction (default 20000)");
  a->add_option("--threshold", c->threshold,
                "postfix: messages per window that make a report (200)");
  a->add_option("--window", c->window, "postfix: counting window (1d)");
  a->add_option("--by", c->by, "postfix: count per client address or per SASL user")
      ->check(CLI::IsMember({"address", "sasl"}));
  a->add_option("--type", c->type, "rbldnsd: ip4set, ip4tset, ip4trie, ip6trie, dnset, combined")
      ->check(CLI::IsMember({"ip4set", "ip4tset", "ip4trie", "ip6trie", "dnset", "combined"}));
  a->add_option("--subzone", c->subzone, "rbldnsd combined: the datasets serving this (@)");
  a->add_option("--as", c->as, "rbldnsd: import (default) or manual listings")
      ->check(CLI::IsMember({"import", "manual"}));
  a->add_option("--for", c->duration, "rbldnsd: listings expire after this (default permanent)");
  a->add_flag("--keep-removed", c->keep_removed,
              "rbldnsd: keep listings whose entries were removed from the file");
  a->add_flag("--watch", c->watch, "keep running and import whenever a source changes");
  a->add_flag("--no-progress", c->no_progress, "no progress line even on a terminal");
  return c;
}

bool import_parsed(const ImportCommand& cmd) {
  return cmd.app != nullptr && cmd.app->parsed();
}

int run_import(const ImportCommand& c, const GlobalOptions& g, std::ostream& out, std::ostream& err,
               core::Clock clock) {
  try {
    if (c.source == "rbldnsd" && c.type.empty())
      throw BadInput("rbldnsd needs --type (ip4set, ip4tset, ip4trie, ip6trie, dnset, combined)");
    if (c.source == "postfix") duration_seconds(c.window);
    if (!c.duration.empty()) duration_seconds(c.duration);
    for (const auto& p : c.paths) {
      if (!fs::exists(p)) throw BadInput(p + ": no such file or directory");
    }
    const auto cfg = source_config(c);
    core::DaemonConfig daemon;
    std::vector<core::ZoneConfig> zones;
    try {
      if (!g.config_file.empty()) daemon = core::load_daemon_config(g.config_file);
      if (!g.data_dir.empty()) daemon.data_dir = g.data_dir;
      if (!g.zones_dir.empty()) daemon.zones_dir = g.zones_dir;
      zones = core::load_zones(daemon.zones_dir);
    } catch (const core::ConfigError& e) {
      throw BadInput(e.what());
    }
    std::string name = c.zone;
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    if (!name.empty() && name.back() == '.') name.pop_back();
    const core::ZoneConfig* zone = nullptr;
    for (const auto& z : zones) {
      if (z.name == name) zone = &z;
    }
    if (zone == nullptr) throw BadInput("unknown zone '" + c.zone + "'");
    if (zone->kind == core::ZoneKind::combined)
      throw BadInput("zone " + zone->name + " is combined: import into one of its members");
    const bool domains = zone->kind == core::ZoneKind::domain;
    if ((c.source == "postfix") && domains)
      throw BadInput("postfix volume reports are addresses: zone " + zone->name + " lists domains");
    core::Store store(daemon.data_dir, clock);
    const bool progress = !g.json && !c.no_progress && ::isatty(2) == 1;
    bool ok = run_once(c, store, *zone, cfg, g.json, progress, out, err);
    if (!c.watch) return ok ? kExitOk : kExitFailure;

    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw std::runtime_error("inotify_init1 failed");
    for (const auto& p : c.paths) {
      const auto mask = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO;
      if (c.source == "maildir") {
        for (const char* sub : {"new", "cur"})
          ::inotify_add_watch(fd, (fs::path(p) / sub).c_str(), mask);
      } else {
        // The directory, so a rotated log's successor is seen too.
        const auto dir = fs::absolute(p).parent_path();
        ::inotify_add_watch(fd, dir.c_str(), mask);
      }
    }
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    err << "rblzone: watching " << c.paths.size() << " source(s); stop with Ctrl-C\n";
    while (wait_for_change(fd)) {
      std::vector<std::string> present;
      ok = run_once(c, store, *zone, cfg, g.json, progress, out, err) && ok;
      out.flush();
    }
    ::close(fd);
    return kExitOk;
  } catch (const BadInput& e) {
    err << "rblzone: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::exception& e) {
    err << "rblzone: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace rblzone::cli
