// `rblzone status`: the service at a glance. From the data directory: zones,
// serials, listings by state and source, store size and map use. With --url,
// from the daemon's /metrics: uptime, DNS queries by RCODE and latency,
// reloads, sweeper lag. A table by default, JSON with --json.
#pragma once

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/store.hpp"

namespace CLI {
class App;
}

namespace rblzone::cli {

struct StatusOptions {
  std::string url;  // "http://127.0.0.1:8080": the daemon's admin address (optional)
};

// Adds the `status` subcommand to `app`, filling `options`.
CLI::App* add_status_command(CLI::App& app, StatusOptions& options);

// Runs it; the paths are the global --config/--data-dir/--zones options.
// Exit 0; 2 for a bad config or URL; 3 when the store or the daemon cannot
// be read (what could be read is still printed).
int run_status(const StatusOptions& options, const std::string& config_file,
               const std::string& data_dir, const std::string& zones_dir, bool json,
               std::ostream& out, std::ostream& err, const core::Clock& clock);

// Prometheus text samples by "name" or "name{labels}" (as written).
std::map<std::string, double> parse_metrics(std::string_view text);

// The upper bound of the bucket holding quantile `q` of a histogram's
// samples ("name_bucket{le=...}"), nullopt when it has none.
std::optional<double> histogram_quantile(const std::map<std::string, double>& samples,
                                         std::string_view name, double q);

// GET `url` + path over plain HTTP/1.0; the body of a 200 answer. Throws
// std::runtime_error saying what failed.
std::string http_get(const std::string& url, const std::string& path);

}  // namespace rblzone::cli
