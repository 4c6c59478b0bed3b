// End-to-end latency of a running perfledgerd: from a command's acknowledgement to its events
// being visible in the views (the projector's applied positions), at a fixed event rate.
//
//   e2e_latency_bench ADDRESS [events_per_s=5000] [batch=10] [seconds=10] [subjects=50]
//
// Open loop: request i (an ObserveMetrics of `batch` observations for employees
// bench-emp-<k> in cycle bench-cycle, the fixture perfbench creates) is due at t0 + i/rate.
// One poller calls Views.GetProjectionStatus back to back and records the applied positions
// with the time each answer arrived; an acknowledged command is visible at the first answer,
// received after its acknowledgement, whose applied positions cover all its events. So the
// measured latency includes up to one poll round trip (it overstates, never understates).
// Prints p50/p90/p99/max of: request due → acknowledged, and acknowledged → visible.
// Not a test: the numbers depend on the machine.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>

#include "perfledger/v1/ledger.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = perfledger::v1;

struct Ack {
  Clock::time_point due, acked;
  std::vector<std::pair<uint32_t, uint64_t>> last;  // per partition touched: the last offset
};

struct Poll {
  Clock::time_point at;
  std::vector<uint64_t> applied;  // next offset per partition
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void Print(const char* what, std::vector<double> v) {
  if (v.empty()) {
    std::printf("%-22s no samples\n", what);
    return;
  }
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))]; };
  std::printf("%-22s n=%zu p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms\n", what, v.size(),
              q(0.50), q(0.90), q(0.99), v.back());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ADDRESS [events_per_s] [batch] [seconds] [subjects]\n",
                 argv[0]);
    return 2;
  }
  const std::string address = argv[1];
  const double rate = argc > 2 ? std::atof(argv[2]) : 5000;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 10;
  const double seconds = argc > 4 ? std::atof(argv[4]) : 10;
  const int subjects = argc > 5 ? std::atoi(argv[5]) : 50;
  const double request_rate = rate / batch;
  const size_t requests = static_cast<size_t>(request_rate * seconds);

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  std::atomic<bool> stop_polling{false};
  std::vector<Poll> polls;
  polls.reserve(200000);
  std::thread poller([&] {
    auto views = v1::Views::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), [] {
          grpc::ChannelArguments a;
          a.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
          return a;
        }()));
    while (!stop_polling.load()) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::ProjectionStatusResponse response;
      if (!views->GetProjectionStatus(&context, v1::ProjectionStatusRequest(), &response).ok()) {
        continue;
      }
      Poll p;
      p.at = Clock::now();
      for (const auto& a : response.applied()) {
        if (p.applied.size() <= a.partition()) p.applied.resize(a.partition() + 1, 0);
        p.applied[a.partition()] = a.offset();
      }
      polls.push_back(std::move(p));
    }
  });

  std::mutex mu;
  std::vector<Ack> acks;
  acks.reserve(requests);
  std::atomic<size_t> next{0};
  std::atomic<size_t> errors{0};
  const Clock::time_point t0 = Clock::now() + std::chrono::milliseconds(200);
  const int senders = 32;
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; s++) {
    threads.emplace_back([&, s] {
      auto metrics = v1::Metrics::NewStub(channel);
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= requests) return;
        const Clock::time_point due =
            t0 + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(static_cast<double>(i) / request_rate));
        std::this_thread::sleep_until(due);
        v1::ObserveMetricsRequest request;
        request.mutable_meta()->set_idempotency_key(
            "lat-" + std::to_string(t0.time_since_epoch().count()) + "-" + std::to_string(i));
        for (int k = 0; k < batch; k++) {
          v1::Observation* o = request.add_observations();
          o->set_subject_id("bench-emp-" + std::to_string((i * batch + k) % subjects));
          o->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
          o->set_metric("latency_probe");
          o->set_value_milli(static_cast<int64_t>(i));
          o->set_unit("ms");
          o->set_source("e2e-latency");
          o->set_cycle_id("bench-cycle");
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::CommandResult result;
        const grpc::Status st = metrics->ObserveMetrics(&context, request, &result);
        if (!st.ok()) {
          if (errors.fetch_add(1) == 0) {
            std::fprintf(stderr, "first error (sender %d): %s\n", s, st.error_message().c_str());
          }
          continue;
        }
        Ack a;
        a.due = due;
        a.acked = Clock::now();
        for (const auto& e : result.events()) {
          const uint32_t p = e.position().partition();
          auto it = std::find_if(a.last.begin(), a.last.end(),
                                 [&](const auto& x) { return x.first == p; });
          if (it == a.last.end()) {
            a.last.emplace_back(p, e.position().offset());
          } else {
            it->second = std::max(it->second, e.position().offset());
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        acks.push_back(std::move(a));
      }
    });
  }
  for (auto& t : threads) t.join();
  const Clock::time_point sent_all = Clock::now();
  // Let the views catch up with the last acknowledgements, then stop polling.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop_polling = true;
  poller.join();

  std::vector<double> ack_ms, visible_ms;
  size_t never = 0;
  for (const Ack& a : acks) {
    ack_ms.push_back(Ms(a.acked - a.due));
    auto it = std::lower_bound(polls.begin(), polls.end(), a.acked,
                               [](const Poll& p, Clock::time_point t) { return p.at < t; });
    for (; it != polls.end(); ++it) {
      bool covered = true;
      for (const auto& [p, off] : a.last) {
        covered &= p < it->applied.size() && it->applied[p] > off;
      }
      if (covered) break;
    }
    if (it == polls.end()) {
      never++;
    } else {
      visible_ms.push_back(Ms(it->at - a.acked));
    }
  }
  const double window = std::chrono::duration<double>(sent_all - t0).count();
  std::printf("target %.0f events/s (%d per request, %.0f requests/s) for %.1f s\n", rate, batch,
              request_rate, seconds);
  std::printf("acknowledged %zu requests, %zu events in %.2f s = %.0f events/s; errors %zu; "
              "polls %zu (%.0f/s)\n",
              acks.size(), acks.size() * static_cast<size_t>(batch), window,
              static_cast<double>(acks.size()) * batch / window, errors.load(), polls.size(),
              static_cast<double>(polls.size()) / (window + 2));
  Print("due -> acknowledged", ack_ms);
  Print("acknowledged -> view", visible_ms);
  if (never > 0) std::printf("never visible while polling: %zu\n", never);
  return errors.load() == 0 && never == 0 ? 0 : 1;
}
