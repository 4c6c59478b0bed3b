// hooks: what each action's consumers still have to do (ARCHITECTURE §7). The Hooks service streams
// from it (projections/hooks.h); the payroll and training views keep the business history.
//
//   "a/<employee>/<action>"            → internal.HookRecord (found by the delivery reports)
//   "t/<kind>/<partition><offset>"     → "<employee>/<action>": every action, in log order per
//                                        partition (replays from a cursor)
//   "o/<kind>/<partition><offset>"     → "<employee>/<action>": open actions (neither
//                                        acknowledged nor rejected nor cancelled)
//   "n/<kind>/<partition><offset>"     → "<employee>/<action>": open cancellation notices
//                                        (acknowledged, then cancelled; notice not acknowledged);
//                                        the position is the ActionCancelled's
//   "ae/<employee>"                    → internal.HookRecord: the erasure notice (type ERASURE)
//   "e/<partition><offset>"            → "<employee>": erasure notices in log order (position of
//                                        the SubjectErased); every payroll and LMS consumer
//                                        gets each until it acknowledges
//   "ea/<employee>/<consumer>"         → v1.ErasureAcknowledgement: that consumer's answer
// <kind> is the ActionKind number in two digits; <partition><offset> is PositionSuffix, so a
// scan of one kind and partition is in log order.
//
// Reports (acknowledged / rejected / cancelled) name only the action id and are keyed by the
// action's employee, so they follow the action in the same partition (as in the payroll view);
// one about an action this view has not seen is ignored.
//
// Transitions (first answer wins, like the write model that validated the acknowledgement):
//   triggered                    → open
//   acknowledged | rejected      open → resolved (acknowledged after a cancellation: the consumer
//                                applied it anyway, so a cancellation notice opens)
//   cancelled                    open → resolved without a notice (nobody applied it);
//                                acknowledged → notice opens
//   acknowledged (cancellation)  notice → closed
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/status_macros.h"
#include "perfledger/internal/hooks.pb.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {

std::string HookKindPrefix(char index, v1::ActionKind kind) {
  return absl::StrFormat("%c/%02d/", index, static_cast<int>(kind));
}

bool HookOpen(const internal::HookRecord& r) {
  return !r.acknowledged() && !r.rejected() && !r.cancelled();
}

std::string ErasureRecordKey(const EmployeeId& employee) {
  return Key({"ae", employee.value()});
}

std::string ErasureIndexKey(LogPosition at) { return "e/" + PositionSuffix(at); }

std::string ErasureAckKey(const EmployeeId& employee, const std::string& consumer) {
  return Key({"ea", employee.value(), consumer});
}

bool HookNoticeOpen(const internal::HookRecord& r) {
  return r.cancelled() && r.acknowledged() && !r.cancellation_acknowledged();
}

namespace {

std::string RecordKey(const std::string& employee, const std::string& action) {
  return Key({"a", employee, action});
}

std::string IndexKey(char index, v1::ActionKind kind, LogPosition at) {
  return HookKindPrefix(index, kind) + PositionSuffix(at);
}

class HooksView final : public View {
 public:
  std::string_view name() const override { return "hooks"; }

  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    switch (event.body_case()) {
      case v1::Event::kActionTriggered:
        return Triggered(e, event.action_triggered(), txn);
      case v1::Event::kActionAcknowledged: {
        const auto& a = event.action_acknowledged();
        return Update(txn, e.partition_key(), a.action_id(), [&](internal::HookRecord& r) {
          if (a.cancellation()) {
            if (!r.cancelled() || !r.acknowledged() || r.cancellation_acknowledged()) return false;
            r.set_cancellation_acknowledged(true);
            return true;
          }
          if (r.acknowledged() || r.rejected()) return false;
          r.set_acknowledged(true);
          return true;
        });
      }
      case v1::Event::kActionRejected: {
        const auto& a = event.action_rejected();
        return Update(txn, e.partition_key(), a.action_id(), [&](internal::HookRecord& r) {
          if (r.acknowledged() || r.rejected() || r.cancelled()) return false;
          r.set_rejected(true);
          return true;
        });
      }
      case v1::Event::kActionCancelled: {
        const auto& c = event.action_cancelled();
        return Update(txn, e.partition_key(), c.action_id(), [&](internal::HookRecord& r) {
          if (r.cancelled()) return false;
          r.set_cancelled(true);
          r.set_cancel_partition(e.position().partition());
          r.set_cancel_offset(e.position().offset());
          r.mutable_item()->set_cancel_reason(c.reason());
          r.mutable_item()->set_cancelled_by_event_id(c.caused_by_event_id());
          return true;
        });
      }
      case v1::Event::kSubjectErased: {
        const std::string& employee = event.subject_erased().employee_id();
        internal::HookRecord r;
        v1::HookItem& item = *r.mutable_item();
        item.set_type(v1::HOOK_ITEM_TYPE_ERASURE);
        item.set_employee_id(employee);
        item.set_triggered_event_id(e.event_id());
        if (e.has_occurred_at()) *item.mutable_triggered_at() = e.occurred_at();
        *item.mutable_position() = e.position();
        txn.Put(ErasureRecordKey(EmployeeId(employee)), r.SerializeAsString());
        txn.Put(ErasureIndexKey(PositionOf(e.position())), employee);
        return absl::OkStatus();
      }
      case v1::Event::kErasureNoticeAcknowledged: {
        const auto& a = event.erasure_notice_acknowledged();
        const std::string key = ErasureAckKey(EmployeeId(a.employee_id()), a.consumer());
        ASSIGN_OR_RETURN(auto existing, txn.Get(key));
        if (existing) return absl::OkStatus();  // the first answer stands
        v1::ErasureAcknowledgement ack;
        ack.set_consumer(a.consumer());
        ack.set_consumer_reference(a.consumer_reference());
        ack.set_event_id(e.event_id());
        if (e.has_occurred_at()) *ack.mutable_acknowledged_at() = e.occurred_at();
        txn.Put(key, ack.SerializeAsString());
        return absl::OkStatus();
      }
      default:
        return absl::OkStatus();
    }
  }

