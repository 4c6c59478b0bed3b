// The Audit service through the in-process server: chain verification with a corrupted stored
// event, digests saved and proven (and disproven after a rewrite), as-of queries against what
// the live view answered then, export, bad input for every RPC and the auditor-only roles.
#include <filesystem>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include "ledger/chain_audit.h"
#include "ledger/embedded_log.h"
#include "ledger/hash_chain.h"
#include "perfledger/v1/audit.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "projections/view.h"
#include "tests/integration/helpers.h"
#include "tests/support/embedded_log_peer.h"
#include "tests/support/log_values.h"

namespace perfledger::testing {
namespace {

// Read-your-writes: the positions a command's events were appended at.
void WaitFor(v1::Consistency* consistency, const v1::CommandResult& result) {
  for (const auto& e : result.events()) *consistency->add_min_position() = e.position();
}

using google::protobuf::util::MessageDifferencer;

// Stubs for the services the test server does not wrap, and stream readers.
struct AuditClient {
  TestServer& server;
  std::shared_ptr<grpc::Channel> channel = server.NewChannel();
  std::unique_ptr<v1::Audit::Stub> audit = v1::Audit::NewStub(channel);
  std::unique_ptr<v1::Views::Stub> views = v1::Views::NewStub(channel);

  template <typename Response, typename Start>
  grpc::Status ReadAll(Start start, std::vector<Response>* out, const std::string& token = "") {
    grpc::ClientContext context;
    server.Prepare(context, token, absl::Seconds(120));
    auto reader = start(&context);
    Response r;
    while (reader->Read(&r)) out->push_back(r);
    return reader->Finish();
  }

  // The stream's verdict; `progress` counts the progress messages before it.
  Reply<v1::ChainVerdict> Verify(uint64_t progress_every = 0, int* progress = nullptr,
                                 const std::string& token = "") {
    v1::VerifyChainRequest request;
    request.set_progress_every(progress_every);
    std::vector<v1::ChainCheckResponse> messages;
    Reply<v1::ChainVerdict> reply;
    reply.status = ReadAll<v1::ChainCheckResponse>(
        [&](grpc::ClientContext* c) { return audit->VerifyChain(c, request); }, &messages, token);
    return Verdict(reply, messages, progress);
  }

  Reply<v1::ChainVerdict> Prove(const v1::LogDigest& digest) {
    v1::ProveDigestRequest request;
    *request.mutable_digest() = digest;
    std::vector<v1::ChainCheckResponse> messages;
    Reply<v1::ChainVerdict> reply;
    reply.status = ReadAll<v1::ChainCheckResponse>(
        [&](grpc::ClientContext* c) { return audit->ProveDigest(c, request); }, &messages);
    return Verdict(reply, messages, nullptr);
  }

  static Reply<v1::ChainVerdict> Verdict(Reply<v1::ChainVerdict> reply,
                                         const std::vector<v1::ChainCheckResponse>& messages,
                                         int* progress) {
    int seen = 0;
    for (const auto& m : messages) {
      if (m.has_progress()) seen++;
      if (m.has_verdict()) reply.response = m.verdict();
    }
    if (progress != nullptr) *progress = seen;
    if (reply.ok()) REQUIRE(messages.back().has_verdict());
    return reply;
  }

  Reply<v1::AsOfAnswer> AsOf(const v1::AsOfRequest& request, int* progress = nullptr) {
    std::vector<v1::AsOfResponse> messages;
    Reply<v1::AsOfAnswer> reply;
    reply.status = ReadAll<v1::AsOfResponse>(
        [&](grpc::ClientContext* c) { return audit->AsOf(c, request); }, &messages);
    int seen = 0;
    for (const auto& m : messages) {
      if (m.has_progress()) seen++;
      if (m.has_answer()) reply.response = m.answer();
    }
    if (progress != nullptr) *progress = seen;
    return reply;
  }

