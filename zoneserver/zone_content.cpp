// Listings -> records (see zone_content.hpp).
//
// IP trees. Every stored prefix is widened to the next label boundary (8
// bits in the IPv4 octet tree, 4 in the nibble tree) and expanded there into
// the aligned nodes it covers. The tree of those nodes and all their aligned
// ancestors is walked depth first; at each node N the effective listing is
// the longest-prefix match among the stored prefixes expanded on the path to
// N, per source zone, exactly as match_ip() would find it for any address
// whose deepest aligned ancestor in the tree is N. Then:
//   N is an address (full length)  -> A/TXT if listed;
//   N is shorter and listed        -> a wildcard "*.N" with A/TXT;
//   N is not listed, would be covered by the parent's wildcard, and has
//     nothing below it             -> an HINFO placeholder so N exists and
//                                     stops that wildcard.
// An address below N that is not itself a node has no name of its own, so
// its closest encloser is N (or an ancestor whose wildcard is absent for the
// same reason) and it gets N's wildcard, i.e. N's effective listing.
// Domain trees work the same way over labels, with "subtree" listings as
// wildcards and exact listings as names.
#include "zoneserver/zone_content.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "zoneserver/txt_template.hpp"

namespace rblzone::zoneserver {

using core::IpPrefix;
using core::Listing;

namespace {

constexpr std::uint32_t kTestListed = 0x7f000002;
constexpr std::uint32_t kTestNever = 0x7f000001;
constexpr std::uint8_t kTestSource = 255;
constexpr std::size_t kMaxCodes = 16;
constexpr std::size_t kMaxTxt = 255;

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

std::string_view wire_of(const wire::Name& n) {
  return {reinterpret_cast<const char*>(n.wire), n.size};  // NOLINT
}

// The zone's TXT template expanded as answer() does (answerer.cpp,
// expand_txt): "$" the queried subject, {reason}, {subject}, {url}, {code}.
std::string expand_txt(const core::ZoneConfig& cfg, std::string_view queried,
                       std::string_view reason, std::string_view subject, std::uint32_t code) {
  std::string out;
  auto put = [&](std::string_view s) {
    for (const char c : s) {
      if (out.size() >= kMaxTxt) return;
      out.push_back((c >= 0x20 && c < 0x7f) ? c : '?');
    }
  };
  expand_txt_template(cfg.txt, cfg.lookup_url, queried, reason, subject, code, put);
  return out;
}

// What one name answers: the union of the sources' codes, the TXT from the
// first source that matched (answerer.cpp, lookup_ip/lookup_domain).
struct Answer {
  std::array<std::uint32_t, kMaxCodes> codes{};
  std::size_t ncodes = 0;
  const Listing* first = nullptr;  // nullptr with codes set: a test point
  std::string subject;             // the listed prefix or domain that matched first

  bool listed() const { return ncodes > 0; }
  void add(std::uint32_t c) {
    for (std::size_t i = 0; i < ncodes; ++i) {
      if (codes[i] == c) return;
    }
    if (ncodes < codes.size()) codes[ncodes++] = c;
  }
};

class Emitter {
 public:
  Emitter(const CatalogZone& zone, const RecordSink& sink) : zone_(zone), sink_(sink) {}
  bool stopped() const { return stopped_; }

  void record(std::string_view owner, std::uint16_t type, std::uint32_t ttl,
              std::string_view rdata) {
    if (stopped_) return;
    if (!sink_(ZoneRecord{owner, type, ttl, rdata})) stopped_ = true;
  }

  // A and TXT for a listed name; `queried` is what "$" becomes.
  void answer(std::string_view owner, const Answer& a, std::string_view queried) {
    const std::uint32_t ttl = zone_.config.ttl;
    std::string rdata;
    for (std::size_t i = 0; i < a.ncodes; ++i) {
      rdata.clear();
      put_u32(rdata, a.codes[i]);
      record(owner, wire::type::A, ttl, rdata);
    }
    const std::string_view reason =
        a.first ? std::string_view(a.first->reason) : std::string_view("RFC 5782 test point");
    const std::string text = expand_txt(zone_.config, queried, reason, a.subject, a.codes[0]);
    rdata.clear();
    rdata.push_back(static_cast<char>(text.size()));
    rdata += text;
    record(owner, wire::type::TXT, ttl, rdata);
  }

  void placeholder(std::string_view owner) {
    static constexpr std::string_view kHinfo = "\x07rblzone\x0anot-listed";
    record(owner, kPlaceholderType, zone_.config.ttl, kHinfo);
  }

