#include "ledger/validation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/limits.h"

namespace perfledger {
namespace {

// Returns false on malformed UTF-8 (overlong forms and surrogates included).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; k++) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

absl::Status CheckString(std::string_view field, std::string_view value, Presence presence,
                         size_t max, bool allow_newlines) {
  if (value.empty()) {
    return presence == Presence::kRequired ? FieldError(field, "required") : absl::OkStatus();
  }
  if (value.size() > max) {
    return FieldError(field, absl::StrFormat("%d bytes, at most %d", value.size(), max));
  }
  if (!ValidUtf8(value)) return FieldError(field, "not valid UTF-8");
  for (unsigned char c : value) {
    if (c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'))) {
      return FieldError(field, "contains a control character");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FieldError(std::string_view field, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": ", std::string(message)));
}

absl::Status CheckId(std::string_view field, std::string_view value, Presence presence) {
  if (value.empty()) {
    return presence == Presence::kRequired ? FieldError(field, "required") : absl::OkStatus();
  }
  if (value.size() > limits::kIdBytesMax) {
    return FieldError(field,
                      absl::StrFormat("%d bytes, at most %d", value.size(), limits::kIdBytesMax));
  }
  for (char c : value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return FieldError(field, "may contain only letters, digits and . _ : -");
  }
  return absl::OkStatus();
}

absl::Status CheckName(std::string_view field, std::string_view value, Presence presence) {
  return CheckString(field, value, presence, limits::kNameBytesMax, /*allow_newlines=*/false);
}

absl::Status CheckText(std::string_view field, std::string_view value, Presence presence) {
  return CheckString(field, value, presence, limits::kTextBytesMax, /*allow_newlines=*/true);
}

absl::Status CheckMoney(std::string_view field, const v1::Money& value, Presence presence) {
  if (value.amount_minor() == 0 && value.currency().empty()) {
    return presence == Presence::kRequired ? FieldError(field, "required") : absl::OkStatus();
  }
  if (value.amount_minor() < 0) {
    return FieldError(absl::StrCat(std::string(field), ".amount_minor"), "must be >= 0");
  }
  if (value.amount_minor() > limits::kMoneyMinorMax) {
    return FieldError(absl::StrCat(std::string(field), ".amount_minor"),
                      absl::StrFormat("at most %d", limits::kMoneyMinorMax));
  }
  const std::string& c = value.currency();
  bool ok = c.size() == limits::kCurrencyBytes;
  for (char ch : c) ok = ok && ch >= 'A' && ch <= 'Z';
  if (!ok) {
    return FieldError(absl::StrCat(std::string(field), ".currency"),
                      "must be an ISO-4217 code of three upper-case letters");
  }
  return absl::OkStatus();
}

absl::Status CheckTimestamp(std::string_view field, const google::protobuf::Timestamp& value) {
  // 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, as google.protobuf.Timestamp documents.
  constexpr int64_t kMin = -62'135'596'800;
  constexpr int64_t kMax = 253'402'300'799;
  if (value.seconds() < kMin || value.seconds() > kMax) {
    return FieldError(field, "seconds outside 0001-01-01..9999-12-31");
  }
  if (value.nanos() < 0 || value.nanos() > 999'999'999) {
    return FieldError(field, "nanos outside 0..999999999");
  }
  return absl::OkStatus();
}

absl::Status CheckBasisPoints(std::string_view field, uint64_t value) {
  if (value > limits::kBasisPointsMax) {
    return FieldError(field, absl::StrFormat("%d basis points, at most %d", value,
                                             limits::kBasisPointsMax));
  }
  return absl::OkStatus();
}

absl::Status CheckRange(std::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return FieldError(field, absl::StrFormat("%d is outside %d..%d", value, min, max));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(std::string_view field, size_t count, size_t max) {
  if (count > max) return FieldError(field, absl::StrFormat("%d items, at most %d", count, max));
  return absl::OkStatus();
}

}  // namespace perfledger
