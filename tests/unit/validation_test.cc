// ledger/validation: every failure is INVALID_ARGUMENT whose message starts with the field path.
#include <catch2/catch.hpp>

#include <string>

#include "absl/strings/match.h"
#include "ledger/limits.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

// Requires INVALID_ARGUMENT with a message "<field>: ...", mentioning `detail` when given.
void RequireFieldError(const absl::Status& s, const std::string& field,
                       const std::string& detail = "") {
  INFO("status: " << s.ToString());
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(s.message(), field + ": "));
  if (!detail.empty()) CHECK(absl::StrContains(s.message(), detail));
}

v1::Money M(int64_t amount, const std::string& currency) {
  v1::Money m;
  m.set_amount_minor(amount);
  m.set_currency(currency);
  return m;
}

google::protobuf::Timestamp T(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

TEST_CASE("validation: FieldError", "[validation]") {
  RequireFieldError(FieldError("observations[3].value_milli", "too big"),
                    "observations[3].value_milli", "too big");
}

TEST_CASE("validation: ids", "[validation]") {
  CHECK(CheckId("employee_id", "E1", Presence::kRequired).ok());
  CHECK(CheckId("employee_id", "a.b_c:d-E9", Presence::kRequired).ok());
  CHECK(CheckId("employee_id", "", Presence::kOptional).ok());
  RequireFieldError(CheckId("employee_id", "", Presence::kRequired), "employee_id", "required");
  CHECK(CheckId("x", std::string(limits::kIdBytesMax, 'a'), Presence::kRequired).ok());
  RequireFieldError(CheckId("x", std::string(limits::kIdBytesMax + 1, 'a'), Presence::kRequired),
                    "x", "65 bytes, at most 64");
  for (const std::string bad : {"a b", "a/b", "a\\b", "E1\n", "Zo\xc3\xab", "a#b", "a,b"}) {
    INFO("id '" << bad << "'");
    RequireFieldError(CheckId("meta.event_id", bad, Presence::kOptional), "meta.event_id",
                      "may contain only");
  }
}

TEST_CASE("validation: names are UTF-8 without control characters", "[validation]") {
  for (const std::string good :
       {"Ada Lovelace", "Zo\xc3\xab", "\xe6\x97\xa5\xe6\x9c\xac",  // é, 日本
        "\xf0\x9f\x98\x80",                                          // U+1F600, 4 bytes
        "end\xc3\xa9", "\xef\xbf\xbd"}) {                             // multi-byte at the end
    INFO("name '" << good << "'");
    CHECK(CheckName("name", good, Presence::kRequired).ok());
  }
  CHECK(CheckName("name", "", Presence::kOptional).ok());
  RequireFieldError(CheckName("name", "", Presence::kRequired), "name", "required");
  struct Bad {
    std::string value;
    const char* why;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"\xc3", "truncated 2-byte sequence"},
           {"ab\xe6\x97", "truncated 3-byte sequence"},
           {"\xc0\xaf", "overlong '/'"},
           {"\xe0\x80\xaf", "overlong 3-byte"},
           {"\xf0\x80\x80\xaf", "overlong 4-byte"},
           {"\xed\xa0\x80", "UTF-16 surrogate"},
           {"\xf4\x90\x80\x80", "above U+10FFFF"},
           {"\xff", "invalid lead byte"},
           {"\x80", "lone continuation byte"},
           {"\xc3\x28", "bad continuation byte"},
       }) {
    INFO(bad.why);
    RequireFieldError(CheckName("title", bad.value, Presence::kRequired), "title",
                      "not valid UTF-8");
  }
  RequireFieldError(CheckName("name", "a\x01" "b", Presence::kRequired), "name",
                    "control character");
  RequireFieldError(CheckName("name", "two\nlines", Presence::kRequired), "name",
                    "control character");
  CHECK(CheckName("name", std::string(limits::kNameBytesMax, 'n'), Presence::kRequired).ok());
  RequireFieldError(
      CheckName("name", std::string(limits::kNameBytesMax + 1, 'n'), Presence::kRequired), "name",
      "at most 200");
}

