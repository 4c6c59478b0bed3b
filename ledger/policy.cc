#include "ledger/policy.h"

#include <algorithm>
#include <exception>
#include <initializer_list>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace perfledger::policy {
namespace {

// ---------------------------------------------------------------- a format-neutral tree
//
// YAML and JSON are first read into this small tree, then one schema reader walks it. That way
// the two formats cannot drift apart in what they accept, and the tree keeps what the
// libraries do not give us directly: duplicate keys (both libraries keep or drop them silently),
// key order, and for YAML the line of every node.

struct Node;

struct Entry {
  std::string key;
  int key_line = 0;
  std::unique_ptr<Node> value;
};

struct Node {
  enum class Kind {
    kNull,
    kScalar,   // YAML: untyped text, read as whatever the schema expects
    kString,   // JSON string
    kInteger,  // JSON integer (text holds the digits)
    kOther,    // JSON float or boolean: never valid in a policy
    kMap,
    kSeq,
  };
  Kind kind = Kind::kNull;
  std::string text;
  std::vector<Entry> entries;  // kMap, in document order
  std::vector<std::unique_ptr<Node>> items;  // kSeq
  int line = 0;  // 1-based YAML line; 0 when unknown (JSON)
};

const char* KindName(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kNull: return "null";
    case Node::Kind::kScalar: return "a scalar";
    case Node::Kind::kString: return "a string";
    case Node::Kind::kInteger: return "an integer";
    case Node::Kind::kOther: return "a number or boolean";
    case Node::Kind::kMap: return "a map";
    case Node::Kind::kSeq: return "a list";
  }
  return "?";
}

std::string Child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", std::string(key));
}
std::string Index(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

std::string LinePrefix(int line) { return line > 0 ? absl::StrCat("line ", line, ": ") : ""; }

absl::Status Invalid(int line, const std::string& path, const std::string& message) {
  return absl::InvalidArgumentError(
      absl::StrCat(LinePrefix(line), path.empty() ? "document" : path, ": ", message));
}

// Adds the line of `n` in front of an error from validation.h (which names the path already).
absl::Status AtLine(const Node& n, absl::Status s) {
  if (s.ok() || n.line <= 0) return s;
  return absl::InvalidArgumentError(absl::StrCat(LinePrefix(n.line), std::string(s.message())));
}

// ---- JSON: nlohmann's SAX interface builds the tree directly, so that duplicate keys, floats
// and over-deep nesting are seen (the DOM parser would keep the last duplicate silently).

class JsonTreeBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::unique_ptr<Node> root;
  absl::Status error;

  bool null() override { return Scalar(Node::Kind::kNull, ""); }
  bool boolean(bool v) override { return Scalar(Node::Kind::kOther, v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override {
    return Scalar(Node::Kind::kInteger, std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return Scalar(Node::Kind::kInteger, std::to_string(v));
  }
  bool number_float(number_float_t, const string_t& s) override {
    return Scalar(Node::Kind::kOther, s);
  }
  bool string(string_t& v) override { return Scalar(Node::Kind::kString, v); }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return Open(Node::Kind::kMap); }
  bool key(string_t& k) override {
    Node* map = stack_.back();
    for (const Entry& e : map->entries) {
      if (e.key == k) return Fail(absl::StrCat(Child(CurrentPath(), k), ": duplicate key"));
    }
    map->entries.push_back(Entry{k, 0, nullptr});
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Node::Kind::kSeq); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // nlohmann's message reads "[json.exception.parse_error.101] parse error at line 3,
    // column 7: syntax error ..."; keep the part after the bracketed id.
    std::string what = ex.what();
    const size_t close = what.find("] ");
    if (close != std::string::npos) what = what.substr(close + 2);
    if (error.ok()) error = absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", what));
    return false;
  }

 private:
  // The path of the innermost open map or list (for the few errors raised while building).
  std::string CurrentPath() const {
    std::string path;
    for (size_t i = 0; i + 1 < stack_.size(); i++) {
      const Node* n = stack_[i];
      path = n->kind == Node::Kind::kMap ? Child(path, n->entries.back().key)
                                         : Index(path, n->items.size() - 1);
    }
    return path;
  }

  bool Fail(std::string message) {
    if (error.ok()) error = absl::InvalidArgumentError(std::move(message));
    return false;
  }

  // Attaches a new node where the parser is: as the root, the value of the last key, or the
  // next list item.
  Node* Attach(std::unique_ptr<Node> n) {
    if (++nodes_ > limits::kPolicyNodesMax) {
      Fail(absl::StrCat("document: more than ", limits::kPolicyNodesMax, " nodes"));
      return nullptr;
    }
    Node* raw = n.get();
    if (stack_.empty()) {
      root = std::move(n);
    } else if (Node* parent = stack_.back(); parent->kind == Node::Kind::kMap) {
      parent->entries.back().value = std::move(n);
    } else {
      parent->items.push_back(std::move(n));
    }
    return raw;
  }

  bool Scalar(Node::Kind kind, std::string text) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->text = std::move(text);
    return Attach(std::move(n)) != nullptr;
  }

  bool Open(Node::Kind kind) {
    if (stack_.size() >= limits::kPolicyDepthMax) {
      return Fail(absl::StrCat("document: nested deeper than ", limits::kPolicyDepthMax));
    }
    auto n = std::make_unique<Node>();
    n->kind = kind;
    Node* raw = Attach(std::move(n));
    if (raw == nullptr) return false;
    stack_.push_back(raw);
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  std::vector<Node*> stack_;
  size_t nodes_ = 0;
};

absl::StatusOr<std::unique_ptr<Node>> ParseJsonTree(std::string_view text) {
  JsonTreeBuilder b;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &b);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
  if (!b.error.ok()) return b.error;
  if (!ok || b.root == nullptr) return absl::InvalidArgumentError("invalid JSON");
  return std::move(b.root);
}

// ---- YAML