 private:
  const CatalogZone& zone_;
  const RecordSink& sink_;
  bool stopped_ = false;
};

// --- IP trees -------------------------------------------------------------------

struct IpEntry {
  IpPrefix prefix;
  std::uint8_t source = 0;  // index in CatalogZone::sources
  Listing listing;
};
using IpEntryRef = std::shared_ptr<const IpEntry>;

// An aligned node some entry expands to (or a test point).
struct IpNode {
  IpPrefix::Bytes addr{};
  std::uint8_t len = 0;
  std::uint8_t source = 0;    // kTestSource: a test point
  std::uint8_t orig_len = 0;  // the entry's own length
  std::uint8_t test = 0;      // a test point: 1 = listed, 0 = never
  IpEntryRef entry;           // null for test points
};

bool node_less(const IpNode& a, const IpNode& b) {
  if (a.addr != b.addr) return a.addr < b.addr;
  if (a.len != b.len) return a.len < b.len;
  if (a.source != b.source) return a.source < b.source;
  return a.orig_len > b.orig_len;
}

bool inside(const IpNode& n, const IpPrefix::Bytes& addr, std::uint8_t len) {
  return n.len >= len && IpPrefix(addr, len).contains(n.addr);
}

struct TreeShape {
  std::uint8_t root;  // the apex's prefix length: 96 (octets) or 0 (nibbles)
  std::uint8_t step;  // bits per label
};

// Whether an entry has nodes in the tree at all: the octet tree holds IPv4
// prefixes and the prefixes around the whole IPv4 space.
bool in_tree(const IpPrefix& p, TreeShape shape) {
  if (shape.root != 96) return true;
  return p.length() < 96 ? p.contains(IpPrefix::v4(0, 0).bytes()) : p.is_v4();
}

// Calls push(node) for each aligned node the entry expands to: its prefix
// widened to the next label boundary. Every node's address is at or after
// the entry's own, and at most 2^step of them.
template <class Push>
void expand(const IpEntryRef& e, TreeShape shape, Push&& push) {
  const IpPrefix& p = e->prefix;
  if (!in_tree(p, shape)) return;
  const std::uint8_t root = shape.root;
  // Around the whole tree (only ::/n around the v4 space): from the root.
  const IpPrefix base = p.length() < root ? IpPrefix(IpPrefix::v4(0, 0).bytes(), root) : p;
  const unsigned rel = base.length() - root;
  unsigned aligned = (rel + shape.step - 1) / shape.step * shape.step;
  if (aligned == 0) aligned = shape.step;
  const auto len = static_cast<std::uint8_t>(root + aligned);
  const unsigned extra = len - base.length();
  const std::uint32_t count = 1u << extra;
  for (std::uint32_t k = 0; k < count; ++k) {
    IpNode n;
    n.addr = base.bytes();
    // Sets the `extra` bits after base.length() to k.
    for (unsigned b = 0; b < extra; ++b) {
      if ((k >> (extra - 1 - b)) & 1u) {
        const unsigned bit = base.length() + b;
        n.addr[bit / 8] = static_cast<std::uint8_t>(n.addr[bit / 8] | (0x80u >> (bit % 8)));
      }
    }
    n.len = len;
    n.source = e->source;
    n.orig_len = p.length();
    n.entry = e;
    push(std::move(n));
  }
}

IpNode test_node(std::uint32_t v4, std::uint8_t listed) {
  IpNode n;
  n.addr = IpPrefix::v4(v4, 32).bytes();
  n.len = 128;
  n.source = kTestSource;
  n.orig_len = 128;
  n.test = listed;
  return n;
}

// The tree's nodes in node_less order, one at a time.
class IpNodes {
 public:
  virtual ~IpNodes() = default;
  virtual const IpNode* peek() = 0;  // nullptr: no more
  virtual void pop() = 0;
};

// Nodes collected and sorted beforehand (IXFR: overrides and regions).
class SortedIpNodes final : public IpNodes {
 public:
  SortedIpNodes(const std::vector<IpEntryRef>& entries, TreeShape shape,
                const ZoneRegions* regions) {
    for (const auto& e : entries)
      expand(e, shape, [&](IpNode n) { nodes_.push_back(std::move(n)); });
    nodes_.push_back(test_node(kTestListed, 1));
    nodes_.push_back(test_node(kTestNever, 0));
    if (regions) {  // only what lies in (or around) the regions
      std::erase_if(nodes_, [&](const IpNode& n) {
        const IpPrefix p(n.addr, n.len);
        return std::none_of(regions->ip.begin(), regions->ip.end(),
                            [&](const IpPrefix& r) { return r.contains(p) || p.contains(r); });
      });
    }
    std::sort(nodes_.begin(), nodes_.end(), node_less);
  }
  const IpNode* peek() override { return next_ < nodes_.size() ? &nodes_[next_] : nullptr; }
  void pop() override { nodes_[next_++].entry.reset(); }

