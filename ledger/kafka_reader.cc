#include "ledger/kafka_reader.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/status_macros.h"

namespace perfledger {

// ---------------------------------------------------------------------------------------------
// Tails

absl::StatusOr<DurableTail> ScanKafkaTail(KafkaClient& lane, uint32_t partition,
                                          absl::Time deadline) {
  rd_kafka_topic_t* rkt = lane.topics[TopicIndex(partition)];
  const int32_t kp = KafkaPartition(partition);
  const std::string where = absl::StrFormat("log partition %d (%s [%d])", partition,
                                            rd_kafka_topic_name(rkt), kp);
  int64_t low = 0, high = 0;
  // The lane reads committed data only, so `high` is the last stable offset: nothing at or
  // after it belongs to a finished transaction. Right after topic creation the leader may not
  // serve offsets yet (NOT_LEADER_FOR_PARTITION, UNKNOWN_TOPIC_OR_PART): transient errors are
  // retried until the deadline. The offsets come from ListOffsets through
  // rd_kafka_offsets_for_times (timestamps "earliest" and "latest"), which keeps to its
  // timeout; rd_kafka_query_watermark_offsets
  // waits for an unreachable leader without bound on librdkafka 2.0, which would stall Recover
  // and, through it, Close.
  auto query = [&](int64_t which, int64_t* offset) -> absl::Status {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(rkt), kp)->offset = which;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(lane.rk, list, RemainingMs(deadline));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
    *offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && *offset < 0) err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    return FromKafka(err, absl::StrCat("offsets of ", where));
  };
  for (;;) {
    absl::Status s = query(RD_KAFKA_OFFSET_BEGINNING, &low);
    if (s.ok()) s = query(RD_KAFKA_OFFSET_END, &high);
    if (s.ok()) break;
    // On a cluster the partition's leader may not know a topic created a moment ago yet
    // (UNKNOWN_TOPIC_OR_PART): transient as well.
    const bool transient = s.code() == absl::StatusCode::kUnavailable ||
                           s.code() == absl::StatusCode::kNotFound;
    if (!transient || absl::Now() >= deadline) return s;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (low > 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s starts at offset %d, not 0: records were deleted (retention), the history is "
        "incomplete",
        where, low));
  }
  DurableTail tail;
  tail.tip = GenesisHash();
  if (high <= low) return tail;

  // Read backwards in growing windows: the last committed event is usually just before the
  // commit marker at high-1, but an aborted transaction can leave many records after it.
  int64_t scan_end = high;
  int64_t window = 16;
  for (;;) {
    const int64_t start = std::max(low, scan_end - window);
    if (rd_kafka_consume_start(rkt, kp, start) == -1) {
      return FromKafka(rd_kafka_last_error(), absl::StrCat("scan ", where));
    }
    std::string last_value;
    int64_t last_offset = -1;
    int64_t position = start;
    absl::Status status = absl::OkStatus();
    while (position < scan_end) {
      if (absl::Now() >= deadline) {
        status = absl::UnavailableError(
            absl::StrCat("scan ", where, ": the tail did not arrive within open_timeout"));
        break;
      }
      rd_kafka_message_t* m = rd_kafka_consume(rkt, kp, std::min(200, RemainingMs(deadline)));
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        position = std::max(position, m->offset);
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = FromKafka(m->err, absl::StrCat("scan ", where));
      } else {
        if (m->offset < scan_end) {
          last_value.assign(static_cast<const char*>(m->payload), m->len);
          last_offset = m->offset;
        }
        position = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
      if (!status.ok()) break;
    }
    rd_kafka_consume_stop(rkt, kp);
    RETURN_IF_ERROR(status);
    if (last_offset >= 0) {
      v1::Envelope last;
      if (!last.ParseFromString(last_value)) {
        return absl::DataLossError(
            absl::StrFormat("%s: the last event (offset %d) does not parse", where, last_offset));
      }
      tail.end = Offset(static_cast<uint64_t>(last_offset) + 1);
      tail.next_sequence = last.sequence() + 1;
      tail.tip = last.hash();
      return tail;
    }
    if (start == low) return tail;  // markers and aborted records only
    scan_end = start;
    window *= 8;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

// One reader position in one partition on one lane. The lane's legacy (group-less) consumer
// keeps fetching ahead from `position`, so the next sequential Read finds its events already
// queued locally.
struct KafkaReader::Cursor {
  KafkaClient* lane = nullptr;
  uint32_t partition = 0;
  bool started = false;
  bool busy = false;
  // The offset after the last event this cursor returned: where a sequential reader continues.
  uint64_t expect = 0;
  // The offset after the last record (or end-of-partition) the consumer delivered. No
  // committed event lies in [expect, position) except those in `stash`.
  uint64_t position = 0;
  // Events delivered by the consumer but beyond the end the last Read could return.
  std::deque<StoredEvent> stash;
  uint64_t last_used = 0;

  bool Fits(uint64_t from) const { return started && from >= expect && from <= position; }
};

KafkaReader::KafkaReader(const KafkaLogOptions& options, KafkaTopicNames names,
                         uint32_t partitions, std::unique_ptr<KafkaClient> lane0)
    : options_(options), names_(std::move(names)), partitions_(partitions) {
  lanes_.push_back(std::move(lane0));
  for (uint32_t p = 0; p < partitions_; p++) {
    auto c = std::make_unique<Cursor>();
    c->lane = lanes_[0].get();
    c->partition = p;
    cursors_.push_back(std::move(c));
  }
}

KafkaReader::~KafkaReader() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& c : cursors_) {
    if (c->started) {
      rd_kafka_consume_stop(c->lane->topics[TopicIndex(c->partition)],
                            KafkaPartition(c->partition));
    }
  }
  cursors_.clear();
  lanes_.clear();
}