class YamlTreeBuilder {
 public:
  absl::StatusOr<std::unique_ptr<Node>> Build(const YAML::Node& y, const std::string& path,
                                              size_t depth) {
    const int line = y.Mark().line >= 0 ? y.Mark().line + 1 : 0;
    if (++nodes_ > limits::kPolicyNodesMax) {
      // Aliases share nodes in yaml-cpp but expand here: the count stops "billion laughs".
      return Invalid(line, "document", absl::StrCat("more than ", limits::kPolicyNodesMax,
                                                    " nodes (after expanding aliases)"));
    }
    if (depth > limits::kPolicyDepthMax) {
      return Invalid(line, path, absl::StrCat("nested deeper than ", limits::kPolicyDepthMax));
    }
    auto n = std::make_unique<Node>();
    n->line = line;
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        n->kind = Node::Kind::kNull;
        break;
      case YAML::NodeType::Scalar:
        n->kind = Node::Kind::kScalar;
        n->text = y.Scalar();
        break;
      case YAML::NodeType::Sequence: {
        n->kind = Node::Kind::kSeq;
        size_t i = 0;
        for (const YAML::Node& item : y) {
          ASSIGN_OR_RETURN(auto child, Build(item, absl::StrCat(path, "[", i, "]"), depth + 1));
          n->items.push_back(std::move(child));
          i++;
        }
        break;
      }
      case YAML::NodeType::Map: {
        n->kind = Node::Kind::kMap;
        for (auto it = y.begin(); it != y.end(); ++it) {
          // Copies, not references: `it->` goes through a temporary proxy (and a YAML::Node is
          // a cheap handle).
          const YAML::Node k = it->first;
          const YAML::Node v = it->second;
          const int key_line = k.Mark().line >= 0 ? k.Mark().line + 1 : line;
          if (!k.IsScalar()) return Invalid(key_line, path, "keys must be scalars");
          const std::string key = k.Scalar();
          const std::string child_path = path.empty() ? key : absl::StrCat(path, ".", key);
          for (const Entry& e : n->entries) {
            if (e.key == key) return Invalid(key_line, child_path, "duplicate key");
          }
          ASSIGN_OR_RETURN(auto child, Build(v, child_path, depth + 1));
          // A key with no value ("bonus:") has no mark of its own (yaml-cpp points past it);
          // point at the key.
          if (child->line <= 0 || child->kind == Node::Kind::kNull) child->line = key_line;
          n->entries.push_back(Entry{key, key_line, std::move(child)});
        }
        break;
      }
    }
    return n;
  }

 private:
  size_t nodes_ = 0;
};

absl::StatusOr<std::unique_ptr<Node>> ParseYamlTree(std::string_view text) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(LinePrefix(e.mark.line + 1),
                                                   "invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  if (docs.empty()) return absl::InvalidArgumentError("document: empty");
  if (docs.size() > 1) {
    return Invalid(docs[1].Mark().line + 1, "document",
                   "holds more than one YAML document (one policy per document)");
  }
  try {
    YamlTreeBuilder b;
    return b.Build(docs[0], "", 0);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(LinePrefix(e.mark.line + 1),
                                                   "invalid YAML: ", e.msg));
  }
}

// ---------------------------------------------------------------- typed reads with paths

// Reads the keys of one map. Allow() rejects unknown keys before any other check, so a typo
// is reported as itself ("nominate_too: unknown key") rather than as the key it hides
// ("nominate_to: required"). `hint` is appended to the error (e.g. the keys that are allowed).
class MapReader {
 public:
  static absl::StatusOr<MapReader> Open(const Node& n, std::string path) {
    if (n.kind != Node::Kind::kMap) {
      return Invalid(n.line, path, absl::StrCat("must be a map, got ", KindName(n)));
    }
    return MapReader(n, std::move(path));
  }

  absl::Status Allow(std::initializer_list<std::string_view> keys,
                     std::string_view hint = "") const {
    for (const Entry& e : node_->entries) {
      if (std::find(keys.begin(), keys.end(), e.key) == keys.end()) {
        return Invalid(e.key_line, Child(path_, e.key),
                       absl::StrCat("unknown key", std::string(hint)));
      }
    }
    return absl::OkStatus();
  }

  const Node* Get(std::string_view key) const {
    for (const Entry& e : node_->entries) {
      if (e.key == key) return e.value.get();
    }
    return nullptr;
  }

  absl::StatusOr<const Node*> Require(std::string_view key) const {
    const Node* n = Get(key);
    if (n == nullptr) return Invalid(node_->line, Child(path_, key), "required");
    return n;
  }

 private:
  MapReader(const Node& n, std::string path) : node_(&n), path_(std::move(path)) {}
  const Node* node_;
  std::string path_;
};

absl::StatusOr<std::string> ReadString(const Node& n, const std::string& path) {
  if (n.kind != Node::Kind::kString && n.kind != Node::Kind::kScalar) {
    return Invalid(n.line, path, absl::StrCat("must be a string, got ", KindName(n)));
  }
  return n.text;
}

// Strict decimal: optional sign and digits. YAML's 0x.., 1_000 and 1e3 are refused so that
// what an author reads is what the ledger decides.
std::optional<int64_t> ParseDecimal(const std::string& s) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  if (i == s.size()) return std::nullopt;
  __int128 v = 0;
  for (; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
    if (v > (static_cast<__int128>(1) << 64)) return std::nullopt;  // far out of any range
  }
  if (negative) v = -v;
  if (v > INT64_MAX || v < INT64_MIN) return std::nullopt;
  return static_cast<int64_t>(v);
}

absl::StatusOr<int64_t> ReadInt(const Node& n, const std::string& path, int64_t min,
                                int64_t max) {
  const std::string range = absl::StrCat("must be ", min, "..", max);
  if (n.kind != Node::Kind::kInteger && n.kind != Node::Kind::kScalar) {
    return Invalid(n.line, path, absl::StrCat(range, ", got ", KindName(n)));
  }
  std::optional<int64_t> v = ParseDecimal(n.text);
  if (!v.has_value()) {
    // An integer too large for int64 is still an integer: say "out of range", not "not one".
    const bool digits = !n.text.empty() && std::all_of(n.text.begin(), n.text.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '-' || c == '+';
    });
    return Invalid(n.line, path,
                   digits ? range : absl::StrCat(range, " (an integer), got \"", n.text, "\""));
  }
  if (*v < min || *v > max) return Invalid(n.line, path, range);
  return *v;
}

template <typename E>
absl::StatusOr<E> ReadEnum(const Node& n, const std::string& path,
                           const std::vector<std::pair<std::string_view, E>>& names) {
  std::vector<std::string> options;
  for (const auto& [name, value] : names) options.emplace_back(name);
  const std::string expected = absl::StrCat("must be one of ", absl::StrJoin(options, "|"));
  if (n.kind != Node::Kind::kString && n.kind != Node::Kind::kScalar) {
    return Invalid(n.line, path, absl::StrCat(expected, ", got ", KindName(n)));
  }
  for (const auto& [name, value] : names) {
    if (n.text == name) return value;
  }
  return Invalid(n.line, path, absl::StrCat(expected, ", got \"", n.text, "\""));
}

