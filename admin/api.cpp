// The authenticated and state-changing API (see api.hpp and docs/api.md).
#include "admin/api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <set>
#include <variant>

#include "core/config.hpp"
#include "core/tokens.hpp"

namespace rblzone::admin::api {
namespace {

using core::Role;
using nlohmann::json;

std::string_view sv(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

Response fail(const Request& req, http::status status, std::string_view code,
              std::string_view message) {
  return error_response(status, code, message, req.version());
}

// --- authentication ----------------------------------------------------------------

// The token's actor if it may act in one of `roles` (admin always may), or
// the 401/403/429 to send.
std::variant<core::Actor, Response> authorize(const Request& req, const RouterContext& ctx,
                                              std::string_view peer,
                                              std::initializer_list<Role> roles) {
  if (ctx.limits && ctx.limits->auth_failures.exhausted(peer)) {
    auto res = fail(req, http::status::too_many_requests, "too_many_requests",
                    "too many failed authentications from this address; try again later");
    res.set(http::field::retry_after, "60");
    return res;
  }
  const auto header = sv(req[http::field::authorization]);
  const auto unauthorized = [&](std::string_view code, std::string_view message) {
    // Only a wrong token is a guess; a missing one is a client that forgot.
    if (code == "invalid_token" && ctx.limits) ctx.limits->auth_failures.allow(peer);
    if (ctx.counters) ctx.counters->count_auth_failure();
    auto res = fail(req, http::status::unauthorized, code, message);
    res.set(http::field::www_authenticate,
            code == "unauthorized" ? "Bearer realm=\"rblzone\""
                                   : "Bearer realm=\"rblzone\", error=\"invalid_token\"");
    return res;
  };
  if (header.empty()) {
    return unauthorized("unauthorized", "this endpoint needs 'Authorization: Bearer TOKEN'");
  }
  if (header.size() < 7 ||
      !(header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer ")) {
    return unauthorized("unauthorized", "the Authorization header must be 'Bearer TOKEN'");
  }
  std::optional<core::TokenInfo> token;
  {
    auto txn = ctx.store->env().begin_read();
    token = core::authenticate(txn, header.substr(7));
  }
  if (!token) return unauthorized("invalid_token", "the token is unknown or revoked");
  if (token->role != Role::admin &&
      std::find(roles.begin(), roles.end(), token->role) == roles.end()) {
    std::string allowed;
    for (const auto r : roles)
      allowed += std::string(allowed.empty() ? "" : ", ") + std::string(core::to_string(r));
    if (allowed.empty()) allowed = "admin";
    return fail(req, http::status::forbidden, "forbidden",
                "token '" + token->name + "' has role " +
                    std::string(core::to_string(token->role)) + "; this needs " + allowed);
  }
  return core::Actor{"token:" + token->name, token->role};
}

// --- request bodies ---------------------------------------------------------------------

struct BadBody {
  std::string code;
  std::string message;
};

// The body as a JSON object with only `allowed` keys. An empty body is {}.
json body_object(const Request& req, std::initializer_list<std::string_view> allowed) {
  const auto& body = req.body();
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  const auto ct = sv(req[http::field::content_type]);
  if (!ct.empty() && ct.find("application/json") == std::string_view::npos) {
    throw BadBody{"unsupported_media_type", "send the body as application/json"};
  }
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw BadBody{"malformed_json", "the body is not valid JSON"};
  if (!j.is_object()) throw BadBody{"bad_body", "the body must be a JSON object"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (const auto a : allowed) list += std::string(list.empty() ? "" : ", ") + std::string(a);
      throw BadBody{"unknown_field", "unknown field '" + key + "' (allowed: " + list + ")"};
    }
  }
  return j;
}

std::optional<std::string> get_string(const json& j, const char* key, bool required,
                                      std::size_t max = 4096) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw BadBody{"missing_field", std::string("'") + key + "' is required"};
    return std::nullopt;
  }
  if (!it->is_string()) throw BadBody{"bad_field", std::string("'") + key + "' must be a string"};
  auto s = it->get<std::string>();
  if (s.size() > max) {
    throw BadBody{"bad_field",
                  std::string("'") + key + "' is longer than " + std::to_string(max) + " bytes"};
  }
  return s;
}

std::optional<bool> get_bool(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean())
    throw BadBody{"bad_field", std::string("'") + key + "' must be true or false"};
  return it->get<bool>();
}

