#include "tools/perfbench/runner.h"

#include <sys/prctl.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace perfbench {

uint64_t KindStats::error_count() const {
  uint64_t n = 0;
  for (const auto& [code, count] : errors) n += count;
  return n;
}

void KindStats::Merge(const KindStats& other) {
  latency.Merge(other.latency);
  ok += other.ok;
  deduplicated += other.deduplicated;
  for (const auto& [code, count] : other.errors) errors[code] += count;
  for (const auto& [code, message] : other.first_message) first_message.emplace(code, message);
}

namespace {

using Clock = std::chrono::steady_clock;

uint64_t Nanos(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// One outstanding RPC and the requests it reuses. Member order matters: the readers live in the
// call's arena, which `context` frees, so the readers must be destroyed first (declared last).
struct Slot {
  Slot(const WorkloadOptions& workload, const Mix& mix, uint32_t index, uint64_t seed)
      : builder(workload, mix, index, seed) {}

  RequestBuilder builder;
  grpc::CompletionQueue* cq = nullptr;
  const Stubs* stubs = nullptr;
  size_t io_thread = 0;

  EventKind kind = EventKind::kMetric;
  Clock::time_point intended;  // when the request was due (closed loop: when it was sent)
  Clock::time_point sent;

  v1::ObserveMetricsRequest metrics_batch;
  v1::ObserveMetricRequest metric;
  v1::RecordCheckInRequest check_in;
  v1::SubmitScoreRequest score;
  v1::RecordKeyResultProgressRequest progress;
  v1::RankingRequest ranking;

  v1::CommandResult response;
  v1::RankingResponse ranking_response;
  // A HealthCheckRequest for the whole server ({service: ""}) serializes to no bytes.
  grpc::ByteBuffer ping_request;
  grpc::ByteBuffer ping_response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CommandResult>> reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RankingResponse>> ranking_reader;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> ping_reader;
};

// What one completion-queue thread measured; merged after the run, so no locks on the hot path.
struct ThreadStats {
  std::array<KindStats, kKindCount> kinds;
  Histogram service;
};

class Runner {
 public:
  Runner(const Clients& clients, const WorkloadOptions& workload, const Mix& mix,
         const RunOptions& options, LiveCounters* live)
      : clients_(clients), options_(options), live_(live) {
    const uint32_t io_threads = std::max<uint32_t>(1, options.io_threads);
    for (uint32_t t = 0; t < io_threads; ++t) {
      cqs_.push_back(std::make_unique<grpc::CompletionQueue>());
    }
    stats_.resize(io_threads);
    const uint64_t seed = std::hash<std::string>()(workload.run_id);
    for (uint32_t i = 0; i < std::max<uint32_t>(1, options.concurrency); ++i) {
      auto slot = std::make_unique<Slot>(workload, mix, i, seed + i);
      slot->io_thread = i % io_threads;
      slot->cq = cqs_[slot->io_thread].get();
      slot->stubs = &clients.at(i);
      slots_.push_back(std::move(slot));
    }
  }

  RunResult Run() {
    start_ = Clock::now();
    window_start_ = start_ + options_.warmup;
    window_end_ = window_start_ + options_.duration;
    open_loop_ = options_.rate > 0;

    std::vector<std::thread> io;
    for (size_t t = 0; t < cqs_.size(); ++t) io.emplace_back([this, t] { IoLoop(t); });

    RunResult result;
    if (open_loop_) {
      for (auto& slot : slots_) free_.push_back(slot.get());
      result.unsent = Pace();
    } else {
      for (auto& slot : slots_) Start(*slot, Clock::now());
    }
    {
      // Every RPC carries a deadline, so this wait is bounded by the last start + call_timeout.
      std::unique_lock lock(mu_);
      freed_.wait(lock, [&] { return free_.size() == slots_.size(); });
    }
    for (auto& cq : cqs_) cq->Shutdown();
    for (std::thread& th : io) th.join();

    for (ThreadStats& ts : stats_) {
      for (size_t k = 0; k < kKindCount; ++k) {
        result.kinds[k].Merge(ts.kinds[k]);
        result.total.Merge(ts.kinds[k]);
      }
      result.service.Merge(ts.service);
    }
    result.window_seconds = std::chrono::duration<double>(options_.duration).count();
    return result;
  }

 private:
  // Builds the next request on `slot` and starts it. Every field the completion thread reads is
  // written before StartCall, which publishes them through the completion queue.
  void Start(Slot& slot, Clock::time_point intended) {
    slot.kind = slot.builder.NextKind();
    slot.intended = intended;
    slot.reader.reset();  // before the context that owns its arena
    slot.ranking_reader.reset();
    slot.ping_reader.reset();
    slot.context = std::make_unique<grpc::ClientContext>();
    clients_.Prepare(slot.context.get(), std::chrono::system_clock::now() + options_.call_timeout);
    slot.response.Clear();
    grpc::ClientContext* ctx = slot.context.get();
    const Stubs& s = *slot.stubs;
    switch (slot.kind) {
      case EventKind::kMetricBatch:
        slot.builder.Fill(&slot.metrics_batch);
        slot.reader = s.metrics->PrepareAsyncObserveMetrics(ctx, slot.metrics_batch, slot.cq);
        break;
      case EventKind::kMetric:
        slot.builder.Fill(&slot.metric);
        slot.reader = s.metrics->PrepareAsyncObserveMetric(ctx, slot.metric, slot.cq);
        break;
      case EventKind::kCheckIn:
        slot.builder.Fill(&slot.check_in);
        slot.reader = s.check_ins->PrepareAsyncRecordCheckIn(ctx, slot.check_in, slot.cq);
        break;
      case EventKind::kScore:
        slot.builder.Fill(&slot.score);
        slot.reader = s.reviews->PrepareAsyncSubmitScore(ctx, slot.score, slot.cq);
        break;
      case EventKind::kProgress:
        slot.builder.Fill(&slot.progress);
        slot.reader = s.goals->PrepareAsyncRecordKeyResultProgress(ctx, slot.progress, slot.cq);
        break;
      case EventKind::kRanking:
        // A query answers a different message, so it has its own reader and response.
        slot.ranking_response.Clear();
        slot.builder.Fill(&slot.ranking);
        slot.ranking_reader = s.views->PrepareAsyncGetRanking(ctx, slot.ranking, slot.cq);
        slot.sent = Clock::now();
        slot.ranking_reader->StartCall();
        slot.ranking_reader->Finish(&slot.ranking_response, &slot.status, &slot);
        return;
      case EventKind::kPing:
        if (!slot.ping_request.Valid()) {
          grpc::Slice empty("");
          slot.ping_request = grpc::ByteBuffer(&empty, 1);
        }
        slot.ping_reader = s.generic->PrepareUnaryCall(ctx, "/grpc.health.v1.Health/Check",
                                                       slot.ping_request, slot.cq);
        slot.sent = Clock::now();
        slot.ping_reader->StartCall();
        slot.ping_reader->Finish(&slot.ping_response, &slot.status, &slot);
        return;
    }
    slot.sent = Clock::now();
    slot.reader->StartCall();
    slot.reader->Finish(&slot.response, &slot.status, &slot);
  }

  void IoLoop(size_t thread) {
    ThreadStats& stats = stats_[thread];
    void* tag = nullptr;
    bool ok = false;
    while (cqs_[thread]->Next(&tag, &ok)) {
      Slot& slot = *static_cast<Slot*>(tag);
      const Clock::time_point now = Clock::now();
      if (live_) (slot.status.ok() ? live_->ok : live_->errors).fetch_add(1, std::memory_order_relaxed);
      if (slot.intended >= window_start_ && slot.intended < window_end_) {
        Record(stats, slot, now);
      }
      if (!open_loop_ && now < window_end_) {
        Start(slot, now);
      } else {
        Release(&slot);
      }
    }
  }

  void Record(ThreadStats& stats, const Slot& slot, Clock::time_point now) {
    KindStats& k = stats.kinds[static_cast<size_t>(slot.kind)];
    if (slot.status.ok()) {
      k.latency.Record(Nanos(now - slot.intended));
      ++k.ok;
      if (slot.response.deduplicated()) ++k.deduplicated;
      if (open_loop_) stats.service.Record(Nanos(now - slot.sent));
    } else {
      const grpc::StatusCode code = slot.status.error_code();
      ++k.errors[code];
      k.first_message.emplace(code, slot.status.error_message());
    }
  }

  void Release(Slot* slot) {
    std::lock_guard lock(mu_);
    free_.push_back(slot);
    freed_.notify_all();
  }

  // Open loop: issues request i at start + i/rate until the window ends. Returns how many requests
  // due inside the window found no free slot before the drain limit (window end + call timeout).
  uint64_t Pace() {
    // The default 50 us timer slack would make every wake-up late by up to 50 us, and that
    // lateness counts as latency; 1 ns slack keeps the pacer's own error near the wake-up cost.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    const std::chrono::duration<double> interval(1.0 / options_.rate);
    const Clock::time_point give_up = window_end_ + options_.call_timeout;
    for (uint64_t i = 0;; ++i) {
      const Clock::time_point due =
          start_ + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
      if (due >= window_end_) return 0;
      std::this_thread::sleep_until(due);  // returns at once when the pacer is behind
      Slot* slot = nullptr;
      {
        std::unique_lock lock(mu_);
        if (!freed_.wait_until(lock, give_up, [&] { return !free_.empty(); })) {
          return static_cast<uint64_t>((window_end_ - due) / interval) + 1;
        }
        slot = free_.back();
        free_.pop_back();
      }
      Start(*slot, due);
    }
  }

  const Clients& clients_;
  const RunOptions options_;
  LiveCounters* live_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<ThreadStats> stats_;  // one per completion-queue thread

  Clock::time_point start_, window_start_, window_end_;
  bool open_loop_ = false;

  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Slot*> free_;  // slots with no RPC in flight
};

}  // namespace

RunResult Run(const Clients& clients, const WorkloadOptions& workload, const Mix& mix,
              const RunOptions& options, LiveCounters* live) {
  Runner runner(clients, workload, mix, options, live);
  return runner.Run();
}

}  // namespace perfbench
