// A zone's TXT template expanded for one answer: the one implementation both
// answer() and zone_content (transfers, exports) use, so a secondary serves
// the text rblzoned serves.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string_view>

namespace rblzone::zoneserver {

// Calls put(piece) for each piece of `txt` expanded: "$" is `queried`,
// {reason} `reason` ("listed" when empty), {subject} `subject`, {url}
// `lookup_url` with its "$" replaced by `queried`, {code} `code` as a dotted
// quad; any other {...} and all other text as written. Cutting to 255 bytes
// and replacing unprintable bytes is put's business.
template <typename Put>
void expand_txt_template(std::string_view txt, std::string_view lookup_url,
                         std::string_view queried, std::string_view reason,
                         std::string_view subject, std::uint32_t code, Put&& put) {
  for (std::size_t i = 0; i < txt.size();) {
    if (txt[i] == '$') {
      put(queried);
      ++i;
      continue;
    }
    if (txt[i] == '{') {
      const auto close = txt.find('}', i);
      if (close != std::string_view::npos) {
        const auto key = txt.substr(i + 1, close - i - 1);
        if (key == "reason") {
          put(reason.empty() ? std::string_view("listed") : reason);
        } else if (key == "subject") {
          put(subject);
        } else if (key == "url") {
          for (std::size_t u = 0; u < lookup_url.size(); ++u) {
            put(lookup_url[u] == '$' ? queried : lookup_url.substr(u, 1));
          }
        } else if (key == "code") {
          char text[16];
          std::snprintf(text, sizeof text, "%u.%u.%u.%u", code >> 24, (code >> 16) & 0xff,
                        (code >> 8) & 0xff, code & 0xff);
          put(std::string_view(text));
        } else {
          put(txt.substr(i, close - i + 1));
        }
        i = close + 1;
        continue;
      }
    }
    put(txt.substr(i, 1));
    ++i;
  }
}

}  // namespace rblzone::zoneserver
