// event_index: where each event lives in the log, so an auditor's explanation reads a handful
// of events by position instead of scanning (projections/audit.h, Audit.Explain).
// Keys → BE32 partition + BE64 offset:
//   "e/<event_id>"           every event
//   "a/<action_id>"          the ActionTriggered of an action
//   "p/" + BE64 version      the PolicyPublished of a policy version
//   "ca/<cause id>/<action_id>/" + position   an ActionTriggered, under each of its causes (a
//                            grade's actions)
//   "c/<action_id>/" + position   an ActionCancelled of an action
// (the position in the key: views fold partitions in parallel, so two events naming the same
// action must not overwrite one row in an order that depends on the threads)
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

class EventIndexView final : public View {
 public:
  std::string_view name() const override { return kEventIndexView; }
  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    const std::string where = PositionSuffix(PositionOf(e.position()));
    if (!e.event_id().empty()) txn.PutOwned(Key({"e", e.event_id()}), where);
    if (event.has_action_triggered()) {
      const v1::ActionTriggered& a = event.action_triggered();
      txn.PutOwned(Key({"a", a.action_id()}), where);
      for (const std::string& cause : a.cause_event_ids()) {
        txn.PutOwned(Key({"ca", cause, a.action_id()}) + "/" + where, where);
      }
    } else if (event.has_action_cancelled()) {
      txn.PutOwned(Key({"c", event.action_cancelled().action_id()}) + "/" + where, where);
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