absl::StatusOr<std::string> ReadId(const Node& n, const std::string& path) {
  ASSIGN_OR_RETURN(std::string s, ReadString(n, path));
  RETURN_IF_ERROR(AtLine(n, CheckId(path, s, Presence::kRequired)));
  return s;
}

// true or false: a YAML scalar or a JSON boolean (nothing else, not "yes" or 1).
absl::StatusOr<bool> ReadBool(const Node& n, const std::string& path) {
  if ((n.kind == Node::Kind::kScalar || n.kind == Node::Kind::kOther) &&
      (n.text == "true" || n.text == "false")) {
    return n.text == "true";
  }
  return Invalid(n.line, path, absl::StrCat("must be true or false, got ", KindName(n),
                                            n.text.empty() ? "" : absl::StrCat(" \"", n.text, "\"")));
}

absl::StatusOr<const std::vector<std::unique_ptr<Node>>*> ReadList(const Node& n,
                                                                    const std::string& path,
                                                                    size_t min, size_t max) {
  if (n.kind != Node::Kind::kSeq) {
    return Invalid(n.line, path, absl::StrCat("must be a list, got ", KindName(n)));
  }
  if (n.items.size() < min) {
    return Invalid(n.line, path, absl::StrCat("must have at least ", min, " item(s)"));
  }
  if (n.items.size() > max) {
    return Invalid(n.line, path, absl::StrCat(n.items.size(), " items, at most ", max));
  }
  return &n.items;
}

// ---------------------------------------------------------------- wire names

const std::vector<std::pair<std::string_view, GradingMethod>> kMethods = {
    {"weighted_scores", GradingMethod::kWeightedScores},
    {"metric_bands", GradingMethod::kMetricBands}};
const std::vector<std::pair<std::string_view, v1::Direction>> kDirections = {
    {"lower_is_better", v1::DIRECTION_LOWER_IS_BETTER},
    {"higher_is_better", v1::DIRECTION_HIGHER_IS_BETTER}};
const std::vector<std::pair<std::string_view, Aggregate>> kAggregates = {
    {"mean", Aggregate::kMean},
    {"last", Aggregate::kLast},
    {"max", Aggregate::kMax},
    {"min", Aggregate::kMin}};
const std::vector<std::pair<std::string_view, ScoreInput>> kInputs = {
    {"manager", ScoreInput::kManager},
    {"self", ScoreInput::kSelf},
    {"peer", ScoreInput::kPeer},
    {"goals", ScoreInput::kGoals},
    {"calibration", ScoreInput::kCalibration}};
const std::vector<std::pair<std::string_view, HrReviewKind>> kHrKinds = {
    {"reassignment", HrReviewKind::kReassignment}, {"exit", HrReviewKind::kExit}};
const std::vector<std::pair<std::string_view, Rollup>> kRollups = {
    {"ratio", Rollup::kRatio}, {"mean", Rollup::kMean}, {"none", Rollup::kNone}};

const std::vector<std::pair<std::string_view, v1::OwnerKind>> kScopes = {
    {"employee", v1::OWNER_KIND_EMPLOYEE}, {"org_unit", v1::OWNER_KIND_ORG_UNIT}};
// The first name of a value is the canonical one ("unit_manager" reads as org_unit_manager).
const std::vector<std::pair<std::string_view, Notify>> kNotify = {
    {"manager", Notify::kManager},
    {"org_unit_manager", Notify::kOrgUnitManager},
    {"unit_manager", Notify::kOrgUnitManager},
    {"parent_unit_manager", Notify::kParentUnitManager}};
// notify: role:<name>, e.g. role:hr.
const std::vector<std::pair<std::string_view, v1::Role>> kNotifyRoles = {
    {"hr", v1::ROLE_HR}, {"admin", v1::ROLE_ADMIN}, {"auditor", v1::ROLE_AUDITOR},
    {"payroll", v1::ROLE_PAYROLL}, {"lms", v1::ROLE_LMS}};
constexpr char kRolePrefix[] = "role:";
const std::vector<std::pair<std::string_view, DisputeAssignTo>> kAssignTo = {
    {"skip_level", DisputeAssignTo::kSkipLevel}, {"hr", DisputeAssignTo::kHr}};

template <typename E>
std::string_view NameOf(const std::vector<std::pair<std::string_view, E>>& names, E v) {
  for (const auto& [name, value] : names) {
    if (value == v) return name;
  }
  return "unspecified";
}

// ---------------------------------------------------------------- the schema

constexpr int64_t kBp = limits::kBasisPointsMax;

