// Parsing of operator input: timestamps, integers, ids, durations and the small "a:b:c" specs of
// repeated flags. Every error is a UsageError naming `field` (a flag like "--start" or a column
// like "hired_at"), so the caller can return it unchanged.
#ifndef PERFLEDGER_TOOLS_PERFCTL_PARSE_H_
#define PERFLEDGER_TOOLS_PERFCTL_PARSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/timestamp.pb.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfledger/v1/common.pb.h"

namespace perfctl {

// RFC 3339 ("2026-01-31T09:00:00Z", "2026-01-31T09:00:00.5+02:00"), or a bare date
// ("2026-01-31", midnight UTC) because hire dates and cycle bounds are usually days.
absl::StatusOr<absl::Time> ParseTime(const std::string& field, const std::string& text);
absl::StatusOr<google::protobuf::Timestamp> ParseTimestamp(const std::string& field,
                                                           const std::string& text);
google::protobuf::Timestamp ToTimestamp(absl::Time time);

// Base-10 integers; no sign for unsigned, no fractions (scores and money are integers).
absl::StatusOr<int64_t> ParseInt64(const std::string& field, const std::string& text);
absl::StatusOr<uint32_t> ParseUint32(const std::string& field, const std::string& text);

// "10s", "500ms", "1m", or a plain number of seconds; positive, or also zero with `allow_zero`.
absl::StatusOr<absl::Duration> ParseDuration(const std::string& field, const std::string& text,
                                             bool allow_zero = false);

// Checks the wire id format: 1..64 bytes of [A-Za-z0-9._:-].
absl::Status ValidateId(const std::string& field, const std::string& id);

// ISO-4217-looking: three upper-case ASCII letters.
absl::Status ValidateCurrency(const std::string& field, const std::string& code);

// "higher"/"lower" (or the enum names) -> Direction.
absl::StatusOr<perfledger::v1::Direction> ParseDirection(const std::string& field,
                                                         const std::string& text);
// "self"/"manager"/"peer" -> ScoreSource.
absl::StatusOr<perfledger::v1::ScoreSource> ParseScoreSource(const std::string& field,
                                                             const std::string& text);
// "employee"/"org_unit" (also "org-unit", "org", empty = employee) -> OwnerKind.
absl::StatusOr<perfledger::v1::OwnerKind> ParseOwnerKind(const std::string& field,
                                                         const std::string& text);

// Splits "a:b:rest:with:colons" into at most `max_parts` pieces; the last keeps its colons.
std::vector<std::string> SplitColon(const std::string& text, size_t max_parts);

// Lower-case hex of `bytes`.
std::string HexOf(const std::string& bytes);

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_PARSE_H_
