#include "projections/apply_pool.h"

#include <algorithm>
#include <utility>

#include "ledger/logging.h"

namespace perfledger::projections {

ApplyPool::ApplyPool(std::string thread_name, size_t threads, size_t parallel_min_events)
    : threads_(std::max<size_t>(1, threads)), parallel_min_events_(parallel_min_events) {
  for (size_t t = 1; t < threads_; t++) {
    helpers_.emplace_back([this, thread_name] {
      NameThisThread(thread_name);
      Help();
    });
  }
}

ApplyPool::~ApplyPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& h : helpers_) h.join();
}

void ApplyPool::ShareOut(size_t events, size_t tasks, const std::function<void()>& work) {
  const size_t threads = events >= parallel_min_events_ ? std::min(threads_, tasks) : 1;
  if (threads <= 1) {
    work();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_ = &work;
    round_++;
    wanted_ = threads - 1;
    taken_ = 0;
    finished_ = 0;
  }
  wake_.notify_all();
  work();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return finished_ == wanted_; });
  work_ = nullptr;
}

void ApplyPool::Help() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || (round_ != seen && taken_ < wanted_); });
    if (stop_) return;
    seen = round_;
    taken_++;
    const std::function<void()>* work = work_;
    lock.unlock();
    (*work)();
    lock.lock();
    if (++finished_ == wanted_) done_.notify_one();
  }
}

}  // namespace perfledger::projections