 private:
  std::vector<IpNode> nodes_;
  std::size_t next_ = 0;
};

thread_local std::uint64_t t_listings_read = 0;

// One source zone's listings in key order, through a cursor of the
// transfer's read transaction.
struct SourceCursor {
  SourceCursor(const core::ReadTxn& txn, MDB_dbi dbi, core::ZoneId id, std::uint8_t index)
      : cursor(txn, dbi), prefix(core::ip_key(id, IpPrefix::v4(0, 0)).substr(0, 2)), source(index) {
    ok = cursor.seek(prefix);
    check();
  }
  void advance() {
    ok = cursor.next();
    check();
  }
  // The key without its zone id; valid while ok.
  std::string_view rest() const { return cursor.key().substr(2); }

  core::Cursor cursor;
  std::string prefix;
  std::uint8_t source;
  bool ok = false;

 private:
  void check() {
    if (ok && cursor.key().substr(0, 2) != prefix) ok = false;
  }
};

// Nodes straight from the store: the sources' cursors are read in key
// order (address, then length) and each listing's nodes go to a heap, whose
// smallest node is final once the next unread listing's address is past it
// (no node comes before its listing's address). So a transfer holds only
// the listings around the current position, and its first records go out
// after a few listings have been read, at any zone size.
class StoreIpNodes final : public IpNodes {
 public:
  StoreIpNodes(const CatalogZone& zone, const core::ReadTxn& txn, std::int64_t now, TreeShape shape)
      : shape_(shape), now_(now) {
    for (std::size_t s = 0; s < zone.sources.size(); ++s) {
      const CatalogZone& src = *zone.sources[s];
      if (src.config.kind != core::ZoneKind::ip) continue;
      cursors_.push_back(
          std::make_unique<SourceCursor>(txn, txn.dbs().ip, src.id, static_cast<std::uint8_t>(s)));
    }
    push(test_node(kTestListed, 1));
    push(test_node(kTestNever, 0));
  }

  const IpNode* peek() override {
    for (;;) {
      SourceCursor* c = next_cursor();
      if (c == nullptr) break;
      if (!heap_.empty() && c->rest().substr(0, 16) > addr_view(heap_.front().addr)) break;
      read(*c);
    }
    return heap_.empty() ? nullptr : &heap_.front();
  }
  void pop() override {
    std::pop_heap(heap_.begin(), heap_.end(), greater);
    heap_.pop_back();
  }

 private:
  static bool greater(const IpNode& a, const IpNode& b) { return node_less(b, a); }
  static std::string_view addr_view(const IpPrefix::Bytes& a) {
    return {reinterpret_cast<const char*>(a.data()), a.size()};  // NOLINT
  }
  void push(IpNode n) {
    heap_.push_back(std::move(n));
    std::push_heap(heap_.begin(), heap_.end(), greater);
  }
  SourceCursor* next_cursor() {
    SourceCursor* best = nullptr;
    for (const auto& c : cursors_) {
      if (c->ok && (best == nullptr || c->rest() < best->rest())) best = c.get();
    }
    return best;
  }
  void read(SourceCursor& c) {
    const auto key = c.cursor.key();
    if (key.size() == core::kIpKeySize) {
      IpPrefix::Bytes b{};
      std::memcpy(b.data(), key.data() + 2, 16);
      const IpPrefix p(b, static_cast<std::uint8_t>(key[18]));
      if (in_tree(p, shape_)) {
        const auto v = c.cursor.value();
        ++t_listings_read;
        auto l = Listing::decode(v.empty() ? v : v.substr(1));
        if (l && l->active_at(now_)) {
          const auto e = std::make_shared<const IpEntry>(IpEntry{p, c.source, std::move(*l)});
          expand(e, shape_, [&](IpNode n) { push(std::move(n)); });
        }
      }
    }
    c.advance();
  }