absl::StatusOr<Grading> ReadGrading(const Node& n, const std::string& path) {
  ASSIGN_OR_RETURN(MapReader m, MapReader::Open(n, path));
  RETURN_IF_ERROR(m.Allow({"method", "weights", "metric", "direction", "aggregate", "bands"}));
  Grading g;
  ASSIGN_OR_RETURN(const Node* method, m.Require("method"));
  ASSIGN_OR_RETURN(g.method, ReadEnum(*method, Child(path, "method"), kMethods));
  if (g.method == GradingMethod::kWeightedScores) {
    RETURN_IF_ERROR(m.Allow({"method", "weights", "bands"}, " for method weighted_scores"));
  } else {
    RETURN_IF_ERROR(m.Allow({"method", "metric", "direction", "aggregate", "bands"},
                            " for method metric_bands"));
  }

  std::string bound_key;
  // metric_bands: the other way to write a bound, inclusive for lower_is_better ("at most"),
  // strict for higher_is_better ("above"). Values are whole milli-units, so it is stored as the
  // equivalent primary bound (at_most X is below X + 1, above X is at_least X + 1) and printed
  // back as written.
  std::string alt_key;
  std::string hint;
  int64_t bound_abs_max = 0;
  if (g.method == GradingMethod::kWeightedScores) {
    ASSIGN_OR_RETURN(const Node* weights, m.Require("weights"));
    const std::string wpath = Child(path, "weights");
    ASSIGN_OR_RETURN(MapReader w, MapReader::Open(*weights, wpath));
    RETURN_IF_ERROR(w.Allow({"manager", "self", "peer", "goals", "calibration"},
                            " (inputs: manager, self, peer, goals, calibration)"));
    int64_t sum = 0;
    for (const auto& [name, input] : kInputs) {
      const Node* v = w.Get(name);
      if (v == nullptr) continue;
      ASSIGN_OR_RETURN(int64_t bp, ReadInt(*v, Child(wpath, name), 0, kBp));
      sum += bp;
      if (bp > 0) g.weights[input] = static_cast<uint32_t>(bp);
    }
    if (sum != kBp) {
      return Invalid(weights->line, wpath, absl::StrCat("must sum to 10000, sum is ", sum));
    }
    bound_key = "min_score_milli";
    hint = " (weighted_scores bands use min_score_milli)";
    bound_abs_max = limits::kScoreMilliMax;
  } else {
    ASSIGN_OR_RETURN(const Node* metric, m.Require("metric"));
    ASSIGN_OR_RETURN(g.metric, ReadString(*metric, Child(path, "metric")));
    RETURN_IF_ERROR(AtLine(*metric, CheckName(Child(path, "metric"), g.metric,
                                              Presence::kRequired)));
    ASSIGN_OR_RETURN(const Node* direction, m.Require("direction"));
    ASSIGN_OR_RETURN(g.direction, ReadEnum(*direction, Child(path, "direction"), kDirections));
    if (const Node* agg = m.Get("aggregate")) {
      ASSIGN_OR_RETURN(g.aggregate, ReadEnum(*agg, Child(path, "aggregate"), kAggregates));
    }
    if (g.direction == v1::DIRECTION_LOWER_IS_BETTER) {
      bound_key = "below_milli";
      alt_key = "at_most_milli";
      hint = " (lower_is_better bands use below_milli or at_most_milli)";
    } else {
      bound_key = "at_least_milli";
      alt_key = "above_milli";
      hint = " (higher_is_better bands use at_least_milli or above_milli)";
    }
    bound_abs_max = limits::kMetricMilliAbsMax;
  }

  ASSIGN_OR_RETURN(const Node* bands, m.Require("bands"));
  const std::string bpath = Child(path, "bands");
  ASSIGN_OR_RETURN(auto* items, ReadList(*bands, bpath, 1, limits::kGradesMax));
  // Bounds must strictly improve toward the top of the list: ascending "below" for
  // lower_is_better, descending thresholds otherwise. Overlapping or unordered bands would make
  // the grade depend on list order in ways an author did not mean.
  const bool ascending = g.method == GradingMethod::kMetricBands &&
                         g.direction == v1::DIRECTION_LOWER_IS_BETTER;
  for (size_t i = 0; i < items->size(); i++) {
    const Node& item = *(*items)[i];
    const std::string ipath = Index(bpath, i);
    ASSIGN_OR_RETURN(MapReader b, MapReader::Open(item, ipath));
    if (alt_key.empty()) {
      RETURN_IF_ERROR(b.Allow({"grade", bound_key}, hint));
    } else {
      RETURN_IF_ERROR(b.Allow({"grade", bound_key, alt_key}, hint));
    }
    Band band;
    ASSIGN_OR_RETURN(const Node* grade, b.Require("grade"));
    ASSIGN_OR_RETURN(band.grade, ReadId(*grade, Child(ipath, "grade")));
    for (const Band& prev : g.bands) {
      if (prev.grade == band.grade) {
        return Invalid(grade->line, Child(ipath, "grade"),
                       absl::StrCat("duplicate grade ", band.grade));
      }
    }
    const Node* bound = b.Get(bound_key);
    const Node* alt = alt_key.empty() ? nullptr : b.Get(alt_key);
    if (bound != nullptr && alt != nullptr) {
      return Invalid(alt->line, Child(ipath, alt_key),
                     absl::StrCat("give ", bound_key, " or ", alt_key, ", not both"));
    }
    if (alt != nullptr) {
      band.bound_kind = BoundKind::kAlternative;
      bound = alt;
    }
    const std::string bound_path = Child(ipath, alt != nullptr ? alt_key : bound_key);
    if (bound != nullptr) {
      ASSIGN_OR_RETURN(int64_t written, ReadInt(*bound, bound_path, -bound_abs_max,
                                                alt != nullptr ? bound_abs_max - 1
                                                               : bound_abs_max));
      band.bound_milli = alt != nullptr ? written + 1 : written;
      if (!g.bands.empty()) {
        const Band& before = g.bands.back();
        const int64_t prev = *before.bound_milli;
        // The previous bound as its author wrote it.
        const bool prev_alt = before.bound_kind == BoundKind::kAlternative;
        const std::string prev_text =
            before.bound_kind == band.bound_kind
                ? absl::StrCat(prev_alt ? prev - 1 : prev)
                : absl::StrCat(prev_alt ? alt_key : bound_key, " ", prev_alt ? prev - 1 : prev);
        if (ascending && *band.bound_milli <= prev) {
          return Invalid(bound->line, bound_path,
                         absl::StrCat("must be greater than the previous band's (", prev_text,
                                      "): bands are listed best first"));
        }
        if (!ascending && *band.bound_milli >= prev) {
          return Invalid(bound->line, bound_path,
                         absl::StrCat("must be less than the previous band's (", prev_text,
                                      "): bands are listed best first"));
        }
      }
    } else if (i + 1 < items->size()) {
      return Invalid(item.line, bound_path, "required (only the last band may omit it)");
    }
    g.bands.push_back(std::move(band));
  }
  return g;
}

absl::StatusOr<HrReview> ReadHrReview(const Node& n, const std::string& path) {
  ASSIGN_OR_RETURN(MapReader m, MapReader::Open(n, path));
  RETURN_IF_ERROR(m.Allow({"kind", "reason"}));
  HrReview r;
  ASSIGN_OR_RETURN(const Node* kind, m.Require("kind"));
  ASSIGN_OR_RETURN(r.kind, ReadEnum(*kind, Child(path, "kind"), kHrKinds));
  if (const Node* reason = m.Get("reason")) {
    ASSIGN_OR_RETURN(r.reason, ReadString(*reason, Child(path, "reason")));
    RETURN_IF_ERROR(AtLine(*reason, CheckText(Child(path, "reason"), r.reason,
                                              Presence::kOptional)));
  }
  return r;
}

