// ledger/group_commit: sealing, grouping, durable ends, sticky failure and recovery, against a
// sink whose writes the test controls.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/group_commit.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"

namespace perfledger {
namespace {

// A sink that records what it is asked to write. Writes can be held (to let appends queue up
// behind one) and made to fail; offsets of OffsetSource::kWrite are 10 × sequence, so they have
// gaps as Kafka's do.
class FakeSink final : public GroupCommit::Sink {
 public:
  absl::StatusOr<std::string> Encode(v1::Envelope& sealed) override {
    if (absl::StartsWith(sealed.event_id(), "refuse")) {
      return absl::ResourceExhaustedError(absl::StrCat("event ", sealed.event_id(), ": refused"));
    }
    return sealed.SerializeAsString();
  }

  absl::Status Write(std::vector<SealedAppend>& group, GroupFailure& failure) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    writing_ = false;
    std::vector<std::string> ids;
    for (SealedAppend& a : group) {
      for (size_t i = 0; i < a.values.size(); i++) {
        const v1::Envelope& e = (*a.events)[i];
        ids.push_back(e.event_id());
        if (offsets_from_write) a.positions[i].offset = Offset(e.sequence() * 10);
      }
    }
    if (!failures_.empty()) {
      std::pair<absl::Status, GroupFailure> f = failures_.front();
      failures_.pop_front();
      failure = f.second;
      return f.first;
    }
    groups_.push_back(std::move(ids));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<DurableTail>> Recover() override {
    std::lock_guard<std::mutex> lock(mu_);
    recover_calls_++;
    if (recover_failures_ > 0) {
      recover_failures_--;
      return absl::UnavailableError("still away");
    }
    return recovered_;
  }

  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  // Waits until the committer is inside Write.
  void AwaitWriting() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return writing_; });
  }
  void FailNext(absl::Status status, GroupFailure failure = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.emplace_back(std::move(status), std::move(failure));
  }
  void RecoverTo(std::vector<DurableTail> tails, int failures_first) {
    std::lock_guard<std::mutex> lock(mu_);
    recovered_ = std::move(tails);
    recover_failures_ = failures_first;
  }
  std::vector<std::vector<std::string>> groups() {
    std::lock_guard<std::mutex> lock(mu_);
    return groups_;
  }
  int recover_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return recover_calls_;
  }

  bool offsets_from_write = false;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool writing_ = false;
  std::deque<std::pair<absl::Status, GroupFailure>> failures_;
  std::vector<std::vector<std::string>> groups_;
  std::vector<DurableTail> recovered_;
  int recover_failures_ = 0;
  int recover_calls_ = 0;
};

std::vector<DurableTail> EmptyTails(uint32_t partitions) {
  return std::vector<DurableTail>(partitions, DurableTail{Offset(0), 0, GenesisHash()});
}

v1::Envelope Event(uint32_t partition, const std::string& id) {
  v1::Envelope e;
  e.set_event_id(id);
  e.set_type("MetricObserved");
  e.set_stream("metrics/" + id);
  e.mutable_position()->set_partition(partition);
  e.set_payload("payload of " + id);
  return e;
}

// One append's outcome, collected from its callback.
struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<std::vector<LogPosition>>> result;

  AppendDone Done() {
    return [this](absl::StatusOr<std::vector<LogPosition>> r) {
      std::lock_guard<std::mutex> lock(mu);
      result = std::move(r);
      cv.notify_all();
    };
  }
  absl::StatusOr<std::vector<LogPosition>> Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return result.has_value(); });
    return *result;
  }
};

absl::StatusOr<std::vector<LogPosition>> AppendNow(GroupCommit& log,
                                                   std::vector<v1::Envelope> events,
                                                   AppendBatch* sealed = nullptr) {
  auto batch = std::make_shared<std::vector<v1::Envelope>>(std::move(events));
  if (sealed != nullptr) *sealed = batch;
  Outcome outcome;
  log.Append(batch, outcome.Done());
  return outcome.Wait();
}

