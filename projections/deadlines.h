// The reactor's deadline schedule: the deadlines its state registers (a plan's end, a dispute
// window, a follow-up, the end of an erased employee's retention period; the "dl/" and "dls/"
// rows of reactor_rows.h) and the scheduler that turns those due into facts in the log.
//
// Registering and removing deadlines is part of the fold, a pure function of the log. Firing
// them is the reactor's one live-only part: FireDeadlines appends DeadlineReached (or
// RetentionEnded) facts, and the fold reads those facts on replay, never the clock.
// Internal to projections/; the services reach it through Reactor (reactor.h).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "ledger/ledger.h"
#include "perfledger/internal/reactor.pb.h"
#include "perfledger/v1/policies.pb.h"
#include "projections/projector.h"
#include "projections/view.h"

namespace perfledger::projections {

// The subject of the deadline at which an erased employee's retained compensation records are
// shredded.
std::string RetentionDeadline(const EmployeeId& employee);

// Registers the deadline of `subject` (about `employee`) at `at`, replacing the one registered
// before for that subject.
absl::Status AddDeadline(ViewTxn& txn, const std::string& subject, const EmployeeId& employee,
                         const google::protobuf::Timestamp& at);
// Removes the deadline of `subject`; nothing when none is registered.
absl::Status RemoveDeadline(ViewTxn& txn, const std::string& subject);
// The deadline registered for `subject`, if any.
absl::StatusOr<std::optional<internal::Deadline>> RegisteredDeadline(ViewTxn& txn,
                                                                     const std::string& subject);

// Waits until `projector` (the reactor's) has applied the log as of the call, then appends
// through `ledger` DeadlineReached for every registered deadline due at or before `now`, and
// RetentionEnded for every erased employee whose retention period ended by the clock (never
// earlier, whatever `now` says). Stops at the first append the ledger refuses, returning its
// error; the deadlines fired before it stay fired.
absl::StatusOr<v1::FireDeadlinesResponse> FireDeadlines(Projector& projector, Ledger& ledger,
                                                        absl::Time now,
                                                        const CommandContext& ctx,
                                                        absl::Time deadline);

}  // namespace perfledger::projections