absl::StatusOr<GradeActions> ReadGradeActions(const Node& n, const std::string& path,
                                              bool best_grade) {
  ASSIGN_OR_RETURN(MapReader m, MapReader::Open(n, path));
  RETURN_IF_ERROR(m.Allow({"raise_bp", "merit_matrix", "bonus", "training", "promotion", "pip",
                           "hr_review", "followup"},
                          " (actions: raise_bp, merit_matrix, bonus, training, promotion, pip, "
                          "hr_review, followup)"));
  GradeActions a;
  if (const Node* raise = m.Get("raise_bp")) {
    ASSIGN_OR_RETURN(int64_t bp, ReadInt(*raise, Child(path, "raise_bp"), 0, kBp));
    a.raise_bp = static_cast<uint32_t>(bp);
  }
  if (const Node* matrix = m.Get("merit_matrix")) {
    const std::string mpath = Child(path, "merit_matrix");
    if (a.raise_bp.has_value()) {
      return Invalid(matrix->line, mpath, "not allowed together with raise_bp (pick one)");
    }
    ASSIGN_OR_RETURN(auto* rows, ReadList(*matrix, mpath, 1, limits::kListItemsMax));
    for (size_t i = 0; i < rows->size(); i++) {
      const Node& row = *(*rows)[i];
      const std::string rpath = Index(mpath, i);
      ASSIGN_OR_RETURN(MapReader r, MapReader::Open(row, rpath));
      RETURN_IF_ERROR(r.Allow({"compa_ratio_below_bp", "raise_bp"}));
      MeritRow mr;
      if (const Node* below = r.Get("compa_ratio_below_bp")) {
        const std::string bpath = Child(rpath, "compa_ratio_below_bp");
        if (i + 1 == rows->size()) {
          return Invalid(below->line, bpath,
                         "the last row is the catch-all and must omit compa_ratio_below_bp");
        }
        ASSIGN_OR_RETURN(int64_t v, ReadInt(*below, bpath, 1, limits::kPolicyCompaRatioBpMax));
        if (!a.merit_matrix.empty() && v <= *a.merit_matrix.back().compa_ratio_below_bp) {
          return Invalid(below->line, bpath,
                         absl::StrCat("must be greater than the previous row's (",
                                      *a.merit_matrix.back().compa_ratio_below_bp,
                                      "): rows are listed by ascending compa-ratio"));
        }
        mr.compa_ratio_below_bp = static_cast<uint32_t>(v);
      } else if (i + 1 < rows->size()) {
        return Invalid(row.line, Child(rpath, "compa_ratio_below_bp"),
                       "required (only the last row, the catch-all, omits it)");
      }
      ASSIGN_OR_RETURN(const Node* raise, r.Require("raise_bp"));
      ASSIGN_OR_RETURN(int64_t bp, ReadInt(*raise, Child(rpath, "raise_bp"), 0, kBp));
      mr.raise_bp = static_cast<uint32_t>(bp);
      a.merit_matrix.push_back(mr);
    }
  }
  if (const Node* bonus = m.Get("bonus")) {
    const std::string bpath = Child(path, "bonus");
    ASSIGN_OR_RETURN(MapReader b, MapReader::Open(*bonus, bpath));
    RETURN_IF_ERROR(b.Allow({"percent_of_monthly_bp", "reason_code"}));
    Bonus bo;
    ASSIGN_OR_RETURN(const Node* pct, b.Require("percent_of_monthly_bp"));
    ASSIGN_OR_RETURN(int64_t bp, ReadInt(*pct, Child(bpath, "percent_of_monthly_bp"), 0,
                                         limits::kPolicyBonusBpMax));
    bo.percent_of_monthly_bp = static_cast<uint32_t>(bp);
    if (const Node* code = b.Get("reason_code")) {
      ASSIGN_OR_RETURN(bo.reason_code, ReadId(*code, Child(bpath, "reason_code")));
    }
    a.bonus = bo;
  }
  if (const Node* training = m.Get("training")) {
    const std::string tpath = Child(path, "training");
    ASSIGN_OR_RETURN(auto* courses, ReadList(*training, tpath, 0, limits::kListItemsMax));
    for (size_t i = 0; i < courses->size(); i++) {
      const std::string cpath = Index(tpath, i);
      ASSIGN_OR_RETURN(std::string course, ReadId(*(*courses)[i], cpath));
      // The course is part of the rule id, so a duplicate would collide with its twin's action.
      if (std::find(a.training.begin(), a.training.end(), course) != a.training.end()) {
        return Invalid((*courses)[i]->line, cpath, absl::StrCat("duplicate course ", course));
      }
      a.training.push_back(std::move(course));
    }
  }
  if (const Node* promotion = m.Get("promotion")) {
    const std::string ppath = Child(path, "promotion");
    ASSIGN_OR_RETURN(MapReader p, MapReader::Open(*promotion, ppath));
    RETURN_IF_ERROR(p.Allow({"nominate_to", "consecutive_cycles"}));
    Promotion pr;
    ASSIGN_OR_RETURN(const Node* to, p.Require("nominate_to"));
    ASSIGN_OR_RETURN(pr.nominate_to, ReadId(*to, Child(ppath, "nominate_to")));
    if (const Node* cycles = p.Get("consecutive_cycles")) {
      ASSIGN_OR_RETURN(int64_t c, ReadInt(*cycles, Child(ppath, "consecutive_cycles"), 1,
                                          limits::kPolicyStreakCyclesMax));
      pr.consecutive_cycles = static_cast<uint32_t>(c);
    }
    a.promotion = pr;
  }
  if (const Node* pip = m.Get("pip")) {
    const std::string ppath = Child(path, "pip");
    ASSIGN_OR_RETURN(MapReader p, MapReader::Open(*pip, ppath));
    RETURN_IF_ERROR(p.Allow({"length_days", "checkpoint_every_days"}));
    Pip pp;
    ASSIGN_OR_RETURN(const Node* length, p.Require("length_days"));
    ASSIGN_OR_RETURN(int64_t days, ReadInt(*length, Child(ppath, "length_days"), 1,
                                           limits::kPolicyDaysMax));
    pp.length_days = static_cast<uint32_t>(days);
    ASSIGN_OR_RETURN(const Node* every, p.Require("checkpoint_every_days"));
    ASSIGN_OR_RETURN(int64_t cadence, ReadInt(*every, Child(ppath, "checkpoint_every_days"), 1,
                                              days));
    pp.checkpoint_every_days = static_cast<uint32_t>(cadence);
    a.pip = pp;
  }
  if (const Node* hr = m.Get("hr_review")) {
    ASSIGN_OR_RETURN(a.hr_review, ReadHrReview(*hr, Child(path, "hr_review")));
  }
  if (const Node* followup = m.Get("followup")) {
    const std::string fpath = Child(path, "followup");
    if (best_grade) {
      // "Not improved" can never be false for the best grade: the review would always fire.
      return Invalid(followup->line, fpath, "the best grade cannot improve; remove the followup");
    }
    ASSIGN_OR_RETURN(MapReader f, MapReader::Open(*followup, fpath));
    RETURN_IF_ERROR(f.Allow({"if_not_improved_within_days", "hr_review"}));
    Followup fu;
    ASSIGN_OR_RETURN(const Node* days, f.Require("if_not_improved_within_days"));
    ASSIGN_OR_RETURN(int64_t d, ReadInt(*days, Child(fpath, "if_not_improved_within_days"), 1,
                                        limits::kPolicyDaysMax));
    fu.if_not_improved_within_days = static_cast<uint32_t>(d);
    ASSIGN_OR_RETURN(const Node* hr, f.Require("hr_review"));
    ASSIGN_OR_RETURN(fu.hr_review, ReadHrReview(*hr, Child(fpath, "hr_review")));
    a.followup = fu;
  }
  return a;
}

