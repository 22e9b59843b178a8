// Parsing alone, without the store: trap-log lines per second and Maildir
// messages (GMime + the Received walk) per second, to tell parsing cost from
// the policy's and LMDB's in `rblzone import`. Usage:
//   parse_bench traplog FILE | parse_bench maildir DIR
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "importer/mailbox.hpp"
#include "importer/received.hpp"
#include "importer/traplog.hpp"

int main(int argc, char** argv) {
  using namespace rblzone;
  if (argc != 3) {
    std::cerr << "usage: parse_bench traplog FILE | maildir DIR\n";
    return 2;
  }
  const std::string kind = argv[1];
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t n = 0, good = 0;
  if (kind == "traplog") {
    std::ifstream in(argv[2]);
    std::string line, error;
    importer::TrapHit hit;
    while (std::getline(in, line)) {
      ++n;
      if (importer::parse_trap_line(line, hit, error) == importer::LineKind::hit &&
          core::parse_subject(hit.address))
        ++good;
    }
  } else {
    importer::TrustedHops trusted;
    trusted.prefixes.push_back(*core::IpPrefix::parse("10.1.0.0/16"));
    importer::MessageFacts facts;
    std::string error;
    for (const auto& e :
         std::filesystem::directory_iterator(std::filesystem::path(argv[2]) / "new")) {
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      ++n;
      if (importer::parse_message(s.str(), facts, error) &&
          importer::first_untrusted(facts.received, trusted).relay)
        ++good;
    }
  }
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  std::cout << kind << ": " << n << " read, " << good << " good, " << dt.count() << " s, "
            << static_cast<long>(static_cast<double>(n) / dt.count()) << " per second\n";
  return 0;
}
