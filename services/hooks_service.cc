// The Hooks service (ARCHITECTURE §7): payroll and LMS consumers subscribe to their action kinds and
// acknowledge what they applied. Thin: the subscription logic is projections/hooks.h, the
// acknowledgement rules are Ledger::Acknowledge.
#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "perfledger/v1/hooks.grpc.pb.h"
#include "projections/hooks.h"
#include "services/server.h"
#include "services/status_map.h"

namespace perfledger::services {
namespace {

// A stream re-checks cancellation and shutdown at least this often while idle.
constexpr absl::Duration kIdleWakeup = absl::Milliseconds(500);

class HooksService final : public v1::Hooks::Service {
 public:
  explicit HooksService(ServiceDeps* deps) : deps_(deps) {}

  grpc::Status Subscribe(grpc::ServerContext* context, const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::HookItem>* writer) override {
    auto principal = deps_->auth->Authenticate(*context);
    if (!principal.ok()) return ToGrpc(principal.status());
    if (absl::Status s = Authorize(*principal, Operation::kConsumeHooks); !s.ok()) return ToGrpc(s);
    auto options = projections::ParseSubscribeRequest(
        *request, deps_->log->partitions(), absl::Seconds(deps_->config->hook_redelivery_seconds));
    if (!options.ok()) return ToGrpc(options.status());
    for (size_t i = 0; i < options->kinds.size(); i++) {
      if (!MayHandleAction(*principal, options->kinds[i])) {
        return ToGrpc(absl::PermissionDeniedError(
            absl::StrCat("kinds[", i, "]: role ", v1::Role_Name(principal->role),
                         " may not receive ", v1::ActionKind_Name(options->kinds[i]))));
      }
    }
    CommandContext ctx = CallerContext(*principal, *context);
    Viewer viewer(*deps_->access, *principal);
    projections::HookSubscription subscription(std::move(*options));
    const std::string& consumer = subscription.options().consumer;
    // Start from the views as of the log when the stream opened: a consumer that answered its
    // items and reconnects at once must not be sent them again only because the views had not
    // applied its answers yet. Bounded: behind a lagging projector the stream starts anyway
    // and items may repeat (delivery is at least once; consumers deduplicate by action id).
    deps_->projector
        ->WaitCaughtUp(absl::Now() + absl::Milliseconds(limits::kHookStartCatchUpMillisMax))
        .IgnoreError();
    LogEnds seen;
    while (!context->IsCancelled() && !deps_->stopping.load()) {
      const absl::Time now = absl::Now();
      absl::StatusOr<std::vector<v1::HookItem>> items;
      {
        projections::Projector::Reader reader = deps_->projector->Read();
        items = subscription.Poll(reader, now);
      }
      if (!items.ok()) return ToGrpc(items.status());
      // Amounts are kept sealed under the employee's retained key: opened for a consumer that
      // may read them, marked erased once the retention period ended.
      for (v1::HookItem& item : *items) {
        UnsealRow(viewer, item, item.mutable_sealed(), item.mutable_erased());
      }
      // The one visibility decision: items about people outside the caller's scope are not
      // sent (a limited hr token), and fields of a class the role may not see are withheld
      // (payroll is not told which grade a raise came from).
      if (!viewer.SeesEverything()) {
        std::vector<v1::HookItem> visible;
        visible.reserve(items->size());
        for (v1::HookItem& item : *items) {
          const Subject subject = Subject::Employee(item.employee_id());
          if (!viewer.InScope(subject)) continue;
          Redact(viewer, subject, item, item.mutable_withheld());
          visible.push_back(std::move(item));
        }
        *items = std::move(visible);
      }
      // Delivery reports first, so that a client holding an item can rely on its report
      // being in the log. They only show state: failing to write one must not stop the stream.
      std::vector<Ledger::Delivery> first_deliveries;
      for (const v1::HookItem& item : *items) {
        if (item.attempt() == 1 && item.type() == v1::HOOK_ITEM_TYPE_ACTION && !item.resolved()) {
          first_deliveries.push_back({item.action_id(), item.employee_id()});
        }
      }
      if (deps_->ledger != nullptr && !first_deliveries.empty()) {
        ctx.now = absl::Now();
        if (absl::Status s = deps_->ledger->RecordDeliveries(consumer, first_deliveries, ctx);
            !s.ok()) {
          LogWarning(absl::StrCat("hooks: delivery report for ", consumer, ": ", s.ToString()));
        }
      }
      for (const v1::HookItem& item : *items) {
        if (!writer->Write(item)) return grpc::Status::CANCELLED;
      }
      if (items->empty()) {
        const absl::Time wake = std::min(subscription.NextDue(), absl::Now() + kIdleWakeup);
        seen = deps_->projector->WaitForChange(seen, wake);
      } else {
        seen = deps_->projector->Applied();
      }
    }
    if (deps_->stopping.load()) {
      return ToGrpc(absl::UnavailableError("server shutting down"));
    }
    return grpc::Status::CANCELLED;
  }

  grpc::Status Acknowledge(grpc::ServerContext* context, const v1::AcknowledgeRequest* request,
                           v1::AcknowledgeResponse* response) override {
    auto principal = deps_->auth->Authenticate(*context);
    if (!principal.ok()) return ToGrpc(principal.status());
    if (absl::Status s = Authorize(*principal, Operation::kConsumeHooks); !s.ok()) return ToGrpc(s);
    if (deps_->ledger == nullptr) {
      return ToGrpc(absl::FailedPreconditionError("this server is a read replica; acknowledge on "
                                                  "the writer"));
    }
    const CommandContext ctx = CallerContext(*principal, *context);
    const Principal who = *principal;
    auto result = deps_->ledger->Acknowledge(
        *request, ctx, [&](v1::ActionKind kind) { return MayHandleAction(who, kind); });
    if (!result.ok()) return ToGrpc(result.status());
    *response = std::move(*result);
    return grpc::Status::OK;
  }

 private:
  ServiceDeps* deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeHooksService(ServiceDeps* deps) {
  return std::make_unique<HooksService>(deps);
}

}  // namespace perfledger::services