TEST_CASE("validation: free text allows newlines and tabs", "[validation]") {
  CHECK(CheckText("notes", "line one\nline two\r\n\tindented", Presence::kRequired).ok());
  RequireFieldError(CheckText("notes", "bell\x07", Presence::kRequired), "notes",
                    "control character");
  RequireFieldError(CheckText("notes", "\xc3", Presence::kRequired), "notes", "UTF-8");
  CHECK(CheckText("notes", std::string(limits::kTextBytesMax, 't'), Presence::kRequired).ok());
  RequireFieldError(
      CheckText("notes", std::string(limits::kTextBytesMax + 1, 't'), Presence::kRequired),
      "notes", "at most 4096");
}

TEST_CASE("validation: money", "[validation]") {
  CHECK(CheckMoney("base_salary", M(6'000'000, "EUR"), Presence::kRequired).ok());
  CHECK(CheckMoney("base_salary", M(0, "JPY"), Presence::kRequired).ok());
  CHECK(CheckMoney("base_salary", M(limits::kMoneyMinorMax, "USD"), Presence::kRequired).ok());
  CHECK(CheckMoney("band_midpoint", v1::Money(), Presence::kOptional).ok());
  RequireFieldError(CheckMoney("base_salary", v1::Money(), Presence::kRequired), "base_salary",
                    "required");
  RequireFieldError(CheckMoney("base_salary", M(-1, "EUR"), Presence::kRequired),
                    "base_salary.amount_minor", ">= 0");
  RequireFieldError(CheckMoney("base_salary", M(limits::kMoneyMinorMax + 1, "EUR"),
                               Presence::kRequired),
                    "base_salary.amount_minor", "at most");
  for (const std::string bad : {"eur", "EURO", "EU", "E1R", "", "\xc3\x89UR"}) {
    INFO("currency '" << bad << "'");
    RequireFieldError(CheckMoney("band_midpoint", M(100, bad), Presence::kOptional),
                      "band_midpoint.currency", "ISO-4217");
  }
}

TEST_CASE("validation: timestamps", "[validation]") {
  constexpr int64_t kMin = -62'135'596'800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMax = 253'402'300'799;  // 9999-12-31T23:59:59Z
  CHECK(CheckTimestamp("meta.occurred_at", T(1'767'225'600, 5)).ok());
  CHECK(CheckTimestamp("meta.occurred_at", T(kMin)).ok());
  CHECK(CheckTimestamp("meta.occurred_at", T(kMax, 999'999'999)).ok());
  CHECK(CheckTimestamp("meta.occurred_at", T(0)).ok());
  RequireFieldError(CheckTimestamp("meta.occurred_at", T(kMax + 1)), "meta.occurred_at",
                    "seconds");  // 10000-01-01
  RequireFieldError(CheckTimestamp("hired_at", T(kMin - 1)), "hired_at", "seconds");
  RequireFieldError(CheckTimestamp("hired_at", T(0, -1)), "hired_at", "nanos");
  RequireFieldError(CheckTimestamp("hired_at", T(0, 1'000'000'000)), "hired_at", "nanos");
}

TEST_CASE("validation: basis points, ranges and counts", "[validation]") {
  CHECK(CheckBasisPoints("weight_bp", 0).ok());
  CHECK(CheckBasisPoints("weight_bp", limits::kBasisPointsMax).ok());
  RequireFieldError(CheckBasisPoints("key_results[1].weight_bp", 10'001),
                    "key_results[1].weight_bp", "at most 10000");
  RequireFieldError(CheckBasisPoints("weight_bp", UINT64_MAX), "weight_bp");
  CHECK(CheckRange("score_milli", 0, 0, 100).ok());
  CHECK(CheckRange("score_milli", 100, 0, 100).ok());
  RequireFieldError(CheckRange("score_milli", -1, 0, 100), "score_milli", "-1 is outside 0..100");
  RequireFieldError(CheckRange("score_milli", 101, 0, 100), "score_milli");
  CHECK(CheckCount("observations", 5, 5).ok());
  RequireFieldError(CheckCount("observations", 6, 5), "observations", "6 items, at most 5");
}

}  // namespace
}  // namespace perfledger
