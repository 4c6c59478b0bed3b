// employee register|update|depart, org-unit define: the single-row forms of the imports;
// subject erase|erasure-status: GDPR erasure by crypto-shredding.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tools/perfctl/output.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/records.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

// A Row built from flags; `labels` make validation errors name the flag, not the column.
struct RowFlags {
  std::vector<std::pair<std::string, std::string>> values;  // column -> value
  std::map<std::string, std::string> labels;

  std::string* Bind(const std::string& column, const std::string& label) {
    labels[column] = label;
    values.emplace_back(column, "");
    return &values.back().second;
  }
  Row ToRow() const {
    Row row;
    row.location = "flags";
    row.labels = labels;
    for (const auto& [column, value] : values) {
      std::string trimmed(absl::StripAsciiWhitespace(value));
      if (!trimmed.empty()) row.values[column] = trimmed;
    }
    return row;
  }
};

struct RegisterFlags {
  RowFlags row;
  MetaFlags meta;
};

void AddRegister(CLI::App& employee, Session& session) {
  auto flags = std::make_shared<RegisterFlags>();
  // Binding stores pointers into `values`, so reserve first: no reallocation afterwards.
  flags->row.values.reserve(10);
  CLI::App* sub = employee.add_subcommand("register", "Register a new employee");
  sub->add_option("EMPLOYEE_ID", *flags->row.Bind("employee_id", "EMPLOYEE_ID"), "Employee id")
      ->required();
  sub->add_option("--name", *flags->row.Bind("name", "--name"), "Full name")->required();
  sub->add_option("--org-unit", *flags->row.Bind("org_unit_id", "--org-unit"), "Org unit id")
      ->required();
  sub->add_option("--manager", *flags->row.Bind("manager_id", "--manager"),
                  "Direct manager's employee id");
  sub->add_option("--job-level", *flags->row.Bind("job_level", "--job-level"),
                  "Job level label, e.g. L3");
  sub->add_option("--base-salary-minor", *flags->row.Bind("base_salary_minor", "--base-salary-minor"),
                  "Annual base salary in minor units (cents)")
      ->required();
  sub->add_option("--band-midpoint-minor",
                  *flags->row.Bind("band_midpoint_minor", "--band-midpoint-minor"),
                  "Salary band midpoint in minor units");
  sub->add_option("--currency", *flags->row.Bind("currency", "--currency"),
                  "ISO-4217 code of the amounts, e.g. EUR")
      ->required();
  sub->add_option("--hired-at", *flags->row.Bind("hired_at", "--hired-at"),
                  "Hire date, RFC 3339 or YYYY-MM-DD");
  sub->add_option("--email", *flags->row.Bind("email", "--email"), "Work e-mail");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl employee register E7 --name 'Ada Lovelace' --org-unit QA "
                        "--manager E2 \\\n      --job-level L3 --base-salary-minor 6000000 "
                        "--band-midpoint-minor 6500000 --currency EUR --hired-at 2024-03-01"}));
  sub->callback([&session, flags] {
    const Row row = flags->row.ToRow();
    session.Select(absl::StrCat("register employee ", row.Get("employee_id")),
                   [&session, flags, row]() -> absl::Status {
                     PERFCTL_ASSIGN_OR_RETURN(v1::RegisterEmployeeRequest request,
                                              EmployeeFromRow(row));
                     PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
                     return SendCommand<v1::People>(session, &v1::People::Stub::RegisterEmployee,
                                                    request);
                   });
  });
}

struct UpdateFlags {
  std::string employee_id;
  std::vector<std::string> sets;
  std::string currency;
  std::string reason;
  MetaFlags meta;
};

absl::StatusOr<v1::Money> ParseMoney(const std::string& field, const std::string& text,
                                     const std::string& default_currency) {
  std::vector<std::string> parts = SplitColon(text, 2);
  const std::string currency = parts.size() == 2 ? parts[1] : default_currency;
  if (currency.empty()) {
    return UsageError(absl::StrCat(field, ": give AMOUNT_MINOR:CUR (e.g. 6200000:EUR) or --currency"));
  }
  PERFCTL_RETURN_IF_ERROR(ValidateCurrency(field, currency));
  PERFCTL_ASSIGN_OR_RETURN(int64_t amount, ParseInt64(field, parts[0]));
  v1::Money money;
  money.set_amount_minor(amount);
  money.set_currency(currency);
  return money;
}

