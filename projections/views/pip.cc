// pip: performance improvement plans from trigger to outcome (ARCHITECTURE §5): PIP actions
// (ActionTriggered of kind PIP), plans opened (PipOpened), checkpoints, extensions, deadlines
// (DeadlineReached with subject "pip/<pip_id>") and outcomes (PipClosed). <pos> is the
// big-endian (partition, offset) of the plan's first event, so an employee's plans sort in log
// order.
//   "p/<employee>/" + pos     → PipPlan
//   "o/<employee>/" + pos     → PipPlan (copy while TRIGGERED, OPEN or DEADLINE_REACHED)
//   "a/<employee>/<action>"   → pos of the entry the PIP action opened
//   "i/<employee>/<pip>"      → pos of the plan's entry
//
// Transitions:
//   PIP action        → TRIGGERED (the same action id again is ignored)
//   PipOpened         the entry of its action when that is still TRIGGERED, else a new entry
//                     (no action, an unknown one, or one whose entry moved on) → OPEN;
//                     a pip id seen before is ignored
//   goals set         OPEN | DEADLINE_REACHED: the plan's goals replaced
//   checkpoint        OPEN | DEADLINE_REACHED: count it, log its progress, move the next due
//   extended          OPEN | DEADLINE_REACHED → OPEN with the new deadline
//   deadline reached  OPEN → DEADLINE_REACHED, unless it is for a deadline that an extension
//                     already moved later (the scheduler fired for the old one)
//   closed            OPEN | DEADLINE_REACHED → CLOSED with the outcome
//   action cancelled  TRIGGERED | OPEN | DEADLINE_REACHED → CANCELLED (its grade was superseded)
// CLOSED and CANCELLED are final: later events about the plan change nothing.
//
// Ordering assumption: every event about a plan is keyed by its employee, so all of them are in
// one partition in log order; lookups never leave the employee (ActionCancelled, which names
// only the action, is matched by its envelope's partition_key). An event about a plan or action
// this view has not seen is an orphan and is ignored, which every replay does alike.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/status_macros.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

bool NeedsAttention(v1::PipStatus s) {
  return s == v1::PIP_STATUS_TRIGGERED || s == v1::PIP_STATUS_OPEN ||
         s == v1::PIP_STATUS_DEADLINE_REACHED;
}

bool InForce(v1::PipStatus s) {
  return s == v1::PIP_STATUS_OPEN || s == v1::PIP_STATUS_DEADLINE_REACHED;
}

bool Before(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  return a.seconds() < b.seconds() || (a.seconds() == b.seconds() && a.nanos() < b.nanos());
}

