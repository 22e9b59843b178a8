// The HTTP connector: turns the three request layouts pdns 4.7.3 sends into
// one {"method", "parameters"} object for pdns::handle().
#include "admin/pdns_http.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "zoneserver/pdns_backend.hpp"

namespace rblzone::admin {
namespace {

using nlohmann::json;

std::string_view sv(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

// REST path segments after the method, in the order pdns puts them
// (id, domain_id, zonename, qname, name, kind, qtype, then extras).
const std::vector<std::pair<std::string_view, std::vector<std::string_view>>> kRestParams = {
    {"lookup", {"qname", "qtype"}},      {"getDomainInfo", {"name"}},
    {"getAllDomainMetadata", {"name"}},  {"getDomainMetadata", {"name", "kind"}},
    {"list", {"domain_id", "zonename"}},
};

// Only these parameters travel as headers (X-RemoteBackend-<name>).
constexpr std::string_view kHeaderParams[] = {"local", "remote", "real-remote", "zone-id", "trxid"};

Response reply(const Request& req, const json& body) {
  const bool ok = body.contains("result");
  Response res{ok ? http::status::ok : http::status::service_unavailable, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = zoneserver::pdns::dump(body);
  return res;
}

json failure(std::string_view why) {
  return json{{"result", false}, {"log", json::array({"rblzone: " + std::string(why)})}};
}

// The path after "/pdns", split at '/', each segment percent-decoded. pdns
// percent-encodes every '.', so a raw '.' in the last segment starts the
// connection string's url-suffix (".json"), which is dropped; a raw
// segment ending in '.' is a hand-written absolute name, kept whole.
std::optional<std::vector<std::string>> segments(std::string_view path) {
  std::vector<std::string_view> raw;
  while (!path.empty()) {
    if (path[0] == '/') path.remove_prefix(1);
    const auto slash = path.find('/');
    raw.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  if (!raw.empty() && !raw.back().ends_with('.')) {
    raw.back() = raw.back().substr(0, raw.back().find('.'));
  }
  std::vector<std::string> out;
  for (const auto r : raw) {
    std::string seg;
    if (!percent_decode(r, seg)) return std::nullopt;
    out.push_back(std::move(seg));
  }
  return out;
}

// application/x-www-form-urlencoded: the value of `key`, decoded.
std::optional<std::string> form_value(std::string_view body, std::string_view key) {
  while (!body.empty()) {
    const auto amp = body.find('&');
    const auto pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == key) {
      std::string value;
      if (!percent_decode(pair.substr(eq + 1), value)) return std::nullopt;
      return value;
    }
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// The request as one {"method", "parameters"} object, or a reason.
std::variant<json, std::string> to_request(const Request& req, std::string_view path) {
  const auto segs = segments(path);
  if (!segs) return std::string("malformed percent-encoding in the path");
  const bool post = req.method() == http::verb::post;
  if (segs->empty()) {
    // post=1,post_json=1: the body is the whole request, as on the socket.
    if (!post) return std::string("POST the request to " + std::string(kPdnsPrefix));
    json parsed = json::parse(req.body(), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return std::string("the body is not a JSON object");
    }
    return parsed;
  }
  json request{{"method", (*segs)[0]}, {"parameters", json::object()}};
  json& params = request["parameters"];
  const bool form =
      post && sv(req[http::field::content_type]).starts_with("application/x-www-form-urlencoded");
  if (form && segs->size() == 1) {
    // post=1: parameters=<percent-encoded JSON object>.
    const auto value = form_value(req.body(), "parameters");
    if (!value) return std::string("post=1 wants a form body parameters=<JSON>");
    json parsed = json::parse(*value, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return std::string("the parameters are not a JSON object");
    }
    params = std::move(parsed);
    return request;
  }
  // REST: the arguments are path segments, some parameters are headers.
  for (const auto& [method, names] : kRestParams) {
    if (method != (*segs)[0]) continue;
    for (std::size_t i = 0; i < names.size() && i + 1 < segs->size(); ++i) {
      params[std::string(names[i])] = (*segs)[i + 1];
    }
  }
  if (params.contains("domain_id")) {
    try {
      params["domain_id"] = std::stoll(params["domain_id"].get<std::string>());
    } catch (const std::exception&) {
      return std::string("domain_id is not a number");
    }
  }
  for (const auto name : kHeaderParams) {
    const auto value = req[std::string("X-RemoteBackend-") + std::string(name)];
    if (!value.empty()) params[std::string(name)] = std::string(sv(value));
  }
  return request;
}

}  // namespace

bool is_pdns_target(std::string_view target) {
  if (!target.starts_with(kPdnsPrefix)) return false;
  const auto rest = target.substr(kPdnsPrefix.size());
  return rest.empty() || rest[0] == '/' || rest[0] == '?';
}

Response handle_pdns(const Request& req, const RouterContext& ctx) {
  try {
    auto path = sv(req.target()).substr(kPdnsPrefix.size());
    path = path.substr(0, path.find('?'));
    auto request = to_request(req, path);
    if (const auto* why = std::get_if<std::string>(&request)) return reply(req, failure(*why));
    const auto catalog = ctx.catalog();
    zoneserver::Snapshot snapshot(*ctx.store);
    // No `list` over HTTP: whoever reaches the admin port would get whole
    // zones, which DNS never gives out. AXFR through pdns needs the socket.
    zoneserver::pdns::BackendOptions options;
    options.list_max_records = 0;
    return reply(req, zoneserver::pdns::handle(std::get<json>(request), *catalog, snapshot,
                                               ctx.clock(), options));
  } catch (const std::exception& e) {
    return reply(req, failure(e.what()));
  }
}

}  // namespace rblzone::admin
