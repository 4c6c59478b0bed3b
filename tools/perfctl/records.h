// Org-unit and employee rows: reading them from CSV or JSON files, validating them, turning them
// into commands, ordering them parents first and deriving their idempotency keys.
//
// The single-row commands (`employee register`, `org-unit define`) build a Row from their flags
// and go through the same validation, so a row is accepted or refused the same way either way.
#ifndef PERFLEDGER_TOOLS_PERFCTL_RECORDS_H_
#define PERFLEDGER_TOOLS_PERFCTL_RECORDS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "perfledger/v1/commands.pb.h"

namespace perfctl {

// One input row: column -> value (trimmed; absent and empty are the same), and where it came from.
struct Row {
  // "line 7" for CSV, "item 3" for JSON, "flags" for a single-row command.
  std::string location;
  std::map<std::string, std::string> values;
  // A syntax error of the row itself (e.g. a CSV quote problem); such a row is rejected.
  std::string error;
  // How to name a column in messages, when not by its own name (e.g. "--org-unit").
  std::map<std::string, std::string> labels;

  const std::string& Get(const std::string& column) const;
  std::string Label(const std::string& column) const;
};

enum class FileFormat { kCsv, kJson };

// `format_flag` "csv" or "json" wins; empty: by extension (.csv, .json).
absl::StatusOr<FileFormat> FileFormatFor(const std::string& path, const std::string& format_flag);

struct Schema {
  std::string kind;  // "org_unit", "employee": part of the idempotency key
  std::string id_column;
  std::string parent_column;  // orders rows parents first
  std::vector<std::string> required;
  std::vector<std::string> optional;
};

const Schema& OrgUnitSchema();
const Schema& EmployeeSchema();

// Reads every row. Usage errors: unreadable file, malformed JSON, not an array of objects, a
// column the schema does not know (a typo would silently drop data) or a required one missing.
absl::StatusOr<std::vector<Row>> ReadRows(const std::string& path, FileFormat format,
                                          const Schema& schema);

// Row -> command, validating every field (required, ids, integers, currency, RFC 3339). Errors
// are usage errors naming the column (or the row's label for it).
absl::StatusOr<perfledger::v1::DefineOrgUnitRequest> OrgUnitFromRow(const Row& row);
absl::StatusOr<perfledger::v1::RegisterEmployeeRequest> EmployeeFromRow(const Row& row);

// Indices of `rows` in an order where a row whose parent (schema.parent_column) is also in the
// file comes after that parent; otherwise file order. Cycles keep file order (the server will
// refuse what it must).
std::vector<size_t> ParentsFirst(const std::vector<Row>& rows, const Schema& schema);

// "import:" + 32 hex characters of SHA-256 over the kind and the row's non-empty known values,
// in column order. The same row imported twice gets the same key, so the server answers the
// second time with `deduplicated`.
std::string ImportKey(const Schema& schema, const Row& row);

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_RECORDS_H_