KafkaReader::Cursor* KafkaReader::AcquireCursor(uint32_t partition, uint64_t from,
                                                absl::Status* error) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    Cursor* fit = nullptr;
    Cursor* idle = nullptr;
    Cursor* lru = nullptr;
    for (size_t lane = 0; lane < lanes_.size(); lane++) {
      Cursor* c = cursors_[lane * partitions_ + partition].get();
      if (c->busy) continue;
      if (c->Fits(from)) {
        fit = c;
        break;
      }
      if (!c->started) {
        if (idle == nullptr) idle = c;
      } else if (lru == nullptr || c->last_used < lru->last_used) {
        lru = c;
      }
    }
    Cursor* chosen = fit != nullptr ? fit : idle;
    // Another lane before reseeking: two readers alternating on one partition would otherwise
    // throw away each other's prefetch on every call.
    if (chosen == nullptr && lanes_.size() < limits::kKafkaReadLanesMax) {
      auto lane =
          NewKafkaConsumer(options_, names_, absl::StrCat("reader-", lanes_.size()).c_str(), 50);
      if (!lane.ok()) {
        *error = lane.status();
        return nullptr;
      }
      lanes_.push_back(std::move(*lane));
      for (uint32_t p = 0; p < partitions_; p++) {
        auto c = std::make_unique<Cursor>();
        c->lane = lanes_.back().get();
        c->partition = p;
        cursors_.push_back(std::move(c));
      }
      chosen = cursors_[(lanes_.size() - 1) * partitions_ + partition].get();
    }
    if (chosen == nullptr) chosen = lru;
    if (chosen != nullptr) {
      chosen->busy = true;
      chosen->last_used = ++read_clock_;
      if (fit != nullptr) {
        cursor_hits_++;
      } else {
        cursor_seeks_++;
      }
      return chosen;
    }
    cv_.wait(lock);
  }
}

void KafkaReader::ReleaseCursor(Cursor* cursor) {
  std::lock_guard<std::mutex> lock(mu_);
  cursor->busy = false;
  cv_.notify_one();
}

