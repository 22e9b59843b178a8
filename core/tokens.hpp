// API tokens: created and revoked by the operator (`rblzone token`), stored
// as SHA-256 hashes only (the token itself is shown once, at creation), and
// checked in constant time.
//
// Records in `aux`: 't' hex(sha256(token)) -> JSON {name, role, trust,
// created, created_by, hash}; 'n' name -> hex(sha256(token)).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/lmdb.hpp"
#include "core/policy.hpp"

namespace rblzone::core {

struct TokenInfo {
  std::string name;
  Role role = Role::reporter;
  Trust trust = Trust::trusted;  // the weight class of this token's reports
  std::int64_t created = 0;
  std::string created_by;
};

// The default trust of a role's reports: importers feed traps, reporters
// are trusted partners; a spam button's aggregator is made `untrusted`.
Trust default_trust(Role role);

// Creates a token and returns it ("rbz_" + 64 hex digits): the only time it
// is ever seen. Throws PolicyError name_taken or bad_name.
std::string create_token(WriteTxn& txn, const TokenInfo& info);
// False when no token has that name.
bool revoke_token(WriteTxn& txn, std::string_view name);
std::vector<TokenInfo> list_tokens(const ReadTxn& txn);
// The token's record, or nullopt for an unknown or revoked token.
std::optional<TokenInfo> authenticate(const ReadTxn& txn, std::string_view presented);

}  // namespace rblzone::core
