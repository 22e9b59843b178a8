// One import run: reads sources from where their cursors stopped, turns what
// they say into reports through core's Policy (or, for rbldnsd files, into
// manual or imported listings), and commits reports and cursor together in
// batches, so a second run imports nothing twice and a crash mid-run loses
// nothing and counts nothing twice. Bad lines and messages are counted and
// named, never fatal; an unreadable source is (std::runtime_error).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/policy.hpp"
#include "core/store.hpp"
#include "importer/mailbox.hpp"
#include "importer/rbldnsd_file.hpp"
#include "importer/received.hpp"

namespace rblzone::importer {

// One feed's settings (command-line flags or a small TOML, see docs/import.md).
struct SourceConfig {
  std::string name = "traps";  // actor "import:NAME"; the trap name when a line has none
  core::Trust trust = core::Trust::trap;
  std::optional<double> weight;                // every report's weight (default: the trust's)
  std::map<std::string, double> trap_weights;  // per trap name, over `weight`
  TrustedHops trusted;                         // mailboxes: the operator's own hops
  std::size_t batch = 20000;                   // reports per write transaction
};

// The outbound-volume watch over a Postfix log.
struct VolumeConfig {
  std::uint64_t threshold = 200;  // messages per window; reaching it makes one report
  std::uint32_t window = 86400;   // seconds, aligned to the epoch (UTC days by default)
  bool by_sasl = false;           // count per SASL login (report its last client address)
};

struct RbldnsdOptions {
  DatasetType type = DatasetType::ip4set;
  std::string subzone = "@";             // combined files: the dataset(s) serving this
  bool manual = false;                   // manual listings (default: source "import")
  std::optional<std::int64_t> duration;  // seconds; none = permanent
  bool keep_removed = false;  // keep listings whose entries left the file (default: remove)
};

struct Summary {
  std::uint64_t read = 0;     // lines, messages or entries read
  std::uint64_t reports = 0;  // reports made through the policy
  std::uint64_t listed = 0;   // new listings
  std::uint64_t extended = 0;
  std::uint64_t already = 0;                     // skipped: imported before (cursor)
  std::uint64_t removed = 0;                     // listings gone from a whole-file source
  std::map<std::string, std::uint64_t> skipped;  // reason -> count
  std::map<std::string, std::uint64_t> results;  // policy outcome -> count
  std::vector<std::string> problems;             // "FILE:LINE: reason", the first 1000
  // Where the current source is, for a progress bar: bytes of a file or
  // messages of a Maildir (total 0: unknown).
  std::uint64_t done = 0;
  std::uint64_t total = 0;

  void problem(const std::string& where, const std::string& category, const std::string& why);
  nlohmann::json to_json() const;
};

class Importer {
 public:
  Importer(core::Store& store, const core::ZoneConfig& zone, SourceConfig cfg);

  // Called now and then during a run (about every batch), for a progress bar.
  void on_progress(std::function<void(const Summary&)> fn) { progress_ = std::move(fn); }

  void traplog(const std::string& path);
  void maildir(const std::string& dir);
  void mbox(const std::string& path);
  void postfix(const std::string& path, const VolumeConfig& v);
  void rbldnsd(const std::string& path, const RbldnsdOptions& o);

  const Summary& summary() const { return summary_; }

 private:
  // Reports waiting for the next commit, and where each came from (for a
  // refused report's message).
  struct Pending {
    std::vector<core::Report> reports;
    std::vector<std::string> where;
    void push(core::Report r, std::string w) {
      reports.push_back(std::move(r));
      where.push_back(std::move(w));
    }
    std::size_t size() const { return reports.size(); }
    bool empty() const { return reports.empty(); }
    void clear() {
      reports.clear();
      where.clear();
    }
  };
  // Commits `reports` (through Policy::report_many) and whatever `extra`
  // writes (cursors, markers) in one transaction, then counts the outcomes.
  void flush_(Pending& reports, const std::function<void(core::WriteTxn&)>& extra);
  // One report through the policy, its outcome counted in `delta`.
  void report_(core::WriteTxn& txn, core::ReportBatch& batch, const core::Report& r,
               const std::string& where, Summary& delta);
  // Queues the reports one trap message gives (Maildir and mbox alike).
  void queue_message_(const MessageFacts& facts, const std::string& where,
                      const std::string& origin);
  core::ZoneRef zone_ref_();
  double weight_for_(const std::string& trap) const;
  // Reads `path` from its cursor line by line; `fn(line, where)` queues
  // reports; the cursor moves with each flush.
  void lines_(const std::string& kind, const std::string& path,
              const std::function<void(std::string_view, const std::string&)>& fn,
              const std::function<bool()>& want_flush,
              const std::function<void(core::WriteTxn&)>& extra,
              const std::function<void()>& after_commit);

  core::Store& store_;
  const core::ZoneConfig& zone_;
  SourceConfig cfg_;
  core::Policy policy_;
  core::Actor actor_;
  Pending pending_;
  Summary summary_;
  std::function<void(const Summary&)> progress_;
};

}  // namespace rblzone::importer