absl::Status KafkaReader::ReadFromCursor(Cursor& c, uint32_t partition, uint64_t from,
                                         uint64_t end, size_t max_events,
                                         std::vector<StoredEvent>& out) {
  rd_kafka_topic_t* rkt = c.lane->topics[TopicIndex(partition)];
  const int32_t kp = KafkaPartition(partition);
  auto stop = [&] {
    if (c.started) rd_kafka_consume_stop(rkt, kp);
    c.started = false;
    c.stash.clear();
  };
  if (!c.Fits(from)) {
    stop();
    if (rd_kafka_consume_start(rkt, kp, static_cast<int64_t>(from)) == -1) {
      return FromKafka(rd_kafka_last_error(), absl::StrFormat("read log partition %d", partition));
    }
    c.started = true;
    c.expect = c.position = from;
  }
  while (!c.stash.empty() && c.stash.front().position().offset() < from) c.stash.pop_front();
  while (!c.stash.empty() && out.size() < max_events &&
         c.stash.front().position().offset() < end) {
    c.expect = c.stash.front().position().offset() + 1;
    out.push_back(std::move(c.stash.front()));
    c.stash.pop_front();
  }

  constexpr size_t kBatch = 256;
  rd_kafka_message_t* batch[kBatch];
  const absl::Time deadline = absl::Now() + options_.read_timeout;
  absl::Status status = absl::OkStatus();
  // `end` is the offset after the last committed event: until the consumer has passed it
  // there are events to deliver (the broker may take a moment: transaction markers are
  // written just after the commit returns, and read_committed fetches wait for them).
  while (status.ok() && out.size() < max_events && c.position < end && c.stash.empty()) {
    ssize_t n = rd_kafka_consume_batch(rkt, kp, 0, batch,
                                       std::min(kBatch, max_events - out.size()));
    if (n < 0) {
      status =
          FromKafka(rd_kafka_last_error(), absl::StrFormat("read log partition %d", partition));
      break;
    }
    if (n == 0) {
      // Nothing queued locally, yet committed events lie ahead (position < end): wait for
      // the fetch, so a Read returns min(max_events, all committed) and scans stay chunky.
      if (absl::Now() >= deadline) {
        if (!out.empty()) break;  // partial, but progress
        status = absl::UnavailableError(absl::StrFormat(
            "read log partition %d: events up to offset %d are committed but none arrived from "
            "the broker within read_timeout",
            partition, end - 1));
        break;
      }
      rd_kafka_message_t* m = rd_kafka_consume(rkt, kp, std::min(100, RemainingMs(deadline)));
      if (m == nullptr) continue;
      batch[0] = m;
      n = 1;
    }
    for (ssize_t i = 0; i < n; i++) {
      rd_kafka_message_t* m = batch[i];
      if (!status.ok()) {
        // drop the rest of a batch after an error
      } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        c.position = std::max<uint64_t>(c.position, static_cast<uint64_t>(m->offset));
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = FromKafka(m->err, absl::StrFormat("read log partition %d", partition));
      } else if (static_cast<uint64_t>(m->offset) >= c.position) {
        StoredEvent e;
        if (!e.ParseFromArray(m->payload, static_cast<int>(m->len))) {
          status = absl::DataLossError(absl::StrFormat(
              "log partition %d offset %d: event does not parse", partition, m->offset));
        } else {
          const auto offset = static_cast<uint64_t>(m->offset);
          e.mutable_position()->set_partition(partition);
          e.mutable_position()->set_offset(offset);
          c.position = offset + 1;
          if (offset < end && out.size() < max_events && c.stash.empty()) {
            c.expect = offset + 1;
            out.push_back(std::move(e));
          } else {
            c.stash.push_back(std::move(e));
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
  if (!status.ok()) stop();
  return status;
}

absl::StatusOr<std::vector<StoredEvent>> KafkaReader::Read(uint32_t partition, uint64_t from,
                                                           uint64_t end, size_t max_events) {
  std::vector<StoredEvent> out;
  if (from >= end || max_events == 0) return out;
  absl::Status error;
  Cursor* cursor = AcquireCursor(partition, from, &error);
  if (cursor == nullptr) return error;
  out.reserve(std::min<uint64_t>({max_events, end - from, 4096}));
  absl::Status status = ReadFromCursor(*cursor, partition, from, end, max_events, out);
  ReleaseCursor(cursor);
  if (!status.ok()) return status;
  return out;
}

KafkaReader::Stats KafkaReader::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.cursor_hits = cursor_hits_;
  s.cursor_seeks = cursor_seeks_;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Following (read replica)

KafkaFollower::KafkaFollower(const KafkaLogOptions& options, KafkaTopicNames names,
                             uint32_t partitions, GroupCommit* durable)
    : options_(options), names_(std::move(names)), partitions_(partitions), durable_(durable) {}

KafkaFollower::~KafkaFollower() {
  Stop();
  if (client_ != nullptr) {
    if (queue_ != nullptr) {
      for (uint32_t p = 0; p < partitions_; p++) {
        rd_kafka_consume_stop(client_->topics[TopicIndex(p)], KafkaPartition(p));
      }
      rd_kafka_queue_destroy(queue_);
    }
    client_.reset();
  }
}

absl::Status KafkaFollower::Start() {
  ASSIGN_OR_RETURN(client_, NewKafkaConsumer(options_, names_, "follower",
                                             Ms(options_.replica_poll_interval)));
  queue_ = rd_kafka_queue_new(client_->rk);
  const LogEnds ends = durable_->Ends();
  for (uint32_t p = 0; p < ends.size(); p++) {
    const uint64_t from = ends[PartitionId(p)].value();
    if (rd_kafka_consume_start_queue(client_->topics[TopicIndex(p)], KafkaPartition(p),
                                     static_cast<int64_t>(from), queue_) == -1) {
      return FromKafka(rd_kafka_last_error(), absl::StrFormat("follow log partition %d", p));
    }
  }
  thread_ = std::thread([this] {
    NameThisThread("pl-kfollow");
    FollowLoop();
  });
  return absl::OkStatus();
}

void KafkaFollower::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void KafkaFollower::FollowLoop() {
  constexpr size_t kBatch = 256;
  rd_kafka_message_t* batch[kBatch];
  absl::Time last_warning = absl::InfinitePast();
  // Per batch: the last committed record seen of each partition (-1 = none).
  std::vector<ssize_t> last(partitions_, -1);
  struct Update {
    uint32_t partition;
    uint64_t end;
    uint64_t events;  // the last event's sequence + 1
    std::string tip;
  };
  std::vector<Update> updates;
  while (!stop_.load()) {
    ssize_t n = rd_kafka_consume_batch_queue(queue_, 0, batch, kBatch);
    if (n <= 0) {
      rd_kafka_poll(client_->rk, 0);  // serve (and drop) client events
      rd_kafka_message_t* m = rd_kafka_consume_queue(queue_, 100);
      if (m == nullptr) continue;
      batch[0] = m;
      n = 1;
    }
    std::fill(last.begin(), last.end(), -1);
    for (ssize_t i = 0; i < n; i++) {
      const rd_kafka_message_t* m = batch[i];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const bool control =
            std::strcmp(rd_kafka_topic_name(m->rkt), names_.control.c_str()) == 0;
        const uint32_t p = control ? 0 : static_cast<uint32_t>(m->partition) + 1;
        if (p < partitions_) last[p] = i;
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                 absl::Now() - last_warning > absl::Seconds(10)) {
        last_warning = absl::Now();
        LogWarning(absl::StrCat("kafka log follower: ", FromKafka(m->err, "fetch").message()));
      }
    }
    // Only the last event of each partition is parsed: its hash is the replica's chain tip.
    updates.clear();
    for (uint32_t p = 0; p < partitions_; p++) {
      if (last[p] < 0) continue;
      const rd_kafka_message_t* m = batch[last[p]];
      v1::Envelope e;
      if (!e.ParseFromArray(m->payload, static_cast<int>(m->len))) {
        LogError(absl::StrFormat("kafka log follower: partition %d offset %d does not parse", p,
                                 m->offset));
        continue;
      }
      updates.push_back({p, static_cast<uint64_t>(m->offset) + 1, e.sequence() + 1, e.hash()});
    }
    for (ssize_t i = 0; i < n; i++) rd_kafka_message_destroy(batch[i]);
    for (Update& u : updates) {
      durable_->Advance(PartitionId(u.partition), {Offset(u.end), u.events, std::move(u.tip)});
    }
  }
}

}  // namespace perfledger