  Reply<std::vector<v1::RecordedEvent>> Export(const v1::ExportRequest& request) {
    Reply<std::vector<v1::RecordedEvent>> reply;
    reply.status = ReadAll<v1::RecordedEvent>(
        [&](grpc::ClientContext* c) { return audit->Export(c, request); }, &reply.response);
    return reply;
  }

  v1::ProjectionStatusResponse Projection() {
    return MustOk(server.Call(*views, &v1::Views::Stub::GetProjectionStatus,
                              v1::ProjectionStatusRequest()));
  }
};

EmbeddedLog& Embedded(TestServer& server) {
  auto* log = dynamic_cast<EmbeddedLog*>(&server.server().log());
  REQUIRE(log != nullptr);
  return *log;
}

v1::Envelope StoredAt(TestServer& server, uint32_t partition, uint64_t offset) {
  auto events = server.server().log().Read(PartitionId(partition), Offset(offset), 1);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 1);
  return events->front();
}

// The stored event of `event_id` (from a fresh read of the log).
v1::Envelope StoredEvent(TestServer& server, const std::string& event_id) {
  const auto all = server.ReadAllEvents();
  const v1::RecordedEvent& e = OneEvent(all, event_id);
  return StoredAt(server, e.envelope().position().partition(), e.envelope().position().offset());
}

// E1's registration with another job level: what a forger who edits a stored event does.
v1::Envelope Forged(const v1::Envelope& original) {
  v1::Envelope forged = original;
  v1::Event event;
  REQUIRE(event.ParseFromString(original.payload()));
  REQUIRE(event.has_employee_registered());
  event.mutable_employee_registered()->set_job_level("L9-forged");
  forged.set_payload(event.SerializeAsString());
  return forged;
}

std::string RegistrationOf(TestServer& server, const std::string& employee) {
  for (const auto& e : EventsOfType(server.ReadAllEvents(), "EmployeeRegistered")) {
    if (e.event().employee_registered().employee_id() == employee) return e.envelope().event_id();
  }
  FAIL("no registration of " << employee);
  return "";
}

void AddMetrics(TestServer& server, int count, const std::string& employee = fx::kEmployee) {
  MustOk(server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetrics,
                     ObserveMetricsReq(count, employee)));
}

TEST_CASE("audit verify: a healthy log verifies, with the server's chain tips", "[audit]") {
  TestServer server;
  SeedFixture(server);
  AddMetrics(server, 40);
  AddMetrics(server, 30, fx::kEmployee2);
  AuditClient client{server};
  int progress = 0;
  const v1::ChainVerdict v = MustOk(client.Verify(10, &progress), "verify");
  const v1::StatusResponse status = server.Status();
  CHECK(v.ok());
  CHECK_FALSE(v.has_broken());
  CHECK(v.events_checked() == status.total_events());
  CHECK(progress >= 1);  // 76 events, a progress message promised every 10
  REQUIRE(v.partitions_size() == status.partitions_size());
  for (int p = 0; p < v.partitions_size(); p++) {
    CHECK(v.partitions(p).partition() == static_cast<uint32_t>(p));
    CHECK(v.partitions(p).next_offset() == status.partitions(p).end_offset());
    CHECK(ToHex(v.partitions(p).tip_hash()) == status.partitions(p).last_hash());
  }
}

