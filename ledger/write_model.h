// The write model: the little state command validation needs (does the employee exist, is the
// cycle open, which key results does a goal have, ...), folded from the log.
//
// Two layers. `Committed` is the fold of durable events: cached in memory and persisted to the
// state store's "write_model" family together with a per-partition checkpoint, in one
// WriteBatch, in log order. `Pending` overlays decisions whose append is still in flight, so a
// command decided right after another sees its effect. A pending entry is dropped once every
// event that touched it has committed; a failed append drops them all (the log then refuses
// writes until reopened, so no later decision can rely on them).
//
// After a crash the persisted checkpoint may trail the log; Open() callers run CatchUp(), which
// folds the missing suffix. Folding is idempotent per event (it assigns, never increments), so
// replaying an event the store already holds is harmless.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <memory>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "ledger/event_log.h"
#include "ledger/state_store.h"
#include "perfledger/internal/write_model.pb.h"
#include "perfledger/v1/events.pb.h"

namespace perfledger {

// An event as the write model folds it: the envelope header (payload not needed) and the
// decoded payload.
struct FoldInput {
  const v1::Envelope* header;
  const v1::Event* event;
};

// Generated event ids carry this prefix; clients may not use it. Every other event id is
// indexed for duplicate detection.
inline constexpr char kGeneratedEventIdPrefix[] = "pl-";

// Description, unit, direction and weight of a key result, for GoalRevised.changed.
std::string KeyResultFingerprint(const v1::KeyResult& kr);

class WriteModel {
 public:
  static inline constexpr char kFamily[] = "write_model";

  static absl::StatusOr<std::unique_ptr<WriteModel>> Open(StateStore* store, uint32_t partitions);

  // ---- decide side

  // The entity keyed `key` ("employee/E1", "score/S9", ...) as decided so far.
  std::optional<internal::Entity> Find(const std::string& key);
  // Calls `visit` with the entity keyed `key` (under the write model's lock, so it must not
  // call back into the write model) and returns true, or returns false when there is none.
  // For the hot paths that need one field of an entity, not a copy of it.
  bool Visit(const std::string& key, absl::FunctionRef<void(const internal::Entity&)> visit);

  // The command record of an idempotency key, if the command committed.
  std::optional<internal::CommandRecord> FindCommand(const std::string& command_id);
  // The answer a command record stands for: its events' ids, streams and versions read back
  // from `log` at the recorded positions (contiguous ones in one read). Retries are rare; the
  // records stay small. UNAVAILABLE when the log cannot be read, DATA_LOSS when an event is
  // missing from it.
  static absl::StatusOr<v1::CommandResult> Answer(const internal::CommandRecord& record,
                                                  EventLog& log);
  // Adds a sealed event to a command's answer: its id, stream, version and position.
  static void AddToAnswer(const v1::Envelope& event, v1::CommandResult& answer);

  // Where a client-supplied event id was recorded: the command that appended it and, for
  // entries folded since positions are indexed, the event's place in the log.
  struct IndexedEvent {
    std::string command_id;
    std::optional<LogPosition> position;
  };
  std::optional<IndexedEvent> FindEvent(const std::string& event_id);

  // Overlays a decided (not yet durable) event.
  void ApplyPending(const FoldInput& in);

  // Drops the whole overlay after a failed append.
  void DropPending();

  // ---- commit side (must be called in log order)

  // Where folded events come from. kLive: the ledger's own appends, each command's events
  // together and its first event first, every one of them decided after its idempotency key
  // was found unused; a command whose first event is folded is then new to the store, and its
  // record is not looked up. kCatchUp: read back from the log, where a command's events in
  // other partitions may have been folded before its first one.
  enum class FoldOrigin { kCatchUp, kLive };

  // Folds durable events (headers with positions) and persists the result with the checkpoint.
  absl::Status ApplyCommitted(const std::vector<FoldInput>& events,
                              FoldOrigin origin = FoldOrigin::kCatchUp);

  // Folds the log from the persisted checkpoint to its end.
  absl::Status CatchUp(EventLog& log);

  // Next offset per partition that the committed fold has applied.
  LogEnds Checkpoint();

  // Called for every committed SubjectErased (key SEAL_KEY_PERSONAL) and RetentionEnded (key
  // SEAL_KEY_RETAINED) as it is folded, with its employee, before the fold is persisted
  // (the server destroys that key of the subject there). An error fails the fold; the next
  // catch-up folds the event, and calls the hook, again. Set before use.
  using ErasureHook =
      std::function<absl::Status(const EmployeeId& employee, v1::SealKey key)>;
  void SetErasureHook(ErasureHook hook) { erasure_hook_ = std::move(hook); }

 private:
  class Access;
  WriteModel() = default;
  internal::Entity* CommittedLocked(const std::string& key);
  static void Fold(const FoldInput& in, Access& access);

  StateStore* store_ = nullptr;
  std::mutex mu_;
  // Node maps: the fold holds references to entries while it inserts others.
  absl::node_hash_map<std::string, internal::Entity> committed_;
  struct PendingEntry {
    internal::Entity entity;
    uint32_t outstanding = 0;  // events in flight that touched it
  };
  absl::node_hash_map<std::string, PendingEntry> pending_;
  LogEnds checkpoint_;
  ErasureHook erasure_hook_;
  // A persist failed: the store lags the cache until a restart refolds (set by the only
  // ApplyCommitted caller, read by the next call of the same thread).
  bool store_behind_ = false;
};

}  // namespace perfledger
