// ApplyPool: the threads a projector shares a large batch out among (parsing its payloads,
// folding its views), started once with the projector and reused for every batch.
//
// Thread safety: ShareOut is called by one thread at a time (the projector thread).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace perfledger::projections {

class ApplyPool {
 public:
  // `threads` threads share a batch (the caller of ShareOut is one of them, so threads - 1
  // helpers named `thread_name` start here), for batches of at least `parallel_min_events`
  // events: below that, waking the helpers costs more than it saves.
  ApplyPool(std::string thread_name, size_t threads, size_t parallel_min_events);
  // Stops and joins the helpers.
  ~ApplyPool();
  ApplyPool(const ApplyPool&) = delete;
  ApplyPool& operator=(const ApplyPool&) = delete;

  // Threads that share a large batch, the caller included (at least 1).
  size_t threads() const { return threads_; }

  // Runs `work` on the calling thread and, for a batch of at least parallel_min_events events,
  // at the same time on helpers: threads() threads in all, at most `tasks`. `work` takes its
  // tasks from a counter it shares. Returns when every thread that took part is done, so what
  // they wrote is visible to the caller.
  void ShareOut(size_t events, size_t tasks, const std::function<void()>& work);

 private:
  void Help();

  const size_t threads_;
  const size_t parallel_min_events_;
  std::mutex mu_;
  std::condition_variable wake_;  // helpers wait here for a round or for stop_
  std::condition_variable done_;  // ShareOut waits here for the round's helpers
  // The round being shared out: helpers [0, wanted_) of it have work_ to run; each helper
  // joins a round once (round_ tells them apart) and counts itself in finished_.
  const std::function<void()>* work_ = nullptr;
  uint64_t round_ = 0;
  size_t wanted_ = 0;
  size_t taken_ = 0;
  size_t finished_ = 0;
  bool stop_ = false;
  std::vector<std::thread> helpers_;
};

}  // namespace perfledger::projections
