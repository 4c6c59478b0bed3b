#include "projections/queries.h"

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/limits.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"
#include "projections/keys.h"

namespace perfledger::projections {
namespace {

using limits::kGoalDepthMax;
using limits::kGoalNodesMax;
using limits::kPageSizeDefault;
using limits::kPageSizeMax;

absl::StatusOr<uint32_t> PageSize(uint32_t requested) {
  if (requested > kPageSizeMax) {
    return FieldError("page_size", absl::StrFormat("at most %d", kPageSizeMax));
  }
  return requested == 0 ? kPageSizeDefault : requested;
}

// Page tokens are the last key returned, web-safe base64; the next page starts after it.
std::string EncodeToken(const rocksdb::Slice& key) {
  return absl::WebSafeBase64Escape(absl::string_view(key.data(), key.size()));
}

absl::StatusOr<std::string> DecodeToken(const std::string& token, const std::string& prefix) {
  std::string key;
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &key) ||
      key.compare(0, prefix.size(), prefix) != 0) {
    return FieldError("page_token", "not a token of this query");
  }
  return key;
}

// Iterates rows with `prefix`, starting after the page token, up to `limit` rows.
template <typename Fn>
absl::StatusOr<std::string> Scan(const Projector::Reader& r, std::string_view view,
                                 const std::string& prefix, const std::string& token,
                                 uint32_t limit, Fn&& fn) {
  std::string start = prefix;
  bool skip_first = false;
  if (!token.empty()) {
    ASSIGN_OR_RETURN(start, DecodeToken(token, prefix));
    skip_first = true;
  }
  const std::string end = PrefixEnd(prefix);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(r.db()->NewIterator(ro, r.family(view)));
  uint32_t n = 0;
  std::string last;
  bool more = false;
  for (it->Seek(start); it->Valid(); it->Next()) {
    if (skip_first && it->key() == rocksdb::Slice(start)) continue;
    if (n == limit) {
      more = true;
      break;
    }
    RETURN_IF_ERROR(fn(it->key(), it->value()));
    last = it->key().ToString();
    n++;
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan view"));
  return more ? EncodeToken(last) : std::string();
}

absl::StatusOr<uint64_t> Count(const Projector::Reader& r, std::string_view view,
                               const std::string& key) {
  std::string value;
  rocksdb::Status s = r.db()->Get(rocksdb::ReadOptions(), r.family(view), key, &value);
  if (s.IsNotFound()) return 0;
  RETURN_IF_ERROR(FromRocks(s, "read view"));
  return GetBigEndian64(value);
}

}  // namespace