  TreeShape shape_;
  std::int64_t now_;
  std::vector<std::unique_ptr<SourceCursor>> cursors_;
  std::vector<IpNode> heap_;
};

class IpTree {
 public:
  IpTree(const CatalogZone& zone, IpNodes& nodes, TreeShape shape, Emitter& out)
      : zone_(zone), nodes_(nodes), shape_(shape), out_(out) {}

  void run() {
    std::vector<IpEntryRef> eff(zone_.sources.size());
    IpPrefix::Bytes root{};
    if (shape_.root == 96) root = IpPrefix::v4(0, 0).bytes();
    walk(root, shape_.root, eff, false);
  }

 private:
  // The relative owner of the node (addr, len): its labels, least
  // significant first.
  std::string owner(const IpPrefix::Bytes& addr, std::uint8_t len, bool wildcard) const {
    std::string o;
    if (wildcard) o.append("\x01*", 2);
    const unsigned labels = (len - shape_.root) / shape_.step;
    for (unsigned i = labels; i-- > 0;) {
      if (shape_.step == 8) {
        const std::string octet = std::to_string(addr[12 + i]);
        o.push_back(static_cast<char>(octet.size()));
        o += octet;
      } else {
        const unsigned v = (i % 2 == 0) ? addr[i / 2] >> 4 : addr[i / 2] & 0xfu;
        o.push_back(1);
        o.push_back("0123456789abcdef"[v]);
      }
    }
    return o;
  }

  Answer combine(const std::vector<IpEntryRef>& eff) const {
    Answer a;
    for (std::size_t s = 0; s < eff.size(); ++s) {
      if (!eff[s]) continue;
      const IpEntry& e = *eff[s];
      if (e.listing.exclusion()) continue;
      if (a.ncodes == 0) {
        a.first = &e.listing;
        a.subject = e.prefix.to_string();
      }
      if (e.listing.codes.empty()) a.add(zone_.sources[s]->config.default_code);
      for (const auto c : e.listing.codes) a.add(c);
    }
    return a;
  }

  // Emits what lies at and below the node (addr, len), taking its expanded
  // nodes from nodes_ (the next ones are inside it). Returns true if the
  // node's name exists afterwards.
  bool walk(const IpPrefix::Bytes& addr, std::uint8_t len, std::vector<IpEntryRef> eff,
            bool parent_wildcard) {
    int test = -1;
    for (const IpNode* n; (n = nodes_.peek()) != nullptr && n->len == len && n->addr == addr;
         nodes_.pop()) {
      if (n->source == kTestSource) {
        test = n->test;
      } else if (!eff[n->source] || eff[n->source]->prefix.length() < n->orig_len) {
        eff[n->source] = n->entry;
      }
    }
    Answer a;
    if (test == 1) {
      a.add(kTestListed);
      a.subject = IpPrefix(addr, 128).to_string();
    } else if (test != 0) {
      a = combine(eff);
    }
    if (len == 128) {
      if (a.listed()) {
        out_.answer(owner(addr, len, false), a, IpPrefix(addr, 128).to_string());
        return true;
      }
      if (parent_wildcard) out_.placeholder(owner(addr, len, false));
      return parent_wildcard;
    }
    const bool wildcard = a.listed() && len > shape_.root;
    if (wildcard) out_.answer(owner(addr, len, true), a, a.subject);
    bool exists = wildcard;
    const auto child_len = static_cast<std::uint8_t>(len + shape_.step);
    while (!out_.stopped()) {
      const IpNode* n = nodes_.peek();
      if (n == nullptr || !inside(*n, addr, len)) break;
      const IpPrefix child(n->addr, child_len);
      exists = walk(child.bytes(), child_len, eff, wildcard) || exists;
    }
    if (!exists && parent_wildcard) {
      out_.placeholder(owner(addr, len, false));
      exists = true;
    }
    return exists;
  }

