// ranking: per cycle and org unit, people ordered by their finalized grade's score.
//   "e/<cycle>/<employee>"                      → RankingEntry (current row, for supersedes)
//   "r/<cycle>/<org>/" + desc(score) + employee → RankingEntry   (org "*" = whole organisation)
//   "n/<cycle>/<org>"                           → BE64 count
// A later grade for the same person and cycle replaces the earlier row.
#include "absl/strings/str_cat.h"
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
    if (event.body_case() != v1::Event::kGradeFinalized) return absl::OkStatus();
    const v1::GradeFinalized& g = event.grade_finalized();
    const std::string row_key = Key({"e", g.cycle_id(), g.employee_id()});
    ASSIGN_OR_RETURN(auto previous, txn.Get(row_key));
    if (previous) {
      v1::RankingEntry old;
      old.ParseFromString(*previous);
      for (const std::string& org : {old.org_unit_id(), std::string("*")}) {
        txn.Delete(RankKey(g.cycle_id(), org, old.score_milli(), g.employee_id()));
        RETURN_IF_ERROR(AddCount(txn, Key({"n", g.cycle_id(), org}), -1));
      }
    }
    v1::RankingEntry row;
    row.set_employee_id(g.employee_id());
    row.set_score_milli(g.score_milli());
    row.set_grade(g.grade());
    row.set_org_unit_id(g.org_unit_id());
    const std::string value = row.SerializeAsString();
    txn.Put(row_key, value);
    for (const std::string& org : {g.org_unit_id(), std::string("*")}) {
      txn.Put(RankKey(g.cycle_id(), org, g.score_milli(), g.employee_id()), value);
      RETURN_IF_ERROR(AddCount(txn, Key({"n", g.cycle_id(), org}), +1));
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeRankingView() { return std::make_unique<RankingView>(); }

}  // namespace perfledger::projections