GroupCommit::Options SequenceOffsets() {
  GroupCommit::Options o;
  o.offsets = OffsetSource::kSequence;
  o.thread_name = "pl-test-commit";
  return o;
}

TEST_CASE("group commit: events are sealed in append order and chained per partition") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(3), &sink);
  AppendBatch first, second;
  auto a = AppendNow(log, {Event(1, "a1"), Event(2, "a2"), Event(1, "a3")}, &first);
  REQUIRE(a.ok());
  auto b = AppendNow(log, {Event(1, "b1")}, &second);
  REQUIRE(b.ok());

  // Offsets are sequences, contiguous per partition.
  CHECK(*a == std::vector<LogPosition>{{PartitionId(1), Offset(0)},
                                       {PartitionId(2), Offset(0)},
                                       {PartitionId(1), Offset(1)}});
  CHECK(*b == std::vector<LogPosition>{{PartitionId(1), Offset(2)}});
  // Each event links to the previous event of its partition, the first to the genesis hash.
  const v1::Envelope& a1 = (*first)[0];
  const v1::Envelope& a2 = (*first)[1];
  const v1::Envelope& a3 = (*first)[2];
  const v1::Envelope& b1 = (*second)[0];
  CHECK(a1.prev_hash() == GenesisHash());
  CHECK(a2.prev_hash() == GenesisHash());
  CHECK(a3.prev_hash() == a1.hash());
  CHECK(b1.prev_hash() == a3.hash());
  CHECK(b1.sequence() == 2);
  CHECK(a1.position().offset() == 0);
  CHECK(a3.position().offset() == 1);

  CHECK(log.Ends()[PartitionId(1)] == Offset(3));
  CHECK(log.Ends()[PartitionId(2)] == Offset(1));
  CHECK(log.Tips()[1] == b1.hash());
  CHECK(log.Tips()[2] == a2.hash());
  CHECK(log.Tips()[0] == GenesisHash());
  const LogSummary summary = log.Summary();
  CHECK(summary.partitions[1].events == 3);
  CHECK(summary.appends == 2);
  CHECK(summary.group_commits == 2);
}

TEST_CASE("group commit: offsets that the write assigns reach the callback and the ends") {
  FakeSink sink;
  sink.offsets_from_write = true;
  GroupCommit::Options o = SequenceOffsets();
  o.offsets = OffsetSource::kWrite;
  GroupCommit log(o, EmptyTails(2), &sink);
  AppendBatch sealed;
  auto r = AppendNow(log, {Event(1, "x"), Event(1, "y")}, &sealed);
  REQUIRE(r.ok());
  // Sealing set no offset; the write's (10 × sequence) are the positions.
  CHECK((*sealed)[1].position().offset() == 0);
  CHECK(*r == std::vector<LogPosition>{{PartitionId(1), Offset(0)}, {PartitionId(1), Offset(10)}});
  CHECK(log.Ends()[PartitionId(1)] == Offset(11));
  // Event counts follow the sequences, not the offsets.
  CHECK(log.Summary().partitions[1].events == 2);
}

TEST_CASE("group commit: appends queued behind a write go out together and answer in order") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(3), &sink);
  sink.Hold();
  Outcome first;
  log.Append(std::make_shared<std::vector<v1::Envelope>>(std::vector{Event(1, "first")}),
             first.Done());
  sink.AwaitWriting();
  constexpr int kQueued = 20;
  std::vector<Outcome> queued(kQueued);
  std::mutex order_mu;
  std::vector<int> order;
  for (int i = 0; i < kQueued; i++) {
    log.Append(std::make_shared<std::vector<v1::Envelope>>(
                   std::vector{Event(1 + i % 2, absl::StrCat("q", i))}),
               [&, i](absl::StatusOr<std::vector<LogPosition>> r) {
                 {
                   std::lock_guard<std::mutex> lock(order_mu);
                   order.push_back(i);
                 }
                 queued[i].Done()(std::move(r));
               });
  }
  sink.Release();
  REQUIRE(first.Wait().ok());
  for (Outcome& o : queued) REQUIRE(o.Wait().ok());
  const auto groups = sink.groups();
  REQUIRE(groups.size() == 2);  // the held one, then every queued append in one group
  CHECK(groups[1].size() == kQueued);
  std::vector<int> expected(kQueued);
  for (int i = 0; i < kQueued; i++) expected[i] = i;
  CHECK(order == expected);
  CHECK(log.stats().group_commits == 2);
  CHECK(log.stats().appends == kQueued + 1);
}