  const CatalogZone& zone_;
  IpNodes& nodes_;
  TreeShape shape_;
  Emitter& out_;
};

// --- domain tree ----------------------------------------------------------------

struct DomainEntry {
  std::string key;  // labels most significant first, each followed by '\0'
  std::string name;
  std::uint8_t source = 0;
  Listing listing;  // or a test point: codes {127.0.0.2}, or exclusion for "invalid"
  bool test = false;
};
using DomainEntryRef = std::shared_ptr<const DomainEntry>;

bool entry_less(const DomainEntryRef& a, const DomainEntryRef& b) {
  return a->key != b->key ? a->key < b->key : a->source < b->source;
}

std::string reversed_key(const std::string& name) {
  std::string key;
  std::size_t end = name.size();
  while (end > 0) {
    const auto dot = name.rfind('.', end - 1);
    const std::size_t start = dot == std::string::npos ? 0 : dot + 1;
    key.append(name, start, end - start);
    key.push_back('\0');
    end = dot == std::string::npos ? 0 : dot;
  }
  return key;
}

// The RFC 5782 test names of a domain zone.
std::vector<DomainEntryRef> test_entries(const ZoneRegions* regions) {
  Listing listed;
  listed.codes = {kTestListed};
  Listing never;
  never.flags = core::kFlagExclusion;
  std::vector<DomainEntryRef> out;
  for (const auto& [name, l] : {std::pair{"test", listed}, std::pair{"invalid", never}}) {
    if (!regions || std::find(regions->domains.begin(), regions->domains.end(), name) !=
                        regions->domains.end()) {
      out.push_back(
          std::make_shared<const DomainEntry>(DomainEntry{reversed_key(name), name, 0, l, true}));
    }
  }
  std::sort(out.begin(), out.end(), entry_less);
  return out;
}

// The entries in (key, source) order, one at a time.
class DomainEntries {
 public:
  virtual ~DomainEntries() = default;
  virtual const DomainEntryRef* peek() = 0;  // nullptr: no more
  virtual void pop() = 0;
};

class SortedDomainEntries final : public DomainEntries {
 public:
  explicit SortedDomainEntries(std::vector<DomainEntryRef> entries) : entries_(std::move(entries)) {
    std::sort(entries_.begin(), entries_.end(), entry_less);
  }
  const DomainEntryRef* peek() override {
    return next_ < entries_.size() ? &entries_[next_] : nullptr;
  }
  void pop() override { entries_[next_++].reset(); }

 private:
  std::vector<DomainEntryRef> entries_;
  std::size_t next_ = 0;
};

// Entries straight from the store: the sources' cursors merged (the stored
// key is the tree's key), and the test names.
class StoreDomainEntries final : public DomainEntries {
 public:
  StoreDomainEntries(const CatalogZone& zone, const core::ReadTxn& txn, std::int64_t now)
      : now_(now), tests_(test_entries(nullptr)) {
    for (std::size_t s = 0; s < zone.sources.size(); ++s) {
      const CatalogZone& src = *zone.sources[s];
      if (src.config.kind != core::ZoneKind::domain) continue;
      cursors_.push_back(std::make_unique<SourceCursor>(txn, txn.dbs().domain, src.id,
                                                        static_cast<std::uint8_t>(s)));
    }
  }

  const DomainEntryRef* peek() override {
    while (!current_) {
      SourceCursor* best = nullptr;
      for (const auto& c : cursors_) {
        if (c->ok && (best == nullptr || c->rest() < best->rest())) best = c.get();
      }
      const bool test_first =
          next_test_ < tests_.size() &&
          (best == nullptr || std::string_view(tests_[next_test_]->key) <= best->rest());
      if (test_first) {
        current_ = std::move(tests_[next_test_++]);
      } else if (best != nullptr) {
        read(*best);
      } else {
        break;
      }
    }
    return current_ ? &current_ : nullptr;
  }
  void pop() override { current_.reset(); }

 private:
  void read(SourceCursor& c) {
    const auto v = c.cursor.value();
    ++t_listings_read;
    auto l = Listing::decode(v);
    if (l && l->active_at(now_)) {
      const std::string_view key = c.rest();
      current_ = std::make_shared<const DomainEntry>(DomainEntry{
          std::string(key), core::domain_from_key(key), c.source, std::move(*l), false});
    }
    c.advance();
  }

  std::int64_t now_;
  std::vector<std::unique_ptr<SourceCursor>> cursors_;
  std::vector<DomainEntryRef> tests_;
  std::size_t next_test_ = 0;
  DomainEntryRef current_;
};

class DomainTree {
 public:
  DomainTree(const CatalogZone& zone, DomainEntries& entries, Emitter& out)
      : zone_(zone), entries_(entries), out_(out) {}

  void run() {
    std::vector<DomainEntryRef> below(zone_.sources.size());
    walk("", "", below, false);
  }

 private:
  static std::string owner(std::string_view name, bool wildcard) {
    std::string o;
    if (wildcard) o.append("\x01*", 2);
    std::size_t start = 0;
    while (start < name.size()) {
      auto dot = name.find('.', start);
      if (dot == std::string_view::npos) dot = name.size();
      o.push_back(static_cast<char>(dot - start));
      o.append(name.substr(start, dot - start));
      start = dot + 1;
    }
    return o;
  }

