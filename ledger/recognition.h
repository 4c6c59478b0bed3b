// Recognition's pure rules (docs/RECOGNITION.md): the giver's rolling praise rate and the
// shape of company value tags. No clock, no I/O: the command handlers (commands_recognition.cc)
// and the write model's fold call these with times taken from commands and events.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "perfledger/internal/write_model.pb.h"

namespace perfledger {

// Keys of the write model: the streams of praise and cases, a giver's recent praise, and the
// index of grade events that case evidence names.
std::string PraiseStream(std::string_view praise_id);
std::string CaseStream(std::string_view case_id);
std::string PraiseGiverKey(std::string_view employee_id);
std::string GradeEventKey(std::string_view event_id);

// How many of the giver's remembered praises were received within the rolling window
// (limits::kPraiseRateWindowSeconds) that ends at `now`: those received after now - window.
// A praise received at exactly now - window has left the window.
uint32_t PraiseInWindow(const internal::PraiseGiverState& giver, absl::Time now);

// Whether one more praise received at `now` keeps the giver within
// limits::kPraisePerGiverPerDayMax; RESOURCE_EXHAUSTED naming the limit and when the oldest
// counted praise leaves the window otherwise.
absl::Status CheckPraiseRate(const internal::PraiseGiverState& giver, absl::Time now);

// Remembers praise event `event_id` received at `received_at_micros`: the state keeps the
// newest limits::kPraisePerGiverPerDayMax entries, oldest first (enough to decide the rate:
// when that many fall within the window, so do the newest that many). An event already
// remembered is not added again, so folding it twice changes nothing.
void RememberPraise(internal::PraiseGiverState& giver, const std::string& event_id,
                    int64_t received_at_micros);

// A company value tag: 1..limits::kPraiseValueBytesMax bytes of [a-z0-9-], starting with a
// letter or digit. INVALID_ARGUMENT naming `field` otherwise.
absl::Status CheckValueTag(std::string_view field, std::string_view tag);

}  // namespace perfledger