TEST_CASE("audit verify: a corrupted stored event is caught at its partition and offset",
          "[audit]") {
  TestServer server;
  SeedFixture(server);
  AddMetrics(server, 20);
  const v1::Envelope original = StoredEvent(server, RegistrationOf(server, fx::kEmployee));
  const uint32_t partition = original.position().partition();
  const uint64_t offset = original.position().offset();
  const LogPosition at = PositionOf(original.position());
  AuditClient client{server};
  REQUIRE(MustOk(client.Verify()).ok());

  std::string reason;
  SECTION("the payload is edited") {
    REQUIRE(EmbeddedLogTestPeer::Tamper(Embedded(server), at, Forged(original)).ok());
    reason = "payload does not match payload_sha256";
  }
  SECTION("the payload and its digest are edited") {
    v1::Envelope forged = Forged(original);
    forged.set_payload_sha256(Sha256(forged.payload()));
    REQUIRE(EmbeddedLogTestPeer::Tamper(Embedded(server), at, forged).ok());
    reason = "hash does not match the envelope";
  }
  SECTION("the business time is moved") {
    v1::Envelope forged = original;
    forged.mutable_occurred_at()->set_seconds(original.occurred_at().seconds() - 86400);
    REQUIRE(EmbeddedLogTestPeer::Tamper(Embedded(server), at, forged).ok());
    reason = "hash does not match the envelope";
  }
  SECTION("the event is replaced by a resealed forgery") {
    // The forger recomputes this event's hash: the next event's prev_hash gives it away.
    v1::Envelope forged = Forged(original);
    SealEnvelope(forged, original.prev_hash(), original.sequence());
    REQUIRE(EmbeddedLogTestPeer::Tamper(Embedded(server), at, forged).ok());
    const v1::ChainVerdict v = MustOk(client.Verify());
    REQUIRE_FALSE(v.ok());
    CHECK(v.broken().partition() == partition);
    CHECK(v.broken().offset() == offset + 1);
    CHECK(v.broken().reason() == "prev_hash does not match the previous event's hash");
    CHECK(v.broken().expected_hash() == forged.hash());
    return;
  }
  const v1::ChainVerdict v = MustOk(client.Verify());
  REQUIRE_FALSE(v.ok());
  CHECK(v.broken().partition() == partition);
  CHECK(v.broken().offset() == offset);
  CHECK(v.broken().event_id() == original.event_id());
  CHECK(v.broken().reason() == reason);
  CHECK(v.broken().expected_hash() != v.broken().found_hash());
  // The partition verified up to the broken link, the others completely.
  CHECK(v.partitions(static_cast<int>(partition)).next_offset() == offset);
}

// Any EventLog that is not the embedded one (Kafka): the verifier parses each envelope.
class ForwardingLog final : public EventLog {
 public:
  explicit ForwardingLog(EventLog* base) : base_(base) {}
  std::string_view backend() const override { return "forwarding"; }
  uint32_t data_partitions() const override { return base_->data_partitions(); }
  void Append(AppendBatch events, AppendDone done) override {
    base_->Append(std::move(events), std::move(done));
  }
  absl::StatusOr<std::vector<v1::Envelope>> Read(PartitionId p, Offset from, size_t max) override {
    return base_->Read(p, from, max);
  }
  LogEnds Ends() override { return base_->Ends(); }
  LogEnds WaitForAppend(const LogEnds& seen, absl::Time deadline) override {
    return base_->WaitForAppend(seen, deadline);
  }
  std::vector<std::string> ChainTips() override { return base_->ChainTips(); }
  void Close() override {}

 private:
  EventLog* base_;
};

TEST_CASE("audit verify: the parsed path (any log) and the stored-bytes path agree", "[audit]") {
  TestServer server;
  SeedFixture(server);
  AddMetrics(server, 30);
  ForwardingLog parsed(&server.server().log());
  auto healthy = VerifyChain(parsed, ChainCheckOptions());
  REQUIRE(healthy.ok());
  CHECK(healthy->ok());
  CHECK(healthy->events_checked() == server.LogEnd());
  const v1::Envelope original = StoredEvent(server, RegistrationOf(server, fx::kEmployee));
  REQUIRE(EmbeddedLogTestPeer::Tamper(Embedded(server), PositionOf(original.position()),
                                      Forged(original))
              .ok());
  auto from_parsed = VerifyChain(parsed, ChainCheckOptions());
  auto from_stored = VerifyChain(server.server().log(), ChainCheckOptions());
  REQUIRE(from_parsed.ok());
  REQUIRE(from_stored.ok());
  CHECK_FALSE(from_parsed->ok());
  CHECK(MessageDifferencer::Equals(from_parsed->broken(), from_stored->broken()));
  CHECK(from_parsed->broken().offset() == original.position().offset());
}

