#include "ledger/recognition.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/validation.h"

namespace perfledger {

std::string PraiseStream(std::string_view id) {
  return absl::StrCat("praise/", std::string(id));
}
std::string CaseStream(std::string_view id) {
  return absl::StrCat("case/", std::string(id));
}
std::string PraiseGiverKey(std::string_view id) {
  return absl::StrCat("praise-giver/", std::string(id));
}
std::string GradeEventKey(std::string_view id) {
  return absl::StrCat("grade-event/", std::string(id));
}

uint32_t PraiseInWindow(const internal::PraiseGiverState& giver, absl::Time now) {
  const int64_t since =
      absl::ToUnixMicros(now) - limits::kPraiseRateWindowSeconds * int64_t{1'000'000};
  uint32_t n = 0;
  for (int64_t at : giver.received_at_micros()) {
    if (at > since) n++;
  }
  return n;
}

absl::Status CheckPraiseRate(const internal::PraiseGiverState& giver, absl::Time now) {
  if (PraiseInWindow(giver, now) < limits::kPraisePerGiverPerDayMax) return absl::OkStatus();
  // The oldest praise still in the window frees a place when it leaves it.
  const int64_t since =
      absl::ToUnixMicros(now) - limits::kPraiseRateWindowSeconds * int64_t{1'000'000};
  int64_t oldest = absl::ToUnixMicros(now);
  for (int64_t at : giver.received_at_micros()) {
    if (at > since) oldest = std::min(oldest, at);
  }
  const absl::Time frees =
      absl::FromUnixMicros(oldest) + absl::Seconds(limits::kPraiseRateWindowSeconds);
  return absl::ResourceExhaustedError(absl::StrCat(
      "giver_id: at most ", limits::kPraisePerGiverPerDayMax, " praises per giver in ",
      limits::kPraiseRateWindowSeconds / 3600,
      " h (kPraisePerGiverPerDayMax); the next is possible from ",
      absl::FormatTime(absl::RFC3339_sec, frees, absl::UTCTimeZone())));
}

void RememberPraise(internal::PraiseGiverState& giver, const std::string& event_id,
                    int64_t received_at_micros) {
  for (const std::string& id : giver.event_ids()) {
    if (id == event_id) return;
  }
  std::vector<std::pair<int64_t, std::string>> entries;
  entries.reserve(static_cast<size_t>(giver.event_ids_size()) + 1);
  const int n = std::min(giver.event_ids_size(), giver.received_at_micros_size());
  for (int i = 0; i < n; i++) entries.emplace_back(giver.received_at_micros(i), giver.event_ids(i));
  entries.emplace_back(received_at_micros, event_id);
  // Ties broken by event id: the state is the same whatever order equal times arrive in.
  std::sort(entries.begin(), entries.end());
  const size_t keep = limits::kPraisePerGiverPerDayMax;
  const size_t drop = entries.size() > keep ? entries.size() - keep : 0;
  giver.clear_event_ids();
  giver.clear_received_at_micros();
  for (size_t i = drop; i < entries.size(); i++) {
    giver.add_received_at_micros(entries[i].first);
    giver.add_event_ids(std::move(entries[i].second));
  }
}

absl::Status CheckValueTag(std::string_view field, std::string_view tag) {
  if (tag.empty()) return FieldError(field, "required");
  if (tag.size() > limits::kPraiseValueBytesMax) {
    return FieldError(field, absl::StrCat("at most ", limits::kPraiseValueBytesMax, " bytes"));
  }
  for (size_t i = 0; i < tag.size(); i++) {
    const char c = tag[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && i > 0)) {
      return FieldError(field,
                        "lower-case letters, digits and '-' (not first), e.g. customer-first");
    }
  }
  return absl::OkStatus();
}

}  // namespace perfledger
