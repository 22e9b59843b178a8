// Trap-hit logs: one hit a line, as CSV ("time,address,trap,evidence", an
// optional header line, RFC 4180 quoting) or JSON lines ({"time": ...,
// "address": ..., "trap": ..., "evidence": ...}). Time is unix seconds or
// "2026-11-22T14:02:00Z".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rblzone::importer {

struct TrapHit {
  std::int64_t time = 0;
  std::string address;  // an IP address or a domain, as written
  std::string trap;     // may be empty: the source's configured trap name applies
  std::string evidence;
};

enum class LineKind { hit, skip, bad };

// Parses one line without its newline. `hit` fills `out`; `skip` is a blank,
// comment ('#') or CSV header line; `bad` sets `error`.
LineKind parse_trap_line(std::string_view line, TrapHit& out, std::string& error);

}  // namespace rblzone::importer
