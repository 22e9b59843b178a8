// `rblzone import SOURCE ZONE PATH...`: the importer's command line, kept
// apart from operator_cli.cpp, which only registers and dispatches it.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <memory>
#include <string>

#include "core/store.hpp"

namespace rblzone::cli {

struct ImportCommand;

// The options every rblzone command shares.
struct GlobalOptions {
  std::string config_file;
  std::string data_dir;
  std::string zones_dir;
  bool json = false;
};

// Adds the `import` subcommand to `app`; the handle holds its options.
std::shared_ptr<ImportCommand> add_import_command(CLI::App& app);
bool import_parsed(const ImportCommand& cmd);
// Runs a parsed import (and with --watch keeps running until SIGINT or
// SIGTERM). Returns an exit code of operator_cli.hpp.
int run_import(const ImportCommand& cmd, const GlobalOptions& g, std::ostream& out,
               std::ostream& err, core::Clock clock);

}  // namespace rblzone::cli