// Rewrites partition `partition` from `offset` on with a forged event and a recomputed chain,
// as a forger with write access would: every link verifies again.
void RewriteHistory(TestServer& server, uint32_t partition, uint64_t offset) {
  const uint64_t end = server.server().log().Ends()[PartitionId(partition)].value();
  std::string prev = StoredAt(server, partition, offset).prev_hash();
  for (uint64_t o = offset; o < end; o++) {
    v1::Envelope e = StoredAt(server, partition, o);
    if (o == offset) e = Forged(e);
    SealEnvelope(e, prev, e.sequence());
    prev = e.hash();
    REQUIRE(EmbeddedLogTestPeer::Tamper(Embedded(server), PositionAt(partition, o), e).ok());
  }
}

TEST_CASE("audit digest: a saved digest is proven after appends, and disproven by a rewrite",
          "[audit]") {
  TestServer server;
  SeedFixture(server);
  AddMetrics(server, 10);
  AuditClient client{server};
  const v1::LogDigest digest =
      MustOk(server.Call(*client.audit, &v1::Audit::Stub::GetDigest, v1::GetDigestRequest()));
  const v1::StatusResponse status = server.Status();
  REQUIRE(digest.entries_size() == status.partitions_size());
  for (const auto& e : digest.entries()) {
    CHECK(e.next_offset() == status.partitions(static_cast<int>(e.partition())).end_offset());
    CHECK(ToHex(e.hash()) == status.partitions(static_cast<int>(e.partition())).last_hash());
  }
  // Saved as JSON and read back, as perfctl does.
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(digest, &json).ok());
  v1::LogDigest saved;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &saved).ok());

  AddMetrics(server, 25);
  AddMetrics(server, 5, fx::kEmployee2);
  v1::ChainVerdict proven = MustOk(client.Prove(saved), "prove");
  CHECK(proven.ok());
  CHECK(proven.events_checked() == server.LogEnd());

  const v1::Envelope registration = StoredEvent(server, RegistrationOf(server, fx::kEmployee));
  const uint32_t partition = registration.position().partition();
  SECTION("a rewritten chain verifies but does not extend the digest") {
    RewriteHistory(server, partition, registration.position().offset());
    CHECK(MustOk(client.Verify()).ok());
    const v1::ChainVerdict v = MustOk(client.Prove(saved));
    REQUIRE_FALSE(v.ok());
    CHECK(v.broken().partition() == partition);
    const v1::DigestEntry& point = saved.entries(static_cast<int>(partition));
    CHECK(v.broken().offset() == point.next_offset() - 1);
    CHECK(v.broken().expected_hash() == point.hash());
    CHECK(absl::StrContains(v.broken().reason(), "differs from the digest"));
  }
  SECTION("a corrupted event before the digest point") {
    REQUIRE(EmbeddedLogTestPeer::Tamper(Embedded(server),
                                        PositionAt(partition, registration.position().offset()),
                                        Forged(registration))
                .ok());
    const v1::ChainVerdict v = MustOk(client.Prove(saved));
    REQUIRE_FALSE(v.ok());
    CHECK(v.broken().partition() == partition);
    CHECK(v.broken().offset() == registration.position().offset());
    CHECK(v.broken().event_id() == registration.event_id());
  }
  SECTION("a digest of a longer log than this one") {
    v1::LogDigest longer = saved;
    const Offset end = server.server().log().Ends()[PartitionId(1)];
    longer.mutable_entries(1)->set_next_offset((end + 3).value());
    const v1::ChainVerdict v = MustOk(client.Prove(longer));
    REQUIRE_FALSE(v.ok());
    CHECK(v.broken().partition() == 1);
    CHECK(absl::StrContains(v.broken().reason(), "events were removed"));
  }
}

