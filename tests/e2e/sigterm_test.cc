// sigterm_test: SIGTERM while a Log.FollowEvents stream and a slow Metrics.StreamMetrics client
// stream are open (and a unary writer is busy). The server must drain and exit 0 within its
// grace period; every acknowledged event, and every event a follower was shown, must be durable
// after a restart on the same data directory.

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

constexpr int kGraceSeconds = 3;
// Process teardown after the drain (RocksDB close, exit) on a loaded machine.
constexpr auto kExitSlack = seconds(2);
// The server ends a follower at its next wake-up (<= 500 ms) after it notices the signal
// (<= 100 ms); the rest is scheduling slack.
constexpr auto kFollowEndMax = seconds(2);
constexpr char kCycle[] = "2026H1";
const char* const kEmployees[] = {"E1", "E2", "E3", "E4", "E5", "E6"};

v1::CommandMeta Meta(const std::string& key) {
  v1::CommandMeta meta;
  meta.set_idempotency_key(key);
  return meta;
}

template <typename Call>
grpc::Status Unary(Call call) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(seconds(15)));
  return call(&context);
}

void Seed(const std::shared_ptr<grpc::Channel>& channel) {
  auto people = v1::People::NewStub(channel);
  v1::CommandResult result;
  v1::DefineOrgUnitRequest unit;
  *unit.mutable_meta() = Meta("seed-unit");
  unit.set_org_unit_id("OPS");
  unit.set_name("Operations");
  grpc::Status s =
      Unary([&](grpc::ClientContext* c) { return people->DefineOrgUnit(c, unit, &result); });
  INFO(s.error_message());
  REQUIRE(s.ok());
  for (const char* id : kEmployees) {
    v1::RegisterEmployeeRequest e;
    *e.mutable_meta() = Meta(std::string("seed-") + id);
    e.set_employee_id(id);
    e.set_name(std::string("Worker ") + id);
    e.set_org_unit_id("OPS");
    e.mutable_base_salary()->set_amount_minor(4'000'000);
    e.mutable_base_salary()->set_currency("EUR");
    s = Unary([&](grpc::ClientContext* c) { return people->RegisterEmployee(c, e, &result); });
    INFO(s.error_message());
    REQUIRE(s.ok());
  }
  v1::OpenCycleRequest cycle;
  *cycle.mutable_meta() = Meta("seed-cycle");
  cycle.set_cycle_id(kCycle);
  cycle.set_name("First half 2026");
  cycle.mutable_period_start()->set_seconds(1767225600);  // 2026-01-01
  cycle.mutable_period_end()->set_seconds(1782864000);    // 2026-07-01
  s = Unary([&](grpc::ClientContext* c) {
    return v1::Cycles::NewStub(channel)->OpenCycle(c, cycle, &result);
  });
  INFO(s.error_message());
  REQUIRE(s.ok());
}

v1::ObserveMetricsRequest Batch(const std::string& key, int n) {
  v1::ObserveMetricsRequest batch;
  *batch.mutable_meta() = Meta(key);
  for (int i = 0; i < n; i++) {
    v1::Observation* o = batch.add_observations();
    o->set_subject_id(kEmployees[i % 6]);
    o->set_metric("scrap_rate");
    o->set_value_milli(1000 + i);
    o->set_unit("%");
    o->set_cycle_id(kCycle);
  }
  return batch;
}

struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<bool> terminating{false};

  // Follower.
  std::mutex follow_mu;
  std::vector<v1::RecordedEvent> followed;
  std::atomic<size_t> followed_count{0};
  grpc::Status follow_status;
  std::atomic<bool> follow_done{false};
  Clock::time_point follow_ended;

  // Slow client stream.
  std::vector<v1::ObserveMetricsRequest> streamed;  // every batch written
  std::atomic<size_t> streamed_count{0};
  grpc::Status stream_status;
  v1::ObserveMetricsSummary summary;
  std::atomic<bool> stream_done{false};

  // Unary writer.
  std::mutex unary_mu;
  std::vector<v1::CommandResult> acked;
  std::vector<v1::ObserveMetricsRequest> unknown;  // failed once SIGTERM was sent
  std::vector<std::string> unexpected;             // failed before SIGTERM
  std::atomic<size_t> acked_count{0};
};

void Follow(std::shared_ptr<grpc::Channel> channel, Shared* s, grpc::ClientContext* context) {
  auto reader = v1::Log::NewStub(channel)->FollowEvents(context, v1::FollowEventsRequest());
  v1::RecordedEvent event;
  while (reader->Read(&event)) {
    std::lock_guard<std::mutex> lock(s->follow_mu);
    s->followed.push_back(event);
    s->followed_count++;
  }
  s->follow_status = reader->Finish();
  s->follow_ended = Clock::now();
  s->follow_done = true;
}

