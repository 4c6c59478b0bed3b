// timeline: every event about one person, in log order (the auditor's and the employee's view).
// Key: "<employee>/" + BE32 partition + BE64 offset → the stored Envelope (payload included).
// An employee's events share one partition (they are keyed by the employee), so log order per
// person is offset order.
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

class TimelineView final : public View {
 public:
  std::string_view name() const override { return "timeline"; }
  bool large_values() const override { return true; }
  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    const std::string employee = EmployeeOf(e, event);
    if (employee.empty()) return absl::OkStatus();
    std::string key = employee + "/";
    key += PositionSuffix(PositionOf(e.position()));
    txn.PutOwned(std::move(key), txn.stored_bytes().empty() ? e.SerializeAsString()
                                                            : std::string(txn.stored_bytes()));
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeTimelineView() { return std::make_unique<TimelineView>(); }

}  // namespace perfledger::projections
