#include "tools/perfctl/csv.h"

#include <string>

#include "absl/status/status.h"
#include "tools/perfctl/limits.h"

namespace perfctl {

absl::StatusOr<std::optional<CsvRecord>> CsvReader::Next() {
  CsvRecord record;
  std::string field;
  bool in_quotes = false;
  bool after_quote = false;  // just closed a quoted field: only ',' or the end may follow
  size_t record_bytes = 0;
  std::string line;
  while (true) {
    if (!std::getline(in_, line)) {
      if (in_.bad()) return absl::DataLossError("read error");
      if (!in_quotes) return std::nullopt;
      record.error = "unterminated quoted field";
      record.fields.push_back(std::move(field));
      return record;
    }
    ++line_;
    bytes_read_ += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!in_quotes) {
      if (line.empty()) continue;
      record.line = line_;
    }
    record_bytes += line.size() + 1;
    if (record_bytes > limits::kCsvRecordBytesMax) {
      // Resynchronise at the next line: a runaway quote must not eat the rest of the file.
      record.error = "record longer than 1 MiB (unbalanced quote?)";
      record.fields.clear();
      return record;
    }
    for (char c : line) {
      if (in_quotes) {
        if (c == '"') {
          in_quotes = false;
          after_quote = true;
        } else {
          field.push_back(c);
        }
        continue;
      }
      if (c == ',') {
        record.fields.push_back(std::move(field));
        field.clear();
        after_quote = false;
      } else if (c == '"' && after_quote) {
        field.push_back('"');  // "" inside a quoted field
        in_quotes = true;
        after_quote = false;
      } else if (c == '"' && field.empty()) {
        in_quotes = true;
      } else if (after_quote) {
        if (record.error.empty()) record.error = "text after a closing quote";
      } else {
        field.push_back(c);  // a quote inside an unquoted field is taken literally
      }
    }
    if (in_quotes) {
      field.push_back('\n');
      continue;
    }
    record.fields.push_back(std::move(field));
    return record;
  }
}

}  // namespace perfctl
