// Hooks (ARCHITECTURE §7): what payroll and LMS consumers answer about the actions delivered to them,
// and the Hooks service's delivery reports. Every answer is an event on the action's stream
// (keyed by its employee, so it follows the action in the same partition).
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

std::string ActionStream(const std::string& id) { return absl::StrCat("action/", id); }

absl::Status CheckReference(const std::string& field, const std::string& value) {
  RETURN_IF_ERROR(CheckName(field, value, Presence::kRequired));
  if (value.size() > limits::kConsumerReferenceBytesMax) {
    return FieldError(field, absl::StrCat("longer than ", limits::kConsumerReferenceBytesMax,
                                          " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::AcknowledgeResponse> Ledger::Acknowledge(
    const v1::AcknowledgeRequest& r, const CommandContext& ctx,
    const std::function<bool(v1::ActionKind)>& may_handle) {
  std::vector<v1::AcknowledgeOutcome> outcomes;
  Result result = Execute(v1::CommandMeta(), r, ctx, [&](Decision& d) -> absl::Status {
    outcomes.clear();
    RETURN_IF_ERROR(CheckId("consumer", r.consumer(), Presence::kRequired));
    if (r.items().empty()) return FieldError("items", "name at least one item");
    RETURN_IF_ERROR(CheckCount("items", r.items_size(), limits::kAckItemsMax));
    absl::flat_hash_set<std::string> seen;
    for (int i = 0; i < r.items_size(); i++) {
      const v1::AcknowledgeItem& item = r.items(i);
      const std::string f = absl::StrCat("items[", i, "].");
      if (!item.erased_employee_id().empty()) {
        // An erasure notice (GDPR Art. 19): the consumer erased what it held about them.
        const std::string& employee = item.erased_employee_id();
        RETURN_IF_ERROR(CheckId(f + "erased_employee_id", employee, Presence::kRequired));
        if (!item.action_id().empty() || item.cancellation() || !item.reject_reason().empty()) {
          return FieldError(f + "erased_employee_id",
                            "an erasure notice is acknowledged alone: no action_id, "
                            "cancellation or reject_reason");
        }
        RETURN_IF_ERROR(CheckReference(f + "consumer_reference", item.consumer_reference()));
        if (!seen.insert(absl::StrCat("erasure/", employee)).second) {
          return FieldError(f + "erased_employee_id", "repeated in this request");
        }
        ASSIGN_OR_RETURN(auto emp, d.Employee(f + "erased_employee_id", employee,
                                              EmployeeMust::kExist));
        if (!emp.erased()) {
          return absl::FailedPreconditionError(absl::StrCat(
              f, "erased_employee_id: employee ", employee, " is not erased"));
        }
        RETURN_IF_ERROR(d.RequireScope(f + "erased_employee_id", employee));
        const std::string stream = absl::StrCat("erasure-notice/", employee, "/", r.consumer());
        if (auto done = d.Find(stream); done && done->version() > 0) {
          outcomes.push_back(v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);  // the first answer stands
          continue;
        }
        v1::Event e;
        auto* ack = e.mutable_erasure_notice_acknowledged();
        ack->set_employee_id(employee);
        ack->set_consumer(r.consumer());
        ack->set_consumer_reference(item.consumer_reference());
        outcomes.push_back(v1::ACKNOWLEDGE_OUTCOME_RECORDED);
        d.Emit(stream, Route::Data(employee), std::move(e));
        continue;
      }
      RETURN_IF_ERROR(CheckId(f + "action_id", item.action_id(), Presence::kRequired));
      if (!seen.insert(absl::StrCat(item.action_id(), item.cancellation() ? "/c" : "")).second) {
        return FieldError(f + "action_id", "repeated in this request");
      }
      const bool reject = !item.reject_reason().empty();
      if (reject) {
        RETURN_IF_ERROR(CheckText(f + "reject_reason", item.reject_reason(), Presence::kRequired));
        if (!item.consumer_reference().empty()) {
          return FieldError(f + "consumer_reference", "must be empty when rejecting");
        }
        if (item.cancellation()) {
          return FieldError(f + "cancellation", "a cancellation notice cannot be rejected");
        }
      } else {
        RETURN_IF_ERROR(CheckReference(f + "consumer_reference", item.consumer_reference()));
      }

      const std::string stream = ActionStream(item.action_id());
      std::optional<internal::Entity> entity = d.Find(stream);
      if (!entity || !entity->has_action()) {
        return absl::NotFoundError(
            absl::StrCat(f, "action_id: action ", item.action_id(), " not found"));
      }
      const internal::ActionState& a = entity->action();
      if (!may_handle(a.kind())) {
        return absl::PermissionDeniedError(
            absl::StrCat(f, "action_id: action ", item.action_id(), " is a ",
                         v1::ActionKind_Name(a.kind()), ", not for this principal's role"));
      }
      RETURN_IF_ERROR(d.RequireScope(f + "action_id", a.employee_id()));

      v1::Event e;
      if (item.cancellation()) {
        if (!a.cancelled()) {
          return absl::FailedPreconditionError(absl::StrCat(
              f, "cancellation: action ", item.action_id(), " is not cancelled"));
        }
        if (a.acknowledged_by().empty()) {
          return absl::FailedPreconditionError(absl::StrCat(
              f, "cancellation: action ", item.action_id(),
              " was never acknowledged, so there is nothing to reverse"));
        }
        if (!a.cancellation_reference().empty()) {
          if (a.cancellation_reference() != item.consumer_reference()) {
            return absl::AlreadyExistsError(absl::StrCat(
                f, "consumer_reference: the cancellation of ", item.action_id(),
                " was already acknowledged with reference ", a.cancellation_reference()));
          }
          outcomes.push_back(v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);
          continue;
        }
        auto* ack = e.mutable_action_acknowledged();
        ack->set_action_id(item.action_id());
        ack->set_consumer(r.consumer());
        ack->set_consumer_reference(item.consumer_reference());
        ack->set_cancellation(true);
      } else if (reject) {
        if (!a.acknowledged_by().empty()) {
          return absl::FailedPreconditionError(
              absl::StrCat(f, "action_id: action ", item.action_id(), " was acknowledged by ",
                           a.acknowledged_by(), " with reference ", a.consumer_reference()));
        }
        if (!a.rejected_by().empty()) {
          const std::string reason = RejectReason(a);
          if (reason != item.reject_reason()) {
            return absl::AlreadyExistsError(
                absl::StrCat(f, "reject_reason: action ", item.action_id(),
                             " was already rejected by ", a.rejected_by(), ": ", reason));
          }
          outcomes.push_back(v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);
          continue;
        }
        auto* rej = e.mutable_action_rejected();
        rej->set_action_id(item.action_id());
        rej->set_consumer(r.consumer());
        rej->set_reason(item.reject_reason());
      } else {
        if (!a.rejected_by().empty()) {
          return absl::FailedPreconditionError(
              absl::StrCat(f, "action_id: action ", item.action_id(), " was rejected by ",
                           a.rejected_by(), ": ", RejectReason(a)));
        }
        if (!a.acknowledged_by().empty()) {
          if (a.consumer_reference() != item.consumer_reference()) {
            return absl::AlreadyExistsError(absl::StrCat(
                f, "consumer_reference: action ", item.action_id(), " was already acknowledged by ",
                a.acknowledged_by(), " with reference ", a.consumer_reference()));
          }
          outcomes.push_back(v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);
          continue;
        }
        // Acknowledging a cancelled action is recorded: the consumer applied it before it
        // learned of the cancellation, and the cancellation notice it now receives says to
        // reverse it.
        auto* ack = e.mutable_action_acknowledged();
        ack->set_action_id(item.action_id());
        ack->set_consumer(r.consumer());
        ack->set_consumer_reference(item.consumer_reference());
      }
      outcomes.push_back(v1::ACKNOWLEDGE_OUTCOME_RECORDED);
      d.Emit(stream, Route::Data(a.employee_id()), std::move(e));
    }
    d.AllowNoEvents();
    return absl::OkStatus();
  });
  if (!result.ok()) return result.status();
  v1::AcknowledgeResponse response;
  for (v1::AcknowledgeOutcome o : outcomes) response.add_outcomes(o);
  for (const v1::AppendedEvent& e : result->events()) *response.add_positions() = e.position();
  return response;
}

absl::Status Ledger::RecordDeliveries(const std::string& consumer,
                                      const std::vector<Delivery>& items,
                                      const CommandContext& ctx) {
  if (items.empty()) return absl::OkStatus();
  v1::AcknowledgeRequest digest_source;  // Execute hashes a request; there is no idempotency key
  Result result = Execute(v1::CommandMeta(), digest_source, ctx, [&](Decision& d) {
    for (const Delivery& item : items) {
      const std::string stream = ActionStream(item.action_id);
      std::optional<internal::Entity> entity = d.Find(stream);
      if (!entity || !entity->has_action()) continue;
      const internal::ActionState& a = entity->action();
      if (a.delivered_to() == consumer || !a.acknowledged_by().empty() ||
          !a.rejected_by().empty() || a.cancelled()) {
        continue;
      }
      v1::Event e;
      e.mutable_action_delivered()->set_action_id(item.action_id);
      e.mutable_action_delivered()->set_consumer(consumer);
      d.Emit(stream, Route::Data(a.employee_id()), std::move(e));
    }
    d.AllowNoEvents();
    return absl::OkStatus();
  }, /*admit=*/false);  // bookkeeping of the hook streams, not a client write
  return result.status();
}

}  // namespace perfledger
