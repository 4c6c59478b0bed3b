// Test support for the view tests and the rebuild benchmark: a scratch directory, a writer that
// appends raw envelopes the way the ledger would (partition by key, control version, one stream
// version per stream), and a generator of random but valid histories that touch every view.
//
// Not thread-safe; one per test.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "ledger/embedded_log.h"
#include "ledger/state_store.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"

namespace perfledger::views_test {

// A fresh directory under /tmp, removed with its contents on destruction. Aborts the test
// binary when it cannot be created (nothing else can run without it).
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// An embedded log without fsync (views are the subject here, not durability).
std::unique_ptr<EmbeddedLog> OpenLog(const std::string& dir, uint32_t data_partitions);
// A state store with the projector's families for AllViews().
std::unique_ptr<StateStore> OpenStore(const std::string& dir);

// One appended event as the model sees it: the envelope (position.partition set; the offset is
// the log's business) and its payload.
struct Recorded {
  v1::Envelope envelope;
  v1::Event event;
};

// Builds envelopes and appends them in order, in batches of at most `batch` events.
class LogWriter {
 public:
  LogWriter(EventLog* log, bool keep_history, size_t batch = 2000);

  // A control-stream event (partition 0).
  void Control(const std::string& stream, v1::Event event,
               const google::protobuf::Timestamp& occurred_at);
  // A data event routed by `partition_key` (an employee or org unit id).
  void Data(const std::string& partition_key, const std::string& stream, v1::Event event,
            const google::protobuf::Timestamp& occurred_at);
  // Data event whose control_version is `control_version` instead of the current control end.
  void DataWithControlVersion(const std::string& partition_key, const std::string& stream,
                              v1::Event event, const google::protobuf::Timestamp& occurred_at,
                              uint64_t control_version);

  // Appends everything queued. Also called whenever `batch` events are queued.
  absl::Status Flush();
  // Positions of the events of the last append.
  const std::vector<LogPosition>& last_appended() const { return last_appended_; }

  // Every event added so far, in log order (only with keep_history).
  const std::vector<Recorded>& history() const { return history_; }
  uint64_t events() const { return next_event_; }
  uint64_t control_end() const { return control_end_; }
  // The id the next added event will get.
  std::string NextEventId() const;

 private:
  void Add(PartitionId partition, const std::string& partition_key, const std::string& stream,
           v1::Event event, const google::protobuf::Timestamp& occurred_at,
           uint64_t control_version);

  EventLog* log_;
  bool keep_history_;
  size_t batch_;
  std::vector<v1::Envelope> pending_;
  std::vector<Recorded> history_;
  std::vector<LogPosition> last_appended_;
  std::map<std::string, uint64_t> stream_versions_;
  uint64_t next_event_ = 0;
  uint64_t control_end_ = 0;
  absl::Status failed_;
};

struct HistoryOptions {
  uint64_t seed = 1;
  int employees = 24;
  // Data events after the opening control events and registrations.
  int events = 3000;
  // Grades carry the policy version in force when they were written (it changes mid-cycle when
  // a policy is published) instead of one fixed version per cycle.
  bool grade_policy_follows_control = false;
};

// Appends a random history: org units, cycles and policies on the control stream; employees,
// metrics, check-ins, goals (with alignment, revisions, progress, closings), scores and grades
// (some superseding earlier ones), actions of every kind with deliveries, acknowledgements,
// rejections and cancellations, PIP lifecycles and LMS training reports. It deliberately mixes
// in what a real log can hold and views must tolerate: duplicate triggers, reports about
// unknown actions, stale deadlines, reports after a plan closed, out-of-order business times.
void GenerateHistory(const HistoryOptions& options, LogWriter& writer);

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos = 0);

}  // namespace perfledger::views_test
