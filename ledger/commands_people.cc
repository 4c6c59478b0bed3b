// Org units and employees.
#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/hash_chain.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {

Ledger::Result Ledger::DefineOrgUnit(const v1::DefineOrgUnitRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("org_unit_id", r.org_unit_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckName("name", r.name(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("parent_id", r.parent_id(), Presence::kOptional));
    RETURN_IF_ERROR(CheckId("manager_id", r.manager_id(), Presence::kOptional));
    if (r.parent_id() == r.org_unit_id()) return FieldError("parent_id", "an org unit cannot be its own parent");
    if (!r.parent_id().empty()) {
      RETURN_IF_ERROR(d.OrgUnit("parent_id", r.parent_id()).status());
      // Redefining a unit must not create a cycle in the hierarchy.
      std::string walk = r.parent_id();
      for (int depth = 0; !walk.empty() && depth < 1000; depth++) {
        if (walk == r.org_unit_id()) {
          return FieldError("parent_id", "would make the org hierarchy cyclic");
        }
        auto parent = d.Find(OrgUnitStream(walk));
        walk = parent && parent->has_org_unit() ? parent->org_unit().parent_id() : "";
      }
    }
    if (!r.manager_id().empty()) RETURN_IF_ERROR(d.Employee("manager_id", r.manager_id()).status());
    // A limited hr token defines units inside its subtrees only.
    if (auto existing = d.Find(OrgUnitStream(r.org_unit_id())); existing && existing->has_org_unit()) {
      RETURN_IF_ERROR(d.RequireUnitScope("org_unit_id", r.org_unit_id()));
    }
    RETURN_IF_ERROR(d.RequireUnitScope("parent_id", r.parent_id()));
    const std::string stream = OrgUnitStream(r.org_unit_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_org_unit_defined();
    p->set_org_unit_id(r.org_unit_id());
    p->set_name(r.name());
    p->set_parent_id(r.parent_id());
    p->set_manager_id(r.manager_id());
    d.Emit(stream, Route::Control(), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RegisterEmployee(const v1::RegisterEmployeeRequest& r,
                                        const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckName("name", r.name(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("org_unit_id", r.org_unit_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("manager_id", r.manager_id(), Presence::kOptional));
    RETURN_IF_ERROR(CheckName("job_level", r.job_level(), Presence::kOptional));
    RETURN_IF_ERROR(CheckMoney("base_salary", r.base_salary(), Presence::kRequired));
    RETURN_IF_ERROR(CheckMoney("band_midpoint", r.band_midpoint(), Presence::kOptional));
    if (r.has_band_midpoint() && !r.band_midpoint().currency().empty() &&
        r.band_midpoint().currency() != r.base_salary().currency()) {
      return FieldError("band_midpoint.currency", "must equal base_salary.currency");
    }
    if (r.has_hired_at()) RETURN_IF_ERROR(CheckTimestamp("hired_at", r.hired_at()));
    RETURN_IF_ERROR(CheckName("email", r.email(), Presence::kOptional));
    if (r.manager_id() == r.employee_id()) return FieldError("manager_id", "an employee cannot manage themselves");
    RETURN_IF_ERROR(d.OrgUnit("org_unit_id", r.org_unit_id()).status());
    RETURN_IF_ERROR(d.RequireUnitScope("org_unit_id", r.org_unit_id()));
    if (!r.manager_id().empty()) RETURN_IF_ERROR(d.Employee("manager_id", r.manager_id()).status());
    const std::string stream = EmployeeStream(r.employee_id());
    if (auto existing = d.Find(stream); existing && existing->has_employee()) {
      return absl::AlreadyExistsError(
          absl::StrCat("employee_id: employee ", r.employee_id(), " is already registered"));
    }
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_employee_registered();
    p->set_employee_id(r.employee_id());
    p->set_name(r.name());
    p->set_org_unit_id(r.org_unit_id());
    p->set_manager_id(r.manager_id());
    p->set_job_level(r.job_level());
    *p->mutable_base_salary() = r.base_salary();
    *p->mutable_band_midpoint() = r.band_midpoint();
    if (r.has_hired_at()) *p->mutable_hired_at() = r.hired_at();
    p->set_email(r.email());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::UpdateEmployee(const v1::UpdateEmployeeRequest& r,
                                      const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    if (r.update_mask().empty()) return FieldError("update_mask", "name at least one field");
    RETURN_IF_ERROR(CheckCount("update_mask", r.update_mask_size(), limits::kListItemsMax));
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kOptional));
    ASSIGN_OR_RETURN(internal::EmployeeState current, d.Employee("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    v1::Event e;
    auto* p = e.mutable_employee_updated();
    p->set_employee_id(r.employee_id());
    p->set_org_unit_id(current.org_unit_id());
    p->set_manager_id(current.manager_id());
    p->set_job_level(current.job_level());
    ASSIGN_OR_RETURN(Pay pay, PayOf("employee_id", EmployeeId(r.employee_id()), current));
    *p->mutable_base_salary() = std::move(pay.base_salary);
    *p->mutable_band_midpoint() = std::move(pay.band_midpoint);
    p->set_reason(r.reason());
    for (int i = 0; i < r.update_mask_size(); i++) {
      const std::string& f = r.update_mask(i);
      const std::string field = absl::StrCat("update_mask[", i, "]");
      if (f == "name") {
        RETURN_IF_ERROR(CheckName("name", r.name(), Presence::kRequired));
        p->set_name(r.name());
      } else if (f == "org_unit_id") {
        RETURN_IF_ERROR(CheckId("org_unit_id", r.org_unit_id(), Presence::kRequired));
        RETURN_IF_ERROR(d.OrgUnit("org_unit_id", r.org_unit_id()).status());
        RETURN_IF_ERROR(d.RequireUnitScope("org_unit_id", r.org_unit_id()));
        p->set_org_unit_id(r.org_unit_id());
      } else if (f == "manager_id") {
        RETURN_IF_ERROR(CheckId("manager_id", r.manager_id(), Presence::kOptional));
        if (r.manager_id() == r.employee_id()) {
          return FieldError("manager_id", "an employee cannot manage themselves");
        }
        if (!r.manager_id().empty()) {
          RETURN_IF_ERROR(d.Employee("manager_id", r.manager_id()).status());
        }
        p->set_manager_id(r.manager_id());
      } else if (f == "job_level") {
        RETURN_IF_ERROR(CheckName("job_level", r.job_level(), Presence::kOptional));
        p->set_job_level(r.job_level());
      } else if (f == "base_salary") {
        RETURN_IF_ERROR(CheckMoney("base_salary", r.base_salary(), Presence::kRequired));
        *p->mutable_base_salary() = r.base_salary();
      } else if (f == "band_midpoint") {
        RETURN_IF_ERROR(CheckMoney("band_midpoint", r.band_midpoint(), Presence::kOptional));
        *p->mutable_band_midpoint() = r.band_midpoint();
      } else if (f == "email") {
        RETURN_IF_ERROR(CheckName("email", r.email(), Presence::kOptional));
        p->set_email(r.email());
      } else {
        return FieldError(field, absl::StrCat("unknown field '", f, "' (name, org_unit_id, "
                                              "manager_id, job_level, base_salary, "
                                              "band_midpoint, email)"));
      }
      p->add_changed(f);
    }
    if (!p->band_midpoint().currency().empty() &&
        p->band_midpoint().currency() != p->base_salary().currency()) {
      return FieldError("band_midpoint.currency", "must equal base_salary.currency");
    }
    // A new manager must not be one of the employee's own reports, directly or not.
    std::string walk = p->manager_id();
    for (int depth = 0; !walk.empty() && depth < 1000; depth++) {
      if (walk == r.employee_id()) {
        return FieldError("manager_id", "would make the reporting line cyclic");
      }
      auto boss = d.Find(EmployeeStream(walk));
      walk = boss && boss->has_employee() ? boss->employee().manager_id() : "";
    }
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RecordDeparture(const v1::RecordDepartureRequest& r,
                                       const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kOptional));
    RETURN_IF_ERROR(d.Employee("employee_id", r.employee_id()).status());
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_employee_departed();
    p->set_employee_id(r.employee_id());
    p->set_reason(r.reason());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    *d.events().back().event.mutable_employee_departed()->mutable_departed_at() =
        d.events().back().occurred_at;
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::EraseSubject(const v1::EraseSubjectRequest& r, const CommandContext& ctx) {
  RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
  // One erasure per subject: its idempotency key and digest name the subject alone, so a second
  // erasure, whatever its reason, answers the first and appends nothing.
  v1::CommandMeta meta = r.meta();
  meta.set_idempotency_key(
      absl::StrCat("erase:", ToHex(Sha256(r.employee_id())).substr(0, 32)));
  meta.clear_event_id();
  v1::EraseSubjectRequest identity;
  identity.set_employee_id(r.employee_id());
  return Execute(meta, identity, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kRequired));
    RETURN_IF_ERROR(CheckName("legal_basis", r.legal_basis(), Presence::kOptional));
    RETURN_IF_ERROR(d.RequireHr("employee_id"));
    RETURN_IF_ERROR(d.Employee("employee_id", r.employee_id(), EmployeeMust::kExist).status());
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    const std::string stream = EmployeeStream(r.employee_id());
    v1::Event e;
    auto* p = e.mutable_subject_erased();
    p->set_employee_id(r.employee_id());
    p->set_legal_basis(r.legal_basis().empty() ? "GDPR Art. 17" : r.legal_basis());
    p->set_reason(r.reason());
    p->add_keys_destroyed(absl::StrCat(std::string(KeyPurposeName(KeyPurpose::kPersonal)), "/",
                                       r.employee_id()));
    // The retention duty runs from when the erasure is recorded, not from a business time the
    // caller chooses.
    *p->mutable_retained_until() = ToTimestamp(d.now() + retention_);
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

}  // namespace perfledger
