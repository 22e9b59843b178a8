// Log format: sd-daemon(3) priority prefixes under the journal, timestamps
// elsewhere.
#include "cmd/daemon_log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace rblzone::daemon {
namespace {

// "%*" in the pattern: "<N>" from the message's level.
class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto name = spdlog::level::to_string_view(msg.level);
    const std::string text =
        "<" + std::to_string(journal_priority(std::string_view(name.data(), name.size()))) + ">";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

bool same_file(int fd, unsigned long long dev, unsigned long long ino) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

bool logging_to_journal() {
  const char* v = std::getenv("JOURNAL_STREAM");  // NOLINT(concurrency-mt-unsafe): at start
  if (v == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(v, "%llu:%llu", &dev, &ino) != 2) return false;
  return same_file(1, dev, ino) || same_file(2, dev, ino);
}

int journal_priority(std::string_view level) {
  if (level == "trace" || level == "debug") return 7;   // LOG_DEBUG
  if (level == "info") return 6;                        // LOG_INFO
  if (level == "warning" || level == "warn") return 4;  // LOG_WARNING
  if (level == "error") return 3;                       // LOG_ERR
  if (level == "critical") return 2;                    // LOG_CRIT
  return 5;                                             // LOG_NOTICE
}

void setup_logging(std::string_view level, bool journal) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(
      journal ? spdlog::pattern_time_type::local : spdlog::pattern_time_type::utc);
  if (journal) {
    formatter->add_flag<PriorityFlag>('*').set_pattern("%*%v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  spdlog::set_formatter(std::move(formatter));
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace rblzone::daemon