absl::StatusOr<v1::UpdateEmployeeRequest> BuildUpdate(const UpdateFlags& flags) {
  v1::UpdateEmployeeRequest request;
  PERFCTL_RETURN_IF_ERROR(ValidateId("EMPLOYEE_ID", flags.employee_id));
  request.set_employee_id(flags.employee_id);
  request.set_reason(flags.reason);
  if (flags.sets.empty()) return UsageError("--set: give at least one field=value");
  for (const std::string& set : flags.sets) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos) return UsageError(absl::StrCat("--set: '", set, "' is not field=value"));
    std::string field = absl::StrReplaceAll(absl::AsciiStrToLower(set.substr(0, eq)), {{"-", "_"}});
    const std::string value(absl::StripAsciiWhitespace(set.substr(eq + 1)));
    const std::string label = absl::StrCat("--set ", field);
    if (field == "org_unit" || field == "manager") field += "_id";
    if (field == "base_salary_minor" || field == "band_midpoint_minor") field.resize(field.size() - 6);
    if (field == "name") {
      request.set_name(value);
    } else if (field == "org_unit_id") {
      PERFCTL_RETURN_IF_ERROR(ValidateId(label, value));
      request.set_org_unit_id(value);
    } else if (field == "manager_id") {
      // Empty is allowed: the employee moves to the top of the hierarchy.
      if (!value.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId(label, value));
      request.set_manager_id(value);
    } else if (field == "job_level") {
      request.set_job_level(value);
    } else if (field == "email") {
      request.set_email(value);
    } else if (field == "base_salary") {
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_base_salary(),
                               ParseMoney(label, value, flags.currency));
    } else if (field == "band_midpoint") {
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_band_midpoint(),
                               ParseMoney(label, value, flags.currency));
    } else {
      return UsageError(absl::StrCat("--set: unknown field '", set.substr(0, eq),
                                     "' (name, org_unit_id, manager_id, job_level, email, "
                                     "base_salary, band_midpoint)"));
    }
    for (const std::string& seen : request.update_mask()) {
      if (seen == field) return UsageError(absl::StrCat("--set: '", field, "' given twice"));
    }
    request.add_update_mask(field);
  }
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  return request;
}

void AddUpdate(CLI::App& employee, Session& session) {
  auto flags = std::make_shared<UpdateFlags>();
  CLI::App* sub = employee.add_subcommand("update", "Change some of an employee's attributes");
  sub->add_option("EMPLOYEE_ID", flags->employee_id, "Employee id")->required();
  sub->add_option("--set", flags->sets,
                  "field=value; fields: name, org_unit_id, manager_id, job_level, email, "
                  "base_salary, band_midpoint (money as AMOUNT_MINOR:CUR)")
      ->required();
  sub->add_option("--currency", flags->currency, "Currency of money values given without one");
  sub->add_option("--reason", flags->reason, "Why, e.g. 'reorganisation'");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl employee update E7 --set manager_id=E3 --set org_unit_id=QA2 "
                        "--reason reorganisation",
                        "perfctl employee update E7 --set base_salary=6300000:EUR --reason 'merit raise'"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("update employee ", flags->employee_id),
                   [&session, flags]() -> absl::Status {
                     PERFCTL_ASSIGN_OR_RETURN(v1::UpdateEmployeeRequest request, BuildUpdate(*flags));
                     return SendCommand<v1::People>(session, &v1::People::Stub::UpdateEmployee,
                                                    request);
                   });
  });
}

struct DepartFlags {
  std::string employee_id;
  std::string reason;
  MetaFlags meta;
};

void AddDepart(CLI::App& employee, Session& session) {
  auto flags = std::make_shared<DepartFlags>();
  CLI::App* sub = employee.add_subcommand("depart", "Record that an employee left");
  sub->add_option("EMPLOYEE_ID", flags->employee_id, "Employee id")->required();
  sub->add_option("--reason", flags->reason, "Why the employee left")->required();
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl employee depart E7 --reason resigned --at 2026-06-30"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("record departure of ", flags->employee_id),
                   [&session, flags]() -> absl::Status {
                     v1::RecordDepartureRequest request;
                     PERFCTL_RETURN_IF_ERROR(ValidateId("EMPLOYEE_ID", flags->employee_id));
                     request.set_employee_id(flags->employee_id);
                     request.set_reason(flags->reason);
                     PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
                     return SendCommand<v1::People>(session, &v1::People::Stub::RecordDeparture,
                                                    request);
                   });
  });
}

struct OrgUnitFlags {
  RowFlags row;
  MetaFlags meta;
};

void AddOrgUnitDefine(CLI::App& org_unit, Session& session) {
  auto flags = std::make_shared<OrgUnitFlags>();
  flags->row.values.reserve(4);
  CLI::App* sub = org_unit.add_subcommand("define", "Define (or redefine) an org unit");
  sub->add_option("ORG_UNIT_ID", *flags->row.Bind("org_unit_id", "ORG_UNIT_ID"), "Org unit id")
      ->required();
  sub->add_option("--name", *flags->row.Bind("name", "--name"), "Display name")->required();
  sub->add_option("--parent", *flags->row.Bind("parent_id", "--parent"),
                  "Parent unit id (empty: the root)");
  sub->add_option("--manager", *flags->row.Bind("manager_id", "--manager"),
                  "Employee id of the unit's manager");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl org-unit define PROD --name Production --parent HQ --manager E2"}));
  sub->callback([&session, flags] {
    const Row row = flags->row.ToRow();
    session.Select(absl::StrCat("define org unit ", row.Get("org_unit_id")),
                   [&session, flags, row]() -> absl::Status {
                     PERFCTL_ASSIGN_OR_RETURN(v1::DefineOrgUnitRequest request, OrgUnitFromRow(row));
                     PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
                     return SendCommand<v1::People>(session, &v1::People::Stub::DefineOrgUnit,
                                                    request);
                   });
  });
}

