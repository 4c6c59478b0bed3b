// ledger/recognition: the giver's rolling praise rate (receive times, a window that ends now,
// the newest entries kept, folding twice harmless) and the shape of value tags.
#include <catch2/catch.hpp>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/recognition.h"

namespace perfledger {
namespace {

constexpr int64_t kDay = limits::kPraiseRateWindowSeconds;
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

TEST_CASE("praise rate: counts the praise received within the window that ends now",
          "[recognition]") {
  internal::PraiseGiverState giver;
  RememberPraise(giver, "old", Micros(kNow - absl::Seconds(kDay)));  // just left the window
  RememberPraise(giver, "in", Micros(kNow - absl::Seconds(kDay) + absl::Microseconds(1)));
  RememberPraise(giver, "now", Micros(kNow));
  CHECK(PraiseInWindow(giver, kNow) == 2);
  CHECK(PraiseInWindow(giver, kNow + absl::Seconds(kDay)) == 0);
}

TEST_CASE("praise rate: the limit, and when the next praise is possible", "[recognition]") {
  internal::PraiseGiverState giver;
  for (uint32_t i = 0; i < limits::kPraisePerGiverPerDayMax; i++) {
    REQUIRE(CheckPraiseRate(giver, kNow).ok());
    RememberPraise(giver, absl::StrCat("p", i), Micros(kNow - absl::Hours(20) + absl::Minutes(i)));
  }
  const absl::Status over = CheckPraiseRate(giver, kNow);
  REQUIRE(over.code() == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StartsWith(over.message(), "giver_id: "));
  CHECK(absl::StrContains(over.message(), "kPraisePerGiverPerDayMax"));
  // The oldest leaves the window 24 h after it was received: 4 h from now.
  CHECK(absl::StrContains(over.message(), absl::FormatTime(absl::RFC3339_sec,
                                                           kNow + absl::Hours(4),
                                                           absl::UTCTimeZone())));
  CHECK_FALSE(CheckPraiseRate(giver, kNow + absl::Hours(4) - absl::Seconds(1)).ok());
  CHECK(CheckPraiseRate(giver, kNow + absl::Hours(4)).ok());
}

TEST_CASE("praise rate: the state keeps the newest entries and folds an event once",
          "[recognition]") {
  internal::PraiseGiverState giver;
  const uint32_t n = limits::kPraisePerGiverPerDayMax;
  // Out of order, more than the limit: the newest n stay, oldest first.
  for (uint32_t i = 0; i < n + 3; i++) {
    const uint32_t k = (i * 7) % (n + 3);
    RememberPraise(giver, absl::StrCat("e", k), Micros(kNow) + k);
  }
  REQUIRE(giver.received_at_micros_size() == static_cast<int>(n));
  for (uint32_t i = 0; i < n; i++) {
    CHECK(giver.received_at_micros(static_cast<int>(i)) == Micros(kNow) + 3 + i);
    CHECK(giver.event_ids(static_cast<int>(i)) == absl::StrCat("e", 3 + i));
  }
  const std::string before = giver.SerializeAsString();
  RememberPraise(giver, absl::StrCat("e", n + 2), Micros(kNow) + n + 2);  // folded again
  CHECK(giver.SerializeAsString() == before);
}

TEST_CASE("value tags: lower-case words joined by hyphens, bounded", "[recognition]") {
  CHECK(CheckValueTag("values[0]", "customer-first").ok());
  CHECK(CheckValueTag("values[0]", "q1").ok());
  for (const char* bad : {"", "-lead", "Customer", "with space", "ünicode", "a_b"}) {
    INFO(bad);
    const absl::Status s = CheckValueTag("values[2]", bad);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(s.message(), "values[2]: "));
  }
  CHECK(CheckValueTag("values[0]", std::string(limits::kPraiseValueBytesMax, 'a')).ok());
  CHECK_FALSE(CheckValueTag("values[0]", std::string(limits::kPraiseValueBytesMax + 1, 'a')).ok());
}

}  // namespace
}  // namespace perfledger
