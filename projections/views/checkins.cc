// check-ins: the conversation log per employee–manager pair, and the latest check-in time
// (the query turns it into "days since the last one" at its own time).
//   "c/<employee>/<manager>/" + BE32 partition + BE64 offset → CheckInEntry
//   "l/<employee>"                                         → Timestamp of the latest check-in
//   "lm/<employee>/<manager>"                              → same, per employee–manager pair
#include "google/protobuf/timestamp.pb.h"
#include "ledger/status_macros.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

class CheckInsView final : public View {
 public:
  std::string_view name() const override { return "checkins"; }
  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    if (event.body_case() != v1::Event::kCheckInRecorded) return absl::OkStatus();
    const v1::CheckInRecorded& c = event.check_in_recorded();
    v1::CheckInEntry entry;
    entry.set_check_in_id(c.check_in_id());
    entry.set_event_id(e.event_id());
    entry.set_employee_id(c.employee_id());
    entry.set_manager_id(c.manager_id());
    *entry.mutable_occurred_at() = e.occurred_at();
    *entry.mutable_check_in() = c;
    // The notes, blockers and comments are sealed in the envelope: the row keeps them so, and
    // the query opens them for callers who may read them.
    if (e.has_sealed()) *entry.mutable_sealed() = e.sealed();
    txn.PutOwned(Key({"c", c.employee_id(), c.manager_id()}) + "/" +
                PositionSuffix(PositionOf(e.position())),
            entry.SerializeAsString());
    // Business time may arrive out of order: keep the latest, not the last recorded.
    for (const std::string& last_key :
         {Key({"l", c.employee_id()}), Key({"lm", c.employee_id(), c.manager_id()})}) {
      ASSIGN_OR_RETURN(auto last, txn.Get(last_key));
      google::protobuf::Timestamp latest;
      if (last) latest.ParseFromString(*last);
      if (!last || e.occurred_at().seconds() > latest.seconds() ||
          (e.occurred_at().seconds() == latest.seconds() &&
           e.occurred_at().nanos() > latest.nanos())) {
        txn.Put(last_key, e.occurred_at().SerializeAsString());
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeCheckInsView() { return std::make_unique<CheckInsView>(); }

}  // namespace perfledger::projections
