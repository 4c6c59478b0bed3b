// A streaming RFC 4180 CSV reader: comma separated, fields optionally in double quotes, "" for a
// quote inside quotes, quoted fields may span lines. Also tolerates CRLF, a UTF-8 byte-order mark
// and blank lines (skipped).
//
// Thread safety: none; one reader per stream.
#ifndef PERFLEDGER_TOOLS_PERFCTL_CSV_H_
#define PERFLEDGER_TOOLS_PERFCTL_CSV_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace perfctl {

struct CsvRecord {
  // 1-based line where the record starts (the header is line 1 in most files).
  int64_t line = 0;
  std::vector<std::string> fields;
  // Non-empty when the record is malformed (stray quote, too long, unterminated quotes); the
  // reader stays usable and continues with the next record.
  std::string error;
};

class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}

  // The next record, or nullopt at the end of the input. Fails only when reading fails.
  absl::StatusOr<std::optional<CsvRecord>> Next();

  // Bytes consumed so far, for progress reporting.
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  std::istream& in_;
  int64_t line_ = 0;
  uint64_t bytes_read_ = 0;
};

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_CSV_H_