  Answer combine(const std::vector<DomainEntryRef>& chosen) const {
    Answer a;
    for (std::size_t s = 0; s < chosen.size(); ++s) {
      if (!chosen[s]) continue;
      const DomainEntry& e = *chosen[s];
      if (e.listing.exclusion()) continue;
      if (a.ncodes == 0) {
        a.first = &e.listing;
        a.subject = e.name;
      }
      if (e.listing.codes.empty()) a.add(zone_.sources[s]->config.default_code);
      for (const auto c : e.listing.codes) a.add(c);
    }
    return a;
  }

  // The node `key` (its name `name`, "" for the apex); the next entries are
  // at or below it. `below` holds, per source, the subtree listing that
  // covers names under the parent.
  bool walk(const std::string& key, const std::string& name, std::vector<DomainEntryRef> below,
            bool parent_wildcard) {
    std::vector<DomainEntryRef> exact = below;
    int test = -1;
    for (const DomainEntryRef* e; (e = entries_.peek()) != nullptr && (*e)->key == key;
         entries_.pop()) {
      if ((*e)->test) {
        test = (*e)->listing.exclusion() ? 0 : 1;
        continue;
      }
      exact[(*e)->source] = *e;
      if ((*e)->listing.flags & core::kFlagSubtree) below[(*e)->source] = *e;
    }
    bool exists = false;
    if (!key.empty()) {
      Answer a;
      if (test == 1) {
        a.add(kTestListed);
        a.subject = "test";
      } else if (test != 0) {
        a = combine(exact);
      }
      if (a.listed()) {
        out_.answer(owner(name, false), a, name);
        exists = true;
      }
    }
    const Answer w = key.empty() ? Answer{} : combine(below);
    const bool wildcard = w.listed();
    if (wildcard) {
      out_.answer(owner(name, true), w, w.subject);
      exists = true;
    }
    while (!out_.stopped()) {
      const DomainEntryRef* e = entries_.peek();
      if (e == nullptr || (*e)->key.compare(0, key.size(), key) != 0) break;
      const auto end = (*e)->key.find('\0', key.size());
      const std::string child_key = (*e)->key.substr(0, end + 1);
      const std::string label = child_key.substr(key.size(), child_key.size() - key.size() - 1);
      const std::string child_name = name.empty() ? label : label + "." + name;
      exists = walk(child_key, child_name, below, wildcard) || exists;
    }
    if (!exists && parent_wildcard) {
      out_.placeholder(owner(name, false));
      exists = true;
    }
    return exists;
  }

