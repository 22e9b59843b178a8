// The static files of the pages (admin/assets/: CSS, the console's
// JavaScript and HTML), compiled into the binary by admin/embed_assets.cmake.
#pragma once

#include <span>
#include <string_view>

namespace rblzone::admin {

struct Asset {
  std::string_view name;   // the file name, e.g. "style.css"
  std::string_view bytes;  // the file's contents; static storage
};

// Every embedded asset, in the order CMake listed them.
std::span<const Asset> embedded_assets();

}  // namespace rblzone::admin
