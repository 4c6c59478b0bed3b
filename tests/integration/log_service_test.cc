// The Log service: bounded reads, the endless follow and the server's status.
#include "tests/integration/helpers.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "tests/support/wait.h"

namespace perfledger::testing {
namespace {

std::vector<v1::RecordedEvent> Read(TestServer& server, const v1::ReadEventsRequest& request,
                                    grpc::Status* status = nullptr) {
  grpc::ClientContext context;
  server.Prepare(context);
  auto reader = server.log().ReadEvents(&context, request);
  std::vector<v1::RecordedEvent> out;
  v1::RecordedEvent e;
  while (reader->Read(&e)) out.push_back(e);
  const grpc::Status s = reader->Finish();
  if (status != nullptr) {
    *status = s;
  } else {
    INFO(s.error_message());
    REQUIRE(s.ok());
  }
  return out;
}

// Observes one metric of E1 (a marker value) and returns the event id.
std::string Observe(TestServer& server, int64_t value) {
  auto r = MustOk(server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetric,
                              ObserveMetricReq(fx::kEmployee, value)));
  return r.events(0).event_id();
}

// A follow call read on its own thread; collects what arrives.
class Follower {
 public:
  Follower(TestServer& server, const v1::FollowEventsRequest& request) {
    server.Prepare(context_, "", absl::Seconds(60));
    reader_ = server.log().FollowEvents(&context_, request);
    thread_ = std::thread([this] {
      v1::RecordedEvent e;
      while (reader_->Read(&e)) {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back(e);
      }
      status_ = reader_->Finish();
      done_ = true;
    });
  }
  ~Follower() {
    Cancel();
    if (thread_.joinable()) thread_.join();
  }
  void Cancel() { context_.TryCancel(); }
  std::vector<v1::RecordedEvent> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  size_t count() { return received().size(); }
  bool done() const { return done_; }
  grpc::Status Join() {
    thread_.join();
    return status_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::RecordedEvent>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<v1::RecordedEvent> received_;
  grpc::Status status_;
  std::atomic<bool> done_{false};
};

TEST_CASE("log: ReadEvents by partition, offset, limit and stream", "[log]") {
  TestServer server;
  SeedFixture(server);
  for (int i = 0; i < 5; i++) Observe(server, i);
  const auto all = server.ReadAllEvents();
  REQUIRE(all.size() == 11);

  v1::ReadEventsRequest control;
  control.set_partition(0);
  auto events = Read(server, control);
  REQUIRE(events.size() == 3);  // ORG1, ORG2, C1
  CHECK(events[0].envelope().stream() == "org/ORG1");
  CHECK(events[2].envelope().stream() == "cycle/C1");
  CHECK(events[2].event().has_cycle_opened());  // decoded payload alongside the envelope

  control.set_from_offset(1);
  control.set_limit(1);
  events = Read(server, control);
  REQUIRE(events.size() == 1);
  CHECK(events[0].envelope().position().offset() == 1);
  CHECK(events[0].envelope().stream() == "org/ORG2");

  v1::ReadEventsRequest by_stream;
  by_stream.set_all_partitions(true);
  by_stream.set_stream("metrics/E1");
  events = Read(server, by_stream);
  REQUIRE(events.size() == 5);
  for (size_t i = 0; i < events.size(); i++) {
    CHECK(events[i].envelope().stream_version() == i + 1);
    CHECK(events[i].event().metric_observed().value_milli() == static_cast<int64_t>(i));
  }
  by_stream.set_limit(2);
  CHECK(Read(server, by_stream).size() == 2);

  v1::ReadEventsRequest all_limited;
  all_limited.set_all_partitions(true);
  all_limited.set_limit(4);
  CHECK(Read(server, all_limited).size() == 4);

  grpc::Status status;
  v1::ReadEventsRequest bad;
  bad.set_partition(5);  // 4 data partitions + control
  Read(server, bad, &status);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "partition"));
  bad.set_partition(0);
  bad.set_limit(limits::kReadLimitMax + 1);
  Read(server, bad, &status);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "limit"));
}

TEST_CASE("log: Status reports the partitions, counters and caller", "[log]") {
  TestServer server;
  SeedFixture(server);
  // One rejected command.
  CHECK_FALSE(server.Call(server.people(), &v1::People::Stub::RecordDeparture,
                          RecordDepartureReq("NOPE")).ok());
  const auto status = server.Status();
  CHECK(status.version() == PERFLEDGER_VERSION);
  CHECK(status.log_backend() == "embedded");
  CHECK(status.data_dir() == server.data_dir());
  REQUIRE(status.partitions_size() == 5);
  uint64_t total = 0;
  for (int p = 0; p < status.partitions_size(); p++) {
    CHECK(status.partitions(p).partition() == static_cast<uint32_t>(p));
    CHECK(status.partitions(p).events() == status.partitions(p).end_offset());
    CHECK(status.partitions(p).last_hash().size() == 64);
    total += status.partitions(p).end_offset();
  }
  CHECK(total == 6);
  CHECK(status.total_events() == 6);
  CHECK(status.partitions(0).end_offset() == 3);
  CHECK(status.commands_accepted() == 6);
  CHECK(status.commands_rejected() == 1);
  CHECK(status.appends() == 6);
  CHECK(status.group_commits() >= 1);
  CHECK(status.group_commits() <= 6);
  CHECK(status.caller().principal() == "local");
  CHECK(status.caller().role() == v1::ROLE_ADMIN);
  CHECK(status.started_at().seconds() > 0);
  // An empty partition's last hash is the genesis hash.
  for (const auto& p : status.partitions()) {
    if (p.end_offset() == 0) CHECK(p.last_hash() == ToHex(GenesisHash()));
  }
  // Lag of the views and of the reactor: zero once both applied every event.
  v1::StatusResponse caught_up;
  CHECK(WaitUntil([&] {
    caught_up = server.Status();
    return caught_up.views_size() == 2 && caught_up.views(0).lag_events() == 0 &&
           caught_up.views(1).lag_events() == 0;
  }));
  REQUIRE(caught_up.views_size() == 2);
  CHECK(caught_up.views(0).view() == "views");
  CHECK(caught_up.views(1).view() == "reactor");
  for (const auto& v : caught_up.views()) CHECK(v.lag_events() == 0);
  RequireChainsVerify(server);
}