absl::StatusOr<v1::RankingResponse> QueryRanking(const Projector::Reader& r,
                                                 const v1::RankingRequest& q) {
  RETURN_IF_ERROR(CheckId("cycle_id", q.cycle_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckId("org_unit_id", q.org_unit_id(), Presence::kOptional));
  ASSIGN_OR_RETURN(uint32_t limit, PageSize(q.page_size()));
  const std::string org = q.org_unit_id().empty() ? "*" : q.org_unit_id();
  v1::RankingResponse out;
  ASSIGN_OR_RETURN(uint64_t total, Count(r, "ranking", Key({"n", q.cycle_id(), org})));
  out.set_total(total);
  // The rank of the first row of a page is carried in the token's position: count from the
  // start of the prefix is O(page offset); tokens therefore also encode the next rank.
  uint64_t rank = 0;
  std::string token = q.page_token();
  if (!token.empty()) {
    const size_t colon = token.find('.');
    if (colon == std::string::npos || !absl::SimpleAtoi(token.substr(0, colon), &rank)) {
      return FieldError("page_token", "not a token of this query");
    }
    token = token.substr(colon + 1);
  }
  const std::string prefix = Key({"r", q.cycle_id(), org}) + "/";
  ASSIGN_OR_RETURN(std::string next,
                   Scan(r, "ranking", prefix, token, limit,
                        [&](const rocksdb::Slice&, const rocksdb::Slice& value) -> absl::Status {
                          v1::RankingEntry* e = out.add_entries();
                          e->ParseFromArray(value.data(), static_cast<int>(value.size()));
                          e->set_rank(++rank);
                          e->set_percentile_bp(
                              total == 0 ? 0
                                         : static_cast<uint32_t>((total - rank) * 10'000 / total));
                          return absl::OkStatus();
                        }));
  if (!next.empty()) out.set_next_page_token(absl::StrCat(rank, ".", next));
  return out;
}

absl::StatusOr<v1::DistributionResponse> QueryDistribution(const Projector::Reader& r,
                                                           const v1::DistributionRequest& q) {
  RETURN_IF_ERROR(CheckId("cycle_id", q.cycle_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckId("org_unit_id", q.org_unit_id(), Presence::kOptional));
  const std::string org = q.org_unit_id().empty() ? "*" : q.org_unit_id();
  const std::string prefix = Key({"c", q.cycle_id(), org}) + "/";
  v1::DistributionResponse out;
  uint64_t total = 0;
  RETURN_IF_ERROR(Scan(r, "distribution", prefix, "", kPageSizeMax,
                       [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                         auto* g = out.add_grades();
                         g->set_grade(key.ToString().substr(prefix.size()));
                         g->set_count(GetBigEndian64(value.ToString()));
                         total += g->count();
                         return absl::OkStatus();
                       })
                      .status());
  for (auto& g : *out.mutable_grades()) {
    g.set_share_bp(total == 0 ? 0 : static_cast<uint32_t>(g.count() * 10'000 / total));
  }
  out.set_total(total);
  ASSIGN_OR_RETURN(uint64_t version, Count(r, "distribution", Key({"v", q.cycle_id()})));
  out.set_policy_version(version);
  // The recommendation of the policy the cycle's latest grade was decided under; grades it
  // recommends but nobody got are listed with count 0.
  const std::string rec_prefix = Key({"r", std::to_string(version)}) + "/";
  std::map<std::string, uint32_t> recommended;
  RETURN_IF_ERROR(Scan(r, "distribution", rec_prefix, "", kPageSizeMax,
                       [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                         recommended[key.ToString().substr(rec_prefix.size())] =
                             static_cast<uint32_t>(GetBigEndian64(value.ToString()));
                         return absl::OkStatus();
                       })
                      .status());
  for (auto& g : *out.mutable_grades()) {
    auto it = recommended.find(g.grade());
    if (it != recommended.end()) {
      g.set_recommended_bp(it->second);
      recommended.erase(it);
    }
  }
  for (const auto& [grade, bp] : recommended) {
    auto* g = out.add_grades();
    g->set_grade(grade);
    g->set_recommended_bp(bp);
  }
  return out;
}

absl::StatusOr<v1::TimelineResponse> QueryTimeline(const Projector::Reader& r,
                                                   const v1::TimelineRequest& q) {
  RETURN_IF_ERROR(CheckId("employee_id", q.employee_id(), Presence::kRequired));
  ASSIGN_OR_RETURN(uint32_t limit, PageSize(q.page_size()));
  v1::TimelineResponse out;
  ASSIGN_OR_RETURN(std::string next,
                   Scan(r, "timeline", q.employee_id() + "/", q.page_token(), limit,
                        [&](const rocksdb::Slice&, const rocksdb::Slice& value) -> absl::Status {
                          v1::RecordedEvent* e = out.add_events();
                          if (!e->mutable_envelope()->ParseFromArray(
                                  value.data(), static_cast<int>(value.size())) ||
                              !e->mutable_event()->ParseFromString(e->envelope().payload())) {
                            return absl::DataLossError("timeline row does not parse");
                          }
                          return absl::OkStatus();
                        }));
  out.set_next_page_token(next);
  return out;
}

absl::StatusOr<v1::CheckInsResponse> QueryCheckIns(const Projector::Reader& r,
                                                   const v1::CheckInsRequest& q, absl::Time now) {
  RETURN_IF_ERROR(CheckId("employee_id", q.employee_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckId("manager_id", q.manager_id(), Presence::kOptional));
  ASSIGN_OR_RETURN(uint32_t limit, PageSize(q.page_size()));
  const std::string prefix = q.manager_id().empty()
                                 ? Key({"c", q.employee_id()}) + "/"
                                 : Key({"c", q.employee_id(), q.manager_id()}) + "/";
  v1::CheckInsResponse out;
  ASSIGN_OR_RETURN(std::string next,
                   Scan(r, "checkins", prefix, q.page_token(), limit,
                        [&](const rocksdb::Slice&, const rocksdb::Slice& value) {
                          out.add_entries()->ParseFromArray(value.data(),
                                                            static_cast<int>(value.size()));
                          return absl::OkStatus();
                        }));
  out.set_next_page_token(next);
  std::string last;
  const std::string last_key = q.manager_id().empty()
                                   ? Key({"l", q.employee_id()})
                                   : Key({"lm", q.employee_id(), q.manager_id()});
  rocksdb::Status s = r.db()->Get(rocksdb::ReadOptions(), r.family("checkins"), last_key, &last);
  if (s.ok()) {
    out.mutable_last_check_in_at()->ParseFromString(last);
    const absl::Time at = absl::FromUnixSeconds(out.last_check_in_at().seconds());
    out.set_days_since_last(absl::ToInt64Hours(now - at) / 24);
  } else if (s.IsNotFound()) {
    out.set_days_since_last(-1);
  } else {
    return FromRocks(s, "read check-ins");
  }
  return out;
}

namespace {

absl::StatusOr<std::optional<v1::GoalNode>> LoadGoal(const Projector::Reader& r,
                                                     const std::string& id) {
  std::string value;
  rocksdb::Status s = r.db()->Get(rocksdb::ReadOptions(), r.family("goals"), Key({"g", id}), &value);
  if (s.IsNotFound()) return std::optional<v1::GoalNode>();
  RETURN_IF_ERROR(FromRocks(s, "read goal"));
  v1::GoalNode node;
  node.ParseFromString(value);
  return std::optional<v1::GoalNode>(std::move(node));
}

// Own progress: key results weighted by weight_bp (equal weights when all are 0).
uint32_t OwnProgress(const v1::GoalNode& g) {
  if (g.key_results().empty()) return 0;
  uint64_t weight_sum = 0, acc = 0;
  for (const auto& kr : g.key_results()) weight_sum += kr.weight_bp();
  for (const auto& kr : g.key_results()) {
    const uint64_t w = weight_sum == 0 ? 1 : kr.weight_bp();
    acc += w * kr.progress_bp();
  }
  const uint64_t denom = weight_sum == 0 ? g.key_results_size() : weight_sum;
  return static_cast<uint32_t>(acc / denom);
}

absl::Status Expand(const Projector::Reader& r, v1::GoalNode& node, uint32_t depth,
                    uint32_t max_depth, size_t& budget) {
  node.set_own_progress_bp(OwnProgress(node));
  uint64_t child_weight = 0, child_acc = 0;
  if (depth < max_depth) {
    const std::string prefix = Key({"k", node.goal_id()}) + "/";
    std::vector<std::string> ids;
    RETURN_IF_ERROR(Scan(r, "goals", prefix, "", kPageSizeMax,
                         [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
                           ids.push_back(key.ToString().substr(prefix.size()));
                           return absl::OkStatus();
                         })
                        .status());
    for (const std::string& id : ids) {
      if (budget == 0) return absl::ResourceExhaustedError("goal tree: too many goals");
      budget--;
      ASSIGN_OR_RETURN(auto child, LoadGoal(r, id));
      if (!child) continue;
      RETURN_IF_ERROR(Expand(r, *child, depth + 1, max_depth, budget));
      const uint64_t w = child->weight_bp() == 0 ? 1 : child->weight_bp();
      child_weight += w;
      child_acc += w * child->rolled_up_progress_bp();
      *node.add_children() = std::move(*child);
    }
  }
  // Roll-up: own key results and aligned children count equally when both exist.
  uint32_t rolled = node.own_progress_bp();
  if (child_weight > 0) {
    const uint32_t children = static_cast<uint32_t>(child_acc / child_weight);
    rolled = node.key_results().empty() ? children : (node.own_progress_bp() + children) / 2;
  }
  node.set_rolled_up_progress_bp(rolled);
  if (!node.closed()) node.set_okr_grade_milli(rolled / 10);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::GoalTreeResponse> QueryGoalTree(const Projector::Reader& r,
                                                   const v1::GoalTreeRequest& q) {
  RETURN_IF_ERROR(CheckId("goal_id", q.goal_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("cycle_id", q.cycle_id(), Presence::kOptional));
  if (q.goal_id().empty() && q.cycle_id().empty()) {
    return FieldError("cycle_id", "required when goal_id is empty");
  }
  if (q.max_depth() > kGoalDepthMax) {
    return FieldError("max_depth", absl::StrFormat("at most %d", kGoalDepthMax));
  }
  const uint32_t max_depth = q.max_depth() == 0 ? kGoalDepthMax : q.max_depth();
  std::vector<std::string> roots;
  if (!q.goal_id().empty()) {
    roots.push_back(q.goal_id());
  } else {
    const std::string prefix = Key({"t", q.cycle_id()}) + "/";
    RETURN_IF_ERROR(Scan(r, "goals", prefix, "", kPageSizeMax,
                         [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
                           roots.push_back(key.ToString().substr(prefix.size()));
                           return absl::OkStatus();
                         })
                        .status());
  }
  v1::GoalTreeResponse out;
  size_t budget = kGoalNodesMax;
  for (const std::string& id : roots) {
    ASSIGN_OR_RETURN(auto node, LoadGoal(r, id));
    if (!node) {
      if (!q.goal_id().empty()) {
        return absl::NotFoundError(absl::StrCat("goal_id: goal ", id, " not found"));
      }
      continue;
    }
    RETURN_IF_ERROR(Expand(r, *node, 1, max_depth, budget));
    *out.add_roots() = std::move(*node);
  }
  return out;
}

}  // namespace perfledger::projections