 private:
  static absl::Status Triggered(const v1::Envelope& e, const v1::ActionTriggered& a,
                                ViewTxn& txn) {
    const std::string key = RecordKey(a.employee_id(), a.action_id());
    ASSIGN_OR_RETURN(auto existing, txn.Get(key));
    if (existing) return absl::OkStatus();  // same id = same decision
    internal::HookRecord r;
    v1::HookItem& item = *r.mutable_item();
    item.set_type(v1::HOOK_ITEM_TYPE_ACTION);
    item.set_action_id(a.action_id());
    item.set_kind(a.kind());
    item.set_employee_id(a.employee_id());
    item.set_cycle_id(a.cycle_id());
    item.set_org_unit_id(a.org_unit_id());
    item.set_manager_id(a.manager_id());
    if (a.has_amount()) *item.mutable_amount() = a.amount();
    item.set_percent_bp(a.percent_bp());
    if (e.has_retained()) {
      // The amounts are sealed in the envelope: the row keeps them so, and the Hooks service
      // opens them for a consumer who may read them.
      v1::SealedRef& ref = *item.add_sealed();
      ref.set_event_id(e.event_id());
      *ref.mutable_sealed() = e.retained();
    }
    if (a.has_effective_at()) *item.mutable_effective_at() = a.effective_at();
    item.set_reason_code(a.reason_code());
    item.set_course_id(a.course_id());
    item.set_rule_id(a.rule_id());
    item.set_policy_version(a.policy_version());
    *item.mutable_cause_event_ids() = a.cause_event_ids();
    item.set_triggered_event_id(e.event_id());
    if (e.has_occurred_at()) *item.mutable_triggered_at() = e.occurred_at();
    *item.mutable_position() = e.position();
    txn.Put(key, r.SerializeAsString());
    const std::string ref = absl::StrCat(a.employee_id(), "/", a.action_id());
    txn.Put(IndexKey('t', a.kind(), PositionOf(e.position())), ref);
    txn.Put(IndexKey('o', a.kind(), PositionOf(e.position())), ref);
    return absl::OkStatus();
  }

  // Applies `change` to the record of (employee, action_id) if known, and moves its index
  // entries to match its new state.
  template <typename Fn>
  static absl::Status Update(ViewTxn& txn, const std::string& employee,
                             const std::string& action_id, Fn&& change) {
    if (employee.empty()) return absl::OkStatus();
    const std::string key = RecordKey(employee, action_id);
    ASSIGN_OR_RETURN(auto value, txn.Get(key));
    if (!value) return absl::OkStatus();  // an orphan report
    internal::HookRecord r;
    if (!r.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("hooks row ", key));
    const bool was_open = HookOpen(r);
    const bool notice_was_open = HookNoticeOpen(r);
    if (!change(r)) return absl::OkStatus();
    const v1::ActionKind kind = r.item().kind();
    const std::string ref = absl::StrCat(employee, "/", action_id);
    if (was_open && !HookOpen(r)) {
      txn.Delete(IndexKey('o', kind, PositionOf(r.item().position())));
    }
    const std::string notice_key = IndexKey(
        'n', kind, LogPosition{PartitionId(r.cancel_partition()), Offset(r.cancel_offset())});
    if (!notice_was_open && HookNoticeOpen(r)) txn.Put(notice_key, ref);
    if (notice_was_open && !HookNoticeOpen(r)) txn.Delete(notice_key);
    txn.Put(key, r.SerializeAsString());
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeHooksView() { return std::make_unique<HooksView>(); }

}  // namespace perfledger::projections
