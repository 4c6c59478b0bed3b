// event_index: where each event lives in the log, so an auditor's explanation reads a handful
// of events by position instead of scanning (projections/audit.h, Audit.Explain).
// Keys → BE32 partition + BE64 offset:
//   "e/<event_id>"           every event
//   "a/<action_id>"          the ActionTriggered of an action
//   "p/" + BE64 version      the PolicyPublished of a policy version
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

class EventIndexView final : public View {
 public:
  std::string_view name() const override { return kEventIndexView; }
  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    const std::string where = PositionSuffix(e.position().partition(), e.position().offset());
    if (!e.event_id().empty()) txn.PutOwned(Key({"e", e.event_id()}), where);
    if (event.has_action_triggered()) {
      txn.PutOwned(Key({"a", event.action_triggered().action_id()}), where);
    } else if (event.has_policy_published()) {
      std::string key = "p/";
      PutBigEndian64(key, event.policy_published().version());
      txn.PutOwned(std::move(key), where);
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeEventIndexView() { return std::make_unique<EventIndexView>(); }

}  // namespace perfledger::projections
