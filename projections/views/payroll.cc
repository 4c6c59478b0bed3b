// payroll: salary adjustments and bonuses (ActionTriggered of kind SALARY_ADJUSTMENT or BONUS)
// with their delivery state (ARCHITECTURE §7). The item is kept once per index so that every list
// query is one range scan:
//   "a/<employee>/<action>"                   → PayrollItem (found by delivery reports)
//   "e/<employee>/<cycle>/<action>"           → PayrollItem (copy)
//   "c/<cycle>/<employee>/<action>"           → PayrollItem (copy)
//   "s/<state>/<cycle>/<employee>/<action>"   → PayrollItem (copy; <state> = PayrollState number)
// The employee and cycle of an action never change, so only the "s/" copy moves.
//
// Ordering assumption: delivery reports (ActionDelivered / Acknowledged / Rejected / Cancelled)
// name only the action id; they are keyed by the action's employee (envelope partition_key), so
// they follow the action in the same partition. A report is matched by (partition_key, action
// id); one whose action this view has not seen (unknown id, another employee, an action of
// another kind) is an orphan and is ignored. Matching within the employee, never across
// partitions, is what makes the result independent of how partitions interleave.
//
// Transitions (a pure function of the item's state and the report):
//   triggered     → PENDING (a second trigger with the same action id is ignored: ids derive
//                   from cause and rule, so it is the same decision)
//   delivered     PENDING → DELIVERED (redeliveries are normal: at-least-once)
//   acknowledged  PENDING | DELIVERED → APPLIED with consumer_reference; on CANCELLED the
//                 reference is recorded (the consumer applied it anyway and must reverse it);
//                 otherwise ignored (the first acknowledgement wins)
//   rejected      PENDING | DELIVERED → REJECTED with the reason; otherwise ignored
//   cancelled     any state but CANCELLED → CANCELLED with the reason (compensation is the
//                 ledger's last word, also after APPLIED)
#include "absl/strings/str_cat.h"
#include "ledger/status_macros.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

bool IsPayrollKind(v1::ActionKind kind) {
  return kind == v1::ACTION_KIND_SALARY_ADJUSTMENT || kind == v1::ACTION_KIND_BONUS;
}

// The "s/" key of `item` as if it were in `state`.
std::string StateKey(v1::PayrollState state, const v1::PayrollItem& item) {
  return Key({"s", absl::StrCat(static_cast<int>(state)), item.cycle_id(),
              item.employee_id(), item.action_id()});
}

