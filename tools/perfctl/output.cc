#include "tools/perfctl/output.h"

#include <algorithm>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/perfctl/status.h"

namespace perfctl {

namespace v1 = perfledger::v1;

namespace {

constexpr char kColumnGap[] = "  ";

void PrintPadded(std::ostream& out, const std::string& cell, size_t width, bool right) {
  const size_t pad = width > cell.size() ? width - cell.size() : 0;
  if (right) out << std::string(pad, ' ') << cell;
  else out << cell << std::string(pad, ' ');
}

// Prints cells separated by the gap, without trailing blanks.
void PrintCells(std::ostream& out, const std::vector<std::string>& cells,
                const std::vector<size_t>& widths, const std::vector<bool>& right) {
  std::ostringstream line;
  for (size_t i = 0; i < widths.size(); ++i) {
    const std::string& cell = i < cells.size() ? cells[i] : std::string();
    if (i > 0) line << kColumnGap;
    PrintPadded(line, cell, widths[i], right[i]);
  }
  std::string text = line.str();
  text.erase(text.find_last_not_of(' ') + 1);
  out << text << '\n';
}

}  // namespace

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), right_(headers_.size(), false) {}

void Table::AlignRight(size_t column) {
  if (column < right_.size()) right_[column] = true;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) widths[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  PrintCells(out, headers_, widths, right_);
  for (const auto& row : rows_) PrintCells(out, row, widths, right_);
}

void PrintFields(std::ostream& out, const Fields& fields) {
  size_t width = 0;
  for (const auto& field : fields) width = std::max(width, field.first.size());
  for (const auto& [key, value] : fields) {
    PrintPadded(out, key, width, /*right=*/false);
    out << kColumnGap << value << '\n';
  }
}

StreamingTable::StreamingTable(std::vector<std::string> headers, std::vector<size_t> min_widths)
    : headers_(std::move(headers)), widths_(std::move(min_widths)) {
  widths_.resize(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) widths_[i] = std::max(widths_[i], headers_[i].size());
}

void StreamingTable::PrintRow(std::ostream& out, const std::vector<std::string>& cells) {
  if (!header_printed_) {
    PrintLine(out, headers_);
    header_printed_ = true;
  }
  for (size_t i = 0; i < cells.size() && i < widths_.size(); ++i) {
    widths_[i] = std::max(widths_[i], cells[i].size());
  }
  PrintLine(out, cells);
}

void StreamingTable::PrintLine(std::ostream& out, const std::vector<std::string>& cells) {
  PrintCells(out, cells, widths_, std::vector<bool>(widths_.size(), false));
  out.flush();
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, JsonLayout layout) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = layout == JsonLayout::kPretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print ", message.GetTypeName(), " as JSON: ", status.ToString()));
  }
  // The pretty printer ends with a newline, the compact one does not; callers add their own.
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

nlohmann::json ToJsonValue(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> text = ToJson(message, JsonLayout::kLine);
  if (!text.ok()) return nlohmann::json{{"error", std::string(text.status().message())}};
  return nlohmann::json::parse(*text);
}

std::string FormatPosition(const v1::Position& position) {
  return absl::StrCat(position.partition(), ":", position.offset());
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(timestamp);
}

std::string FormatMoney(const perfledger::v1::Money& money) {
  if (money.currency().empty() && money.amount_minor() == 0) return "-";
  const int64_t amount = money.amount_minor();
  const uint64_t magnitude =
      amount < 0 ? static_cast<uint64_t>(-(amount + 1)) + 1 : static_cast<uint64_t>(amount);
  return absl::StrCat(amount < 0 ? "-" : "", WithThousands(magnitude), " ", money.currency());
}

std::string Percent(uint64_t bp) { return absl::StrFormat("%d.%02d %%", bp / 100, bp % 100); }

void PrintJson(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message, JsonLayout::kPretty);
  std::cout << (json.ok() ? *json : std::string("{}")) << '\n';
}

std::string Marked(const std::string& field, const std::string& shown,
                   const google::protobuf::RepeatedPtrField<std::string>& erased,
                   const google::protobuf::RepeatedPtrField<std::string>& withheld) {
  for (const std::string& e : erased) {
    if (e == field) return "[erased]";
  }
  for (const std::string& w : withheld) {
    if (w == field) return "[withheld]";
  }
  return shown;
}

std::string EnumWord(const std::string& name, const std::string& prefix) {
  std::string word = absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
  return absl::AsciiStrToLower(word);
}

std::string WithThousands(uint64_t value) {
  std::string digits = absl::StrCat(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

void PrintCommandResult(const v1::CommandResult& result, OutputFormat format, std::ostream& out,
                        const Extras& extras) {
  if (format == OutputFormat::kJson) {
    nlohmann::json json = ToJsonValue(result);
    for (const auto& [key, value] : extras) json[key] = value;
    out << json.dump(2) << '\n';
    return;
  }
  for (const auto& [key, value] : extras) out << key << ": " << value << '\n';
  Table table({"EVENT_ID", "STREAM@VERSION", "POSITION"});
  for (const v1::AppendedEvent& event : result.events()) {
    table.AddRow({event.event_id(), absl::StrCat(event.stream(), "@", event.stream_version()),
                  FormatPosition(event.position())});
  }
  if (!table.empty()) table.Print(out);
  if (result.deduplicated()) {
    out << "deduplicated: an identical earlier command already did this; nothing was appended\n";
  } else if (result.events_size() == 0) {
    out << "no events appended\n";
  }
}

std::string EventTypeOf(const v1::RecordedEvent& event) {
  if (!event.envelope().type().empty()) return event.envelope().type();
  if (event.has_event() && event.event().body_case() != v1::Event::BODY_NOT_SET) {
    const auto* field =
        v1::Event::descriptor()->FindFieldByNumber(static_cast<int>(event.event().body_case()));
    if (field != nullptr) return field->message_type()->name();
  }
  return "?";
}

nlohmann::json RecordedEventJson(const v1::RecordedEvent& event) {
  v1::RecordedEvent copy = event;
  copy.mutable_envelope()->clear_payload();
  nlohmann::json json = ToJsonValue(copy);
  // Proto JSON prints bytes as base64; auditors compare hashes as hex (Status prints hex too).
  if (json.contains("envelope")) {
    for (const char* key : {"prev_hash", "hash", "payload_sha256", "command_digest"}) {
      auto it = json["envelope"].find(key);
      if (it == json["envelope"].end() || !it->is_string()) continue;
      std::string raw;
      if (absl::Base64Unescape(it->get<std::string>(), &raw)) {
        *it = absl::BytesToHexString(raw);
      }
    }
    json["envelope"].erase("payload");
  }
  return json;
}

}  // namespace perfctl
