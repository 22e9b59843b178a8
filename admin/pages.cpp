// The HTML pages, the embedded assets and the console's activity feed
// (see pages.hpp and docs/pages.md).
#include "admin/pages.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>

#include "admin/api.hpp"
#include "admin/assets.hpp"
#include "admin/top_listed.hpp"

namespace rblzone::admin::pages {
namespace {

using nlohmann::json;

std::string_view sv(boost::beast::string_view s) {
  return {s.data(), s.size()};
}
boost::beast::string_view bsv(std::string_view s) {
  return {s.data(), s.size()};
}

// --- responses ---------------------------------------------------------------------

Response html_response(http::status status, std::string body, unsigned version) {
  Response res{status, version};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  set_security_headers(res);
  res.body() = std::move(body);
  return res;
}

Response redirect(const Request& req, const std::string& location) {
  Response res{http::status::see_other, req.version()};
  res.set(http::field::location, bsv(location));
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  set_security_headers(res);
  res.body() = "See " + location + "\n";
  return res;
}

// A whole page: the header with the navigation, then `main` (already HTML).
std::string layout(std::string_view title, std::string_view main) {
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + escape_html(title) + " - rblzone</title>\n";
  out += "<link rel=\"stylesheet\" href=\"/assets/style.css\">\n</head>\n<body>\n";
  out += "<header><nav><a class=\"brand\" href=\"/lookup\">rblzone</a> ";
  out += "<a href=\"/lookup\">Look up</a> <a href=\"/delist\">Ask for delisting</a> ";
  out += "<a href=\"/console\">Abuse desk</a></nav></header>\n<main>\n";
  out += "<h1>" + escape_html(title) + "</h1>\n";
  out += main;
  out += "</main>\n</body>\n</html>\n";
  return out;
}

Response error_page(const Request& req, http::status status, std::string_view title,
                    std::string_view message) {
  return html_response(status,
                       layout(title, "<p class=\"error\">" + escape_html(message) + "</p>\n"),
                       req.version());
}

Response page_method_not_allowed(const Request& req, std::string_view allow) {
  auto res = error_page(req, http::status::method_not_allowed, "Method not allowed",
                        std::string(sv(req.method_string())) + " is not allowed here; use " +
                            std::string(allow) + ".");
  res.set(http::field::allow, bsv(allow));
  return res;
}

Response too_many(const Request& req) {
  auto res = error_page(req, http::status::too_many_requests, "Too many requests",
                        "Too many requests from your address; wait a little and try again.");
  res.set(http::field::retry_after, "10");
  return res;
}

bool over_public_limit(const RouterContext& ctx, std::string_view peer) {
  return ctx.limits && !ctx.limits->public_requests.allow(peer);
}

// --- request parsing -----------------------------------------------------------------

// key=value pairs of a query string or an application/x-www-form-urlencoded
// body; '+' is a space. A pair with a malformed encoding is dropped.
std::map<std::string, std::string> parse_form(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto pair = text.substr(0, amp);
    const auto eq = pair.find('=');
    std::string key(pair.substr(0, eq));
    std::string raw(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    std::replace(key.begin(), key.end(), '+', ' ');
    std::replace(raw.begin(), raw.end(), '+', ' ');
    std::string k, v;
    if (!key.empty() && percent_decode(key, k) && percent_decode(raw, v)) {
      out.emplace(std::move(k), std::move(v));
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

std::map<std::string, std::string> query_of(const Request& req) {
  const auto target = sv(req.target());
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::map<std::string, std::string>{}
                                     : parse_form(target.substr(q + 1));
}

std::string get(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<const zoneserver::CatalogZone*> sorted_zones(const zoneserver::ZoneCatalog& catalog) {
  std::vector<const zoneserver::CatalogZone*> out;
  for (const auto& z : catalog.zones()) out.push_back(z.get());
  std::sort(out.begin(), out.end(),
            [](const auto* a, const auto* b) { return a->config.name < b->config.name; });
  return out;
}

// --- lookup ------------------------------------------------------------------------------

// What one zone answers for a subject (as the JSON lookup in router.cpp and
// DNS answer it): each source's active match, after the RFC 5782 test points.
struct ZoneVerdict {
  const zoneserver::CatalogZone* zone = nullptr;
  std::vector<std::pair<std::uint32_t, const core::ZoneConfig*>> codes;  // code, whose names
  std::optional<core::Listing> listing;  // the first source's (DNS's TXT source)
  const core::ZoneConfig* source = nullptr;
  std::string matched;
  bool test_point = false;
};

ZoneVerdict verdict(const RouterContext& ctx, const core::ReadTxn& txn,
                    const zoneserver::CatalogZone& zone, const core::Subject& s, std::int64_t now) {
  ZoneVerdict v;
  v.zone = &zone;
  const bool ip = core::kind_of(s) == core::SubjectKind::ip;
  if (core::is_test_point(s)) {
    const bool listed = ip ? std::get<core::IpPrefix>(s) == core::IpPrefix::v4(0x7f000002, 32)
                           : std::get<core::DomainName>(s).name == "test";
    if (listed) {
      v.codes.emplace_back(0x7f000002, &zone.config);
      v.test_point = true;
      v.matched = core::to_string(s);
    }
    return v;
  }
  for (const auto* src : zone.sources) {
    if ((src->config.kind == core::ZoneKind::ip) != ip) continue;
    const core::ZoneRef ref{src->id, src->config.name};
    const auto m = core::active_match(*ctx.store, txn, ref, s, now);
    if (!m) continue;
    if (m->listing.codes.empty()) v.codes.emplace_back(src->config.default_code, &src->config);
    for (const auto c : m->listing.codes) v.codes.emplace_back(c, &src->config);
    if (!v.listing) {
      v.listing = m->listing;
      v.source = &src->config;
      v.matched = core::to_string(m->matched);
    }
  }
  std::sort(v.codes.begin(), v.codes.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  v.codes.erase(std::unique(v.codes.begin(), v.codes.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                v.codes.end());
  return v;
}

// What a return code means, from the zone's [codes] names.
std::string code_meaning(std::uint32_t code, const core::ZoneConfig& zone) {
  static const std::map<std::string, std::string> kMeaning = {
      {"listed", "listed"},
      {"trap", "sent mail to spam traps"},
      {"desk", "listed by the abuse desk"},
      {"reports", "reports from mail recipients reached the threshold"},
      {"repeat", "repeat offender: listed for longer"}};
  for (const auto& [name, value] : zone.codes) {
    if (value != code) continue;
    const auto it = kMeaning.find(name);
    return it != kMeaning.end() ? it->second : name;
  }
  return "listed";
}

// "hostmaster.bl.example.org" -> "hostmaster@bl.example.org".
std::string mailbox(const core::ZoneConfig& z) {
  std::string m = z.soa.rname.empty() ? "hostmaster." + z.name : z.soa.rname;
  if (!m.empty() && m.back() == '.') m.pop_back();
  if (const auto dot = m.find('.'); dot != std::string::npos) m[dot] = '@';
  return m;
}

std::string lookup_form(std::string_view value) {
  return "<form class=\"lookup\" method=\"get\" action=\"/lookup\">\n"
         "<label for=\"q\">IP address, CIDR prefix or domain</label>\n"
         "<input id=\"q\" name=\"q\" type=\"text\" required maxlength=\"300\" value=\"" +
         escape_html(value) +
         "\" placeholder=\"203.0.113.7\">\n"
         "<button type=\"submit\">Look up</button>\n</form>\n";
}

std::string zone_row(const ZoneVerdict& v, const core::Subject& subject) {
  const auto& zone = v.zone->config;
  const bool listed = !v.codes.empty();
  std::string out = "<section class=\"zone " + std::string(listed ? "listed" : "clean") +
                    "\" data-zone=\"" + escape_html(zone.name) + "\">\n";
  out += "<h2>" + escape_html(zone.name) + " <span class=\"verdict\">" +
         (listed ? "Listed" : "Not listed") + "</span></h2>\n";
  if (!listed) {
    out += "<p>" + escape_html(core::to_string(subject)) + " is not listed in " +
           escape_html(zone.name) + ".</p>\n</section>\n";
    return out;
  }
  out += "<dl>\n<dt>Code</dt><dd><ul class=\"codes\">";
  for (const auto& [code, names] : v.codes) {
    out += "<li><code>" + escape_html(core::code_to_string(code)) +
           "</code>: " + escape_html(code_meaning(code, *names)) + "</li>";
  }
  out += "</ul></dd>\n";
  if (v.test_point) {
    out += "<dt>Reason</dt><dd class=\"reason\">RFC 5782 test point</dd>\n";
    out +=
        "<dt>How to get delisted</dt><dd>This address is an RFC 5782 test point: it is always "
        "listed, by design, so that mail servers can check the list works.</dd>\n</dl>\n"
        "</section>\n";
    return out;
  }
  const auto& l = *v.listing;
  out += "<dt>Matched</dt><dd><code>" + escape_html(v.matched) + "</code></dd>\n";
  out += "<dt>Reason</dt><dd class=\"reason\">" + escape_html(l.reason) + "</dd>\n";
  out +=
      "<dt>Since</dt><dd><time>" + escape_html(core::format_utc(l.first_seen)) + "</time></dd>\n";
  out += "<dt>Until</dt><dd>" +
         (l.permanent() ? std::string("until removed (no expiry)")
                        : "<time>" + escape_html(core::format_utc(l.expires)) + "</time>") +
         "</dd>\n";
  const auto& src = v.source ? *v.source : zone;
  out +=
      "<dt>How to get delisted</dt><dd>Fix the cause named in the reason, then ask for "
      "removal with the form below; you get a request id to follow it. The operators of " +
      escape_html(src.name) + " can also be reached at <code>" + escape_html(mailbox(src)) +
      "</code>.<br><a class=\"button\" href=\"/delist?zone=" + escape_html(url_encode(src.name)) +
      "&amp;subject=" + escape_html(url_encode(v.matched)) + "\">Ask for delisting of " +
      escape_html(v.matched) + " from " + escape_html(src.name) + "</a></dd>\n";
  out += "</dl>\n</section>\n";
  return out;
}

Response lookup_home(const Request& req, const RouterContext& ctx) {
  const auto q = trim(get(query_of(req), "q"));
  if (!q.empty()) return redirect(req, "/lookup/" + url_encode(q));
  std::string main =
      "<p>Is an address, a network or a domain on one of these block lists, and why? Mail servers "
      "that refused your mail with a message naming one of them link here.</p>\n" +
      lookup_form("");
  main += "<p>Zones: ";
  bool first = true;
  for (const auto* z : sorted_zones(*ctx.catalog())) {
    main += std::string(first ? "" : ", ") + "<code>" + escape_html(z->config.name) + "</code>";
    first = false;
  }
  main += "</p>\n";
  return html_response(http::status::ok, layout("Look up", main), req.version());
}

Response lookup_page(const Request& req, const RouterContext& ctx, const std::string& text) {
  std::string why;
  const auto subject = core::parse_subject(text, &why);
  if (!subject) {
    return html_response(http::status::bad_request,
                         layout("Look up", "<p class=\"error\">" + escape_html(text) +
                                               " is not an IP address, CIDR prefix or domain: " +
                                               escape_html(why) + "</p>\n" + lookup_form(text)),
                         req.version());
  }
  const auto catalog = ctx.catalog();
  const bool ip = core::kind_of(*subject) == core::SubjectKind::ip;
  const std::int64_t now = ctx.clock();
  std::vector<ZoneVerdict> verdicts;
  {
    auto txn = ctx.store->env().begin_read();
    for (const auto* z : sorted_zones(*catalog)) {
      if (ip ? !z->ip_data : !z->domain_data) continue;  // a domain in an IP zone: not asked
      verdicts.push_back(verdict(ctx, txn, *z, *subject, now));
    }
  }
  const auto canonical = core::to_string(*subject);
  const auto listed_in = std::count_if(verdicts.begin(), verdicts.end(),
                                       [](const auto& v) { return !v.codes.empty(); });
  std::string main = lookup_form(canonical);
  main += "<p class=\"summary\" id=\"summary\">" + escape_html(canonical) + " is " +
          (listed_in ? "listed in " + std::to_string(listed_in) + " of " +
                           std::to_string(verdicts.size()) + " zones"
                     : "not listed in any of " + std::to_string(verdicts.size()) + " zones") +
          ", as of <time>" + escape_html(core::format_utc(now)) + "</time>.</p>\n";
  if (verdicts.empty()) main += "<p>No zone here lists subjects of this kind.</p>\n";
  for (const auto& v : verdicts) main += zone_row(v, *subject);
  return html_response(http::status::ok, layout("Look up " + canonical, main), req.version());
}

// --- delist requests -------------------------------------------------------------------------

std::string delist_form(const RouterContext& ctx, const std::map<std::string, std::string>& values,
                        std::string_view error) {
  std::string out;
  if (!error.empty()) out += "<p class=\"error\" role=\"alert\">" + escape_html(error) + "</p>\n";
  out +=
      "<p>Fix what caused the listing first (the reason on the lookup page says what it was), then "
      "tell us what you did. You get a request id and a page to follow it.</p>\n"
      "<form class=\"delist\" method=\"post\" action=\"/delist\">\n"
      "<label for=\"zone\">Zone</label>\n<select id=\"zone\" name=\"zone\" required>\n";
  const auto chosen = get(values, "zone");
  for (const auto* z : sorted_zones(*ctx.catalog())) {
    if (z->config.kind == core::ZoneKind::combined) continue;  // ask the member that lists
    out += "<option value=\"" + escape_html(z->config.name) + "\"" +
           (z->config.name == chosen ? " selected" : "") + ">" + escape_html(z->config.name) +
           "</option>\n";
  }
  out += "</select>\n";
  out +=
      "<label for=\"subject\">Listed address, prefix or domain</label>\n"
      "<input id=\"subject\" name=\"subject\" type=\"text\" required maxlength=\"300\" value=\"" +
      escape_html(get(values, "subject")) + "\">\n";
  out +=
      "<label for=\"contact\">Your contact (e-mail address)</label>\n"
      "<input id=\"contact\" name=\"contact\" type=\"text\" required maxlength=\"254\" value=\"" +
      escape_html(get(values, "contact")) + "\">\n";
  out +=
      "<label for=\"explanation\">What happened, and what you changed</label>\n"
      "<textarea id=\"explanation\" name=\"explanation\" required maxlength=\"4000\" "
      "rows=\"6\">" +
      escape_html(get(values, "explanation")) + "</textarea>\n";
  out += "<button type=\"submit\">Send the request</button>\n</form>\n";
  return out;
}

Response delist_form_page(const Request& req, const RouterContext& ctx) {
  return html_response(http::status::ok,
                       layout("Ask for delisting", delist_form(ctx, query_of(req), {})),
                       req.version());
}

Response delist_submit(const Request& req, const RouterContext& ctx, std::string_view peer) {
  const auto ct = sv(req[http::field::content_type]);
  if (ct.find("application/x-www-form-urlencoded") == std::string_view::npos) {
    return error_page(req, http::status::unsupported_media_type, "Ask for delisting",
                      "Send the form as application/x-www-form-urlencoded.");
  }
  auto values = parse_form(req.body());
  for (auto& [k, v] : values) v = trim(v);
  const auto again = [&](http::status status, std::string_view message) {
    return html_response(status, layout("Ask for delisting", delist_form(ctx, values, message)),
                         req.version());
  };
  const auto catalog = ctx.catalog();
  const auto* zone = find_catalog_zone(*catalog, get(values, "zone"));
  if (!zone) return again(http::status::bad_request, "Choose one of the zones.");
  if (zone->config.kind == core::ZoneKind::combined) {
    return again(http::status::bad_request,
                 zone->config.name +
                     " combines other zones: ask the zone that lists you (see the lookup page).");
  }
  std::string why;
  const auto subject = core::parse_subject(get(values, "subject"), &why);
  if (!subject) {
    return again(http::status::bad_request,
                 "The subject is not an IP address, CIDR prefix or domain: " + why);
  }
  const auto contact = get(values, "contact");
  const auto explanation = get(values, "explanation");
  if (contact.empty() || contact.size() > 254) {
    return again(http::status::bad_request, "Give a contact of at most 254 characters.");
  }
  if (explanation.empty() || explanation.size() > 4000) {
    return again(http::status::bad_request, "Give an explanation of at most 4000 characters.");
  }
  if (ctx.limits && !ctx.limits->delist_requests.allow(peer)) {
    auto res = again(http::status::too_many_requests,
                     "Too many delist requests from your address; try again later.");
    res.set(http::field::retry_after, "3600");
    return res;
  }
  core::DelistRequest r;
  try {
    ctx.store->env().write([&](core::WriteTxn& txn) {
      r = ctx.policy->request_delist(txn, zone->config, *subject, contact, explanation,
                                     std::string(peer));
    });
  } catch (const core::PolicyError& e) {
    return again(http::status::unprocessable_entity, e.what());
  }
  spdlog::info("delist request {} for {} in {}: {} (form)", r.id, r.subject, zone->config.name,
               r.status);
  return redirect(req, "/delist/" + url_encode(r.id));
}

std::string status_text(const core::DelistRequest& r) {
  if (r.status == "pending") {
    return "Waiting for the abuse desk. This page changes when they decide.";
  }
  if (r.status == "approved") {
    return r.self_service ? "Approved at once (self-service): the listing is removed."
                          : "Approved by the abuse desk: the listing is removed.";
  }
  if (r.status == "denied") return "Denied by the abuse desk: the listing stays.";
  if (r.status == "not_listed") return "Nothing to do: the subject was not listed.";
  return r.status;
}

Response delist_status(const Request& req, const RouterContext& ctx, const std::string& id) {
  std::optional<core::DelistRequest> r;
  {
    auto txn = ctx.store->env().begin_read();
    r = ctx.policy->delist_request(txn, id);
  }
  if (!r) {
    return error_page(req, http::status::not_found, "Delist request",
                      "There is no delist request " + id + ".");
  }
  // Only what DelistRequest::to_json(false) shows: never the contact, the
  // explanation nor the requester.
  std::string main = "<dl class=\"request\">\n";
  main += "<dt>Request id</dt><dd><code id=\"request-id\">" + escape_html(r->id) + "</code></dd>\n";
  main += "<dt>Zone</dt><dd>" + escape_html(r->zone) + "</dd>\n";
  main += "<dt>Subject</dt><dd><a href=\"/lookup/" + escape_html(url_encode(r->subject)) + "\">" +
          escape_html(r->subject) + "</a></dd>\n";
  if (!r->matched.empty()) {
    main += "<dt>Listing</dt><dd><code>" + escape_html(r->matched) + "</code></dd>\n";
  }
  main += "<dt>Status</dt><dd><span class=\"status " + escape_html(r->status) +
          "\" id=\"status\">" + escape_html(r->status) + "</span> " + escape_html(status_text(*r)) +
          "</dd>\n";
  main +=
      "<dt>Received</dt><dd><time>" + escape_html(core::format_utc(r->created)) + "</time></dd>\n";
  if (r->decided) {
    main +=
        "<dt>Decided</dt><dd><time>" + escape_html(core::format_utc(r->decided)) + "</time></dd>\n";
  }
  if (!r->decision_reason.empty()) {
    main += "<dt>Why</dt><dd class=\"reason\">" + escape_html(r->decision_reason) + "</dd>\n";
  }
  main += "</dl>\n<p>Keep this page's address to come back to it.</p>\n";
  return html_response(http::status::ok, layout("Delist request", main), req.version());
}

// --- assets -------------------------------------------------------------------------------

std::optional<Asset> find_asset(std::string_view name) {
  for (const auto& a : embedded_assets()) {
    if (a.name == name) return a;
  }
  return std::nullopt;
}

std::string_view content_type(std::string_view name) {
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  return "application/octet-stream";
}

Response asset(const Request& req, std::string_view name) {
  const auto a = find_asset(name);
  if (!a) return error_page(req, http::status::not_found, "Not found", "No such file.");
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, bsv(content_type(name)));
  // The console's HTML is a page: never cached; the rest changes with the binary.
  res.set(http::field::cache_control, name.ends_with(".html") ? "no-store" : "max-age=300");
  set_security_headers(res);
  res.body() = std::string(a->bytes);
  return res;
}

// --- the console's activity feed --------------------------------------------------------------

Response activity(const Request& req, const RouterContext& ctx, std::string_view zone_name) {
  const auto q = query_of(req);
  const auto number = [&](const char* key, long dflt, long lo, long hi) -> std::optional<long> {
    const auto text = get(q, key);
    if (text.empty()) return dflt;
    if (text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    const long v = std::stol(text);
    return v < lo || v > hi ? std::nullopt : std::optional<long>(v);
  };
  const auto limit = number("limit", 50, 1, 1000);
  const auto hours = number("hours", 24, 1, 24 * 14);
  if (!limit || !hours) {
    return error_response(http::status::bad_request, "bad_query",
                          "limit is 1..1000 and hours is 1..336", req.version());
  }
  const auto catalog = ctx.catalog();
  const auto* zone = find_catalog_zone(*catalog, zone_name);
  if (!zone) {
    return error_response(http::status::not_found, "unknown_zone",
                          "no zone named '" + std::string(zone_name) + "'", req.version());
  }
  const std::int64_t now = ctx.clock();
  const std::int64_t step = 3600;
  const auto points = static_cast<std::size_t>(*hours) + 1;  // now - hours*step .. now
  const std::int64_t oldest = now - *hours * step;
  const auto wanted = static_cast<std::size_t>(*limit);
  // per source: the number of listings at oldest + k*step, k = 0..hours
  std::array<std::vector<std::int64_t>, 4> series;
  for (auto& s : series) s.assign(points, 0);
  // undo[s][m]: changes to undo at the points before m (an event at time t
  // counts at every point at or after t, so it is undone at the first m)
  std::array<std::vector<std::int64_t>, 4> undo;
  for (auto& u : undo) u.assign(points + 1, 0);
  std::vector<core::HistoryEvent> events;
  {
    auto txn = ctx.store->env().begin_read();
    for (const auto* src : zone->sources) {
      const core::ZoneRef ref{src->id, src->config.name};
      const auto counts = ctx.store->counts(txn, ref);
      for (std::size_t s = 0; s < 4; ++s) {
        for (auto& v : series[s]) v += static_cast<std::int64_t>(counts[s]);
      }
      // Newest first (history_seq): the newest `limit` events for the feed,
      // and every event after the chart's first point to walk the counts
      // back. Stops at the first event, in commit order, at or before it.
      std::size_t kept = 0;
      ctx.store->for_each_recent(txn, ref, [&](core::HistoryEvent& e) {
        if (kept >= wanted && e.time <= oldest) return false;
        if (e.time > oldest) {
          const auto m = std::min<std::size_t>(
              points, static_cast<std::size_t>((e.time - oldest - 1) / step) + 1);
          if (e.after) undo[static_cast<std::size_t>(e.after->source)][m] -= 1;
          if (e.before) undo[static_cast<std::size_t>(e.before->source)][m] += 1;
        }
        if (kept < wanted) {
          if (zone->sources.size() > 1) e.subject = src->config.name + ": " + e.subject;
          events.push_back(std::move(e));
          ++kept;
        }
        return true;
      });
    }
  }
  for (std::size_t s = 0; s < 4; ++s) {
    std::int64_t later = 0;  // the changes undone at point k: those of every m > k
    for (std::size_t k = points; k-- > 0;) {
      later += undo[s][k + 1];
      series[s][k] += later;
    }
  }
  // The sources' feeds merged: seq is one counter for the whole store, so
  // seq order is commit order across zones too.
  std::sort(events.begin(), events.end(),
            [](const auto& x, const auto& y) { return x.seq > y.seq; });
  if (events.size() > wanted) events.resize(wanted);
  json items = json::array();
  for (const auto& e : events) {
    const auto& l = e.after ? e.after : e.before;
    items.push_back({{"time", core::format_utc(e.time)},
                     {"subject", e.subject},
                     {"actor", e.actor},
                     {"action", e.action},
                     {"reason", e.reason},
                     {"source", l ? json(std::string(core::to_string(l->source))) : json(nullptr)},
                     {"listed", e.after.has_value()}});
  }
  json times = json::array();
  for (std::size_t k = 0; k < points; ++k) {
    times.push_back(core::format_utc(now - static_cast<std::int64_t>(points - 1 - k) * step));
  }
  json by_source = json::object();
  for (std::size_t s = 0; s < 4; ++s) {
    by_source[std::string(core::to_string(static_cast<core::Source>(s)))] = series[s];
  }
  return json_response(http::status::ok,
                       json{{"zone", zone->config.name},
                            {"events", items},
                            {"listings", {{"times", times}, {"by_source", by_source}}}},
                       req.version());
}

// The desk JSON endpoints' preamble: GET only, a store attached (it holds
// the tokens), then the API's desk token check. nullopt: go on.
std::optional<Response> desk_preamble(const Request& req, const RouterContext& ctx,
                                      std::string_view peer) {
  if (req.method() != http::verb::get) {
    auto res = error_response(http::status::method_not_allowed, "method_not_allowed", "use GET",
                              req.version());
    res.set(http::field::allow, "GET");
    return res;
  }
  if (!ctx.store) {
    return error_response(http::status::service_unavailable, "unavailable",
                          "this server has no listing store attached", req.version());
  }
  return api::require_desk(req, ctx, peer);
}

bool state_changing(http::verb v) {
  return v != http::verb::get && v != http::verb::head && v != http::verb::options;
}

std::string join_rest(const std::vector<std::string>& p, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < p.size(); ++i) out += (i == from ? "" : "/") + p[i];
  return out;
}

}  // namespace

namespace {

// The length of the well-formed UTF-8 sequence at text[i], or 0 (a stray
// continuation byte, an overlong form, a surrogate, beyond U+10FFFF, cut).
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size() || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    // The pages are UTF-8: a decoded path may hold any bytes, and a byte that
    // is not part of well-formed UTF-8 becomes U+FFFD.
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t n = utf8_length(text, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
      } else {
        out.append(text.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool foreign_origin(const Request& req) {
  const auto it = req.find(http::field::origin);
  if (it == req.end()) return false;
  const auto origin = sv(it->value());
  const auto host = sv(req[http::field::host]);
  if (host.empty()) return true;
  const std::string h(host);
  return origin != "http://" + h && origin != "https://" + h;
}

void set_security_headers(Response& res) {
  // No inline script or style anywhere: the console's script and the CSS are
  // files from /assets/.
  res.set("Content-Security-Policy",
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
          "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  // Not no-referrer: under it a browser sends "Origin: null" with a form's
  // POST, and the Origin check would refuse our own delist form.
  res.set("Referrer-Policy", "same-origin");
  res.set("X-Frame-Options", "DENY");
}

std::optional<Response> route(const Request& req, const RouterContext& ctx,
                              const std::vector<std::string>& p, std::string_view peer) {
  const auto method = req.method();
  const bool get_like = method == http::verb::get;
  if (state_changing(method) && foreign_origin(req)) {
    spdlog::warn("refused {} {} from {}: foreign Origin", sv(req.method_string()),
                 p.empty() ? "" : p[0], peer);
    return error_response(http::status::forbidden, "foreign_origin",
                          "state-changing requests from another site's pages are refused",
                          req.version());
  }
  if (p.empty()) return std::nullopt;
  const auto& top = p[0];

  if (p.size() == 1 && (top.empty() || top == "lookup")) {
    if (!get_like) return page_method_not_allowed(req, "GET");
    if (over_public_limit(ctx, peer)) return too_many(req);
    return lookup_home(req, ctx);
  }
  if (top == "lookup") {
    if (!get_like) return page_method_not_allowed(req, "GET");
    if (over_public_limit(ctx, peer)) return too_many(req);
    return lookup_page(req, ctx, join_rest(p, 1));
  }
  if (top == "delist" && p.size() <= 2) {
    if (!ctx.policy) {
      return error_page(req, http::status::service_unavailable, "Ask for delisting",
                        "This server has no listing store attached.");
    }
    if (p.size() == 1) {
      if (method == http::verb::post) {
        if (over_public_limit(ctx, peer)) return too_many(req);
        return delist_submit(req, ctx, peer);
      }
      if (!get_like) return page_method_not_allowed(req, "GET, POST");
      return delist_form_page(req, ctx);
    }
    if (!get_like) return page_method_not_allowed(req, "GET");
    if (over_public_limit(ctx, peer)) return too_many(req);
    return delist_status(req, ctx, p[1]);
  }
  if (top == "console" && p.size() == 1) {
    if (!get_like) return page_method_not_allowed(req, "GET");
    return asset(req, "console.html");
  }
  if (top == "assets" && p.size() == 2) {
    if (!get_like) return page_method_not_allowed(req, "GET");
    return asset(req, p[1]);
  }
  if (p.size() == 5 && top == "api" && p[1] == "v1" && p[2] == "zones" && p[4] == "activity") {
    if (auto refused = desk_preamble(req, ctx, peer)) return std::move(*refused);
    return activity(req, ctx, p[3]);
  }
  if (p.size() == 4 && top == "api" && p[1] == "v1" && p[2] == "stats" && p[3] == "top-listed") {
    if (auto refused = desk_preamble(req, ctx, peer)) return std::move(*refused);
    return top_listed(req, ctx, query_of(req));
  }
  return std::nullopt;
}

}  // namespace rblzone::admin::pages