class PayrollView final : public View {
 public:
  std::string_view name() const override { return "payroll"; }

  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    switch (event.body_case()) {
      case v1::Event::kActionTriggered:
        return Triggered(e, event.action_triggered(), txn);
      case v1::Event::kActionDelivered: {
        const auto& d = event.action_delivered();
        return Update(txn, e.partition_key(), d.action_id(), [&](v1::PayrollItem& item) {
          if (item.state() != v1::PAYROLL_STATE_PENDING) return false;
          item.set_state(v1::PAYROLL_STATE_DELIVERED);
          item.set_consumer(d.consumer());
          return true;
        });
      }
      case v1::Event::kActionAcknowledged: {
        const auto& a = event.action_acknowledged();
        return Update(txn, e.partition_key(), a.action_id(), [&](v1::PayrollItem& item) {
          if (item.state() == v1::PAYROLL_STATE_PENDING ||
              item.state() == v1::PAYROLL_STATE_DELIVERED) {
            item.set_state(v1::PAYROLL_STATE_APPLIED);
            item.set_consumer(a.consumer());
            item.set_consumer_reference(a.consumer_reference());
            return true;
          }
          if (item.state() == v1::PAYROLL_STATE_CANCELLED && item.consumer_reference().empty()) {
            item.set_consumer(a.consumer());
            item.set_consumer_reference(a.consumer_reference());
            return true;
          }
          return false;
        });
      }
      case v1::Event::kActionRejected: {
        const auto& r = event.action_rejected();
        return Update(txn, e.partition_key(), r.action_id(), [&](v1::PayrollItem& item) {
          if (item.state() != v1::PAYROLL_STATE_PENDING &&
              item.state() != v1::PAYROLL_STATE_DELIVERED) {
            return false;
          }
          item.set_state(v1::PAYROLL_STATE_REJECTED);
          item.set_consumer(r.consumer());
          item.set_reason(r.reason());
          KeepSealed(e, item);
          return true;
        });
      }
      case v1::Event::kActionCancelled: {
        const auto& c = event.action_cancelled();
        return Update(txn, e.partition_key(), c.action_id(), [&](v1::PayrollItem& item) {
          if (item.state() == v1::PAYROLL_STATE_CANCELLED) return false;
          item.set_state(v1::PAYROLL_STATE_CANCELLED);
          item.set_reason(c.reason());
          // The reason is now the cancellation's: a rejection's sealed reason no longer applies.
          while (item.sealed_size() > 1) item.mutable_sealed()->RemoveLast();
          return true;
        });
      }
      default:
        return absl::OkStatus();
    }
  }

 private:
  // The amounts (trigger) and the reason (rejection) are sealed in the envelope: the row keeps
  // them so, first the trigger's, and the server opens them for a caller who may read them.
  static void KeepSealed(const v1::Envelope& e, v1::PayrollItem& item) {
    if (!e.has_retained()) return;
    v1::SealedRef& ref = *item.add_sealed();
    ref.set_event_id(e.event_id());
    *ref.mutable_sealed() = e.retained();
  }

  static absl::Status Triggered(const v1::Envelope& e, const v1::ActionTriggered& a,
                                ViewTxn& txn) {
    if (!IsPayrollKind(a.kind())) return absl::OkStatus();
    const std::string key = Key({"a", a.employee_id(), a.action_id()});
    ASSIGN_OR_RETURN(auto existing, txn.Get(key));
    if (existing) return absl::OkStatus();
    v1::PayrollItem item;
    item.set_action_id(a.action_id());
    item.set_kind(a.kind());
    item.set_employee_id(a.employee_id());
    item.set_cycle_id(a.cycle_id());
    if (a.has_amount()) *item.mutable_amount() = a.amount();
    item.set_percent_bp(a.percent_bp());
    KeepSealed(e, item);
    if (a.has_effective_at()) *item.mutable_effective_at() = a.effective_at();
    item.set_reason_code(a.reason_code());
    *item.mutable_cause_event_ids() = a.cause_event_ids();
    item.set_rule_id(a.rule_id());
    item.set_policy_version(a.policy_version());
    item.set_state(v1::PAYROLL_STATE_PENDING);
    item.set_triggered_event_id(e.event_id());
    if (e.has_occurred_at()) *item.mutable_triggered_at() = e.occurred_at();
    item.set_org_unit_id(a.org_unit_id());
    Write(txn, item);
    return absl::OkStatus();
  }

  // Applies `change` to the item of (employee, action_id) if this view knows it; `change`
  // returns whether it changed anything.
  template <typename Fn>
  static absl::Status Update(ViewTxn& txn, const std::string& employee,
                             const std::string& action_id, Fn&& change) {
    if (employee.empty()) return absl::OkStatus();  // not keyed by an employee: an orphan
    ASSIGN_OR_RETURN(auto value, txn.Get(Key({"a", employee, action_id})));
    if (!value) return absl::OkStatus();  // orphan report: see the file comment
    v1::PayrollItem item;
    if (!item.ParseFromString(*value)) {
      return absl::DataLossError(absl::StrCat("payroll item ", action_id, " does not parse"));
    }
    const v1::PayrollState old_state = item.state();
    if (!change(item)) return absl::OkStatus();
    if (item.state() != old_state) txn.Delete(StateKey(old_state, item));
    Write(txn, item);
    return absl::OkStatus();
  }

  // Every copy of the item (the caller deletes a stale "s/" copy).
  static void Write(ViewTxn& txn, const v1::PayrollItem& item) {
    const std::string value = item.SerializeAsString();
    txn.Put(Key({"a", item.employee_id(), item.action_id()}), value);
    txn.Put(Key({"e", item.employee_id(), item.cycle_id(), item.action_id()}), value);
    txn.Put(Key({"c", item.cycle_id(), item.employee_id(), item.action_id()}), value);
    txn.Put(StateKey(item.state(), item), value);
  }
};

}  // namespace

std::unique_ptr<View> MakePayrollView() { return std::make_unique<PayrollView>(); }

}  // namespace perfledger::projections
