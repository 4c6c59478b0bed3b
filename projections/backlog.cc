#include "projections/backlog.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace perfledger::projections {

absl::Status BacklogGate::Admit(absl::Time deadline) {
  absl::Time until = absl::InfinitePast();  // set on the first wait: the fast path reads no clock
  bool waited = false;
  for (const Source& source : sources_) {
    Projector& p = *source.projector;
    while (!p.rebuilding()) {
      const uint64_t lag = p.Lag();
      if (lag <= max_events_) break;
      const LogEnds seen = p.Applied();  // only now: the fast path above runs per command
      const absl::Time now = absl::Now();
      if (until == absl::InfinitePast()) until = std::min(deadline, now + max_wait_);
      if (closed_.load()) {
        refused_++;
        return absl::UnavailableError("the server is shutting down; retry with backoff");
      }
      absl::Status health = p.health();
      if (!health.ok() || now >= until) {
        refused_++;
        return absl::UnavailableError(absl::StrFormat(
            "the %s are %d events behind the log (at most %d before new commands wait)%s; "
            "retry with backoff",
            source.name, lag, max_events_,
            health.ok() ? std::string() : absl::StrCat(" and stopped: ", health.message())));
      }
      if (!waited) {
        waited = true;
        waited_++;
      }
      // Wakes at the projector's next batch (a few ms); the short cap re-reads the clock.
      p.WaitForChange(seen, std::min(until, now + absl::Milliseconds(100)));
    }
  }
  return absl::OkStatus();
}

}  // namespace perfledger::projections
