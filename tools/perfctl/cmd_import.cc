// import employees|org-units FILE: bulk registration from CSV or JSON, one command per row, each
// with an idempotency key derived from the row so that re-running an import is harmless.

#include <iostream>
#include <memory>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/limits.h"
#include "tools/perfctl/records.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

enum class Outcome { kValid, kAccepted, kAlreadyPresent, kRejected, kNotSent };

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kValid: return "valid";
    case Outcome::kAccepted: return "accepted";
    case Outcome::kAlreadyPresent: return "already present";
    case Outcome::kRejected: return "rejected";
    case Outcome::kNotSent: return "not sent";
  }
  return "?";
}

struct RowResult {
  Outcome outcome = Outcome::kNotSent;
  std::string reason;
  v1::CommandResult result;
};

struct ImportFlags {
  std::string file;
  std::string format;
  bool dry_run = false;
  bool verbose = false;
  bool without_managers = false;
};

enum class Kind { kOrgUnits, kEmployees };

// Sends one row's command. Only connection-level failures come back as an error; the server's
// verdict on the row itself lands in `out`.
absl::Status SendRow(Session& session, Kind kind, const Row& row, const Schema& schema,
                     RowResult* out) {
  absl::StatusOr<v1::CommandResult> result;
  if (kind == Kind::kOrgUnits) {
    absl::StatusOr<v1::DefineOrgUnitRequest> request = OrgUnitFromRow(row);
    if (!request.ok()) {
      *out = {Outcome::kRejected, std::string(request.status().message()), {}};
      return absl::OkStatus();
    }
    request->mutable_meta()->set_idempotency_key(ImportKey(schema, row));
    result = CallUnary<v1::People>(session, &v1::People::Stub::DefineOrgUnit, *request);
  } else {
    absl::StatusOr<v1::RegisterEmployeeRequest> request = EmployeeFromRow(row);
    if (!request.ok()) {
      *out = {Outcome::kRejected, std::string(request.status().message()), {}};
      return absl::OkStatus();
    }
    request->mutable_meta()->set_idempotency_key(ImportKey(schema, row));
    result = CallUnary<v1::People>(session, &v1::People::Stub::RegisterEmployee, *request);
  }
  if (!result.ok()) {
    if (ExitCodeFor(result.status()) != ExitCode::kFailed) return result.status();
    std::string reason = DescribeFailure("", result.status());
    // The usual first-import stumble: units name managers who are not registered yet.
    if (kind == Kind::kOrgUnits && result.status().code() == absl::StatusCode::kNotFound &&
        absl::StartsWith(result.status().message(), "manager_id")) {
      absl::StrAppend(&reason, " (managers must be registered: import with --without-managers, "
                               "then the employees, then this file again)");
    }
    *out = {Outcome::kRejected, std::move(reason), {}};
    return absl::OkStatus();
  }
  out->outcome = result->deduplicated() ? Outcome::kAlreadyPresent : Outcome::kAccepted;
  out->result = std::move(*result);
  return absl::OkStatus();
}