TEST_CASE("group commit: an append the sink refuses to encode leaves no trace") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(2), &sink);
  AppendBatch before;
  REQUIRE(AppendNow(log, {Event(1, "before")}, &before).ok());
  auto refused = AppendNow(log, {Event(1, "fine"), Event(1, "refuse-me"), Event(1, "after")});
  CHECK(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StrContains(refused.status().message(), "refuse-me"));
  // The next append takes the sequence and the chain link the refused one had reserved.
  AppendBatch next;
  auto r = AppendNow(log, {Event(1, "next")}, &next);
  REQUIRE(r.ok());
  CHECK((*r)[0].offset == Offset(1));
  CHECK((*next)[0].prev_hash() == (*before)[0].hash());
  CHECK(sink.groups().size() == 2);
  CHECK(log.stats().appends == 2);
}

TEST_CASE("group commit: a batch over the byte limit is refused whole") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(2), &sink);
  std::vector<v1::Envelope> big;
  const size_t each = limits::kBatchBytesMax / 4;
  for (int i = 0; i < 5; i++) {
    big.push_back(Event(1, absl::StrCat("big", i)));
    big.back().set_payload(std::string(each, 'x'));
  }
  auto r = AppendNow(log, std::move(big));
  CHECK(r.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StrContains(r.status().message(), "in one append"));
  REQUIRE(AppendNow(log, {Event(1, "small")}).ok());
  CHECK(log.Ends()[PartitionId(1)] == Offset(1));
}

TEST_CASE("group commit: a bad batch is refused before it is sealed") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(2), &sink);
  auto r = AppendNow(log, {Event(7, "nowhere")});
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  auto empty = AppendNow(log, {});
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  CHECK(log.stats().appends == 0);
}

TEST_CASE("group commit: a failed write fails its group and the queue behind it for good") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(2), &sink);
  REQUIRE(AppendNow(log, {Event(1, "ok")}).ok());
  sink.Hold();
  sink.FailNext(absl::InternalError("disk on fire"));
  Outcome failing, behind;
  log.Append(std::make_shared<std::vector<v1::Envelope>>(std::vector{Event(1, "failing")}),
             failing.Done());
  sink.AwaitWriting();
  log.Append(std::make_shared<std::vector<v1::Envelope>>(std::vector{Event(1, "behind")}),
             behind.Done());
  sink.Release();
  auto f = failing.Wait();
  CHECK(f.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(f.status().message(), "disk on fire"));
  auto b = behind.Wait();
  CHECK(b.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(b.status().message(), "an earlier append failed"));
  // Later appends are refused; nothing moved.
  auto later = AppendNow(log, {Event(1, "later")});
  CHECK(later.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(later.status().message(), "refuses writes"));
  CHECK(log.Ends()[PartitionId(1)] == Offset(1));
  CHECK(sink.recover_calls() == 0);
  CHECK_FALSE(log.WritesHeld());
}

TEST_CASE("group commit: a refusal for good is FAILED_PRECONDITION") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(2), &sink);
  GroupFailure fenced;
  fenced.group = absl::FailedPreconditionError("fenced");
  fenced.queued = absl::FailedPreconditionError("fenced, queued");
  fenced.refusal = absl::FailedPreconditionError("another writer took over");
  sink.FailNext(absl::FailedPreconditionError("fenced"), fenced);
  CHECK(AppendNow(log, {Event(1, "a")}).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  auto later = AppendNow(log, {Event(1, "b")});
  CHECK(later.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(later.status().message(), "another writer took over"));
}