v1::RankingRequest Ranking() {
  v1::RankingRequest r;
  r.set_cycle_id(fx::kCycle);
  return r;
}

TEST_CASE("audit as-of: a past position and time answer what the live view showed then",
          "[audit]") {
  TestServer server;
  SeedFixture(server);
  AuditClient client{server};
  MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore,
                     SubmitScoreReq("S1", fx::kEmployee)));
  MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore,
                     SubmitScoreReq("S2", fx::kEmployee2)));
  MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                     FinalizeGradeReq(fx::kEmployee, "B", 3'200)));
  const auto last = MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                                       FinalizeGradeReq(fx::kEmployee2, "C", 2'800)));
  AddMetrics(server, 12);

  // What the auditor saw: the live ranking, and the positions and time it was read at.
  v1::RankingRequest live = Ranking();
  WaitFor(live.mutable_consistency(), last);
  // The metrics too: the views must have applied the whole log before the reading.
  for (int i = 0; i < 200; i++) {
    const v1::ProjectionStatusResponse status = client.Projection();
    bool caught_up = true;
    for (int p = 0; p < status.applied_size(); p++) {
      caught_up = caught_up && status.applied(p).offset() ==
                                   server.server().log().Ends()[PartitionId(p)].value();
    }
    if (caught_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const v1::ProjectionStatusResponse before = client.Projection();
  const v1::RankingResponse then =
      MustOk(server.Call(*client.views, &v1::Views::Stub::GetRanking, live));
  const v1::ProjectionStatusResponse after = client.Projection();
  REQUIRE(before.applied_size() == after.applied_size());
  for (int p = 0; p < before.applied_size(); p++) {
    REQUIRE(before.applied(p).offset() == after.applied(p).offset());
    // Caught up.
    REQUIRE(before.applied(p).offset() == server.server().log().Ends()[PartitionId(p)].value());
  }
  REQUIRE(then.entries_size() == 2);
  REQUIRE(then.entries(0).employee_id() == fx::kEmployee);
  google::protobuf::Timestamp newest;
  for (const auto& e : server.ReadAllEvents()) {
    const auto& t = e.envelope().recorded_at();
    if (t.seconds() > newest.seconds() ||
        (t.seconds() == newest.seconds() && t.nanos() > newest.nanos())) {
      newest = t;
    }
  }

  // Later: an amended score and a new grade put E2 first, more metrics arrive.
  MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::AmendScore,
                     AmendScoreReq("S2", fx::kEmployee2)));
  const auto regrade = MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                                          FinalizeGradeReq(fx::kEmployee2, "A", 4'500)));
  AddMetrics(server, 7, fx::kEmployee2);
  v1::RankingRequest now = Ranking();
  WaitFor(now.mutable_consistency(), regrade);
  const v1::RankingResponse current =
      MustOk(server.Call(*client.views, &v1::Views::Stub::GetRanking, now));
  REQUIRE(current.entries(0).employee_id() == fx::kEmployee2);
  REQUIRE_FALSE(MessageDifferencer::Equals(current, then));

  SECTION("as of the positions") {
    v1::AsOfRequest request;
    *request.mutable_positions()->mutable_ends() = before.applied();
    *request.mutable_ranking() = Ranking();
    request.set_progress_every(5);
    int progress = 0;
    const v1::AsOfAnswer answer = MustOk(client.AsOf(request, &progress), "as-of");
    CHECK(MessageDifferencer::Equals(answer.ranking(), then));
    CHECK(progress >= 1);
    REQUIRE(answer.cut().ends_size() == before.applied_size());
    for (int p = 0; p < before.applied_size(); p++) {
      CHECK(answer.cut().ends(p).offset() == before.applied(p).offset());
    }
    CHECK(answer.as_of().seconds() == newest.seconds());
    CHECK(answer.as_of().nanos() == newest.nanos());
  }
  SECTION("as of the time") {
    v1::AsOfRequest request;
    *request.mutable_time() = newest;
    *request.mutable_ranking() = Ranking();
    const v1::AsOfAnswer answer = MustOk(client.AsOf(request), "as-of");
    CHECK(MessageDifferencer::Equals(answer.ranking(), then));
    for (int p = 0; p < before.applied_size(); p++) {
      CHECK(answer.cut().ends(p).offset() == before.applied(p).offset());
    }
  }
  SECTION("as of now equals the live view") {
    v1::AsOfRequest request;
    *request.mutable_positions()->mutable_ends() = client.Projection().applied();
    *request.mutable_ranking() = Ranking();
    CHECK(MessageDifferencer::Equals(MustOk(client.AsOf(request)).ranking(), current));
  }
  // The scratch stores are gone.
  const std::string scratch = server.data_dir() + "/scratch";
  if (std::filesystem::exists(scratch)) CHECK(std::filesystem::is_empty(scratch));
}

TEST_CASE("audit export: one employee's events in log order, one cycle's events", "[audit]") {
  TestServer server;
  SeedFixture(server);
  AuditClient client{server};
  MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore, SubmitScoreReq("S1")));
  MustOk(server.Call(server.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, CheckInReq()));
  MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::FinalizeGrade, FinalizeGradeReq()));
  MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                     FinalizeGradeReq(fx::kEmployee2, "C", 2'500)));
  AddMetrics(server, 6);
  AddMetrics(server, 4, fx::kEmployee2);
  const auto all = server.ReadAllEvents();

  v1::ExportRequest by_employee;
  by_employee.set_employee_id(fx::kEmployee);
  const auto exported = MustOk(client.Export(by_employee), "export E1");
  // Exactly the log's events about E1, in log order, each with its position and hash.
  std::vector<std::string> expected;
  for (const auto& e : all) {
    if (projections::EmployeeOf(e.envelope(), e.event()) == fx::kEmployee) {
      expected.push_back(e.envelope().event_id());
    }
  }
  std::vector<std::string> got;
  for (const auto& e : exported) {
    got.push_back(e.envelope().event_id());
    const v1::RecordedEvent& stored = OneEvent(all, e.envelope().event_id());
    CHECK(e.envelope().hash() == stored.envelope().hash());
    CHECK(e.envelope().position().offset() == stored.envelope().position().offset());
  }
  CHECK(got == expected);
  CHECK(got.size() == 1 + 1 + 1 + 1 + 6);  // registered, score, check-in, grade, 6 metrics
  for (size_t i = 1; i < exported.size(); i++) {
    CHECK(exported[i].envelope().position().offset() >
          exported[i - 1].envelope().position().offset());
  }

  v1::ExportRequest by_cycle;
  by_cycle.set_cycle_id(fx::kCycle);
  const auto cycle = MustOk(client.Export(by_cycle), "export C1");
  std::vector<std::string> cycle_expected;
  for (const auto& e : all) {
    std::string json;
    REQUIRE(google::protobuf::util::MessageToJsonString(e.event(), &json).ok());
    if (absl::StrContains(json, "\"cycleId\":\"C1\"") ||
        e.envelope().stream() == std::string("cycle/") + fx::kCycle) {
      cycle_expected.push_back(e.envelope().event_id());
    }
  }
  std::vector<std::string> cycle_got;
  for (const auto& e : cycle) cycle_got.push_back(e.envelope().event_id());
  CHECK(cycle_got == cycle_expected);
  CHECK(cycle_got.size() >= 5);  // opened, score, check-in?, two grades
}

