#include "projections/dry_run.h"

#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "ledger/state_store.h"
#include "ledger/status_macros.h"
#include "projections/projector.h"
#include "projections/reactor_rows.h"
#include "projections/reactor_state.h"

namespace perfledger::projections {

absl::StatusOr<v1::DryRunResponse> DryRun(EventLog* log, Sealer* sealer,
                                          const std::string& scratch_dir, absl::Time deadline) {
  std::error_code ec;
  std::filesystem::remove_all(scratch_dir, ec);
  v1::DryRunResponse out;
  {
    StateStoreOptions options;
    options.dir = scratch_dir;
    options.families = ReactorFamilies();
    ASSIGN_OR_RETURN(auto store, StateStore::Open(options));
    auto view = std::make_unique<ReactorView>(ReactorView::Mode::kCollect, sealer);
    ReactorView* raw = view.get();
    std::vector<std::unique_ptr<View>> views;
    views.push_back(std::move(view));
    ProjectorOptions popts;
    popts.name = "dryrun";
    popts.observer = std::make_shared<ReactorBatches>(raw, nullptr);
    ASSIGN_OR_RETURN(auto projector, Projector::Start(log, store.get(), std::move(views), popts));
    RETURN_IF_ERROR(projector->WaitCaughtUp(deadline));
    out.set_events_replayed(projector->events_applied());
    // Stop the thread before reading what the view collected (the view lives in the projector).
    projector->Stop();
    out.set_actions_derived(raw->derived.size());
    out.set_actions_recorded(raw->recorded.size());
    for (const auto& [id, derived] : raw->derived) {
      auto rec = raw->recorded.find(id);
      if (rec == raw->recorded.end()) {
        auto* d = out.add_differences();
        d->set_action_id(id);
        d->set_kind("missing");
        *d->mutable_derived() = derived;
      } else if (!google::protobuf::util::MessageDifferencer::Equals(derived, rec->second)) {
        auto* d = out.add_differences();
        d->set_action_id(id);
        d->set_kind("different");
        *d->mutable_derived() = derived;
        *d->mutable_recorded() = rec->second;
      }
    }
    for (const auto& [id, recorded] : raw->recorded) {
      if (!raw->derived.contains(id)) {
        auto* d = out.add_differences();
        d->set_action_id(id);
        d->set_kind("unexpected");
        *d->mutable_recorded() = recorded;
      }
    }
    projector.reset();
  }
  std::filesystem::remove_all(scratch_dir, ec);
  return out;
}

}  // namespace perfledger::projections