TEST_CASE("group commit: a recoverable failure recovers, holds writes, then resumes from the "
          "recovered tails") {
  FakeSink sink;
  GroupCommit log(SequenceOffsets(), EmptyTails(2), &sink);
  AppendBatch first;
  REQUIRE(AppendNow(log, {Event(1, "a")}, &first).ok());
  // The backend finds two more events durable than this log knew of (an unknown outcome that
  // committed), after two failed attempts.
  const std::string recovered_tip = "recovered-tip";
  std::vector<DurableTail> tails = EmptyTails(2);
  tails[1] = DurableTail{Offset(3), 3, recovered_tip};
  sink.RecoverTo(tails, 2);
  GroupFailure unknown;
  unknown.recoverable = true;
  unknown.group = absl::UnavailableError("append outcome unknown");
  sink.FailNext(absl::UnavailableError("commit timed out"), unknown);
  auto failed = AppendNow(log, {Event(1, "b")});
  CHECK(failed.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(failed.status().message(), "outcome unknown"));

  REQUIRE(log.WaitForAppend(log.Ends(), absl::Now() + absl::Seconds(10))[PartitionId(1)] ==
          Offset(3));
  CHECK(log.WritesHeld());
  CHECK(sink.recover_calls() == 3);
  CHECK(log.stats().recoveries == 1);
  CHECK(log.Tips()[1] == recovered_tip);
  CHECK(log.Summary().partitions[1].events == 3);
  auto held = AppendNow(log, {Event(1, "c")});
  CHECK(held.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(held.status().message(), "caught up"));

  log.ResumeWrites();
  AppendBatch resumed;
  auto r = AppendNow(log, {Event(1, "d")}, &resumed);
  REQUIRE(r.ok());
  CHECK((*r)[0].offset == Offset(3));
  CHECK((*resumed)[0].sequence() == 3);
  CHECK((*resumed)[0].prev_hash() == recovered_tip);
}

TEST_CASE("group commit: close completes what is queued and refuses the rest") {
  FakeSink sink;
  auto log = std::make_unique<GroupCommit>(SequenceOffsets(), EmptyTails(2), &sink);
  sink.Hold();
  Outcome writing, queued;
  log->Append(std::make_shared<std::vector<v1::Envelope>>(std::vector{Event(1, "w")}),
              writing.Done());
  sink.AwaitWriting();
  log->Append(std::make_shared<std::vector<v1::Envelope>>(std::vector{Event(1, "q")}),
              queued.Done());
  log->Close();
  CHECK(AppendNow(*log, {Event(1, "late")}).status().code() == absl::StatusCode::kUnavailable);
  // A waiter wakes at once on a closed log.
  const LogEnds seen = log->Ends();
  CHECK(log->WaitForAppend(seen, absl::Now() + absl::Hours(1)) == seen);
  sink.Release();
  log.reset();  // joins the committer once the queue is drained
  CHECK(writing.Wait().ok());
  CHECK(queued.Wait().ok());
}

TEST_CASE("group commit: a log without a sink follows its ends and never writes") {
  GroupCommit log(SequenceOffsets(), EmptyTails(2), nullptr);
  CHECK(AppendNow(log, {Event(1, "x")}).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  log.Advance(PartitionId(1), {Offset(5), 3, "tip-5"});
  log.Advance(PartitionId(1), {Offset(4), 2, "older"});  // never backwards
  CHECK(log.Ends()[PartitionId(1)] == Offset(5));
  CHECK(log.Tips()[1] == "tip-5");
  CHECK(log.Summary().partitions[1].events == 3);
  CHECK(log.Summary().appends == 0);
}

}  // namespace
}  // namespace perfledger