void PrintReport(Session& session, const std::string& command, const ImportFlags& flags,
                 const std::vector<Row>& rows, const Schema& schema,
                 const std::vector<RowResult>& results) {
  size_t counts[5] = {0, 0, 0, 0, 0};
  for (const RowResult& r : results) ++counts[static_cast<int>(r.outcome)];
  const size_t valid = counts[static_cast<int>(Outcome::kValid)];
  const size_t accepted = counts[static_cast<int>(Outcome::kAccepted)];
  const size_t present = counts[static_cast<int>(Outcome::kAlreadyPresent)];
  const size_t rejected = counts[static_cast<int>(Outcome::kRejected)];
  const size_t not_sent = counts[static_cast<int>(Outcome::kNotSent)];

  if (session.format() == OutputFormat::kJson) {
    nlohmann::json report = {{"command", command}, {"file", flags.file},
                             {"dry_run", flags.dry_run}, {"rows", rows.size()},
                             {"rejected", rejected}};
    if (flags.dry_run) {
      report["valid"] = valid;
    } else {
      report["accepted"] = accepted;
      report["already_present"] = present;
      report["not_sent"] = not_sent;
    }
    nlohmann::json items = nlohmann::json::array();
    for (size_t i = 0; i < rows.size(); ++i) {
      nlohmann::json item = {{"location", rows[i].location},
                             {"id", rows[i].Get(schema.id_column)},
                             {"outcome", OutcomeName(results[i].outcome)}};
      if (!results[i].reason.empty()) item["reason"] = results[i].reason;
      if (results[i].result.events_size() > 0) {
        item["result"] = ToJsonValue(results[i].result);
      }
      items.push_back(std::move(item));
    }
    report["results"] = std::move(items);
    std::cout << report.dump(2) << '\n';
    return;
  }

  std::string summary = absl::StrCat(flags.file, ": ", rows.size(), " rows, ");
  if (flags.dry_run) {
    absl::StrAppend(&summary, valid, " valid, ", rejected, " rejected (dry run: nothing sent)");
  } else {
    absl::StrAppend(&summary, accepted, " accepted, ", present, " already present, ", rejected,
                    " rejected");
    if (not_sent > 0) absl::StrAppend(&summary, ", ", not_sent, " not sent");
  }
  Table table({"LOCATION", "ID", "OUTCOME", "DETAIL"});
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowResult& r = results[i];
    if (!flags.verbose && r.outcome != Outcome::kRejected) continue;
    std::string detail = r.reason;
    if (detail.empty() && r.result.events_size() > 0) {
      const auto& event = r.result.events(0);
      detail = absl::StrCat(event.stream(), "@", event.stream_version(), " at ",
                            FormatPosition(event.position()));
    }
    table.AddRow({rows[i].location, rows[i].Get(schema.id_column), OutcomeName(r.outcome),
                  detail});
  }
  if (!table.empty()) table.Print(std::cout);
  std::cout << summary << '\n';
}

absl::Status RunImport(Session& session, Kind kind, const std::string& command,
                       const ImportFlags& flags) {
  const Schema& schema = kind == Kind::kOrgUnits ? OrgUnitSchema() : EmployeeSchema();
  PERFCTL_ASSIGN_OR_RETURN(FileFormat format, FileFormatFor(flags.file, flags.format));
  PERFCTL_ASSIGN_OR_RETURN(std::vector<Row> rows, ReadRows(flags.file, format, schema));
  // The server wants a unit's manager to be a registered employee, and an employee's unit to
  // exist: a fresh organisation is bootstrapped as units without managers, then employees, then
  // the units again with managers (a redefinition). Dropping the column also changes the rows'
  // idempotency keys, so the third step is not mistaken for a retry of the first.
  if (flags.without_managers) {
    for (Row& row : rows) row.values.erase("manager_id");
  }

  // Validate every row before sending any, so that local rejections are reported in full even
  // when the server turns out to be unreachable.
  std::vector<RowResult> results(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::Status valid = kind == Kind::kOrgUnits ? OrgUnitFromRow(rows[i]).status()
                                                 : EmployeeFromRow(rows[i]).status();
    if (!valid.ok()) results[i] = {Outcome::kRejected, std::string(valid.message()), {}};
    else if (flags.dry_run) results[i].outcome = Outcome::kValid;
  }
  // A row whose parent (unit or manager) in the same file was rejected usually fails with "not
  // found"; pointing at the parent's row names the one line to fix. The row is still sent: the
  // parent may exist on the server already (e.g. rejected here only as a changed duplicate).
  std::unordered_map<std::string, size_t> index_of;
  for (size_t i = 0; i < rows.size(); ++i) index_of.emplace(rows[i].Get(schema.id_column), i);
  absl::Status stopped;
  if (!flags.dry_run) {
    for (size_t index : ParentsFirst(rows, schema)) {
      if (results[index].outcome == Outcome::kRejected) continue;
      stopped = SendRow(session, kind, rows[index], schema, &results[index]);
      auto parent = index_of.find(rows[index].Get(schema.parent_column));
      if (results[index].outcome == Outcome::kRejected &&
          absl::StartsWith(results[index].reason,
                           absl::StrCat("NOT_FOUND: ", schema.parent_column)) &&
          parent != index_of.end() &&
          parent->second != index && results[parent->second].outcome == Outcome::kRejected) {
        absl::StrAppend(&results[index].reason, " (", parent->first, " was rejected at ",
                        rows[parent->second].location, ")");
      }
      // Unreachable server: the rest would fail the same way. Rows sent so far are durable and
      // a re-run skips them (deduplicated), so stopping here loses nothing.
      if (!stopped.ok()) break;
    }
  }
  PrintReport(session, command, flags, rows, schema, results);
  if (!stopped.ok()) return stopped;
  size_t rejected = 0;
  for (const RowResult& r : results) rejected += r.outcome == Outcome::kRejected ? 1 : 0;
  if (rejected > 0) {
    return ReportedFailure(absl::StrCat(rejected, " of ", rows.size(), " rows rejected"));
  }
  return absl::OkStatus();
}