struct EraseFlags {
  std::string employee_id;
  std::string reason;
  std::string legal_basis;
  MetaFlags meta;
};

void AddSubject(CLI::App& app, Session& session) {
  CLI::App* subject =
      app.add_subcommand("subject", "GDPR: erase a subject's personal data, show the erasure");
  subject->require_subcommand(1);

  auto flags = std::make_shared<EraseFlags>();
  CLI::App* erase = subject->add_subcommand(
      "erase",
      "Erase an employee's personal data (Art. 17) by destroying their key: names, e-mail and "
      "free text read as [erased] everywhere; grades, actions and amounts stay (hr, admin)");
  erase->add_option("EMPLOYEE_ID", flags->employee_id, "Employee id")->required();
  erase->add_option("--reason", flags->reason,
                    "The request's reference, e.g. a ticket id (kept in clear: no personal data)")
      ->required();
  erase->add_option("--legal-basis", flags->legal_basis, "Default: GDPR Art. 17");
  AddMetaFlags(erase, &flags->meta);
  erase->footer(Examples({"perfctl subject erase W13 --reason 'request 2026-117'"}));
  erase->callback([&session, flags] {
    session.Select(absl::StrCat("erase ", flags->employee_id), [&session, flags]() -> absl::Status {
      v1::EraseSubjectRequest request;
      PERFCTL_RETURN_IF_ERROR(ValidateId("EMPLOYEE_ID", flags->employee_id));
      request.set_employee_id(flags->employee_id);
      request.set_reason(flags->reason);
      request.set_legal_basis(flags->legal_basis);
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
      return SendCommand<v1::People>(session, &v1::People::Stub::EraseSubject, request);
    });
  });

  auto status_id = std::make_shared<std::string>();
  CLI::App* status = subject->add_subcommand(
      "erasure-status", "Whether an employee is erased, by which event, and their key's state");
  status->add_option("EMPLOYEE_ID", *status_id, "Employee id")->required();
  status->footer(Examples({"perfctl subject erasure-status W13", "perfctl subject erasure-status W13 -o json"}));
  status->callback([&session, status_id] {
    session.Select(absl::StrCat("erasure status of ", *status_id),
                   [&session, status_id]() -> absl::Status {
                     PERFCTL_RETURN_IF_ERROR(ValidateId("EMPLOYEE_ID", *status_id));
                     v1::ErasureStatusRequest request;
                     request.set_employee_id(*status_id);
                     PERFCTL_ASSIGN_OR_RETURN(
                         v1::ErasureStatusResponse r,
                         (CallUnary<v1::Views>(session, &v1::Views::Stub::GetErasureStatus,
                                               request)));
                     if (session.format() == OutputFormat::kJson) {
                       PERFCTL_ASSIGN_OR_RETURN(std::string json,
                                                ToJson(r, JsonLayout::kPretty));
                       std::cout << json << '\n';
                       return absl::OkStatus();
                     }
                     if (!r.erased()) {
                       std::cout << r.employee_id() << ": not erased\n";
                     } else {
                       const auto& e = r.erasure();
                       std::cout << r.employee_id() << ": erased by " << e.envelope().event_id()
                                 << " at " << FormatTimestamp(e.envelope().occurred_at())
                                 << " (" << e.event().subject_erased().legal_basis() << "; "
                                 << e.event().subject_erased().reason() << ")\n";
                     }
                     for (const auto& k : r.keys()) {
                       std::cout << "  key " << k.key_id() << ": "
                                 << (k.destroyed() ? "destroyed" : "live");
                       if (k.has_retained_until() && !k.destroyed()) {
                         std::cout << " (compensation records kept until "
                                   << FormatTimestamp(k.retained_until()) << ")";
                       }
                       std::cout << '\n';
                     }
                     if (r.has_retention_ended()) {
                       std::cout << "  retention ended by "
                                 << r.retention_ended().envelope().event_id() << " at "
                                 << FormatTimestamp(r.retention_ended().envelope().occurred_at())
                                 << '\n';
                     }
                     for (const auto& a : r.acknowledgements()) {
                       std::cout << "  acknowledged by " << a.consumer() << " ("
                                 << a.consumer_reference() << ") at "
                                 << FormatTimestamp(a.acknowledged_at()) << '\n';
                     }
                     if (r.erased() && r.acknowledgements().empty()) {
                       std::cout << "  no hook consumer has acknowledged the erasure notice yet\n";
                     }
                     return absl::OkStatus();
                   });
  });
}

}  // namespace

void AddPeopleCommands(CLI::App& app, Session& session) {
  AddSubject(app, session);
  CLI::App* employee = app.add_subcommand("employee", "Register, update or depart one employee");
  employee->require_subcommand(1);
  AddRegister(*employee, session);
  AddUpdate(*employee, session);
  AddDepart(*employee, session);

  CLI::App* org_unit = app.add_subcommand("org-unit", "Define one org unit");
  org_unit->require_subcommand(1);
  AddOrgUnitDefine(*org_unit, session);
}

}  // namespace perfctl
