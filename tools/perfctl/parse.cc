#include "tools/perfctl/parse.h"

#include <cctype>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/perfctl/limits.h"
#include "tools/perfctl/status.h"

namespace perfctl {

namespace v1 = perfledger::v1;

absl::StatusOr<absl::Time> ParseTime(const std::string& field, const std::string& text) {
  absl::Time time;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &time, &err)) return time;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &time, &err)) return time;
  return UsageError(absl::StrCat(field, ": '", text,
                                 "' is not an RFC 3339 timestamp (e.g. 2026-01-31T09:00:00Z) "
                                 "or a date (2026-01-31)"));
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  const int64_t seconds = absl::ToUnixSeconds(time);  // floors, so nanos stay non-negative
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return ts;
}

absl::StatusOr<google::protobuf::Timestamp> ParseTimestamp(const std::string& field,
                                                           const std::string& text) {
  absl::StatusOr<absl::Time> time = ParseTime(field, text);
  if (!time.ok()) return time.status();
  // The protobuf Timestamp range is years 0001..9999.
  if (*time < absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone()) ||
      *time >= absl::FromCivil(absl::CivilSecond(10000, 1, 1, 0, 0, 0), absl::UTCTimeZone())) {
    return UsageError(absl::StrCat(field, ": '", text, "' is outside years 0001..9999"));
  }
  return ToTimestamp(*time);
}

absl::StatusOr<int64_t> ParseInt64(const std::string& field, const std::string& text) {
  int64_t value = 0;
  // SimpleAtoi accepts surrounding whitespace and a leading '+'; both are harmless here.
  if (!text.empty() && absl::SimpleAtoi(text, &value)) return value;
  return UsageError(absl::StrCat(field, ": '", text, "' is not an integer"));
}

absl::StatusOr<uint32_t> ParseUint32(const std::string& field, const std::string& text) {
  uint32_t value = 0;
  if (!text.empty() && text[0] != '-' && absl::SimpleAtoi(text, &value)) return value;
  return UsageError(absl::StrCat(field, ": '", text, "' is not a non-negative integer"));
}

absl::StatusOr<absl::Duration> ParseDuration(const std::string& field, const std::string& text,
                                             bool allow_zero) {
  absl::Duration duration;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) {
    duration = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &duration)) {
    return UsageError(absl::StrCat(field, ": '", text, "' is not a duration (e.g. 10s, 500ms)"));
  }
  if (duration < absl::ZeroDuration() || (duration == absl::ZeroDuration() && !allow_zero)) {
    return UsageError(
        absl::StrCat(field, allow_zero ? ": must not be negative" : ": must be positive"));
  }
  return duration;
}

absl::Status ValidateId(const std::string& field, const std::string& id) {
  bool ok = !id.empty() && id.size() <= limits::kIdBytesMax;
  for (char c : id) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-')) ok = false;
  }
  if (ok) return absl::OkStatus();
  return UsageError(absl::StrCat(field, ": '", id,
                                 "' is not a valid id (1..64 characters of A-Z a-z 0-9 . _ : -)"));
}

absl::Status ValidateCurrency(const std::string& field, const std::string& code) {
  bool ok = code.size() == 3;
  for (char c : code) ok = ok && absl::ascii_isupper(c);
  if (ok) return absl::OkStatus();
  return UsageError(
      absl::StrCat(field, ": '", code, "' is not a currency code (three capitals, e.g. EUR)"));
}

absl::StatusOr<v1::Direction> ParseDirection(const std::string& field, const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "higher" || t == "up" || t == "direction_higher_is_better") {
    return v1::DIRECTION_HIGHER_IS_BETTER;
  }
  if (t == "lower" || t == "down" || t == "direction_lower_is_better") {
    return v1::DIRECTION_LOWER_IS_BETTER;
  }
  return UsageError(absl::StrCat(field, ": '", text, "' is not a direction (higher or lower)"));
}

absl::StatusOr<v1::ScoreSource> ParseScoreSource(const std::string& field,
                                                 const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "self") return v1::SCORE_SOURCE_SELF;
  if (t == "manager") return v1::SCORE_SOURCE_MANAGER;
  if (t == "peer") return v1::SCORE_SOURCE_PEER;
  return UsageError(absl::StrCat(field, ": '", text, "' is not self, manager or peer"));
}

absl::StatusOr<v1::OwnerKind> ParseOwnerKind(const std::string& field, const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t.empty() || t == "employee" || t == "person") return v1::OWNER_KIND_EMPLOYEE;
  if (t == "org_unit" || t == "org-unit" || t == "org" || t == "unit") {
    return v1::OWNER_KIND_ORG_UNIT;
  }
  return UsageError(absl::StrCat(field, ": '", text, "' is not employee or org_unit"));
}

std::vector<std::string> SplitColon(const std::string& text, size_t max_parts) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() + 1 < max_parts) {
    const size_t colon = text.find(':', start);
    if (colon == std::string::npos) break;
    parts.push_back(text.substr(start, colon - start));
    start = colon + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::string HexOf(const std::string& bytes) { return absl::BytesToHexString(bytes); }

}  // namespace perfctl
