// rblzone: the operator's command line (see cmd/operator_cli.hpp).
#include <iostream>

#include "cmd/operator_cli.hpp"

int main(int argc, char** argv) {
  return rblzone::cli::run(argc, argv, std::cout, std::cerr);
}
