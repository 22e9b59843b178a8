#include "core/tokens.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/crypto.hpp"

namespace rblzone::core {

using nlohmann::json;

Trust default_trust(Role role) {
  return role == Role::importer ? Trust::trap : Trust::trusted;
}

namespace {

std::string hash_of(std::string_view token) {
  return to_hex(sha256(token));
}

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '@';
         });
}

}  // namespace

std::string create_token(WriteTxn& txn, const TokenInfo& info) {
  if (!valid_name(info.name)) {
    throw PolicyError("bad_name", "a token name is 1-64 letters, digits, '-', '_', '.' or '@'");
  }
  const std::string name_key = "n" + info.name;
  if (txn.get(txn.dbs().aux, name_key)) {
    throw PolicyError("name_taken", "a token named '" + info.name + "' exists: revoke it first");
  }
  const std::string token = "rbz_" + to_hex(random_bytes(32));
  const std::string hash = hash_of(token);
  const json rec{
      {"name", info.name},       {"role", to_string(info.role)},  {"trust", to_string(info.trust)},
      {"created", info.created}, {"created_by", info.created_by}, {"hash", hash}};
  txn.put(txn.dbs().aux, "t" + hash, rec.dump());
  txn.put(txn.dbs().aux, name_key, hash);
  return token;
}

bool revoke_token(WriteTxn& txn, std::string_view name) {
  const std::string name_key = "n" + std::string(name);
  const auto hash = txn.get(txn.dbs().aux, name_key);
  if (!hash) return false;
  const std::string h(*hash);
  txn.del(txn.dbs().aux, "t" + h);
  txn.del(txn.dbs().aux, name_key);
  return true;
}

namespace {
std::optional<TokenInfo> info_from(std::string_view value) {
  const auto j = json::parse(value, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  TokenInfo t;
  t.name = j.value("name", std::string());
  const auto role = parse_role(j.value("role", std::string()));
  const auto trust = parse_trust(j.value("trust", std::string()));
  if (!role || !trust) return std::nullopt;
  t.role = *role;
  t.trust = *trust;
  t.created = j.value("created", std::int64_t{0});
  t.created_by = j.value("created_by", std::string());
  return t;
}
}  // namespace

std::vector<TokenInfo> list_tokens(const ReadTxn& txn) {
  std::vector<TokenInfo> out;
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek("t"); ok && c.key().starts_with("t"); ok = c.next()) {
    if (auto t = info_from(c.value())) out.push_back(std::move(*t));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::optional<TokenInfo> authenticate(const ReadTxn& txn, std::string_view presented) {
  if (presented.size() != 68 || !presented.starts_with("rbz_")) return std::nullopt;
  const std::string hash = hash_of(presented);
  const auto v = txn.get(txn.dbs().aux, "t" + hash);
  if (!v) return std::nullopt;
  const auto j = json::parse(*v, nullptr, false);
  if (j.is_discarded() || !constant_time_equal(j.value("hash", std::string()), hash)) {
    return std::nullopt;
  }
  return info_from(*v);
}

}  // namespace rblzone::core
