#include "ledger/group_commit.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/types.h"

namespace perfledger {

GroupCommit::GroupCommit(Options options, std::vector<DurableTail> tails, Sink* sink)
    : options_(std::move(options)),
      sink_(sink),
      durable_ends_(static_cast<uint32_t>(tails.size())) {
  next_sequence_.reserve(tails.size());
  for (DurableTail& t : tails) {
    const PartitionId p(static_cast<uint32_t>(next_sequence_.size()));
    durable_ends_[p] = t.end;
    next_sequence_.push_back(t.next_sequence);
    durable_events_.push_back(t.next_sequence);
    tip_.push_back(t.tip);
    durable_tips_.push_back(std::move(t.tip));
  }
  if (sink_ != nullptr) {
    committer_ = std::thread([this] {
      NameThisThread(options_.thread_name);
      CommitLoop();
    });
  }
}

GroupCommit::~GroupCommit() {
  Close();
  if (committer_.joinable()) committer_.join();
}

absl::Status GroupCommit::RefusalLocked() const {
  if (closed_) return absl::UnavailableError("the log is closed");
  const absl::Status& refusal = failure_.refusal;
  if (!refusal.ok()) {
    if (refusal.code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(
          absl::StrCat("the log refuses writes: ", refusal.message()));
    }
    return absl::UnavailableError(absl::StrCat("the log refuses writes after a failed write",
                                               failure_.recoverable ? " (recovering)" : "", ": ",
                                               refusal.message()));
  }
  if (held_) {
    return absl::UnavailableError(
        "the log recovered from a failed write; writes resume once the writer has caught up");
  }
  return absl::OkStatus();
}

void GroupCommit::Append(AppendBatch batch, AppendDone done) {
  std::vector<v1::Envelope>& events = *batch;
  if (events.empty()) {
    done(std::vector<LogPosition>{});
    return;
  }
  if (sink_ == nullptr) {
    done(absl::FailedPreconditionError("this log does not write"));
    return;
  }
  if (absl::Status s = CheckAppendBatch(events, durable_ends_.size()); !s.ok()) {
    done(std::move(s));
    return;
  }

  std::unique_lock<std::mutex> lock(mu_);
  space_cv_.wait(lock, [&] {
    return closed_ || !failure_.refusal.ok() || held_ ||
           queue_.size() < limits::kAppendQueueDepthMax;
  });
  if (absl::Status refused = RefusalLocked(); !refused.ok()) {
    lock.unlock();
    done(std::move(refused));
    return;
  }

  // Sealing happens here, under the lock, because the chain is ordered by it: chain order =
  // append order = the order the committer writes in.
  SealedAppend sealed;
  sealed.values.reserve(events.size());
  sealed.positions.reserve(events.size());
  sealed.hashes.reserve(events.size());
  const google::protobuf::Timestamp recorded_at = ToTimestamp(absl::Now());
  absl::Status error;
  size_t sealed_events = 0;
  for (v1::Envelope& e : events) {
    const uint32_t p = e.position().partition();
    const uint64_t sequence = next_sequence_[p]++;
    *e.mutable_recorded_at() = recorded_at;
    const Offset offset(options_.offsets == OffsetSource::kSequence ? sequence : 0);
    if (options_.offsets == OffsetSource::kSequence) e.mutable_position()->set_offset(sequence);
    SealEnvelope(e, tip_[p], sequence);
    tip_[p] = e.hash();
    sealed_events++;
    absl::StatusOr<std::string> value = sink_->Encode(e);
    if (!value.ok()) {
      error = value.status();
      break;
    }
    sealed.bytes += value->size();
    sealed.values.push_back(*std::move(value));
    sealed.positions.push_back({PartitionId(p), offset});
    sealed.hashes.push_back(e.hash());
  }
  if (error.ok() && sealed.bytes > limits::kBatchBytesMax) {
    error = absl::ResourceExhaustedError(absl::StrFormat(
        "batch: %d bytes, at most %d in one append", sealed.bytes, limits::kBatchBytesMax));
  }
  if (!error.ok()) {
    // Undo the reservation, newest first: nothing of this batch reaches the queue.
    for (size_t i = sealed_events; i-- > 0;) {
      const uint32_t p = events[i].position().partition();
      next_sequence_[p]--;
      tip_[p] = events[i].prev_hash();
    }
    lock.unlock();
    done(std::move(error));
    return;
  }
  sealed.events = std::move(batch);
  sealed.done = std::move(done);
  queue_.push_back(std::move(sealed));
  stats_.appends++;
  queue_cv_.notify_one();
}

bool GroupCommit::NextGroup(std::vector<SealedAppend>& group) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_ && queue_.empty()) {
    if (queue_cv_.wait_for(lock, std::chrono::milliseconds(limits::kGroupCommitIdleMs)) ==
            std::cv_status::timeout &&
        queue_.empty() && !closed_) {
      lock.unlock();
      sink_->Idle();
      lock.lock();
    }
  }
  if (queue_.empty()) return false;  // closed and drained
  if (options_.linger > absl::ZeroDuration()) {
    // A write whose cost does not grow with its size is worth a short wait: appenders whose
    // callbacks just ran are typically about to append again. Wait (at most `linger`) until as
    // many appends are queued as the last group had; a lone appender (last group of 1) never
    // waits.
    const auto gather_until =
        std::chrono::steady_clock::now() + absl::ToChronoMicroseconds(options_.linger);
    while (!closed_ && queue_.size() < last_group_appends_ &&
           queue_cv_.wait_until(lock, gather_until) != std::cv_status::timeout) {
    }
    last_group_appends_ = std::max<size_t>(1, std::min(queue_.size(), size_t{64}));
  }
  size_t events = 0, bytes = 0;
  while (!queue_.empty()) {
    SealedAppend& next = queue_.front();
    if (!group.empty() && (events + next.values.size() > limits::kGroupCommitEventsMax ||
                           bytes + next.bytes > limits::kGroupCommitBytesMax)) {
      break;
    }
    events += next.values.size();
    bytes += next.bytes;
    group.push_back(std::move(next));
    queue_.pop_front();
  }
  space_cv_.notify_all();
  return true;
}

