#include "tools/perfctl/records.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/perfctl/csv.h"
#include "tools/perfctl/digest.h"
#include "tools/perfctl/limits.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/status.h"

namespace perfctl {

namespace v1 = perfledger::v1;

const std::string& Row::Get(const std::string& column) const {
  static const std::string kEmpty;
  auto it = values.find(column);
  return it == values.end() ? kEmpty : it->second;
}

std::string Row::Label(const std::string& column) const {
  auto it = labels.find(column);
  return it == labels.end() ? column : it->second;
}

absl::StatusOr<FileFormat> FileFormatFor(const std::string& path, const std::string& format_flag) {
  const std::string flag = absl::AsciiStrToLower(format_flag);
  if (flag == "csv") return FileFormat::kCsv;
  if (flag == "json") return FileFormat::kJson;
  if (!flag.empty()) return UsageError(absl::StrCat("--format: '", format_flag, "' is not csv or json"));
  const std::string lower = absl::AsciiStrToLower(path);
  if (absl::EndsWith(lower, ".csv")) return FileFormat::kCsv;
  if (absl::EndsWith(lower, ".json")) return FileFormat::kJson;
  return UsageError(absl::StrCat("cannot tell the format from the name; use --format csv|json"));
}

const Schema& OrgUnitSchema() {
  static const Schema schema{"org_unit", "org_unit_id", "parent_id", {"org_unit_id", "name"},
                             {"parent_id", "manager_id"}};
  return schema;
}

const Schema& EmployeeSchema() {
  static const Schema schema{
      "employee",
      "employee_id",
      "manager_id",
      {"employee_id", "name", "org_unit_id", "base_salary_minor", "currency"},
      {"manager_id", "job_level", "band_midpoint_minor", "hired_at", "email"}};
  return schema;
}

namespace {

std::vector<std::string> AllColumns(const Schema& schema) {
  std::vector<std::string> columns = schema.required;
  columns.insert(columns.end(), schema.optional.begin(), schema.optional.end());
  return columns;
}

absl::Status CheckColumns(const std::string& path, const std::vector<std::string>& present,
                          const Schema& schema) {
  const std::vector<std::string> known = AllColumns(schema);
  for (const std::string& column : present) {
    if (std::find(known.begin(), known.end(), column) == known.end()) {
      return UsageError(absl::StrCat("unknown column '", column,
                                     "' (known: ", absl::StrJoin(known, ","), ")"));
    }
  }
  for (const std::string& column : schema.required) {
    if (std::find(present.begin(), present.end(), column) == present.end()) {
      return UsageError(absl::StrCat("missing required column '", column, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Row>> ReadCsvRows(const std::string& path, std::istream& in,
                                             const Schema& schema) {
  CsvReader reader(in);
  PERFCTL_ASSIGN_OR_RETURN(std::optional<CsvRecord> header, reader.Next());
  if (!header.has_value()) return UsageError(absl::StrCat("empty file, expected a header row"));
  if (!header->error.empty()) {
    return UsageError(absl::StrCat("header: ", header->error));
  }
  std::vector<std::string> columns;
  for (const std::string& field : header->fields) {
    columns.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(field)));
  }
  PERFCTL_RETURN_IF_ERROR(CheckColumns(path, columns, schema));

  std::vector<Row> rows;
  while (true) {
    PERFCTL_ASSIGN_OR_RETURN(std::optional<CsvRecord> record, reader.Next());
    if (!record.has_value()) break;
    if (rows.size() >= limits::kImportRowsMax) {
      return UsageError(absl::StrCat("more than ", limits::kImportRowsMax, " rows"));
    }
    Row row;
    row.location = absl::StrCat("line ", record->line);
    row.error = record->error;
    if (row.error.empty() && record->fields.size() != columns.size()) {
      row.error = absl::StrCat("expected ", columns.size(), " fields, found ",
                               record->fields.size());
    }
    for (size_t i = 0; i < columns.size() && i < record->fields.size(); ++i) {
      std::string value(absl::StripAsciiWhitespace(record->fields[i]));
      if (!value.empty()) row.values[columns[i]] = std::move(value);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<Row>> ReadJsonRows(const std::string& path, std::istream& in,
                                              const Schema& schema) {
  nlohmann::json document = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return UsageError(absl::StrCat("not valid JSON"));
  if (!document.is_array()) return UsageError(absl::StrCat("expected a JSON array of objects"));
  if (document.size() > limits::kImportRowsMax) {
    return UsageError(absl::StrCat("more than ", limits::kImportRowsMax, " rows"));
  }
  std::vector<Row> rows;
  std::set<std::string> seen_columns;
  for (size_t i = 0; i < document.size(); ++i) {
    const nlohmann::json& item = document[i];
    Row row;
    row.location = absl::StrCat("item ", i + 1);
    if (!item.is_object()) {
      row.error = "not a JSON object";
      rows.push_back(std::move(row));
      continue;
    }
    for (auto it = item.begin(); it != item.end(); ++it) {
      seen_columns.insert(it.key());
      std::string value;
      if (it->is_string()) {
        value = std::string(absl::StripAsciiWhitespace(it->get<std::string>()));
      } else if (it->is_number_integer()) {
        value = it->dump();
      } else if (it->is_null()) {
        continue;
      } else {
        // Floats and objects would pass through as text and be refused later with a less
        // helpful message; say what is wrong here.
        row.error = absl::StrCat(it.key(), ": expected a string or an integer, found ", it->dump());
        continue;
      }
      if (!value.empty()) row.values[it.key()] = std::move(value);
    }
    rows.push_back(std::move(row));
  }
  // JSON objects may omit keys, so only unknown keys are a file-level error; a missing required
  // value is reported per row by the builders.
  const std::vector<std::string> known = AllColumns(schema);
  for (const std::string& column : seen_columns) {
    if (std::find(known.begin(), known.end(), column) == known.end()) {
      return UsageError(absl::StrCat("unknown key '", column,
                                     "' (known: ", absl::StrJoin(known, ","), ")"));
    }
  }
  return rows;
}

absl::StatusOr<std::string> Required(const Row& row, const std::string& column) {
  const std::string& value = row.Get(column);
  if (value.empty()) return UsageError(absl::StrCat(row.Label(column), ": required"));
  return value;
}

absl::Status OptionalId(const Row& row, const std::string& column) {
  const std::string& value = row.Get(column);
  if (value.empty()) return absl::OkStatus();
  return ValidateId(row.Label(column), value);
}

absl::StatusOr<v1::Money> MoneyOf(const Row& row, const std::string& amount_column) {
  v1::Money money;
  PERFCTL_ASSIGN_OR_RETURN(int64_t amount,
                           ParseInt64(row.Label(amount_column), row.Get(amount_column)));
  money.set_amount_minor(amount);
  const std::string& currency = row.Get("currency");
  if (currency.empty()) {
    return UsageError(absl::StrCat(row.Label("currency"), ": required with ",
                                   row.Label(amount_column)));
  }
  PERFCTL_RETURN_IF_ERROR(ValidateCurrency(row.Label("currency"), currency));
  money.set_currency(currency);
  return money;
}

}  // namespace

absl::StatusOr<std::vector<Row>> ReadRows(const std::string& path, FileFormat format,
                                          const Schema& schema) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat("cannot open: ", std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size > static_cast<std::streamoff>(limits::kImportFileBytesMax)) {
    return UsageError(absl::StrCat("larger than 512 MiB"));
  }
  return format == FileFormat::kCsv ? ReadCsvRows(path, in, schema)
                                    : ReadJsonRows(path, in, schema);
}

absl::StatusOr<v1::DefineOrgUnitRequest> OrgUnitFromRow(const Row& row) {
  if (!row.error.empty()) return UsageError(row.error);
  v1::DefineOrgUnitRequest request;
  PERFCTL_ASSIGN_OR_RETURN(std::string id, Required(row, "org_unit_id"));
  PERFCTL_RETURN_IF_ERROR(ValidateId(row.Label("org_unit_id"), id));
  PERFCTL_ASSIGN_OR_RETURN(std::string name, Required(row, "name"));
  PERFCTL_RETURN_IF_ERROR(OptionalId(row, "parent_id"));
  PERFCTL_RETURN_IF_ERROR(OptionalId(row, "manager_id"));
  if (row.Get("parent_id") == id) {
    return UsageError(absl::StrCat(row.Label("parent_id"), ": a unit cannot be its own parent"));
  }
  request.set_org_unit_id(id);
  request.set_name(name);
  request.set_parent_id(row.Get("parent_id"));
  request.set_manager_id(row.Get("manager_id"));
  return request;
}

absl::StatusOr<v1::RegisterEmployeeRequest> EmployeeFromRow(const Row& row) {
  if (!row.error.empty()) return UsageError(row.error);
  v1::RegisterEmployeeRequest request;
  PERFCTL_ASSIGN_OR_RETURN(std::string id, Required(row, "employee_id"));
  PERFCTL_RETURN_IF_ERROR(ValidateId(row.Label("employee_id"), id));
  PERFCTL_ASSIGN_OR_RETURN(std::string name, Required(row, "name"));
  PERFCTL_ASSIGN_OR_RETURN(std::string org_unit, Required(row, "org_unit_id"));
  PERFCTL_RETURN_IF_ERROR(ValidateId(row.Label("org_unit_id"), org_unit));
  PERFCTL_RETURN_IF_ERROR(OptionalId(row, "manager_id"));
  if (row.Get("manager_id") == id) {
    return UsageError(absl::StrCat(row.Label("manager_id"), ": an employee cannot manage themself"));
  }
  request.set_employee_id(id);
  request.set_name(name);
  request.set_org_unit_id(org_unit);
  request.set_manager_id(row.Get("manager_id"));
  request.set_job_level(row.Get("job_level"));
  PERFCTL_RETURN_IF_ERROR(Required(row, "base_salary_minor").status());
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_base_salary(), MoneyOf(row, "base_salary_minor"));
  if (!row.Get("band_midpoint_minor").empty()) {
    PERFCTL_ASSIGN_OR_RETURN(*request.mutable_band_midpoint(), MoneyOf(row, "band_midpoint_minor"));
  }
  if (!row.Get("hired_at").empty()) {
    PERFCTL_ASSIGN_OR_RETURN(*request.mutable_hired_at(),
                             ParseTimestamp(row.Label("hired_at"), row.Get("hired_at")));
  }
  request.set_email(row.Get("email"));
  return request;
}

std::vector<size_t> ParentsFirst(const std::vector<Row>& rows, const Schema& schema) {
  // First row per id wins as the parent to wait for; later duplicates just follow file order.
  std::unordered_map<std::string, size_t> index_of;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string& id = rows[i].Get(schema.id_column);
    if (!id.empty()) index_of.emplace(id, i);
  }
  enum class Mark : char { kNone, kOnPath, kDone };
  std::vector<Mark> marks(rows.size(), Mark::kNone);
  std::vector<size_t> order;
  order.reserve(rows.size());
  std::vector<size_t> path;  // ancestors still to emit, innermost last
  for (size_t start = 0; start < rows.size(); ++start) {
    // Walk up the parent chain iteratively (a deep hierarchy must not overflow the stack),
    // then emit the chain from the top down.
    size_t current = start;
    while (marks[current] == Mark::kNone) {
      marks[current] = Mark::kOnPath;
      path.push_back(current);
      auto parent = index_of.find(rows[current].Get(schema.parent_column));
      if (parent == index_of.end()) break;
      current = parent->second;  // kOnPath here means a cycle: stop climbing
    }
    while (!path.empty()) {
      order.push_back(path.back());
      marks[path.back()] = Mark::kDone;
      path.pop_back();
    }
  }
  return order;
}

std::string ImportKey(const Schema& schema, const Row& row) {
  // Length-prefixed fields: no value can be crafted to collide with a different split.
  std::string canonical = absl::StrCat(schema.kind.size(), ":", schema.kind);
  for (const std::string& column : AllColumns(schema)) {
    const std::string& value = row.Get(column);
    if (value.empty()) continue;
    absl::StrAppend(&canonical, ";", column.size(), ":", column, "=", value.size(), ":", value);
  }
  return absl::StrCat("import:", Sha256Hex(canonical).substr(0, 32));
}

}  // namespace perfctl