bool Empty(const GradeActions& a) {
  return !a.raise_bp && a.merit_matrix.empty() && !a.bonus && a.training.empty() &&
         !a.promotion && !a.pip && !a.hr_review && !a.followup;
}

absl::StatusOr<AlertRule> ReadAlert(const Node& n, const std::string& path) {
  ASSIGN_OR_RETURN(MapReader m, MapReader::Open(n, path));
  RETURN_IF_ERROR(m.Allow({"id", "metric", "scope", "window_days", "window", "aggregate",
                           "threshold_milli", "direction", "notify"}));
  AlertRule r;
  ASSIGN_OR_RETURN(const Node* id, m.Require("id"));
  ASSIGN_OR_RETURN(r.id, ReadId(*id, Child(path, "id")));
  ASSIGN_OR_RETURN(const Node* metric, m.Require("metric"));
  ASSIGN_OR_RETURN(r.metric, ReadString(*metric, Child(path, "metric")));
  RETURN_IF_ERROR(AtLine(*metric, CheckName(Child(path, "metric"), r.metric,
                                            Presence::kRequired)));
  ASSIGN_OR_RETURN(const Node* scope, m.Require("scope"));
  ASSIGN_OR_RETURN(r.scope, ReadEnum(*scope, Child(path, "scope"), kScopes));
  // window_days: N (rolling), or window: cycle | {rolling_days: N}.
  const Node* days_node = m.Get("window_days");
  const Node* window = m.Get("window");
  if ((days_node == nullptr) == (window == nullptr)) {
    return Invalid(window != nullptr ? window->line : n.line, Child(path, "window"),
                   "give window_days: N, or window: cycle | {rolling_days: N} (one of them)");
  }
  std::string days_path = Child(path, "window_days");
  if (window != nullptr) {
    const std::string wpath = Child(path, "window");
    if (window->kind == Node::Kind::kString || window->kind == Node::Kind::kScalar) {
      if (window->text != "cycle") {
        return Invalid(window->line, wpath,
                       absl::StrCat("must be cycle or {rolling_days: N}, got \"", window->text,
                                    "\""));
      }
      r.window = AlertWindowKind::kCycle;
    } else {
      ASSIGN_OR_RETURN(MapReader w, MapReader::Open(*window, wpath));
      RETURN_IF_ERROR(w.Allow({"rolling_days"}));
      ASSIGN_OR_RETURN(days_node, w.Require("rolling_days"));
      days_path = Child(wpath, "rolling_days");
    }
  }
  if (r.window == AlertWindowKind::kRollingDays) {
    ASSIGN_OR_RETURN(int64_t days, ReadInt(*days_node, days_path, 1, limits::kPolicyDaysMax));
    r.window_days = static_cast<uint32_t>(days);
  }
  if (const Node* agg = m.Get("aggregate")) {
    ASSIGN_OR_RETURN(r.aggregate, ReadEnum(*agg, Child(path, "aggregate"), kAggregates));
  }
  ASSIGN_OR_RETURN(const Node* threshold, m.Require("threshold_milli"));
  ASSIGN_OR_RETURN(r.threshold_milli, ReadInt(*threshold, Child(path, "threshold_milli"),
                                              -limits::kMetricMilliAbsMax,
                                              limits::kMetricMilliAbsMax));
  ASSIGN_OR_RETURN(const Node* direction, m.Require("direction"));
  ASSIGN_OR_RETURN(r.direction, ReadEnum(*direction, Child(path, "direction"), kDirections));
  ASSIGN_OR_RETURN(const Node* notify, m.Require("notify"));
  if ((notify->kind == Node::Kind::kString || notify->kind == Node::Kind::kScalar) &&
      absl::StartsWith(notify->text, kRolePrefix)) {
    Node role;
    role.kind = notify->kind;
    role.line = notify->line;
    role.text = notify->text.substr(sizeof(kRolePrefix) - 1);
    ASSIGN_OR_RETURN(r.notify_role, ReadEnum(role, Child(path, "notify"), kNotifyRoles));
    r.notify = Notify::kRole;
  } else {
    ASSIGN_OR_RETURN(r.notify, ReadEnum(*notify, Child(path, "notify"), kNotify));
  }
  // An org unit has one manager; "manager" there would be ambiguous (the unit's manager, or
  // theirs?), so the author must say org_unit_manager.
  if (r.scope == v1::OWNER_KIND_ORG_UNIT && r.notify == Notify::kManager) {
    return Invalid(notify->line, Child(path, "notify"),
                   "an org_unit alert notifies org_unit_manager");
  }
  return r;
}