class PipView final : public View {
 public:
  std::string_view name() const override { return "pip"; }

  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    switch (event.body_case()) {
      case v1::Event::kActionTriggered:
        return Triggered(e, event.action_triggered(), txn);
      case v1::Event::kPipOpened:
        return Opened(e, event.pip_opened(), txn);
      case v1::Event::kPipCheckpointRecorded: {
        const auto& c = event.pip_checkpoint_recorded();
        return Update(txn, c.employee_id(), Key({"i", c.employee_id(), c.pip_id()}),
                      [&](v1::PipPlan& plan) {
                        if (!InForce(plan.status())) return false;
                        plan.set_checkpoints(plan.checkpoints() + 1);
                        plan.set_last_progress_bp(c.progress_bp());
                        v1::PipCheckpoint& entry = *plan.add_checkpoint_log();
                        entry.set_event_id(e.event_id());
                        *entry.mutable_occurred_at() = e.occurred_at();
                        entry.set_progress_bp(c.progress_bp());
                        NextCheckpoint(e.occurred_at(), plan);
                        return true;
                      });
      }
      case v1::Event::kPipGoalsSet: {
        const auto& g = event.pip_goals_set();
        return Update(txn, g.employee_id(), Key({"i", g.employee_id(), g.pip_id()}),
                      [&](v1::PipPlan& plan) {
                        if (!InForce(plan.status())) return false;
                        *plan.mutable_goal_ids() = g.goal_ids();
                        return true;
                      });
      }
      case v1::Event::kPipExtended: {
        const auto& x = event.pip_extended();
        return Update(txn, x.employee_id(), Key({"i", x.employee_id(), x.pip_id()}),
                      [&](v1::PipPlan& plan) {
                        if (!InForce(plan.status())) return false;
                        plan.set_status(v1::PIP_STATUS_OPEN);
                        *plan.mutable_deadline_at() = x.new_deadline_at();
                        plan.set_extensions(plan.extensions() + 1);
                        return true;
                      });
      }
      case v1::Event::kDeadlineReached: {
        const auto& d = event.deadline_reached();
        // Other subjects ("action/<id>", grade follow-ups) are the reactor's business.
        if (!absl::StartsWith(d.subject(), "pip/")) return absl::OkStatus();
        const std::string pip_id = d.subject().substr(4);
        return Update(txn, d.employee_id(), Key({"i", d.employee_id(), pip_id}),
                      [&](v1::PipPlan& plan) {
                        if (plan.status() != v1::PIP_STATUS_OPEN) return false;
                        if (Before(d.deadline_at(), plan.deadline_at())) return false;  // stale
                        plan.set_status(v1::PIP_STATUS_DEADLINE_REACHED);
                        return true;
                      });
      }
      case v1::Event::kPipClosed: {
        const auto& c = event.pip_closed();
        return Update(txn, c.employee_id(), Key({"i", c.employee_id(), c.pip_id()}),
                      [&](v1::PipPlan& plan) {
                        if (!InForce(plan.status())) return false;
                        plan.set_status(v1::PIP_STATUS_CLOSED);
                        plan.set_outcome(c.outcome());
                        plan.clear_next_checkpoint_due_at();
                        if (e.has_occurred_at()) *plan.mutable_closed_at() = e.occurred_at();
                        return true;
                      });
      }
      case v1::Event::kActionCancelled: {
        const auto& c = event.action_cancelled();
        return Update(txn, e.partition_key(), Key({"a", e.partition_key(), c.action_id()}),
                      [&](v1::PipPlan& plan) {
                        if (!NeedsAttention(plan.status())) return false;
                        plan.set_status(v1::PIP_STATUS_CANCELLED);
                        return true;
                      });
      }
      default:
        return absl::OkStatus();
    }
  }

 private:
  static std::string PosOf(const v1::Envelope& e) {
    return PositionSuffix(PositionOf(e.position()));
  }

  static absl::Status Triggered(const v1::Envelope& e, const v1::ActionTriggered& a,
                                ViewTxn& txn) {
    if (a.kind() != v1::ACTION_KIND_PIP) return absl::OkStatus();
    const std::string link = Key({"a", a.employee_id(), a.action_id()});
    ASSIGN_OR_RETURN(auto existing, txn.Get(link));
    if (existing) return absl::OkStatus();  // the same decision again (ids derive from causes)
    v1::PipPlan plan;
    plan.set_employee_id(a.employee_id());
    plan.set_cycle_id(a.cycle_id());
    plan.set_status(v1::PIP_STATUS_TRIGGERED);
    plan.set_cause_action_id(a.action_id());
    plan.set_rule_id(a.rule_id());
    *plan.mutable_cause_event_ids() = a.cause_event_ids();
    if (e.has_occurred_at()) *plan.mutable_triggered_at() = e.occurred_at();
    plan.set_checkpoint_every_days(a.pip_checkpoint_every_days());
    plan.set_pip_length_days(a.pip_length_days());
    plan.set_manager_id(a.manager_id());
    const std::string pos = PosOf(e);
    txn.Put(link, pos);
    Write(txn, pos, plan);
    return absl::OkStatus();
  }

  static absl::Status Opened(const v1::Envelope& e, const v1::PipOpened& o, ViewTxn& txn) {
    const std::string index = Key({"i", o.employee_id(), o.pip_id()});
    ASSIGN_OR_RETURN(auto known, txn.Get(index));
    if (known) return absl::OkStatus();
    std::string pos;
    v1::PipPlan plan;
    if (!o.action_id().empty()) {
      ASSIGN_OR_RETURN(auto linked, txn.Get(Key({"a", o.employee_id(), o.action_id()})));
      if (linked) {
        ASSIGN_OR_RETURN(v1::PipPlan triggered, Load(txn, o.employee_id(), *linked));
        if (triggered.status() == v1::PIP_STATUS_TRIGGERED) {
          pos = *linked;
          plan = std::move(triggered);
        }
      }
    }
    if (pos.empty()) {
      // A plan opened without a trigger this view can still use: it starts its own entry.
      pos = PosOf(e);
      plan.set_employee_id(o.employee_id());
      plan.set_cause_action_id(o.action_id());
    }
    plan.set_pip_id(o.pip_id());
    if (!o.cycle_id().empty()) plan.set_cycle_id(o.cycle_id());
    plan.set_status(v1::PIP_STATUS_OPEN);
    *plan.mutable_starts_at() = o.starts_at();
    *plan.mutable_deadline_at() = o.deadline_at();
    plan.set_checkpoint_every_days(o.checkpoint_every_days());
    *plan.mutable_goal_ids() = o.goal_ids();
    if (!o.manager_id().empty()) plan.set_manager_id(o.manager_id());
    NextCheckpoint(o.starts_at(), plan);
    txn.Put(index, pos);
    Write(txn, pos, plan);
    return absl::OkStatus();
  }

  // The next checkpoint falls `checkpoint_every_days` after `from`; none without a cadence.
  static void NextCheckpoint(const google::protobuf::Timestamp& from, v1::PipPlan& plan) {
    if (plan.checkpoint_every_days() == 0) {
      plan.clear_next_checkpoint_due_at();
      return;
    }
    *plan.mutable_next_checkpoint_due_at() = from;
    plan.mutable_next_checkpoint_due_at()->set_seconds(
        from.seconds() + int64_t{86'400} * plan.checkpoint_every_days());
  }

  static absl::StatusOr<v1::PipPlan> Load(ViewTxn& txn, const std::string& employee,
                                          const std::string& pos) {
    ASSIGN_OR_RETURN(auto value, txn.Get(Key({"p", employee}) + "/" + pos));
    v1::PipPlan plan;
    if (!value || !plan.ParseFromString(*value)) {
      return absl::DataLossError("pip: an indexed plan is missing or does not parse");
    }
    return plan;
  }

  // Applies `change` to the plan whose position is stored under `index` (if any); `change`
  // returns whether it changed anything.
  template <typename Fn>
  static absl::Status Update(ViewTxn& txn, const std::string& employee, const std::string& index,
                             Fn&& change) {
    if (employee.empty()) return absl::OkStatus();  // not about an employee: an orphan
    ASSIGN_OR_RETURN(auto pos, txn.Get(index));
    if (!pos) return absl::OkStatus();  // orphan: see the file comment
    ASSIGN_OR_RETURN(v1::PipPlan plan, Load(txn, employee, *pos));
    if (!change(plan)) return absl::OkStatus();
    Write(txn, *pos, plan);
    return absl::OkStatus();
  }

  static void Write(ViewTxn& txn, const std::string& pos, const v1::PipPlan& plan) {
    const std::string value = plan.SerializeAsString();
    txn.Put(Key({"p", plan.employee_id()}) + "/" + pos, value);
    const std::string open_key = Key({"o", plan.employee_id()}) + "/" + pos;
    if (NeedsAttention(plan.status())) {
      txn.Put(open_key, value);
    } else {
      txn.Delete(open_key);
    }
  }
};

}  // namespace

std::unique_ptr<View> MakePipView() { return std::make_unique<PipView>(); }

}  // namespace perfledger::projections