TEST_CASE("log: FollowEvents streams history, then events appended after it started", "[log]") {
  TestServer server;
  SeedFixture(server);
  Follower follower(server, v1::FollowEventsRequest());
  REQUIRE(WaitUntil([&] { return follower.count() == 6; }));
  const std::string id = Observe(server, 42);
  REQUIRE(WaitUntil([&] { return follower.count() == 7; }));
  const auto received = follower.received();
  CHECK(received.back().envelope().event_id() == id);
  CHECK(received.back().event().metric_observed().value_milli() == 42);
  // Every event once, each partition in offset order.
  std::map<uint32_t, uint64_t> next;
  for (const auto& e : received) {
    const auto& pos = e.envelope().position();
    CHECK(pos.offset() == next[pos.partition()]++);
  }
  // Cancel ends the call on both sides; the server keeps serving.
  follower.Cancel();
  const grpc::Status status = follower.Join();
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);
  Observe(server, 43);
  CHECK(server.LogEnd() == 8);
}

TEST_CASE("log: FollowEvents from explicit positions", "[log]") {
  TestServer server;
  SeedFixture(server);
  v1::FollowEventsRequest request;
  request.set_from_latest(true);
  // Partition 0 from offset 2: only the cycle (the third control event) of the history.
  v1::Position* from = request.add_from();
  from->set_partition(0);
  from->set_offset(2);
  Follower follower(server, request);
  REQUIRE(WaitUntil([&] { return follower.count() == 1; }));
  CHECK(follower.received()[0].envelope().stream() == "cycle/C1");

  v1::FollowEventsRequest bad;
  bad.add_from()->set_partition(99);
  Follower rejected(server, bad);
  const grpc::Status status = rejected.Join();
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("log: FollowEvents from_latest skips history", "[log]") {
  TestServer server;
  SeedFixture(server);
  const uint64_t before = server.LogEnd();
  v1::FollowEventsRequest request;
  request.set_from_latest(true);
  Follower follower(server, request);
  // The server takes the end when the call starts, which the client cannot observe: keep
  // appending marker events until one arrives (bounded), then nothing older may have come.
  std::set<std::string> markers;
  for (int i = 0; i < 200 && follower.count() == 0; i++) {
    markers.insert(Observe(server, 1000 + i));
    WaitUntil([&] { return follower.count() > 0; }, absl::Milliseconds(20));
  }
  REQUIRE(follower.count() > 0);
  for (const auto& e : follower.received()) {
    INFO("received " << e.envelope().stream() << " at offset " << e.envelope().position().offset());
    CHECK(markers.count(e.envelope().event_id()) == 1);
  }
  CHECK(server.LogEnd() == before + markers.size());
}

TEST_CASE("log: FollowEvents filters by type", "[log]") {
  TestServer server;
  SeedFixture(server);
  v1::FollowEventsRequest request;
  request.add_types("GradeFinalized");
  request.add_types("CycleOpened");
  Follower follower(server, request);
  REQUIRE(WaitUntil([&] { return follower.count() == 1; }));  // the fixture's cycle
  Observe(server, 1);
  auto r = MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                              FinalizeGradeReq()));
  Observe(server, 2);
  REQUIRE(WaitUntil([&] { return follower.count() == 2; }));
  const auto received = follower.received();
  CHECK(received[0].envelope().type() == "CycleOpened");
  CHECK(received[1].envelope().type() == "GradeFinalized");
  CHECK(received[1].envelope().event_id() == r.events(0).event_id());
  // The metric after the grade is filtered out: nothing else arrives once the log is read.
  Observe(server, 3);
  auto grade2 = MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                                   FinalizeGradeReq(fx::kEmployee2)));
  REQUIRE(WaitUntil([&] { return follower.count() == 3; }));
  CHECK(follower.received()[2].envelope().event_id() == grade2.events(0).event_id());
  CHECK(follower.count() == 3);
}

TEST_CASE("log: many followers and shutdown", "[log]") {
  auto server = std::make_unique<TestServer>();
  SeedFixture(*server);
  std::vector<std::unique_ptr<Follower>> followers;
  for (int i = 0; i < 4; i++) {
    followers.push_back(std::make_unique<Follower>(*server, v1::FollowEventsRequest()));
  }
  for (auto& f : followers) REQUIRE(WaitUntil([&] { return f->count() == 6; }));
  // Shutting the server down ends every follow promptly (they wake at least every 500 ms).
  const absl::Time start = absl::Now();
  server->server().Shutdown(absl::Seconds(5));
  for (auto& f : followers) {
    const grpc::Status status = f->Join();
    CHECK_FALSE(status.ok());
  }
  CHECK(absl::Now() - start < absl::Seconds(10));
  followers.clear();
  server.reset();
}

}  // namespace
}  // namespace perfledger::testing