absl::StatusOr<Policy> ReadPolicy(const Node& root) {
  if (root.kind == Node::Kind::kNull) return Invalid(root.line, "document", "empty");
  ASSIGN_OR_RETURN(MapReader m, MapReader::Open(root, ""));
  RETURN_IF_ERROR(m.Allow({"policy_id", "description", "grading", "recommended_distribution",
                           "actions", "alerts", "metrics", "pip_outcomes", "disputes"},
                          " (top level: policy_id, description, grading, "
                          "recommended_distribution, actions, alerts, metrics, pip_outcomes, "
                          "disputes)"));
  Policy p;
  ASSIGN_OR_RETURN(const Node* id, m.Require("policy_id"));
  ASSIGN_OR_RETURN(p.policy_id, ReadId(*id, "policy_id"));
  if (const Node* d = m.Get("description")) {
    ASSIGN_OR_RETURN(p.description, ReadString(*d, "description"));
    RETURN_IF_ERROR(AtLine(*d, CheckText("description", p.description, Presence::kOptional)));
  }
  ASSIGN_OR_RETURN(const Node* grading, m.Require("grading"));
  ASSIGN_OR_RETURN(p.grading, ReadGrading(*grading, "grading"));

  if (const Node* dist = m.Get("recommended_distribution")) {
    const std::string path = "recommended_distribution";
    RETURN_IF_ERROR(MapReader::Open(*dist, path).status());
    int64_t sum = 0;
    for (const Entry& e : dist->entries) {
      if (!p.GradeRank(e.key).has_value()) {
        return Invalid(e.key_line, Child(path, e.key), "not a grade of grading.bands");
      }
      ASSIGN_OR_RETURN(int64_t bp, ReadInt(*e.value, Child(path, e.key), 0, kBp));
      sum += bp;
      p.recommended_distribution[e.key] = static_cast<uint32_t>(bp);
    }
    if (sum != kBp) {
      return Invalid(dist->line, path, absl::StrCat("must sum to 10000, sum is ", sum));
    }
  }

  if (const Node* actions = m.Get("actions")) {
    RETURN_IF_ERROR(MapReader::Open(*actions, "actions").status());
    for (const Entry& e : actions->entries) {
      const std::optional<size_t> rank = p.GradeRank(e.key);
      if (!rank.has_value()) {
        return Invalid(e.key_line, Child("actions", e.key), "not a grade of grading.bands");
      }
      ASSIGN_OR_RETURN(GradeActions ga,
                       ReadGradeActions(*e.value, Child("actions", e.key), *rank == 0));
      // "A: {}" and no "A" mean the same; keep only one spelling so both hash the same.
      if (!Empty(ga)) p.actions[e.key] = std::move(ga);
    }
  }

  if (const Node* alerts = m.Get("alerts")) {
    ASSIGN_OR_RETURN(auto* items, ReadList(*alerts, "alerts", 0, limits::kListItemsMax));
    for (size_t i = 0; i < items->size(); i++) {
      const std::string path = Index("alerts", i);
      ASSIGN_OR_RETURN(AlertRule r, ReadAlert(*(*items)[i], path));
      for (const AlertRule& prev : p.alerts) {
        if (prev.id == r.id) {
          return Invalid((*items)[i]->line, Child(path, "id"),
                         absl::StrCat("duplicate alert id ", r.id));
        }
      }
      p.alerts.push_back(std::move(r));
    }
  }

  if (const Node* metrics = m.Get("metrics")) {
    RETURN_IF_ERROR(MapReader::Open(*metrics, "metrics").status());
    if (metrics->entries.size() > limits::kListItemsMax) {
      return Invalid(metrics->line, "metrics",
                     absl::StrCat("at most ", limits::kListItemsMax, " metrics"));
    }
    for (const Entry& e : metrics->entries) {
      const std::string path = Child("metrics", e.key);
      RETURN_IF_ERROR(AtLine(*e.value, CheckName(path, e.key, Presence::kRequired)));
      ASSIGN_OR_RETURN(MapReader r, MapReader::Open(*e.value, path));
      RETURN_IF_ERROR(r.Allow({"rollup", "direction"}));
      MetricRule rule;
      if (const Node* rollup = r.Get("rollup")) {
        ASSIGN_OR_RETURN(rule.rollup, ReadEnum(*rollup, Child(path, "rollup"), kRollups));
      }
      if (const Node* direction = r.Get("direction")) {
        ASSIGN_OR_RETURN(rule.direction,
                         ReadEnum(*direction, Child(path, "direction"), kDirections));
      }
      p.metrics[e.key] = rule;
    }
  }

  if (const Node* outcomes = m.Get("pip_outcomes")) {
    ASSIGN_OR_RETURN(MapReader o, MapReader::Open(*outcomes, "pip_outcomes"));
    RETURN_IF_ERROR(o.Allow({"failed"}));
    if (const Node* failed = o.Get("failed")) {
      ASSIGN_OR_RETURN(MapReader f, MapReader::Open(*failed, "pip_outcomes.failed"));
      RETURN_IF_ERROR(f.Allow({"hr_review"}));
      ASSIGN_OR_RETURN(const Node* hr, f.Require("hr_review"));
      ASSIGN_OR_RETURN(p.pip_outcomes.failed, ReadHrReview(*hr, "pip_outcomes.failed.hr_review"));
    }
  }

  if (const Node* disputes = m.Get("disputes")) {
    ASSIGN_OR_RETURN(MapReader d, MapReader::Open(*disputes, "disputes"));
    RETURN_IF_ERROR(d.Allow({"window_business_days", "assign_to", "hold_actions"},
                            " (disputes: window_business_days, assign_to, hold_actions)"));
    Disputes out;
    if (const Node* w = d.Get("window_business_days")) {
      ASSIGN_OR_RETURN(int64_t days, ReadInt(*w, "disputes.window_business_days", 1,
                                             limits::kDisputeWindowBusinessDaysMax));
      out.window_business_days = static_cast<uint32_t>(days);
    }
    if (const Node* a = d.Get("assign_to")) {
      ASSIGN_OR_RETURN(out.assign_to, ReadEnum(*a, "disputes.assign_to", kAssignTo));
    }
    if (const Node* h = d.Get("hold_actions")) {
      ASSIGN_OR_RETURN(out.hold_actions, ReadBool(*h, "disputes.hold_actions"));
    }
    p.disputes = out;
  }
  return p;
}

// ---------------------------------------------------------------- canonical JSON

nlohmann::json HrReviewJson(const HrReview& r) {
  nlohmann::json j = nlohmann::json::object();
  j["kind"] = std::string(ToString(r.kind));
  if (!r.reason.empty()) j["reason"] = r.reason;
  return j;
}

}  // namespace

std::optional<size_t> Policy::GradeRank(std::string_view grade) const {
  for (size_t i = 0; i < grading.bands.size(); i++) {
    if (grading.bands[i].grade == grade) return i;
  }
  return std::nullopt;
}

MetricRule Policy::MetricRuleOf(std::string_view metric) const {
  auto it = metrics.find(std::string(metric));
  return it == metrics.end() ? MetricRule() : it->second;
}

std::string_view ToString(Aggregate a) { return NameOf(kAggregates, a); }
std::string_view ToString(Rollup r) { return NameOf(kRollups, r); }
std::string_view ToString(ScoreInput s) { return NameOf(kInputs, s); }
std::string_view ToString(HrReviewKind k) { return NameOf(kHrKinds, k); }
std::string_view DirectionName(v1::Direction d) { return NameOf(kDirections, d); }
std::string_view ToString(DisputeAssignTo a) { return NameOf(kAssignTo, a); }

Disputes DisputeSettings(const Policy* policy) {
  if (policy == nullptr || !policy->disputes.has_value()) return Disputes();
  return *policy->disputes;
}

absl::StatusOr<Policy> ParsePolicy(std::string_view text, Format format) {
  if (text.size() > limits::kPolicyBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("document: ", text.size(),
                                                   " bytes, at most ", limits::kPolicyBytesMax));
  }
  if (format == Format::kAuto) {
    const size_t first = text.find_first_not_of(" \t\r\n");
    format = first != std::string_view::npos && text[first] == '{' ? Format::kJson
                                                                    : Format::kYaml;
  }
  absl::StatusOr<std::unique_ptr<Node>> root =
      format == Format::kJson ? ParseJsonTree(text) : ParseYamlTree(text);
  if (!root.ok()) return root.status();
  ASSIGN_OR_RETURN(Policy p, ReadPolicy(**root));
  // The canonical form is what gets published; it must fit one event too.
  const size_t canonical = CanonicalJson(p).size();
  if (canonical > limits::kPolicyBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("document: canonical JSON is ", canonical,
                                                   " bytes, at most ", limits::kPolicyBytesMax));
  }
  return p;
}

