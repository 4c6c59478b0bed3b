// Field validation for commands. Every failure is INVALID_ARGUMENT whose message starts with the
// field path ("observations[3].value_milli: ..."), so a client can point at what it sent wrong.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "perfledger/v1/common.pb.h"

namespace perfledger {

enum class Presence { kRequired, kOptional };

absl::Status FieldError(std::string_view field, std::string_view message);

// Ids: 1..limits::kIdBytesMax bytes of [A-Za-z0-9._:-] (safe in keys, paths and Kafka keys).
absl::Status CheckId(std::string_view field, std::string_view value, Presence presence);
// Names and titles: valid UTF-8 without control characters, up to kNameBytesMax.
absl::Status CheckName(std::string_view field, std::string_view value, Presence presence);
// Free text: valid UTF-8, up to kTextBytesMax; newlines and tabs allowed.
absl::Status CheckText(std::string_view field, std::string_view value, Presence presence);
// Money: non-negative, below kMoneyMinorMax, currency three upper-case letters.
absl::Status CheckMoney(std::string_view field, const v1::Money& value, Presence presence);
// A timestamp inside 0001-01-01..9999-12-31 with nanos in range.
absl::Status CheckTimestamp(std::string_view field, const google::protobuf::Timestamp& value);
absl::Status CheckBasisPoints(std::string_view field, uint64_t value);
absl::Status CheckRange(std::string_view field, int64_t value, int64_t min, int64_t max);
absl::Status CheckCount(std::string_view field, size_t count, size_t max);

}  // namespace perfledger
