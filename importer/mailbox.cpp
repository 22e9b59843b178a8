// Maildir and mbox messages through GMime (see mailbox.hpp).
#include "importer/mailbox.hpp"

#include <fcntl.h>
#include <gmime/gmime.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>

#include "core/subject.hpp"

namespace rblzone::importer {
namespace {

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string domain_of(std::string_view addr) {
  const auto at = addr.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string d = lower(addr.substr(at + 1));
  while (!d.empty() && (d.back() == '>' || d.back() == '.' || d.back() == ' ')) d.pop_back();
  return d;
}

struct BodyScan {
  std::vector<std::string>* hosts;
};

void scan_part(GMimeObject* /*parent*/, GMimeObject* part, gpointer data) {
  if (!GMIME_IS_PART(part)) return;
  GMimeContentType* ct = g_mime_object_get_content_type(part);
  if (ct == nullptr || !g_mime_content_type_is_type(ct, "text", "*")) return;
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(part));
  if (content == nullptr) return;
  GMimeStream* mem = g_mime_stream_mem_new();
  g_mime_data_wrapper_write_to_stream(content, mem);  // undoes base64 / quoted-printable
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
  if (bytes != nullptr) {
    url_hosts(std::string_view(reinterpret_cast<const char*>(bytes->data), bytes->len),
              *static_cast<BodyScan*>(data)->hosts);
  }
  g_object_unref(mem);
}

void facts_of(GMimeMessage* msg, MessageFacts& out, bool body = true) {
  out = MessageFacts{};
  GMimeObject* obj = GMIME_OBJECT(msg);
  GMimeHeaderList* headers = g_mime_object_get_header_list(obj);
  const int n = g_mime_header_list_get_count(headers);
  for (int i = 0; i < n; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(headers, i);
    const char* name = g_mime_header_get_name(h);
    if (name == nullptr) continue;
    if (g_ascii_strcasecmp(name, "Received") == 0) {
      const char* raw = g_mime_header_get_raw_value(h);
      out.received.emplace_back(raw != nullptr ? raw : "");
    } else if (g_ascii_strcasecmp(name, "Return-Path") == 0 && out.envelope_domain.empty()) {
      const char* v = g_mime_header_get_value(h);
      if (v != nullptr) out.envelope_domain = domain_of(v);
    }
  }
  if (InternetAddressList* from = g_mime_message_get_from(msg);
      from != nullptr && internet_address_list_length(from) > 0) {
    InternetAddress* ia = internet_address_list_get_address(from, 0);
    if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
      if (addr != nullptr) out.from_domain = domain_of(addr);
    }
  }
  if (const char* id = g_mime_message_get_message_id(msg); id != nullptr) out.message_id = id;
  if (!body) return;
  BodyScan scan{&out.url_domains};
  g_mime_message_foreach(msg, scan_part, &scan);
}

}  // namespace

void url_hosts(std::string_view text, std::vector<std::string>& out) {
  for (std::size_t i = 0; i + 7 < text.size(); ++i) {
    const char c = text[i];
    if (c != 'h' && c != 'H') continue;
    std::size_t p = i + 4;
    if (lower(text.substr(i, 4)) != "http") continue;
    if (p < text.size() && (text[p] == 's' || text[p] == 'S')) ++p;
    if (text.substr(p, 3) != "://") continue;
    p += 3;
    std::size_t e = p;
    while (e < text.size()) {
      const auto ch = static_cast<unsigned char>(text[e]);
      if (std::isalnum(ch) || ch == '.' || ch == '-' || ch == '_' || ch == '@' || ch == ':') {
        ++e;
      } else {
        break;
      }
    }
    std::string_view host = text.substr(p, e - p);
    if (const auto at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
    if (const auto colon = host.find(':'); colon != std::string_view::npos)
      host = host.substr(0, colon);
    while (!host.empty() && host.back() == '.') host.remove_suffix(1);
    i = e > i ? e - 1 : i;
    if (host.empty() || core::IpPrefix::parse(host)) continue;
    const auto d = core::DomainName::parse(host);
    if (!d) continue;
    if (std::find(out.begin(), out.end(), d->name) == out.end()) out.push_back(d->name);
  }
}

bool parse_message(std::string_view bytes, MessageFacts& out, std::string& error, bool body) {
  if (bytes.empty()) {  // GMime wants a buffer, even for nothing
    error = "empty message";
    return false;
  }
  if (!body) {
    // The headers end at the first empty line; what follows is not parsed.
    for (const std::string_view end : {"\n\n", "\r\n\r\n"}) {
      if (const auto e = bytes.find(end); e != std::string_view::npos) {
        bytes = bytes.substr(0, e + end.size());
        break;
      }
    }
  }
  init_gmime();
  GMimeStream* stream = g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size());
  GMimeParser* parser = g_mime_parser_new_with_stream(stream);
  g_object_unref(stream);
  GMimeMessage* msg = g_mime_parser_construct_message(parser, nullptr);
  g_object_unref(parser);
  if (msg == nullptr) {
    error = "not a mail message";
    return false;
  }
  facts_of(msg, out, body);
  g_object_unref(msg);
  if (out.received.empty() && out.from_domain.empty() && out.message_id.empty()) {
    error = "not a mail message (no headers)";
    return false;
  }
  return true;
}

struct MboxReader::Impl {
  GMimeStream* stream = nullptr;
  GMimeParser* parser = nullptr;
};

MboxReader::MboxReader(const std::string& path, std::uint64_t offset)
    : impl_(std::make_unique<Impl>()) {
  init_gmime();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open");
  impl_->stream = g_mime_stream_fs_new(fd);  // owns fd
  if (offset > 0)
    g_mime_stream_seek(impl_->stream, static_cast<gint64>(offset), GMIME_STREAM_SEEK_SET);
  impl_->parser = g_mime_parser_new_with_stream(impl_->stream);
  g_mime_parser_set_format(impl_->parser, GMIME_FORMAT_MBOX);
}

MboxReader::~MboxReader() {
  if (impl_->parser != nullptr) g_object_unref(impl_->parser);
  if (impl_->stream != nullptr) g_object_unref(impl_->stream);
}

bool MboxReader::next(MessageFacts& out, std::uint64_t& start, std::string& error) {
  if (g_mime_parser_eos(impl_->parser)) return false;
  GMimeMessage* msg = g_mime_parser_construct_message(impl_->parser, nullptr);
  if (msg == nullptr) {
    // Nothing more that looks like a message ("From " line missing).
    return false;
  }
  start = static_cast<std::uint64_t>(g_mime_parser_get_mbox_marker_offset(impl_->parser));
  facts_of(msg, out);
  g_object_unref(msg);
  if (out.received.empty() && out.from_domain.empty() && out.message_id.empty())
    error = "message without headers";
  return true;
}

std::uint64_t MboxReader::end_offset() const {
  return static_cast<std::uint64_t>(g_mime_parser_tell(impl_->parser));
}

}  // namespace rblzone::importer