std::string CanonicalJson(const Policy& p) {
  // nlohmann::json objects are std::maps: keys come out sorted, which is the stable order.
  nlohmann::json doc = nlohmann::json::object();
  doc["policy_id"] = p.policy_id;
  if (!p.description.empty()) doc["description"] = p.description;

  nlohmann::json g = nlohmann::json::object();
  const Grading& gr = p.grading;
  std::string bound_key;
  std::string alt_key;
  if (gr.method == GradingMethod::kWeightedScores) {
    g["method"] = "weighted_scores";
    nlohmann::json w = nlohmann::json::object();
    for (const auto& [input, bp] : gr.weights) w[std::string(ToString(input))] = bp;
    g["weights"] = w;
    bound_key = "min_score_milli";
  } else {
    g["method"] = "metric_bands";
    g["metric"] = gr.metric;
    g["direction"] = std::string(DirectionName(gr.direction));
    g["aggregate"] = std::string(ToString(gr.aggregate));
    const bool lower = gr.direction == v1::DIRECTION_LOWER_IS_BETTER;
    bound_key = lower ? "below_milli" : "at_least_milli";
    alt_key = lower ? "at_most_milli" : "above_milli";
  }
  nlohmann::json bands = nlohmann::json::array();
  for (const Band& b : gr.bands) {
    nlohmann::json jb = {{"grade", b.grade}};
    if (b.bound_milli.has_value()) {
      if (b.bound_kind == BoundKind::kAlternative) {
        jb[alt_key] = *b.bound_milli - 1;
      } else {
        jb[bound_key] = *b.bound_milli;
      }
    }
    bands.push_back(std::move(jb));
  }
  g["bands"] = std::move(bands);
  doc["grading"] = std::move(g);

  if (!p.recommended_distribution.empty()) {
    nlohmann::json d = nlohmann::json::object();
    for (const auto& [grade, bp] : p.recommended_distribution) d[grade] = bp;
    doc["recommended_distribution"] = std::move(d);
  }

  if (!p.actions.empty()) {
    nlohmann::json actions = nlohmann::json::object();
    for (const auto& [grade, a] : p.actions) {
      nlohmann::json ja = nlohmann::json::object();
      if (a.raise_bp.has_value()) ja["raise_bp"] = *a.raise_bp;
      if (!a.merit_matrix.empty()) {
        nlohmann::json rows = nlohmann::json::array();
        for (const MeritRow& r : a.merit_matrix) {
          nlohmann::json jr = {{"raise_bp", r.raise_bp}};
          if (r.compa_ratio_below_bp.has_value()) {
            jr["compa_ratio_below_bp"] = *r.compa_ratio_below_bp;
          }
          rows.push_back(std::move(jr));
        }
        ja["merit_matrix"] = std::move(rows);
      }
      if (a.bonus.has_value()) {
        nlohmann::json jb = {{"percent_of_monthly_bp", a.bonus->percent_of_monthly_bp}};
        if (!a.bonus->reason_code.empty()) jb["reason_code"] = a.bonus->reason_code;
        ja["bonus"] = std::move(jb);
      }
      if (!a.training.empty()) ja["training"] = a.training;
      if (a.promotion.has_value()) {
        ja["promotion"] = {{"nominate_to", a.promotion->nominate_to},
                           {"consecutive_cycles", a.promotion->consecutive_cycles}};
      }
      if (a.pip.has_value()) {
        ja["pip"] = {{"length_days", a.pip->length_days},
                     {"checkpoint_every_days", a.pip->checkpoint_every_days}};
      }
      if (a.hr_review.has_value()) ja["hr_review"] = HrReviewJson(*a.hr_review);
      if (a.followup.has_value()) {
        nlohmann::json jf = nlohmann::json::object();
        jf["if_not_improved_within_days"] = a.followup->if_not_improved_within_days;
        jf["hr_review"] = HrReviewJson(a.followup->hr_review);
        ja["followup"] = std::move(jf);
      }
      actions[grade] = std::move(ja);
    }
    doc["actions"] = std::move(actions);
  }

  if (!p.alerts.empty()) {
    nlohmann::json alerts = nlohmann::json::array();
    for (const AlertRule& r : p.alerts) {
      nlohmann::json a = {{"id", r.id},
                          {"metric", r.metric},
                          {"scope", std::string(NameOf(kScopes, r.scope))},
                          {"aggregate", std::string(ToString(r.aggregate))},
                          {"threshold_milli", r.threshold_milli},
                          {"direction", std::string(DirectionName(r.direction))}};
      // A rolling window prints as window_days, as it always did, so such documents keep
      // their hash.
      if (r.window == AlertWindowKind::kCycle) {
        a["window"] = "cycle";
      } else {
        a["window_days"] = r.window_days;
      }
      a["notify"] = r.notify == Notify::kRole
                        ? absl::StrCat(kRolePrefix, std::string(NameOf(kNotifyRoles, r.notify_role)))
                        : std::string(NameOf(kNotify, r.notify));
      alerts.push_back(std::move(a));
    }
    doc["alerts"] = std::move(alerts);
  }

  if (!p.metrics.empty()) {
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& [name, rule] : p.metrics) {
      nlohmann::json j = {{"rollup", std::string(ToString(rule.rollup))}};
      if (rule.direction != v1::DIRECTION_UNSPECIFIED) {
        j["direction"] = std::string(DirectionName(rule.direction));
      }
      metrics[name] = std::move(j);
    }
    doc["metrics"] = std::move(metrics);
  }

  if (p.pip_outcomes.failed.has_value()) {
    nlohmann::json failed = nlohmann::json::object();
    failed["hr_review"] = HrReviewJson(*p.pip_outcomes.failed);
    doc["pip_outcomes"]["failed"] = std::move(failed);
  }

  if (p.disputes.has_value()) {
    doc["disputes"] = {{"window_business_days", p.disputes->window_business_days},
                       {"assign_to", std::string(ToString(p.disputes->assign_to))},
                       {"hold_actions", p.disputes->hold_actions}};
  }
  return doc.dump();
}

std::string CanonicalSha256(const Policy& policy) {
  return ToHex(Sha256(CanonicalJson(policy)));
}

}  // namespace perfledger::policy