void GroupCommit::CommitLoop() {
  std::vector<SealedAppend> group;
  while (NextGroup(group)) {
    GroupFailure failure;
    const absl::Status status = sink_->Write(group, failure);
    std::vector<SealedAppend> failed_queue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (status.ok()) {
        for (const SealedAppend& a : group) {
          for (size_t i = 0; i < a.positions.size(); i++) {
            const LogPosition& pos = a.positions[i];
            Offset& end = durable_ends_[pos.partition];
            end = std::max(end, pos.offset + 1);
            durable_tips_[pos.partition.value()] = a.hashes[i];
            durable_events_[pos.partition.value()]++;
          }
          stats_.events += a.positions.size();
        }
        stats_.group_commits++;
        appended_cv_.notify_all();
      } else {
        if (failure.group.ok()) {
          failure.group = absl::UnavailableError(absl::StrCat("append failed: ", status.message()));
        }
        if (failure.queued.ok()) {
          failure.queued = absl::UnavailableError(
              absl::StrCat("append refused: an earlier append failed: ", status.message()));
        }
        if (failure.refusal.ok()) failure.refusal = status;
        failure_ = failure;
        // Everything queued behind the failed group was sealed against it: fail it too.
        while (!queue_.empty()) {
          failed_queue.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        space_cv_.notify_all();
        appended_cv_.notify_all();
      }
    }
    if (!status.ok()) {
      LogError(absl::StrCat(options_.log_name, ": ", failure.group.message(), "; ",
                            failed_queue.size(), " queued appends failed; the log refuses writes ",
                            failure.recoverable ? "until it recovers" : "until it is reopened"));
    }
    for (SealedAppend& a : group) {
      if (status.ok()) {
        a.done(std::move(a.positions));
      } else {
        a.done(failure.group);
      }
    }
    for (SealedAppend& a : failed_queue) a.done(failure.queued);
    group.clear();
    // After the callbacks, so that a backend that is away does not hold them up.
    if (!status.ok() && failure.recoverable) Recover();
  }
}

void GroupCommit::Recover() {
  for (int tries = 1;; tries++) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
    }
    absl::StatusOr<std::vector<DurableTail>> tails = sink_->Recover();
    if (tails.ok() && tails->size() != next_sequence_.size()) {
      tails = absl::InternalError(absl::StrFormat("recovery found %d partitions, the log has %d",
                                                  tails->size(), next_sequence_.size()));
    }
    if (tails.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      for (uint32_t i = 0; i < tails->size(); i++) {
        DurableTail& t = (*tails)[i];
        const PartitionId p(i);
        next_sequence_[i] = t.next_sequence;
        durable_events_[i] = t.next_sequence;
        tip_[i] = t.tip;
        durable_tips_[i] = std::move(t.tip);
        durable_ends_[p] = std::max(durable_ends_[p], t.end);
      }
      failure_ = GroupFailure{};
      held_ = true;
      stats_.recoveries++;
      appended_cv_.notify_all();
      space_cv_.notify_all();
      LogInfo(absl::StrFormat("%s: recovered after a failed write (attempt %d); writes resume "
                              "once the writer has caught up",
                              options_.log_name, tries));
      return;
    }
    LogWarning(absl::StrFormat("%s: recovery attempt %d: %s", options_.log_name, tries,
                               tails.status().message()));
    std::unique_lock<std::mutex> lock(mu_);
    queue_cv_.wait_for(lock, std::chrono::milliseconds(limits::kLogRecoverRetryMs),
                       [this] { return closed_; });
  }
}

LogEnds GroupCommit::Ends() {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_ends_;
}

LogEnds GroupCommit::WaitForAppend(const LogEnds& seen, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  appended_cv_.wait_until(lock, absl::ToChronoTime(deadline),
                          [&] { return closed_ || durable_ends_ != seen; });
  return durable_ends_;
}

std::vector<std::string> GroupCommit::Tips() {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_tips_;
}

LogSummary GroupCommit::Summary() {
  std::lock_guard<std::mutex> lock(mu_);
  LogSummary summary;
  for (PartitionId p : durable_ends_.partitions()) {
    summary.partitions.push_back(
        {durable_ends_[p], durable_events_[p.value()], durable_tips_[p.value()]});
  }
  summary.appends = stats_.appends;
  summary.group_commits = stats_.group_commits;
  return summary;
}

void GroupCommit::Advance(PartitionId partition, const DurableTail& tail) {
  std::lock_guard<std::mutex> lock(mu_);
  Offset& end = durable_ends_[partition];
  if (tail.end <= end) return;
  end = tail.end;
  durable_tips_[partition.value()] = tail.tip;
  durable_events_[partition.value()] = tail.next_sequence;
  appended_cv_.notify_all();
}

bool GroupCommit::WritesHeld() {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

void GroupCommit::ResumeWrites() {
  std::lock_guard<std::mutex> lock(mu_);
  held_ = false;
  space_cv_.notify_all();
}

void GroupCommit::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  queue_cv_.notify_all();
  space_cv_.notify_all();
  appended_cv_.notify_all();
}

GroupCommitStats GroupCommit::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace perfledger