TEST_CASE("audit: bad input names the field and writes nothing", "[audit]") {
  TestServer server;
  SeedFixture(server);
  AuditClient client{server};
  const uint64_t end = server.LogEnd();
  const auto invalid = grpc::StatusCode::INVALID_ARGUMENT;

  RequireError(client.Verify(20'000'000), invalid, "progress_every");

  const v1::LogDigest digest =
      MustOk(server.Call(*client.audit, &v1::Audit::Stub::GetDigest, v1::GetDigestRequest()));
  RequireError(client.Prove(v1::LogDigest()), invalid, "digest.entries");
  {
    v1::LogDigest bad = digest;
    bad.mutable_entries(0)->set_partition(99);
    RequireError(client.Prove(bad), invalid, "digest.entries[0].partition");
    bad = digest;
    bad.mutable_entries(2)->set_hash("short");
    RequireError(client.Prove(bad), invalid, "digest.entries[2].hash");
    bad = digest;
    *bad.add_entries() = digest.entries(1);
    RequireError(client.Prove(bad), invalid, "digest.entries[5].partition");
  }

  v1::AsOfRequest as_of;
  *as_of.mutable_ranking() = Ranking();
  RequireError(client.AsOf(as_of), invalid, "cut");
  {
    v1::AsOfRequest no_query;
    no_query.mutable_positions();
    RequireError(client.AsOf(no_query), invalid, "query");
    v1::AsOfRequest bad = as_of;
    auto* p = bad.mutable_positions()->add_ends();
    p->set_partition(99);
    RequireError(client.AsOf(bad), invalid, "positions.ends[0].partition");
    p->set_partition(0);
    p->set_offset(end + 100);
    RequireError(client.AsOf(bad), invalid, "positions.ends[0].offset");
    // Data without the control stream it was decided against cannot be replayed.
    bad.mutable_positions()->clear_ends();
    for (uint32_t part = 1; part < server.server().log().partitions(); part++) {
      auto* e = bad.mutable_positions()->add_ends();
      e->set_partition(part);
      e->set_offset(server.server().log().Ends()[PartitionId(part)].value());
    }
    RequireError(client.AsOf(bad), invalid, "positions.ends");
    bad = as_of;
    bad.mutable_time()->set_seconds(int64_t{1} << 40);
    RequireError(client.AsOf(bad), invalid, "time");
  }
  v1::ExplainRequest explain;
  RequireError(server.Call(*client.audit, &v1::Audit::Stub::Explain, explain), invalid,
               "action_id");
  explain.set_action_id("not/an/id");
  RequireError(server.Call(*client.audit, &v1::Audit::Stub::Explain, explain), invalid,
               "action_id");
  explain.set_action_id("0123456789abcdef0123456789abcdef");
  RequireError(server.Call(*client.audit, &v1::Audit::Stub::Explain, explain),
               grpc::StatusCode::NOT_FOUND, "action_id");

  RequireError(client.Export(v1::ExportRequest()), invalid, "subject");
  v1::ExportRequest bad_export;
  bad_export.set_employee_id("");
  RequireError(client.Export(bad_export), invalid, "employee_id");
  bad_export.set_cycle_id(std::string(100, 'c'));
  RequireError(client.Export(bad_export), invalid, "cycle_id");

  CHECK(server.LogEnd() == end);
}

constexpr char kTokens[] = R"(admin-token   alice   admin
auditor-token audrey  auditor
hr-token      hank    hr
emp-token     eve     employee E1
payroll-token paula   payroll
)";

TEST_CASE("audit: auditors and admins may audit, other roles may not", "[audit]") {
  TempDir dir{"audit-auth"};
  TestServerOptions options;
  options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
  options.default_token = "admin-token";
  TestServer server(options);
  SeedFixture(server);
  AuditClient client{server};
  auto digest = [&](const std::string& token) {
    return server.Call(*client.audit, &v1::Audit::Stub::GetDigest, v1::GetDigestRequest(), token);
  };
  CHECK(digest("admin-token").ok());
  CHECK(digest("auditor-token").ok());
  CHECK(MustOk(client.Verify(0, nullptr, "auditor-token")).ok());
  for (const std::string token : {"hr-token", "emp-token", "payroll-token"}) {
    INFO(token);
    CHECK(digest(token).status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(client.Verify(0, nullptr, token).status.error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  CHECK(digest(kNoToken).status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace perfledger::testing
