// distribution: grade counts per cycle and org unit.
//   "e/<cycle>/<employee>"        → "<org>/<grade>" (current, for supersedes)
//   "c/<cycle>/<org>/<grade>"     → BE64 count (org "*" = whole organisation)
//   "v/<cycle>"                   → BE64 policy version of the latest grade
//   "r/<version>/<grade>"         → BE64 the policy's recommended share, basis points
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ledger/policy.h"
#include "ledger/status_macros.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

absl::Status AddCount(ViewTxn& txn, const std::string& key, int64_t delta) {
  ASSIGN_OR_RETURN(auto current, txn.Get(key));
  uint64_t n = current ? GetBigEndian64(*current) : 0;
  n = delta < 0 ? n - 1 : n + 1;
  if (n == 0) {
    txn.Delete(key);
    return absl::OkStatus();
  }
  std::string value;
  PutBigEndian64(value, n);
  txn.Put(key, value);
  return absl::OkStatus();
}

class DistributionView final : public View {
 public:
  std::string_view name() const override { return "distribution"; }
  absl::Status Apply(const v1::Envelope&, const v1::Event& event, ViewTxn& txn) override {
    if (event.body_case() == v1::Event::kPolicyPublished) {
      const auto& p = event.policy_published();
      auto parsed = policy::ParsePolicy(p.document_json(), policy::Format::kJson);
      if (!parsed.ok()) return absl::OkStatus();  // validated when published
      for (const auto& [grade, bp] : parsed->recommended_distribution) {
        std::string value;
        PutBigEndian64(value, bp);
        txn.Put(Key({"r", std::to_string(p.version()), grade}), value);
      }
      return absl::OkStatus();
    }
    if (event.body_case() != v1::Event::kGradeFinalized) return absl::OkStatus();
    const v1::GradeFinalized& g = event.grade_finalized();
    const std::string row_key = Key({"e", g.cycle_id(), g.employee_id()});
    ASSIGN_OR_RETURN(auto previous, txn.Get(row_key));
    if (previous) {
      std::vector<std::string> parts = absl::StrSplit(*previous, '/');
      if (parts.size() == 2) {
        for (const std::string& org : {parts[0], std::string("*")}) {
          RETURN_IF_ERROR(AddCount(txn, Key({"c", g.cycle_id(), org, parts[1]}), -1));
        }
      }
    }
    txn.Put(row_key, absl::StrCat(g.org_unit_id(), "/", g.grade()));
    for (const std::string& org : {g.org_unit_id(), std::string("*")}) {
      RETURN_IF_ERROR(AddCount(txn, Key({"c", g.cycle_id(), org, g.grade()}), +1));
    }
    std::string version;
    PutBigEndian64(version, g.policy_version());
    txn.Put(Key({"v", g.cycle_id()}), version);
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeDistributionView() { return std::make_unique<DistributionView>(); }

}  // namespace perfledger::projections