// A duration as "90s", "15m", "24h", "7d" or a number of seconds.
std::optional<std::int64_t> get_duration(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  const std::string why = std::string("'") + key + "' must be seconds or a duration like \"24h\"";
  if (it->is_number_integer()) {
    const auto v = it->get<std::int64_t>();
    if (v <= 0) throw BadBody{"bad_field", why};
    return v;
  }
  if (!it->is_string()) throw BadBody{"bad_field", why};
  const auto d = core::parse_duration(it->get<std::string>());
  if (!d || d->count() < 1000) throw BadBody{"bad_field", why};
  return d->count() / 1000;
}

std::optional<std::int64_t> get_time(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    if (const auto t = core::parse_utc(it->get<std::string>())) return t;
  }
  throw BadBody{"bad_field",
                std::string("'") + key + "' must be unix seconds or \"2026-11-22T14:02:00Z\""};
}

std::optional<std::string> query_param(const Request& req, std::string_view name) {
  const auto target = sv(req.target());
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      std::string out;
      std::string raw(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      std::replace(raw.begin(), raw.end(), '+', ' ');
      if (!percent_decode(raw, out)) throw BadBody{"bad_query", "malformed percent-encoding"};
      return out;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// --- policy errors ----------------------------------------------------------------------

http::status status_of(const std::string& code) {
  static const std::set<std::string> conflict = {"allowlisted", "not_pending", "name_taken"};
  static const std::set<std::string> unprocessable = {"test_point", "needs_override", "wrong_kind",
                                                      "combined_zone"};
  if (code == "forbidden") return http::status::forbidden;
  if (code == "not_found" || code == "not_listed") return http::status::not_found;
  if (conflict.contains(code)) return http::status::conflict;
  if (unprocessable.contains(code)) return http::status::unprocessable_entity;
  return http::status::bad_request;
}

// --- shared lookups ---------------------------------------------------------------------

struct Target {
  const zoneserver::CatalogZone* zone = nullptr;
  core::Subject subject;
};

const zoneserver::CatalogZone* zone_or_throw(const RouterContext& ctx, std::string_view name,
                                             std::shared_ptr<const zoneserver::ZoneCatalog>& keep) {
  keep = ctx.catalog();
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  const auto* z = find_catalog_zone(*keep, lower);
  if (!z) throw core::PolicyError("unknown_zone", "no zone named '" + std::string(name) + "'");
  return z;
}

core::Subject subject_or_throw(std::string_view text) {
  std::string why;
  const auto s = core::parse_subject(text, &why);
  if (!s) throw core::PolicyError("bad_subject", why);
  return *s;
}

json listing_json(const core::Subject& s, const core::Listing& l) {
  json j = core::to_json(l);
  j["subject"] = core::to_string(s);
  return j;
}

json event_json(const core::HistoryEvent& e) {
  return core::to_json(e);
}

// --- endpoints ---------------------------------------------------------------------------

Response list_listings(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone) {
  std::optional<core::Source> source;
  if (const auto s = query_param(req, "source")) {
    source = core::parse_source(*s);
    if (!source) throw BadBody{"bad_query", "source is one of trap, report, manual, import"};
  }
  std::size_t limit = 100;
  if (const auto l = query_param(req, "limit")) {
    try {
      limit = std::stoul(*l);
    } catch (...) {
      limit = 0;
    }
    if (limit < 1 || limit > 1000) throw BadBody{"bad_query", "limit is 1..1000"};
  }
  const auto after_text = query_param(req, "after");
  std::optional<core::Subject> after;
  if (after_text) after = subject_or_throw(*after_text);
  std::optional<core::Subject> within;
  if (const auto w = query_param(req, "within")) within = subject_or_throw(*w);
  const std::int64_t now = ctx.clock();
  json items = json::array();
  std::optional<std::string> next;
  auto txn = ctx.store->env().begin_read();
  const auto ref = ctx.store->find_zone(txn, zone.name);
  if (ref) {
    // Pages follow the store's key order; `after` need not be stored itself.
    const auto after_key = after ? core::listing_key(ref->id, *after) : std::string();
    ctx.store->for_each(txn, *ref, [&](const core::Subject& s, const core::Listing& l) {
      if (after && core::listing_key(ref->id, s) <= after_key) return true;
      if (!l.active_at(now)) return true;
      if (source && l.source != *source) return true;
      if (within) {
        if (const auto* w = std::get_if<core::IpPrefix>(&*within)) {
          const auto* p = std::get_if<core::IpPrefix>(&s);
          if (!p || !w->contains(*p)) return true;
        }
      }
      if (items.size() == limit) {
        next = core::to_string(
            core::parse_subject(items.back()["subject"].get<std::string>()).value());
        return false;
      }
      items.push_back(listing_json(s, l));
      return true;
    });
  }
  return json_response(
      http::status::ok,
      json{{"zone", zone.name}, {"listings", items}, {"next", next ? json(*next) : json(nullptr)}},
      req.version());
}

Response get_listing(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone,
                     const core::Subject& s) {
  auto txn = ctx.store->env().begin_read();
  const auto ref = ctx.store->find_zone(txn, zone.name);
  const auto l = ref ? ctx.store->get(txn, *ref, s) : std::nullopt;
  if (!l)
    throw core::PolicyError("not_listed", core::to_string(s) + " has no listing in " + zone.name);
  json out = listing_json(s, *l);
  out["zone"] = zone.name;
  out["active"] = l->active_at(ctx.clock());
  if (const auto o = ctx.policy->offence(txn, zone, s)) {
    out["offence_score"] = core::Policy::decayed(*o, zone.policy, ctx.clock());
  }
  return json_response(http::status::ok, out, req.version());
}

Response put_listing(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone,
                     const core::Subject& s, const core::Actor& actor) {
  const auto body =
      body_object(req, {"reason", "code", "duration", "permanent", "exclusion", "override"});
  core::ManualListing m;
  m.reason = *get_string(body, "reason", true, 255);
  m.code = get_string(body, "code", false, 64);
  m.duration = get_duration(body, "duration");
  m.permanent = get_bool(body, "permanent").value_or(false);
  m.exclusion = get_bool(body, "exclusion").value_or(false);
  m.override_checks = get_bool(body, "override").value_or(false);
  if (m.permanent && m.duration) {
    throw BadBody{"bad_field", "give either 'duration' or 'permanent', not both"};
  }
  bool existed = false;
  core::Listing l;
  ctx.store->env().write([&](core::WriteTxn& txn) {
    const auto ref = ctx.store->find_zone(txn, zone.name);
    existed = ref && ctx.store->get(txn, *ref, s).has_value();
    l = ctx.policy->list(txn, zone, s, m, actor);
  });
  spdlog::info("{} listed {} in {}", actor.id, core::to_string(s), zone.name);
  json out = listing_json(s, l);
  out["zone"] = zone.name;
  return json_response(existed ? http::status::ok : http::status::created, out, req.version());
}

Response delete_listing(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone,
                        const core::Subject& s, const core::Actor& actor) {
  const auto body = body_object(req, {"reason"});
  auto reason = get_string(body, "reason", false, 255);
  if (!reason) reason = query_param(req, "reason");
  if (!reason || reason->empty()) throw BadBody{"missing_field", "'reason' is required"};
  core::Listing removed;
  ctx.store->env().write(
      [&](core::WriteTxn& txn) { removed = ctx.policy->unlist(txn, zone, s, *reason, actor); });
  spdlog::info("{} delisted {} in {}", actor.id, core::to_string(s), zone.name);
  json out{
      {"zone", zone.name}, {"subject", core::to_string(s)}, {"removed", listing_json(s, removed)}};
  return json_response(http::status::ok, out, req.version());
}

Response post_report(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone,
                     const core::Actor& actor) {
  const auto body =
      body_object(req, {"subject", "reason", "evidence", "reporter", "time", "weight"});
  core::Report r;
  r.subject = subject_or_throw(*get_string(body, "subject", true, 300));
  r.reason = *get_string(body, "reason", true, 1024);
  r.evidence = get_string(body, "evidence", false, 16384).value_or("");
  r.time = get_time(body, "time");
  // The reporter's identity is its token; a feed may name its own sources
  // below it (a trap, an end user of a spam button).
  // The reporter is its token: one token counts once however many end users
  // it says it speaks for. Its own label is kept for the desk.
  r.reporter = actor.id;
  r.detail = get_string(body, "reporter", false, 128).value_or("");
  if (const auto it = body.find("weight"); it != body.end() && !it->is_null()) {
    if (!it->is_number()) throw BadBody{"bad_field", "'weight' must be a number"};
    if (actor.role != Role::importer && actor.role != Role::admin) {
      throw core::PolicyError("forbidden", "only importer tokens may set a report's weight");
    }
    r.weight = it->get<double>();
  }
  {
    auto txn = ctx.store->env().begin_read();
    const auto name = actor.id.substr(actor.id.find(':') + 1);
    r.trust = core::default_trust(actor.role);
    for (const auto& t : core::list_tokens(txn)) {
      if (t.name == name) r.trust = t.trust;
    }
  }
  core::ReportOutcome outcome;
  ctx.store->env().write(
      [&](core::WriteTxn& txn) { outcome = ctx.policy->report(txn, zone, r, actor); });
  if (ctx.counters) ctx.counters->count_report(zone.name, core::to_string(outcome.result));
  json out{
      {"zone", zone.name},
      {"subject", core::to_string(r.subject)},
      {"result", core::to_string(outcome.result)},
      {"window_weight", outcome.window_weight},
      {"threshold", zone.policy.threshold},
      {"listing", outcome.listing ? listing_json(r.subject, *outcome.listing) : json(nullptr)}};
  return json_response(http::status::accepted, out, req.version());
}

Response get_reports(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone,
                     const core::Subject& s) {
  auto txn = ctx.store->env().begin_read();
  json items = json::array();
  for (const auto& r : ctx.policy->reports(txn, zone, s)) {
    items.push_back({{"time", core::format_utc(r.time)},
                     {"reporter", r.reporter},
                     {"detail", r.detail},
                     {"trust", core::to_string(r.trust)},
                     {"weight", r.weight},
                     {"reason", r.reason},
                     {"evidence", r.evidence},
                     {"allowlisted", r.allowlisted}});
  }
  return json_response(
      http::status::ok,
      json{{"zone", zone.name}, {"subject", core::to_string(s)}, {"reports", items}},
      req.version());
}

Response post_delist(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone,
                     std::string_view peer) {
  const auto body = body_object(req, {"subject", "contact", "explanation"});
  const auto s = subject_or_throw(*get_string(body, "subject", true, 300));
  const auto contact = *get_string(body, "contact", true, 254);
  const auto explanation = *get_string(body, "explanation", true, 4000);
  if (ctx.limits && !ctx.limits->delist_requests.allow(peer)) {
    auto res = fail(req, http::status::too_many_requests, "too_many_requests",
                    "too many delist requests from this address; try again later");
    res.set(http::field::retry_after, "3600");
    return res;
  }
  core::DelistRequest r;
  ctx.store->env().write([&](core::WriteTxn& txn) {
    r = ctx.policy->request_delist(txn, zone, s, contact, explanation, std::string(peer));
  });
  spdlog::info("delist request {} for {} in {}: {}", r.id, r.subject, zone.name, r.status);
  return json_response(http::status::created, r.to_json(false), req.version());
}

Response history(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone,
                 const core::Subject& s) {
  std::optional<std::int64_t> at;
  if (const auto a = query_param(req, "at")) {
    at = core::parse_utc(*a);
    if (!at) throw BadBody{"bad_query", "'at' is unix seconds or 2026-11-22T14:02:00Z"};
  }
  auto txn = ctx.store->env().begin_read();
  json out{{"zone", zone.name}, {"subject", core::to_string(s)}};
  if (at) {
    const auto state = ctx.policy->state_at(txn, zone, s, *at);
    json events = json::array();
    for (const auto& e : state.events) events.push_back(event_json(e));
    out["events"] = events;
    out["at"] = {{"time", core::format_utc(*at)},
                 {"listed", state.listed},
                 {"matched", state.matched.empty() ? json(nullptr) : json(state.matched)},
                 {"listing", state.listing ? core::to_json(*state.listing) : json(nullptr)},
                 {"why", state.why ? event_json(*state.why) : json(nullptr)}};
  } else {
    json events = json::array();
    const auto ref = ctx.store->find_zone(txn, zone.name);
    if (ref) {
      for (const auto& e : ctx.store->history(txn, *ref, s)) events.push_back(event_json(e));
    }
    out["events"] = events;
  }
  return json_response(http::status::ok, out, req.version());
}

Response allowlist_get(const Request& req, const RouterContext& ctx, const core::ZoneConfig& zone) {
  auto txn = ctx.store->env().begin_read();
  json items = json::array();
  for (auto& [subject, info] : ctx.policy->allowlist(txn, zone)) {
    info["subject"] = subject;
    if (info.contains("time")) info["time"] = core::format_utc(info["time"].get<std::int64_t>());
    items.push_back(info);
  }
  return json_response(http::status::ok, json{{"zone", zone.name}, {"allowlist", items}},
                       req.version());
}

Response allowlist_change(const Request& req, const RouterContext& ctx,
                          const core::ZoneConfig& zone, const core::Subject& s,
                          const core::Actor& actor, bool add) {
  const auto body = body_object(req, {"reason"});
  auto reason = get_string(body, "reason", false, 255);
  if (!reason) reason = query_param(req, "reason");
  if (!reason || reason->empty()) throw BadBody{"missing_field", "'reason' is required"};
  bool removed = true;
  ctx.store->env().write([&](core::WriteTxn& txn) {
    if (add) {
      ctx.policy->allow(txn, zone, s, *reason, actor);
    } else {
      removed = ctx.policy->disallow(txn, zone, s, *reason, actor);
    }
  });
  if (!removed) {
    throw core::PolicyError("not_found", core::to_string(s) + " is not on the API allowlist of " +
                                             zone.name + " (entries from the zone file stay)");
  }
  spdlog::info("{} {} {} on the allowlist of {}", actor.id, add ? "put" : "removed",
               core::to_string(s), zone.name);
  return json_response(
      add ? http::status::ok : http::status::ok,
      json{{"zone", zone.name}, {"subject", core::to_string(s)}, {"allowlisted", add}},
      req.version());
}

Response delist_list(const Request& req, const RouterContext& ctx) {
  const auto status = query_param(req, "status");
  static const std::set<std::string> kStatuses = {"pending", "approved", "denied", "not_listed"};
  if (status && !kStatuses.contains(*status)) {
    throw BadBody{"bad_query", "status is one of pending, approved, denied, not_listed"};
  }
  std::size_t limit = 100;
  if (const auto l = query_param(req, "limit")) {
    const auto end = l->data() + l->size();
    const auto [p, ec] = std::from_chars(l->data(), end, limit);
    if (ec != std::errc() || p != end || limit < 1 || limit > 1000) {
      throw BadBody{"bad_query", "limit is 1..1000"};
    }
  }
  std::optional<core::DelistCursor> before;
  if (const auto b = query_param(req, "before")) {
    before = core::DelistCursor::parse(*b);
    if (!before) throw BadBody{"bad_query", "before is the 'next' of a previous page"};
  }
  const auto wanted = status ? std::optional<std::string_view>(*status) : std::nullopt;
  auto txn = ctx.store->env().begin_read();
  const auto page = ctx.policy->delist_requests(txn, wanted, limit, before);
  json items = json::array();
  for (const auto& r : page.requests) items.push_back(r.to_json(true));
  return json_response(http::status::ok,
                       json{{"requests", items},
                            {"next", page.next ? json(page.next->to_string()) : json(nullptr)},
                            {"total", ctx.policy->delist_count(txn, wanted)}},
                       req.version());
}

Response delist_get(const Request& req, const RouterContext& ctx, std::string_view id) {
  std::optional<core::DelistRequest> r;
  {
    auto txn = ctx.store->env().begin_read();
    r = ctx.policy->delist_request(txn, id);
  }
  if (!r) throw core::PolicyError("not_found", "no delist request " + std::string(id));
  return json_response(http::status::ok, r->to_json(false), req.version());
}

Response delist_decide(const Request& req, const RouterContext& ctx, std::string_view id,
                       bool approve, const core::Actor& actor) {
  const auto body = body_object(req, {"reason"});
  const auto reason = *get_string(body, "reason", true, 1000);
  std::optional<core::DelistRequest> r;
  {
    auto txn = ctx.store->env().begin_read();
    r = ctx.policy->delist_request(txn, id);
  }
  if (!r) throw core::PolicyError("not_found", "no delist request " + std::string(id));
  std::shared_ptr<const zoneserver::ZoneCatalog> keep;
  const auto* zone = zone_or_throw(ctx, r->zone, keep);
  ctx.store->env().write([&](core::WriteTxn& txn) {
    r = ctx.policy->decide(txn, zone->config, id, approve, reason, actor);
  });
  spdlog::info("{} {} delist request {}", actor.id, approve ? "approved" : "denied", r->id);
  return json_response(http::status::ok, r->to_json(true), req.version());
}

Response method_not_allowed(const Request& req, std::string_view allow) {
  auto res = fail(
      req, http::status::method_not_allowed, "method_not_allowed",
      std::string(sv(req.method_string())) + " is not allowed here; use " + std::string(allow));
  res.set(http::field::allow, boost::beast::string_view(allow.data(), allow.size()));
  return res;
}

bool rate_limited(const RouterContext& ctx, std::string_view peer) {
  return ctx.limits && !ctx.limits->public_requests.allow(peer);
}

Response too_many(const Request& req) {
  auto res = fail(req, http::status::too_many_requests, "too_many_requests",
                  "too many requests from this address; slow down");
  res.set(http::field::retry_after, "10");
  return res;
}

std::optional<Response> dispatch(const Request& req, const RouterContext& ctx,
                                 const std::vector<std::string>& p, std::string_view peer) {
  const auto method = req.method();
  using V = http::verb;
  const auto need = [&](std::initializer_list<Role> roles) {
    return authorize(req, ctx, peer, roles);
  };
  const std::initializer_list<Role> desk = {Role::desk};

  // /api/v1/whoami
  if (p.size() == 3 && p[2] == "whoami") {
    if (method != V::get) return method_not_allowed(req, "GET");
    auto who = need({Role::desk, Role::reporter, Role::importer});
    if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
    const auto& a = std::get<core::Actor>(who);
    return json_response(http::status::ok, json{{"actor", a.id}, {"role", core::to_string(a.role)}},
                         req.version());
  }

  // /api/v1/delist-requests[/{id}[/approve|deny]]
  if (p.size() >= 3 && p[2] == "delist-requests") {
    if (p.size() == 3) {
      if (method != V::get) return method_not_allowed(req, "GET");
      auto who = need(desk);
      if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
      return delist_list(req, ctx);
    }
    if (p.size() == 4) {
      if (method != V::get) return method_not_allowed(req, "GET");
      if (rate_limited(ctx, peer)) return too_many(req);
      return delist_get(req, ctx, p[3]);
    }
    if (p.size() == 5 && (p[4] == "approve" || p[4] == "deny")) {
      if (method != V::post) return method_not_allowed(req, "POST");
      auto who = need(desk);
      if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
      return delist_decide(req, ctx, p[3], p[4] == "approve", std::get<core::Actor>(who));
    }
    return std::nullopt;
  }

  if (p.size() < 5 || p[2] != "zones") return std::nullopt;
  const auto& what = p[4];
  const bool with_subject = p.size() == 6;
  if (p.size() > 6) return std::nullopt;
  if (what != "listings" && what != "reports" && what != "delist-requests" && what != "history" &&
      what != "allowlist") {
    return std::nullopt;
  }
  std::shared_ptr<const zoneserver::ZoneCatalog> keep;
  const auto resolve = [&] { return zone_or_throw(ctx, p[3], keep); };

  if (what == "delist-requests" && !with_subject) {
    if (method != V::post) return method_not_allowed(req, "POST");
    if (rate_limited(ctx, peer)) return too_many(req);
    return post_delist(req, ctx, resolve()->config, peer);
  }
  if (what == "listings" && !with_subject) {
    if (method != V::get) return method_not_allowed(req, "GET");
    auto who = need(desk);
    if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
    return list_listings(req, ctx, resolve()->config);
  }
  if (what == "listings") {
    if (method != V::get && method != V::put && method != V::delete_) {
      return method_not_allowed(req, "GET, PUT, DELETE");
    }
    auto who = need(desk);
    if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
    const auto& zone = resolve()->config;
    const auto s = subject_or_throw(p[5]);
    if (method == V::get) return get_listing(req, ctx, zone, s);
    if (method == V::put) return put_listing(req, ctx, zone, s, std::get<core::Actor>(who));
    return delete_listing(req, ctx, zone, s, std::get<core::Actor>(who));
  }
  if (what == "reports") {
    if (!with_subject) {
      if (method != V::post) return method_not_allowed(req, "POST");
      auto who = need({Role::reporter, Role::importer});
      if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
      return post_report(req, ctx, resolve()->config, std::get<core::Actor>(who));
    }
    if (method != V::get) return method_not_allowed(req, "GET");
    auto who = need(desk);
    if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
    return get_reports(req, ctx, resolve()->config, subject_or_throw(p[5]));
  }
  if (what == "history" && with_subject) {
    if (method != V::get) return method_not_allowed(req, "GET");
    auto who = need(desk);
    if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
    return history(req, ctx, resolve()->config, subject_or_throw(p[5]));
  }
  if (what == "allowlist") {
    if (!with_subject) {
      if (method != V::get) return method_not_allowed(req, "GET");
      auto who = need(desk);
      if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
      return allowlist_get(req, ctx, resolve()->config);
    }
    if (method != V::put && method != V::delete_) return method_not_allowed(req, "PUT, DELETE");
    auto who = need({});
    if (auto* res = std::get_if<Response>(&who)) return std::move(*res);
    return allowlist_change(req, ctx, resolve()->config, subject_or_throw(p[5]),
                            std::get<core::Actor>(who), method == V::put);
  }
  return std::nullopt;
}

}  // namespace

std::optional<Response> route(const Request& req, const RouterContext& ctx,
                              const std::vector<std::string>& path, std::string_view peer) {
  if (path.size() < 3 || path[0] != "api" || path[1] != "v1") return std::nullopt;
  static const std::set<std::string> kZoneParts = {"listings", "reports", "delist-requests",
                                                   "history", "allowlist"};
  const bool ours = path[2] == "whoami" || path[2] == "delist-requests" ||
                    (path[2] == "zones" && path.size() >= 5 && kZoneParts.contains(path[4]));
  if (!ours) return std::nullopt;
  if (!ctx.policy || !ctx.store) {
    return fail(req, http::status::service_unavailable, "unavailable",
                "this server has no listing store attached");
  }
  try {
    return dispatch(req, ctx, path, peer);
  } catch (const BadBody& e) {
    const auto status = e.code == "unsupported_media_type" ? http::status::unsupported_media_type
                                                           : http::status::bad_request;
    return fail(req, status, e.code, e.message);
  } catch (const core::PolicyError& e) {
    if (e.code() == "unknown_zone") return fail(req, http::status::not_found, e.code(), e.what());
    return fail(req, status_of(e.code()), e.code(), e.what());
  }
}

std::optional<Response> require_desk(const Request& req, const RouterContext& ctx,
                                     std::string_view peer) {
  auto who = authorize(req, ctx, peer, {Role::desk});
  if (auto* refused = std::get_if<Response>(&who)) return std::move(*refused);
  return std::nullopt;
}

}  // namespace rblzone::admin::api
