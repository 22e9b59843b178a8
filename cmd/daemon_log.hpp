// The daemon's log format. Under systemd (stdout or stderr connected to the
// journal, as $JOURNAL_STREAM says) each line is "<N>message": the journal
// adds its own timestamp and reads the sd-daemon(3) priority prefix as the
// entry's PRIORITY, so `journalctl -p warning` works. Elsewhere lines carry a
// UTC timestamp and the level name.
//
// What is logged, by rule: events and counts, addresses of peers, zone names;
// never an HTTP request body, an Authorization header or a token.
#pragma once

#include <string>
#include <string_view>

namespace rblzone::daemon {

// True when $JOURNAL_STREAM names the device and inode of our stdout or
// stderr (systemd.exec(5)): a child's redirected output is not the journal.
bool logging_to_journal();

// Sets the default logger's pattern (journal or plain) and level.
void setup_logging(std::string_view level, bool journal);

// The sd-daemon(3) priority for a spdlog level name ("info" -> 6).
int journal_priority(std::string_view level);

}  // namespace rblzone::daemon