void SlowStream(std::shared_ptr<grpc::Channel> channel, Shared* s, grpc::ClientContext* context) {
  auto writer = v1::Metrics::NewStub(channel)->StreamMetrics(context, &s->summary);
  for (int i = 0; !s->stop.load(); i++) {
    v1::ObserveMetricsRequest batch = Batch("stream-" + std::to_string(i), 3);
    if (!writer->Write(batch)) break;  // the server ended the call
    s->streamed.push_back(std::move(batch));
    s->streamed_count++;
    std::this_thread::sleep_for(milliseconds(100));  // a slow feed
  }
  writer->WritesDone();
  s->stream_status = writer->Finish();
  s->stream_done = true;
}

void UnaryWriter(std::shared_ptr<grpc::Channel> channel, Shared* s) {
  auto metrics = v1::Metrics::NewStub(channel);
  for (int i = 0; !s->stop.load(); i++) {
    v1::ObserveMetricsRequest batch = Batch("unary-" + std::to_string(i), 1 + i % 7);
    v1::CommandResult result;
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(seconds(15)));
    const grpc::Status status = metrics->ObserveMetrics(&context, batch, &result);
    std::lock_guard<std::mutex> lock(s->unary_mu);
    if (status.ok()) {
      s->acked.push_back(result);
      s->acked_count++;
      continue;
    }
    if (s->terminating.load()) {
      s->unknown.push_back(batch);
    } else {
      s->unexpected.push_back("unary-" + std::to_string(i) + ": " + status.error_message());
    }
    return;
  }
}

