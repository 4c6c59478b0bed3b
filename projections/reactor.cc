#include "projections/reactor.h"

#include <atomic>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/status_macros.h"
#include "projections/deadlines.h"
#include "projections/dry_run.h"
#include "projections/grading.h"
#include "projections/policy_state.h"
#include "projections/reactor_rows.h"
#include "projections/reactor_state.h"
#include "projections/unit_ranking.h"

namespace perfledger::projections {

std::vector<std::string> Reactor::Families() { return ReactorFamilies(); }

absl::StatusOr<std::unique_ptr<Reactor>> Reactor::Start(EventLog* log, StateStore* store,
                                                        Ledger* ledger) {
  auto reactor = std::unique_ptr<Reactor>(new Reactor());
  reactor->ledger_ = ledger;
  reactor->store_ = store;
  auto view = std::make_unique<ReactorView>(ReactorView::Mode::kLive, ledger->sealer());
  ReactorView* raw = view.get();
  reactor->view_ = raw;
  std::vector<std::unique_ptr<View>> views;
  views.push_back(std::move(view));
  ProjectorOptions options;
  options.name = "reactor";
  // Under a metric feed each batch writes its aggregate, window and roll-up rows once, so a
  // larger batch writes fewer rows per event; the reactor's pace sets admission control's.
  options.batch_events = limits::kReactorBatchEvents;
  // Nobody reads the reactor's rows with min_position, and a few milliseconds more before a
  // grade's actions are appended is nothing to payroll or an LMS; in exchange a batch folds more
  // observations of the same aggregate and window rows (read once, written once per batch).
  options.linger = absl::Milliseconds(limits::kReactorLingerMillis);
  options.linger_below_events = limits::kReactorLingerBelowEvents;
  auto append = [raw, ledger]() -> absl::Status {
    CommandContext ctx;
    ctx.actor.set_principal("policy-reactor");
    ctx.actor.set_role(v1::ROLE_SYSTEM);
    ctx.principal = Principal{"policy-reactor", v1::ROLE_SYSTEM, "", {}};
    // Reactions about one subject stay in decision order (a cancellation must follow the action
    // it cancels in that subject's partition); different subjects' reactions are appended
    // concurrently so that they share group commits instead of paying one sync each.
    std::vector<std::vector<const internal::Reaction*>> groups;
    {
      absl::flat_hash_map<std::string, size_t> index;
      for (const internal::Reaction& r : raw->pending()) {
        const std::string key = r.events().empty() ? "" : r.events(0).partition_key();
        auto [it, added] = index.try_emplace(key, groups.size());
        if (added) groups.emplace_back();
        groups[it->second].push_back(&r);
      }
    }
    std::atomic<size_t> next{0};
    std::mutex failed_mu;
    absl::Status failed;
    auto work = [&] {
      for (size_t g = next++; g < groups.size(); g = next++) {
        for (const internal::Reaction* r : groups[g]) {
          CommandContext mine = ctx;
          mine.now = absl::Now();
          auto result = ledger->React(*r, mine);
          if (result.ok()) continue;
          if (absl::IsUnavailable(result.status())) {
            std::lock_guard<std::mutex> lock(failed_mu);
            if (failed.ok()) failed = result.status();
            break;  // the rest of this subject waits for the retry, in order
          }
          // A decision the ledger refuses (e.g. its employee departed) is logged and dropped:
          // retrying would never succeed and would stall every later decision.
          LogWarning(absl::StrCat("reactor: ", r->command_id(), " refused: ",
                                  result.status().ToString()));
        }
      }
    };
    const size_t workers = std::min(groups.size(), limits::kReactorAppendersMax);
    std::vector<std::thread> threads;
    for (size_t i = 1; i < workers; i++) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    if (!failed.ok()) return failed;
    raw->pending().clear();
    return absl::OkStatus();
  };
  options.observer = std::make_shared<ReactorBatches>(raw, std::move(append));
  ASSIGN_OR_RETURN(reactor->projector_, Projector::Start(log, store, std::move(views), options));
  return reactor;
}

Reactor::~Reactor() { projector_.reset(); }

absl::StatusOr<v1::PolicyInfo> Reactor::GetPolicy(uint64_t version) {
  return QueryPolicy(projector_->Read(), version);
}

absl::StatusOr<v1::ListPoliciesResponse> Reactor::ListPolicies() {
  return QueryPolicies(projector_->Read());
}

absl::StatusOr<v1::UnitRankingResponse> Reactor::UnitRanking(
    const v1::UnitRankingRequest& q, absl::FunctionRef<bool(const std::string&)> visible,
    uint32_t min_group_size) {
  return QueryUnitRanking(projector_->Read(), view_->policies(), q, visible, min_group_size);
}

absl::StatusOr<v1::ComputeGradesResponse> Reactor::ComputeGrades(
    const v1::ComputeGradesRequest& request, const CommandContext& ctx, absl::Time deadline) {
  return Grading(*projector_, view_->policies(), *ledger_).ComputeGrades(request, ctx, deadline);
}

absl::StatusOr<v1::CommandResult> Reactor::FinalizeComputedGrade(
    const v1::FinalizeGradeRequest& request, const CommandContext& ctx, absl::Time deadline) {
  return Grading(*projector_, view_->policies(), *ledger_)
      .FinalizeComputedGrade(request, ctx, deadline);
}

absl::StatusOr<v1::FireDeadlinesResponse> Reactor::FireDeadlines(absl::Time now,
                                                                 const CommandContext& ctx,
                                                                 absl::Time deadline) {
  return projections::FireDeadlines(*projector_, *ledger_, now, ctx, deadline);
}

absl::StatusOr<v1::DryRunResponse> Reactor::DryRun(EventLog* log, Sealer* sealer,
                                                   const std::string& scratch_dir,
                                                   absl::Time deadline) {
  return projections::DryRun(log, sealer, scratch_dir, deadline);
}

}  // namespace perfledger::projections
