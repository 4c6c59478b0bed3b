// How perfctl prints results: aligned text tables for people, JSON for programs.
//
// Text mode prints tables with a header row and two spaces between columns. JSON mode prints one
// JSON document per command (pretty-printed), or one compact JSON object per line for streams,
// with the proto field names (snake_case) as keys.
#ifndef PERFLEDGER_TOOLS_PERFCTL_OUTPUT_H_
#define PERFLEDGER_TOOLS_PERFCTL_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "perfledger/v1/commands.pb.h"
#include "perfledger/v1/common.pb.h"
#include "perfledger/v1/ledger.pb.h"

namespace perfctl {

enum class OutputFormat { kText, kJson };

enum class JsonLayout { kPretty, kLine };

// Buffers rows and prints them with every column as wide as its widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Numbers read better right-aligned.
  void AlignRight(size_t column);
  // Missing cells print empty; extra cells are a programming error and are dropped.
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// "key   value" lines with the values aligned, for a record that is not a list.
using Fields = std::vector<std::pair<std::string, std::string>>;
void PrintFields(std::ostream& out, const Fields& fields);

// For output that cannot be buffered (a followed stream): prints the header at once and pads each
// row to the widths seen so far, widening a column when a longer cell arrives.
class StreamingTable {
 public:
  StreamingTable(std::vector<std::string> headers, std::vector<size_t> min_widths);
  void PrintRow(std::ostream& out, const std::vector<std::string>& cells);

 private:
  void PrintLine(std::ostream& out, const std::vector<std::string>& cells);

  std::vector<std::string> headers_;
  std::vector<size_t> widths_;
  bool header_printed_ = false;
};

// Proto -> JSON with proto field names; every scalar is printed (also zeros and false) so that
// scripts can rely on a key being there. Returns an error only for malformed messages.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, JsonLayout layout);
// The same, parsed, for documents that mix proto data with perfctl's own fields.
nlohmann::json ToJsonValue(const google::protobuf::Message& message);

std::string FormatPosition(const perfledger::v1::Position& position);
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);
// 1234567 -> "1,234,567".
std::string WithThousands(uint64_t value);
// Minor units with thousands separators: 630000 EUR -> "630,000 EUR"; "-" when unset.
std::string FormatMoney(const perfledger::v1::Money& money);
// `shown`, or "[erased]" / "[withheld]" when `field` is listed in a row's `erased` / `withheld`
// (the server clears such fields; they are not zero).
std::string Marked(const std::string& field, const std::string& shown,
                   const google::protobuf::RepeatedPtrField<std::string>& erased,
                   const google::protobuf::RepeatedPtrField<std::string>& withheld);
// Basis points as a percentage: 8300 -> "83.00 %".
std::string Percent(uint64_t bp);
// A message as pretty JSON on stdout ("{}" if it cannot be printed).
void PrintJson(const google::protobuf::Message& message);
// An enum value's name as a word: ("PAYROLL_STATE_APPLIED", "PAYROLL_STATE_") -> "applied".
std::string EnumWord(const std::string& name, const std::string& prefix);

// Facts perfctl decided for the operator, e.g. {"check_in_id", "ci-..."} when it generated the
// id: printed as "key: value" above the table, or as extra keys of the JSON document.
using Extras = std::vector<std::pair<std::string, std::string>>;

// A command's answer: a table of appended events (and a note when deduplicated), or the
// CommandResult as JSON.
void PrintCommandResult(const perfledger::v1::CommandResult& result, OutputFormat format,
                        std::ostream& out, const Extras& extras = {});

// A RecordedEvent as a JSON object: envelope without the raw payload (the decoded `event` sits
// beside it), hashes and digests in hex instead of base64.
nlohmann::json RecordedEventJson(const perfledger::v1::RecordedEvent& event);

// The payload's type: the envelope's `type`, or the decoded event's case name.
std::string EventTypeOf(const perfledger::v1::RecordedEvent& event);

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_OUTPUT_H_