  const CatalogZone& zone_;
  DomainEntries& entries_;
  Emitter& out_;
};

}  // namespace

namespace {

constexpr std::uint8_t kV4Region = 96 + 8;  // an IPv4 /8
constexpr std::uint8_t kV6Region = 32;

std::string ip_key_of(core::ZoneId id, const IpPrefix& p) {
  return core::ip_key(id, p);
}

bool in_regions(const core::Subject& s, const ZoneRegions& r) {
  if (const auto* p = std::get_if<IpPrefix>(&s)) {
    return std::any_of(r.ip.begin(), r.ip.end(),
                       [&](const IpPrefix& x) { return x.contains(*p) || p->contains(x); });
  }
  const std::string& name = std::get<core::DomainName>(s).name;
  return std::any_of(r.domains.begin(), r.domains.end(), [&](const std::string& d) {
    return name == d || name.ends_with("." + d) || d.ends_with("." + name);
  });
}

// Calls fn for every stored listing that overlaps a region: inside it (one
// key range) or around it (one lookup per shorter length or ancestor).
template <class Fn>
void for_each_in(const core::ReadTxn& txn, core::ZoneId id, const ZoneRegions& regions, Fn&& fn) {
  std::set<std::string> seen;
  const auto emit = [&](MDB_dbi dbi, std::string_view key, std::string_view value) {
    if (!seen.insert(std::string(key)).second) return;
    const auto l = Listing::decode(dbi == txn.dbs().ip && !value.empty() ? value.substr(1) : value);
    if (!l) return;
    if (dbi == txn.dbs().ip) {
      IpPrefix::Bytes b{};
      std::memcpy(b.data(), key.data() + 2, 16);
      fn(core::Subject{IpPrefix(b, static_cast<std::uint8_t>(key[18]))}, *l);
    } else {
      fn(core::Subject{core::DomainName{core::domain_from_key(key.substr(2)),
                                        (l->flags & core::kFlagSubtree) != 0}},
         *l);
    }
  };
  for (const auto& r : regions.ip) {
    for (unsigned len = 0; len < r.length(); ++len) {
      const std::string k = ip_key_of(id, IpPrefix(r.bytes(), static_cast<std::uint8_t>(len)));
      if (const auto v = txn.get(txn.dbs().ip, k)) emit(txn.dbs().ip, k, *v);
    }
    core::Cursor c(txn, txn.dbs().ip);
    for (bool ok = c.seek(ip_key_of(id, r)); ok; ok = c.next()) {
      const auto k = c.key();
      if (k.size() != core::kIpKeySize || k.substr(0, 2) != ip_key_of(id, r).substr(0, 2)) break;
      IpPrefix::Bytes b{};
      std::memcpy(b.data(), k.data() + 2, 16);
      if (!r.contains(b)) break;
      emit(txn.dbs().ip, k, c.value());
    }
  }
  for (const auto& d : regions.domains) {
    const std::string key = core::domain_key(id, d);
    for (std::size_t end = 2; end < key.size(); ++end) {  // ancestors: each label boundary
      if (key[end] != '\0' || end + 1 >= key.size()) continue;
      const std::string_view k(key.data(), end + 1);
      if (const auto v = txn.get(txn.dbs().domain, k)) emit(txn.dbs().domain, k, *v);
    }
    core::Cursor c(txn, txn.dbs().domain);
    for (bool ok = c.seek(key); ok && c.key().substr(0, key.size()) == key; ok = c.next()) {
      emit(txn.dbs().domain, c.key(), c.value());
    }
  }
}

}  // namespace

std::optional<ZoneRegions> change_regions(const CatalogZone& zone, const core::ReadTxn& txn,
                                          const ListingOverrides& old) {
  // A combined zone's regions: its members' listings all lie in the one
  // tree, so a listing of any member above a region covers it.
  std::vector<core::ZoneId> ids;
  for (const auto* src : zone.sources) ids.push_back(src->id);
  const auto stored_or_old = [&](MDB_dbi dbi, const auto& key_of) {
    return std::any_of(ids.begin(), ids.end(), [&](core::ZoneId id) {
      const std::string k = key_of(id);
      return txn.get(dbi, k).has_value() || old.count(k) > 0;
    });
  };
  ZoneRegions out;
  // A listing above the region (shorter by a whole label or more) would put
  // a wildcard over it, so the region is not self-contained.
  const auto covered_above = [&](const IpPrefix& r, unsigned step) {
    for (unsigned len = 0; len + step <= r.length(); ++len) {
      const IpPrefix p(r.bytes(), static_cast<std::uint8_t>(len));
      if (stored_or_old(txn.dbs().ip, [&](core::ZoneId id) { return ip_key_of(id, p); })) {
        return true;
      }
    }
    return false;
  };
  for (const auto& [key, o] : old) {
    if (const auto* p = std::get_if<IpPrefix>(&o.subject)) {
      const std::uint8_t len = p->is_v4() ? kV4Region : kV6Region;
      if (p->length() < len) return std::nullopt;
      const IpPrefix r(p->bytes(), len);
      // The octet tree has nothing above an IPv4 /8; the nibble tree might.
      if (covered_above(r, 4)) return std::nullopt;
      if (std::find(out.ip.begin(), out.ip.end(), r) == out.ip.end()) out.ip.push_back(r);
    } else {
      const std::string& name = std::get<core::DomainName>(o.subject).name;
      // The last two labels ("example.com"), or the one.
      auto dot = name.rfind('.');
      if (dot != std::string::npos) dot = name.rfind('.', dot - 1);
      const std::string r = dot == std::string::npos ? name : name.substr(dot + 1);
      const auto top = r.find('.');
      if (top != std::string::npos) {  // the one ancestor: a subtree listing there covers r
        const std::string parent = r.substr(top + 1);
        if (stored_or_old(txn.dbs().domain,
                          [&](core::ZoneId id) { return core::domain_key(id, parent); })) {
          return std::nullopt;
        }
      }
      if (std::find(out.domains.begin(), out.domains.end(), r) == out.domains.end()) {
        out.domains.push_back(r);
      }
    }
  }
  return out;
}

std::uint32_t zone_serial(const CatalogZone& zone, const core::Store& store,
                          const core::ReadTxn& txn) {
  if (zone.config.kind != core::ZoneKind::combined) {
    return store.serial(txn, std::string_view(zone.config.name));
  }
  std::uint32_t sum = 0;
  for (const auto* s : zone.sources) sum += store.serial(txn, std::string_view(s->config.name));
  return sum;
}

std::string soa_rdata(const CatalogZone& zone, std::uint32_t serial) {
  std::string r;
  r += wire_of(zone.mname);
  r += wire_of(zone.rname);
  const auto& soa = zone.config.soa;
  for (const std::uint32_t v : {serial, soa.refresh, soa.retry, soa.expire, soa.minimum}) {
    put_u32(r, v);
  }
  return r;
}

bool zone_records(const CatalogZone& zone, const core::Store& store, const core::ReadTxn& txn,
                  std::int64_t now, const RecordSink& sink, const ListingOverrides* overrides,
                  const ZoneRegions* regions) {
  Emitter out(zone, sink);
  for (const auto& ns : zone.ns) out.record({}, wire::type::NS, zone.config.ns_ttl, wire_of(ns));

  // The store as it is: streamed, listing by listing.
  if (overrides == nullptr && regions == nullptr) {
    if (zone.ip_data && !out.stopped()) {
      for (const TreeShape shape : {TreeShape{96, 8}, TreeShape{0, 4}}) {
        StoreIpNodes nodes(zone, txn, now, shape);
        if (!out.stopped()) IpTree(zone, nodes, shape, out).run();
      }
    }
    if (zone.domain_data && !out.stopped()) {
      StoreDomainEntries entries(zone, txn, now);
      DomainTree(zone, entries, out).run();
    }
    return !out.stopped();
  }

  // An older state, or only some regions: collected, then sorted.
  std::vector<IpEntryRef> ips;
  std::vector<DomainEntryRef> domains;
  for (std::size_t s = 0; s < zone.sources.size(); ++s) {
    const CatalogZone& src = *zone.sources[s];
    const core::ZoneRef ref{src.id, src.config.name};
    const auto add = [&](const core::Subject& subject, const Listing& l) {
      if (!l.active_at(now)) return true;  // expired: absent, as on the DNS path
      if (const auto* p = std::get_if<IpPrefix>(&subject)) {
        if (src.config.kind == core::ZoneKind::ip) {
          ips.push_back(
              std::make_shared<const IpEntry>(IpEntry{*p, static_cast<std::uint8_t>(s), l}));
        }
      } else if (src.config.kind == core::ZoneKind::domain) {
        const auto& d = std::get<core::DomainName>(subject);
        domains.push_back(std::make_shared<const DomainEntry>(
            DomainEntry{reversed_key(d.name), d.name, static_cast<std::uint8_t>(s), l, false}));
      }
      return true;
    };
    const bool override_here = overrides != nullptr;
    const auto visit = [&](const core::Subject& subject, const Listing& l) {
      ++t_listings_read;
      if (override_here && overrides->count(core::listing_key(src.id, subject))) return true;
      return add(subject, l);
    };
    if (regions) {
      for_each_in(txn, src.id, *regions, visit);
    } else {
      store.for_each(txn, ref, visit);
    }
    if (override_here) {
      for (const auto& [key, o] : *overrides) {
        // A combined zone's overrides are its members': each for its own.
        if (o.listing && (!regions || in_regions(o.subject, *regions)) &&
            (zone.sources.size() == 1 || key == core::listing_key(src.id, o.subject))) {
          add(o.subject, *o.listing);
        }
      }
    }
  }
  if (zone.ip_data && !out.stopped()) {
    for (const TreeShape shape : {TreeShape{96, 8}, TreeShape{0, 4}}) {
      SortedIpNodes nodes(ips, shape, regions);
      if (!out.stopped()) IpTree(zone, nodes, shape, out).run();
    }
  }
  if (zone.domain_data && !out.stopped()) {
    for (auto& t : test_entries(regions)) domains.push_back(std::move(t));
    SortedDomainEntries entries(std::move(domains));
    DomainTree(zone, entries, out).run();
  }
  return !out.stopped();
}

std::uint64_t listings_read() {
  return t_listings_read;
}

std::string owner_text(std::string_view owner) {
  if (owner.empty()) return "@";
  std::string out;
  for (std::size_t i = 0; i < owner.size();) {
    const auto n = static_cast<std::uint8_t>(owner[i]);
    if (!out.empty()) out.push_back('.');
    out.append(owner.substr(i + 1, n));
    i += 1u + n;
  }
  return out;
}

}  // namespace rblzone::zoneserver