// Joins the client threads on every exit path; cancels the streams if they are still open.
struct Clients {
  explicit Clients(Shared* s) : shared(s) {}
  Shared* shared;
  grpc::ClientContext follow_context;
  grpc::ClientContext stream_context;
  std::vector<std::thread> threads;
  ~Clients() {
    shared->stop = true;
    follow_context.TryCancel();
    stream_context.TryCancel();
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

std::string PositionText(const v1::Position& p) {
  return std::to_string(p.partition()) + ":" + std::to_string(p.offset());
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST_CASE("sigterm_test: SIGTERM with open streams drains, exits 0 within the grace period, "
          "loses nothing acknowledged",
          "[e2e][sigterm]") {
  TempDir dir("sigterm");
  ServerProcess server(dir.Sub("data"), dir.path(),
                       {"--data-partitions", "4", "--shutdown-grace-seconds",
                        std::to_string(kGraceSeconds)});
  server.Start();
  Seed(server.NewChannel());

  Shared s;
  std::optional<ExitStatus> exit;
  Clock::duration drain_time{};
  Clock::time_point sent;
  {
    Clients clients(&s);
    clients.follow_context.set_deadline(DeadlineIn(seconds(120)));  // a safety net only
    clients.stream_context.set_deadline(DeadlineIn(seconds(120)));
    clients.threads.emplace_back(Follow, server.NewChannel(), &s, &clients.follow_context);
    clients.threads.emplace_back(SlowStream, server.NewChannel(), &s, &clients.stream_context);
    clients.threads.emplace_back(UnaryWriter, server.NewChannel(), &s);

    // Wait (bounded) until all three are demonstrably under way.
    const auto deadline = Clock::now() + kReadyTimeout;
    while (Clock::now() < deadline &&
           !(s.streamed_count.load() >= 3 && s.acked_count.load() >= 5 &&
             s.followed_count.load() >= 20)) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    INFO("streamed " << s.streamed_count.load() << " batches, " << s.acked_count.load()
                     << " unary acks, followed " << s.followed_count.load() << " events");
    REQUIRE(s.streamed_count.load() >= 3);
    REQUIRE(s.acked_count.load() >= 5);
    REQUIRE(s.followed_count.load() >= 20);
    REQUIRE_FALSE(s.follow_done.load());
    REQUIRE_FALSE(s.stream_done.load());

    s.terminating = true;
    sent = Clock::now();
    // Wait for the exit a little longer than the grace period, so an overrun is measured rather
    // than cut short; Terminate SIGKILLs after that.
    exit = server.Terminate(seconds(kGraceSeconds + 10));
    drain_time = Clock::now() - sent;

    // The streams must end by themselves once the server is gone (no cancel from us yet).
    const auto end_deadline = Clock::now() + seconds(10);
    while (Clock::now() < end_deadline && !(s.follow_done.load() && s.stream_done.load())) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    CHECK(s.follow_done.load());
    CHECK(s.stream_done.load());
    s.stop = true;
  }  // joins the clients

  const double drained_s = std::chrono::duration<double>(drain_time).count();
  INFO("perfledgerd: " << (exit ? exit->Describe() : std::string("did not exit")) << " after "
                       << drained_s << " s\n"
                       << Tail(server.stderr_path()));
  REQUIRE(exit.has_value());
  CHECK(exit->exited);
  CHECK(exit->code == 0);
  // Within the grace period: an idle client stream (the slow feed sleeps between batches, so its
  // gRPC client reads the socket only when it writes, or when gRPC's 5 s backup poller runs)
  // keeps its connection open, and gRPC's server shutdown waits for connections until the grace
  // deadline, then cancels. So the drain takes anywhere from ~0.1 s to the full grace period.
  CHECK(drain_time <= seconds(kGraceSeconds) + kExitSlack);
  const std::string log_text = ReadFile(server.stderr_path());
  CHECK(log_text.find("draining") != std::string::npos);
  CHECK(log_text.find("perfledgerd stopped") != std::string::npos);

  // How the streams ended: the follower is told the server is going away, promptly; the client
  // stream is refused at its next batch (or sees the connection close as the process exits).
  INFO("follow: " << static_cast<int>(s.follow_status.error_code()) << " "
                  << s.follow_status.error_message() << "; stream: "
                  << static_cast<int>(s.stream_status.error_code()) << " "
                  << s.stream_status.error_message());
  CHECK(s.follow_status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(s.follow_ended - sent <= kFollowEndMax);
  CHECK(s.stream_status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED);
  {
    INFO("unary failures before SIGTERM: " << Join(s.unexpected));
    CHECK(s.unexpected.empty());
  }

  // Restart on the same data directory: everything acknowledged or shown is there.
  server.Start();
  auto channel = server.NewChannel();
  const WholeLog log = ReadWholeLog(channel);
  {
    const auto problems = CheckLog(log);
    INFO(Join(problems));
    CHECK(problems.empty());
  }
  std::map<std::string, const v1::RecordedEvent*> by_id;
  for (const auto& partition : log.partitions) {
    for (const auto& e : partition) by_id[e.envelope().event_id()] = &e;
  }
  std::vector<std::string> lost;
  for (const v1::CommandResult& r : s.acked) {
    for (const auto& e : r.events()) {
      auto it = by_id.find(e.event_id());
      if (it == by_id.end()) {
        lost.push_back("acknowledged " + e.event_id() + " at " + PositionText(e.position()) +
                       " is missing");
      } else if (PositionText(it->second->envelope().position()) != PositionText(e.position())) {
        lost.push_back("acknowledged " + e.event_id() + " moved");
      }
    }
  }
  for (const v1::RecordedEvent& e : s.followed) {
    auto it = by_id.find(e.envelope().event_id());
    if (it == by_id.end()) {
      lost.push_back("followed " + e.envelope().event_id() + " is missing");
    } else if (it->second->envelope().hash() != e.envelope().hash() ||
               PositionText(it->second->envelope().position()) !=
                   PositionText(e.envelope().position())) {
      lost.push_back("followed " + e.envelope().event_id() + " changed");
    }
  }
  // The client stream's summary, when it arrived, acknowledges its first `batches` batches.
  if (s.stream_status.ok()) {
    std::map<std::string, size_t> per_command;
    for (const auto& partition : log.partitions) {
      for (const auto& e : partition) per_command[e.envelope().command_id()]++;
    }
    for (uint64_t i = 0; i < s.summary.batches(); i++) {
      if (per_command["stream-" + std::to_string(i)] != 3) {
        lost.push_back("stream batch " + std::to_string(i) + " acknowledged but not in the log");
      }
    }
  }
  INFO(Join(lost));
  CHECK(lost.empty());

  // Whatever had an unknown outcome is settled by a retry with the same key, after which every
  // command is in the log exactly once (CheckLog counts events per command id).
  auto metrics = v1::Metrics::NewStub(channel);
  std::vector<v1::ObserveMetricsRequest> retries = s.unknown;
  retries.insert(retries.end(), s.streamed.begin(), s.streamed.end());
  for (const auto& batch : retries) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(seconds(15)));
    v1::CommandResult result;
    const grpc::Status status = metrics->ObserveMetrics(&context, batch, &result);
    INFO("retry " << batch.meta().idempotency_key() << ": " << status.error_message());
    CHECK(status.ok());
  }
  const WholeLog after = ReadWholeLog(channel);
  const auto problems = CheckLog(after);
  INFO(Join(problems));
  CHECK(problems.empty());

  const auto stopped = server.Terminate(seconds(kGraceSeconds + 10));
  REQUIRE(stopped.has_value());
  CHECK(stopped->exited);
  CHECK(stopped->code == 0);
}

}  // namespace
}  // namespace perfledger::e2e
