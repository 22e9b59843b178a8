// The operator's command line (`rblzone`), as a library so tests can drive
// it: parse the arguments, act on the store, print, return the exit code.
#pragma once

#include <iosfwd>

#include "core/store.hpp"

namespace rblzone::cli {

// Exit codes a script can rely on.
inline constexpr int kExitOk = 0;        // done, or listed
inline constexpr int kExitNotFound = 1;  // not listed, not found
inline constexpr int kExitBadInput = 2;  // bad arguments, subject, zone or config
inline constexpr int kExitFailure = 3;   // the store failed (disk, permissions)

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
        core::Clock clock = core::system_now);

}  // namespace rblzone::cli
