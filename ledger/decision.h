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
};

enum class EmployeeMust { kBeActive, kExist };
enum class CycleMust { kBeOpen, kExist };

class Decision {
 public:
  Decision(WriteModel& wm, const v1::CommandMeta& meta, absl::Time now)
      : wm_(wm), meta_(meta), now_(now) {}

  const v1::CommandMeta& meta() const { return meta_; }

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
                                           bool must_be_open = true);

  // Checks meta.expected_version (when set) against `stream`: ABORTED on mismatch.
  absl::Status ExpectVersion(const std::string& stream);

  // Adds an event. Its business time is `occurred_at` when given, else meta.occurred_at, else
  // the receive time.
  void Emit(std::string stream, Route route, v1::Event event, std::string event_id = "",
            const google::protobuf::Timestamp* occurred_at = nullptr);

  std::vector<DecidedEvent>& events() { return events_; }

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
  std::vector<DecidedEvent> events_;
  bool allow_no_events_ = false;
  // Entities changed by this command's earlier events, folded by the caller; only versions here.
  absl::flat_hash_map<std::string, uint64_t> versions_;
};

// "employee/E1" etc.: stream names in one place.
std::string EmployeeStream(std::string_view id);
std::string OrgUnitStream(std::string_view id);
std::string CycleStream(std::string_view id);
std::string GoalStream(std::string_view id);
std::string MetricsStream(std::string_view subject);

}  // namespace perfledger
