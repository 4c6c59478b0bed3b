// disputes: the employee's disputes of their grades, from raising to resolution.
//   "d/<employee>/<dispute_id>" → DisputeRow
//
// Transitions:
//   DisputeRaised                      → OPEN (a dispute id seen before is ignored)
//   GradeFinalized naming the dispute  OPEN: the correction's event and grade
//   DisputeResolved                    OPEN → RESOLVED with the outcome
// The grounds and the reason stay sealed in the row (`sealed`, as the log holds them); the
// query opens them for callers who may read the employee's conversations.
//
// Ordering assumption: every event about a dispute is keyed by its employee, so all of them are
// in one partition in log order. An event about a dispute this view has not seen is ignored,
// which every replay does alike.
#include "absl/strings/str_cat.h"
#include "ledger/status_macros.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

class DisputesView final : public View {
 public:
  std::string_view name() const override { return "disputes"; }

  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    switch (event.body_case()) {
      case v1::Event::kDisputeRaised: {
        const auto& x = event.dispute_raised();
        const std::string key = Key({"d", x.employee_id(), x.dispute_id()});
        ASSIGN_OR_RETURN(auto known, txn.Get(key));
        if (known) return absl::OkStatus();
        v1::DisputeRow row;
        row.set_dispute_id(x.dispute_id());
        row.set_employee_id(x.employee_id());
        row.set_cycle_id(x.cycle_id());
        row.set_status(v1::DISPUTE_STATUS_OPEN);
        row.set_grade_event_id(x.grade_event_id());
        row.set_grade(x.grade());
        *row.mutable_dimensions() = x.dimensions();
        row.set_grounds(x.grounds());  // empty when sealed
        row.set_assigned_to(x.assigned_to());
        row.set_assignee_id(x.assignee_id());
        *row.mutable_window_ends_at() = x.window_ends_at();
        row.set_raised_event_id(e.event_id());
        *row.mutable_raised_at() = e.occurred_at();
        row.set_org_unit_id(x.org_unit_id());
        row.set_manager_id(x.manager_id());
        KeepSealed(e, row);
        txn.Put(key, row.SerializeAsString());
        return absl::OkStatus();
      }
      case v1::Event::kGradeFinalized: {
        const auto& g = event.grade_finalized();
        if (g.dispute_id().empty()) return absl::OkStatus();
        return Update(txn, Key({"d", g.employee_id(), g.dispute_id()}), [&](v1::DisputeRow& row) {
          if (row.status() != v1::DISPUTE_STATUS_OPEN) return false;
          row.set_regrade_event_id(e.event_id());
          row.set_regraded_to(g.grade());
          return true;
        });
      }
      case v1::Event::kDisputeResolved: {
        const auto& x = event.dispute_resolved();
        return Update(txn, Key({"d", x.employee_id(), x.dispute_id()}), [&](v1::DisputeRow& row) {
          if (row.status() != v1::DISPUTE_STATUS_OPEN) return false;
          row.set_status(v1::DISPUTE_STATUS_RESOLVED);
          row.set_outcome(x.outcome());
          row.set_reason(x.reason());  // empty when sealed
          row.set_resolved_by(x.resolved_by());
          *row.mutable_resolved_at() = e.occurred_at();
          row.set_resolved_event_id(e.event_id());
          KeepSealed(e, row);
          return true;
        });
      }
      default:
        return absl::OkStatus();
    }
  }

 private:
  static void KeepSealed(const v1::Envelope& e, v1::DisputeRow& row) {
    if (!e.has_sealed()) return;
    v1::SealedRef* ref = row.add_sealed();
    ref->set_event_id(e.event_id());
    *ref->mutable_sealed() = e.sealed();
  }

  // Applies `change` to the row under `key` (if any); `change` returns whether it changed it.
  template <typename Fn>
  static absl::Status Update(ViewTxn& txn, const std::string& key, Fn&& change) {
    ASSIGN_OR_RETURN(auto value, txn.Get(key));
    if (!value) return absl::OkStatus();  // orphan: see the file comment
    v1::DisputeRow row;
    if (!row.ParseFromString(*value)) {
      return absl::DataLossError(absl::StrCat("disputes row ", key, " does not parse"));
    }
    if (!change(row)) return absl::OkStatus();
    txn.Put(key, row.SerializeAsString());
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeDisputesView() { return std::make_unique<DisputesView>(); }

}  // namespace perfledger::projections
