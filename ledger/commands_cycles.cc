// Review cycles (control stream).
#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {

Ledger::Result Ledger::OpenCycle(const v1::OpenCycleRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(d.RequireOrgWide("cycle_id"));
    RETURN_IF_ERROR(CheckName("name", r.name(), Presence::kOptional));
    if (!r.has_period_start()) return FieldError("period_start", "required");
    if (!r.has_period_end()) return FieldError("period_end", "required");
    RETURN_IF_ERROR(CheckTimestamp("period_start", r.period_start()));
    RETURN_IF_ERROR(CheckTimestamp("period_end", r.period_end()));
    if (r.period_end().seconds() <= r.period_start().seconds()) {
      return FieldError("period_end", "must be after period_start");
    }
    RETURN_IF_ERROR(CheckCount("grades", r.grades_size(), limits::kGradesMax));
    std::vector<std::string> grades(r.grades().begin(), r.grades().end());
    if (grades.empty()) grades = {"A", "B", "C", "D"};
    for (size_t i = 0; i < grades.size(); i++) {
      const std::string field = absl::StrCat("grades[", i, "]");
      RETURN_IF_ERROR(CheckId(field, grades[i], Presence::kRequired));
      for (size_t j = 0; j < i; j++) {
        if (grades[j] == grades[i]) return FieldError(field, "duplicate grade");
      }
    }
    const std::string stream = CycleStream(r.cycle_id());
    if (auto existing = d.Find(stream); existing && existing->has_cycle()) {
      return absl::AlreadyExistsError(
          absl::StrCat("cycle_id: cycle ", r.cycle_id(), " already exists"));
    }
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    uint64_t policy_version = 0;
    if (auto policy = d.Find("policy/current"); policy && policy->has_policy()) {
      policy_version = policy->policy().version();
    }
    v1::Event e;
    auto* p = e.mutable_cycle_opened();
    p->set_cycle_id(r.cycle_id());
    p->set_name(r.name().empty() ? r.cycle_id() : r.name());
    *p->mutable_period_start() = r.period_start();
    *p->mutable_period_end() = r.period_end();
    for (auto& g : grades) p->mutable_scale()->add_grades(g);
    p->set_policy_version(policy_version);
    d.Emit(stream, Route::Control(), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::CloseCycle(const v1::CloseCycleRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(d.RequireOrgWide("cycle_id"));
    RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id()).status());
    const std::string stream = CycleStream(r.cycle_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    e.mutable_cycle_closed()->set_cycle_id(r.cycle_id());
    d.Emit(stream, Route::Control(), std::move(e));
    return absl::OkStatus();
  });
}

}  // namespace perfledger
