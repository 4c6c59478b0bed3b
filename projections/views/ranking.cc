// ranking: per cycle and org unit, people ordered by their finalized grade's score.
//   "e/<cycle>/<employee>"                      → RankingEntry (current row, for supersedes)
//   "r/<cycle>/<org>/" + desc(score) + employee → RankingEntry   (org "*" = whole organisation)
//   "n/<cycle>/<org>"                           → BE64 count
//   "o/<cycle>/<employee>"                      → BE64 order key (the score, negated when lower
//                                                  is better) of the current row
//   "d/<policy version>"                        → "-" when that policy grades lower-is-better
// A later grade for the same person and cycle replaces the earlier row. Under a metric-band
// policy where lower is better (a defect rate), the lowest score ranks first.
#include "absl/strings/str_cat.h"
#include "ledger/policy.h"
#include "ledger/status_macros.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

std::string RankKey(const std::string& cycle, const std::string& org, int64_t score,
                    const std::string& employee) {
  std::string key = Key({"r", cycle, org}) + "/";
  PutDescendingInt64(key, score);
  key += employee;
  return key;
}

absl::Status AddCount(ViewTxn& txn, const std::string& key, int64_t delta) {
  ASSIGN_OR_RETURN(auto current, txn.Get(key));
  uint64_t n = current ? GetBigEndian64(*current) : 0;
  n = delta < 0 ? n - 1 : n + 1;
  std::string value;
  PutBigEndian64(value, n);
  txn.Put(key, value);
  return absl::OkStatus();
}

class RankingView final : public View {
 public:
  std::string_view name() const override { return "ranking"; }
  absl::Status Apply(const v1::Envelope&, const v1::Event& event, ViewTxn& txn) override {
    if (event.body_case() == v1::Event::kPolicyPublished) {
      const auto& p = event.policy_published();
      auto parsed = policy::ParsePolicy(p.document_json(), policy::Format::kJson);
      if (parsed.ok() && parsed->grading.method == policy::GradingMethod::kMetricBands &&
          parsed->grading.direction == v1::DIRECTION_LOWER_IS_BETTER) {
        txn.Put(Key({"d", std::to_string(p.version())}), "-");
      }
      return absl::OkStatus();
    }
    if (event.body_case() != v1::Event::kGradeFinalized) return absl::OkStatus();
    const v1::GradeFinalized& g = event.grade_finalized();
    const std::string row_key = Key({"e", g.cycle_id(), g.employee_id()});
    const std::string order_key = Key({"o", g.cycle_id(), g.employee_id()});
    ASSIGN_OR_RETURN(auto previous, txn.Get(row_key));
    if (previous) {
      v1::RankingEntry old;
      old.ParseFromString(*previous);
      ASSIGN_OR_RETURN(auto old_order, txn.Get(order_key));
      const int64_t old_score = old_order ? static_cast<int64_t>(GetBigEndian64(*old_order))
                                          : old.score_milli();
      for (const std::string& org : {old.org_unit_id(), std::string("*")}) {
        txn.Delete(RankKey(g.cycle_id(), org, old_score, g.employee_id()));
        RETURN_IF_ERROR(AddCount(txn, Key({"n", g.cycle_id(), org}), -1));
      }
    }
    ASSIGN_OR_RETURN(auto lower, txn.Get(Key({"d", std::to_string(g.policy_version())})));
    const int64_t order = lower ? -g.score_milli() : g.score_milli();
    std::string order_value;
    PutBigEndian64(order_value, static_cast<uint64_t>(order));
    txn.Put(order_key, order_value);
    v1::RankingEntry row;
    row.set_employee_id(g.employee_id());
    row.set_score_milli(g.score_milli());
    row.set_grade(g.grade());
    row.set_org_unit_id(g.org_unit_id());
    const std::string value = row.SerializeAsString();
    txn.Put(row_key, value);
    for (const std::string& org : {g.org_unit_id(), std::string("*")}) {
      txn.Put(RankKey(g.cycle_id(), org, order, g.employee_id()), value);
      RETURN_IF_ERROR(AddCount(txn, Key({"n", g.cycle_id(), org}), +1));
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeRankingView() { return std::make_unique<RankingView>(); }

}  // namespace perfledger::projections
