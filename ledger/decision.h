// What a command handler sees while it decides: lookups in the write model that fail with the
// right code naming the field, the expected-version check, and Emit() to add events.
// Internal to ledger/; used only under Ledger's decision mutex.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/access.h"
#include "ledger/write_model.h"
#include "perfledger/v1/commands.pb.h"
#include "perfledger/v1/events.pb.h"

namespace perfledger {

// Where an event goes: the single-partition control stream, or the data partition of a key.
struct Route {
  static Route Control() { return Route{true, ""}; }
  static Route Data(std::string key) { return Route{false, std::move(key)}; }
  bool control;
  std::string key;
};

struct DecidedEvent {
  std::string stream;
  Route route;
  v1::Event event;
  std::string event_id;  // empty: generated
  google::protobuf::Timestamp occurred_at;
  uint64_t stream_version = 0;
  // The decider already checked that `event_id` is not recorded (Ledger skips its own check).
  bool id_checked = false;
};

enum class EmployeeMust { kBeActive, kExist };
enum class CycleMust { kBeOpen, kExist };
// Whether Decision::Goal also requires the goal to be open (FAILED_PRECONDITION when closed).
enum class GoalMust { kBeOpen, kExist };

class Decision {
 public:
  Decision(WriteModel& wm, const v1::CommandMeta& meta, absl::Time now,
           const Principal& principal)
      : wm_(wm), meta_(meta), now_(now), principal_(principal), access_(&wm) {}

  const v1::CommandMeta& meta() const { return meta_; }
  // When the server received the command.
  absl::Time now() const { return now_; }
  const Principal& principal() const { return principal_; }

  // ---- who may write what (ARCHITECTURE §9); each PERMISSION_DENIED names the field.

  // The caller may write about employee `id`: themselves for an employee, their reports for a
  // manager, their subtrees for a limited hr token.
  absl::Status RequireScope(std::string_view field, const std::string& id);
  // The same for a fact about org unit `unit` (a manager: a unit they manage or under it).
  absl::Status RequireUnitScope(std::string_view field, const std::string& unit);
  // Org-wide facts (cycles, policies): hr and admin, not an hr token limited to org units.
  absl::Status RequireOrgWide(std::string_view field);
  // Only hr and admin (and their subtree, for a limited hr token) decide this.
  absl::Status RequireHr(std::string_view field);
  // `person` (named by `field`) is the person acting: the caller themselves, or hr/admin acting
  // on their behalf, which the events record in actor.on_behalf_of. meta.on_behalf_of, when
  // given, must name `person`.
  absl::Status RequireActing(std::string_view field, const std::string& person);
  // The person hr/admin acts for (empty when the caller acts for themselves).
  const std::string& on_behalf_of() const { return on_behalf_of_; }
  // Whether RequireActing consumed meta.on_behalf_of (a command with no acting person refuses
  // it).
  bool acting_checked() const { return acting_checked_; }

  // Entities as decided so far (including events emitted earlier in this command).
  std::optional<internal::Entity> Find(const std::string& key);

  // NOT_FOUND "<field>: employee X not found"; FAILED_PRECONDITION when departed and `must`
  // is kBeActive.
  absl::StatusOr<internal::EmployeeState> Employee(std::string_view field, const std::string& id,
                                                   EmployeeMust must = EmployeeMust::kBeActive);
  // The org unit of an active employee (the checks of Employee() with kBeActive): what a metric
  // observation is enriched with, without copying the employee's record.
  absl::StatusOr<std::string> EmployeeOrgUnit(std::string_view field, const std::string& id);
  absl::StatusOr<internal::OrgUnitState> OrgUnit(std::string_view field, const std::string& id);
  absl::StatusOr<internal::CycleState> Cycle(std::string_view field, const std::string& id,
                                             CycleMust must = CycleMust::kBeOpen);
  absl::StatusOr<internal::GoalState> Goal(std::string_view field, const std::string& id,
                                           GoalMust must = GoalMust::kBeOpen);

  // Checks meta.expected_version (when set) against `stream`: ABORTED on mismatch.
  absl::Status ExpectVersion(const std::string& stream);

  // Adds an event. Its business time is `occurred_at` when given, else meta.occurred_at, else
  // the receive time.
  void Emit(std::string stream, Route route, v1::Event event, std::string event_id = "",
            const google::protobuf::Timestamp* occurred_at = nullptr);

  std::vector<DecidedEvent>& events() { return events_; }

  // An item already recorded with the same content: acknowledged, not appended (its event id).
  void AddDuplicate(std::string event_id) { duplicates_.push_back(std::move(event_id)); }
  const std::vector<std::string>& duplicates() const { return duplicates_; }

  // A command that may legitimately decide nothing (every item already recorded) calls this;
  // it then answers an empty result instead of failing.
  void AllowNoEvents() { allow_no_events_ = true; }
  bool allows_no_events() const { return allow_no_events_; }

 private:
  // The existence and activity checks of Employee(), then `read` on the employee's state in
  // place (under the write model's lock: it must only copy what it needs).
  absl::Status WithEmployee(std::string_view field, const std::string& id, EmployeeMust must,
                            absl::FunctionRef<void(const internal::EmployeeState&)> read);

  WriteModel& wm_;
  const v1::CommandMeta& meta_;
  absl::Time now_;
  const Principal& principal_;
  Access access_;
  std::string on_behalf_of_;
  bool acting_checked_ = false;
  std::vector<DecidedEvent> events_;
  std::vector<std::string> duplicates_;
  bool allow_no_events_ = false;
  // Entities changed by this command's earlier events, folded by the caller; only versions here.
  absl::flat_hash_map<std::string, uint64_t> versions_;
};

// FinalizeGrade's dispute_id (commands_disputes.cc): empty, or an open dispute about the
// employee's grade in the cycle (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION otherwise).
absl::Status CheckDisputeOfGrade(Decision& d, const std::string& dispute_id,
                                 const EmployeeId& employee, const CycleId& cycle);

// "employee/E1" etc.: stream names in one place.
std::string EmployeeStream(std::string_view id);
std::string OrgUnitStream(std::string_view id);
std::string CycleStream(std::string_view id);
std::string GoalStream(std::string_view id);
std::string MetricsStream(std::string_view subject);

}  // namespace perfledger