void AddImport(CLI::App& import, Session& session, Kind kind, const char* name,
               const char* description, const char* columns,
               std::initializer_list<const char*> examples, const char* notes) {
  auto flags = std::make_shared<ImportFlags>();
  CLI::App* sub = import.add_subcommand(name, description);
  sub->add_option("FILE", flags->file, "CSV (header row) or JSON (array of objects)")->required();
  sub->add_option("--format", flags->format, "csv or json (default: by file extension)")
      ->check(CLI::IsMember({"csv", "json"}));
  sub->add_flag("--dry-run", flags->dry_run, "Validate every row locally; send nothing");
  sub->add_flag("-v,--verbose", flags->verbose, "List every row, not only the rejected ones");
  if (kind == Kind::kOrgUnits) {
    sub->add_flag("--without-managers", flags->without_managers,
                  "Ignore manager_id (first step of a bootstrap, before the employees exist)");
  }
  sub->footer(absl::StrCat(
      "\nColumns: ", columns,
      "\nRows are sent parents first where the parent is in the same file. Each row's "
      "idempotency\nkey derives from its content, so re-running an import reports those rows "
      "as 'already present'.\nExit 1 if any row was rejected.\n", notes, Examples(examples)));
  sub->callback([&session, kind, flags, sub] {
    const std::string command = absl::StrCat("import ", sub->get_name());
    session.Select(absl::StrCat(command, " ", flags->file),
                   [&session, kind, flags, command] {
                     return RunImport(session, kind, command, *flags);
                   });
  });
}

}  // namespace

void AddImportCommands(CLI::App& app, Session& session) {
  CLI::App* import = app.add_subcommand("import", "Bulk-register org units or employees from a file");
  import->require_subcommand(1);
  AddImport(*import, session, Kind::kOrgUnits, "org-units", "Define org units from CSV or JSON",
            "org_unit_id,name (required), parent_id,manager_id",
            {"perfctl import org-units tools/perfctl/examples/org_units.csv --dry-run -v",
             "perfctl -o json import org-units units.json"},
            "A new organisation, whose unit managers are not registered yet, takes three steps:\n"
            "  perfctl import org-units units.csv --without-managers\n"
            "  perfctl import employees staff.csv\n"
            "  perfctl import org-units units.csv   (now with managers: a redefinition)");
  AddImport(*import, session, Kind::kEmployees, "employees", "Register employees from CSV or JSON",
            "employee_id,name,org_unit_id,base_salary_minor,currency (required),\n  "
            "manager_id,job_level,band_midpoint_minor,hired_at (RFC 3339 or YYYY-MM-DD),email",
            {"perfctl import employees tools/perfctl/examples/employees.csv",
             "perfctl import employees staff.json --dry-run"},
            "Managers are registered before their reports when both are in the file.");
}

}  // namespace perfctl
