// Personal data at rest and GDPR erasure by crypto-shredding (ARCHITECTURE §9) through the real
// server: names, e-mail and free text are sealed before they are written, readers open them,
// an erasure destroys the key and every read path shows placeholders because the erasure is in
// the log; the hash chain verifies before and after; and no file of the data directory holds
// the plaintext, checked byte by byte and through `ldb` dumps of every column family.
//
// Compiled twice: PERFLEDGER_ERASURE_KAFKA=0 on the embedded log, =1 with the log on the real
// broker of PERFLEDGER_KAFKA_BROKERS (deploy/test.sh starts one; without it these cases fail,
// never skip), where the topics are read back with kcat and must hold no plaintext either.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "perfledger/v1/audit.grpc.pb.h"
#include "ledger/types.h"
#include "perfledger/v1/hooks.grpc.pb.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/integration/helpers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

#if PERFLEDGER_ERASURE_KAFKA
#define BACKEND "kafka"
#else
#define BACKEND "embedded"
#endif
#define ERASURE_CASE(name) TEST_CASE(BACKEND " erasure: " name, "[erasure]")

namespace perfledger::testing {
namespace {

#if PERFLEDGER_ERASURE_KAFKA
std::string Brokers() {
  const char* b = std::getenv("PERFLEDGER_KAFKA_BROKERS");
  if (b == nullptr || *b == '\0' || std::string(b) == "unavailable") {
    FAIL("PERFLEDGER_KAFKA_BROKERS names no broker: the Kafka erasure cases need the one "
         "deploy/test.sh (or deploy/kafka/kafka.sh up) starts; they never skip.");
  }
  return b;
}
#endif

constexpr char kTokens[] = R"(admin-token   alice   admin
hr-token      hank    hr
auditor-token audrey  auditor
emp-token     eve     employee E1
payroll-token paula   payroll
lms-token     moodle  lms
)";

// Plaintext that must never reach a file.
constexpr char kName[] = "Zelda Quistorp-Yarrow";
constexpr char kEmail[] = "zelda.q@example.invalid";
constexpr char kNotes[] = "confided the orchid greenhouse plan";
constexpr char kFeedback[] = "I disagree with the tangerine metric";

// Compensation that must never reach a file in clear either: EZ's salary and band midpoint.
constexpr int64_t kSalaryMinor = 7'654'321;
constexpr int64_t kMidpointMinor = 6'543'219;

// The bytes of a Money as a payload would carry it.
std::string MoneyBytes(int64_t minor, const std::string& currency) {
  v1::Money m;
  m.set_amount_minor(minor);
  m.set_currency(currency);
  return m.SerializeAsString();
}

struct Ledger {
  TempDir dir{"erasure"};
  const std::string prefix =
      absl::StrCat("plerase-", getpid(), "-", absl::ToUnixMillis(absl::Now()));
  std::unique_ptr<TestServer> server;
  std::unique_ptr<v1::Views::Stub> views;
  std::unique_ptr<v1::Audit::Stub> audit;
  std::unique_ptr<v1::Hooks::Stub> hooks;

  explicit Ledger(uint32_t retention_days = limits::kRetentionDaysDefault) {
    TestServerOptions options;
    options.retention_days = retention_days;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
#if PERFLEDGER_ERASURE_KAFKA
    options.log_backend = "kafka";
    options.kafka_brokers = Brokers();
    options.kafka_topic_prefix = prefix;
#endif
    server = std::make_unique<TestServer>(options);
    Connect();
    SeedFixture(*server);
    TestServer& s = *server;
    v1::RegisterEmployeeRequest zelda = RegisterEmployeeReq("EZ");
    zelda.set_name(kName);
    zelda.set_email(kEmail);
    zelda.mutable_base_salary()->set_amount_minor(kSalaryMinor);
    zelda.mutable_band_midpoint()->set_amount_minor(kMidpointMinor);
    MustOk(s.Call(s.people(), &v1::People::Stub::RegisterEmployee, zelda), "register");
    v1::RecordCheckInRequest check_in = CheckInReq("EZ");
    check_in.set_notes(kNotes);
    MustOk(s.Call(s.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, check_in), "check-in");
    v1::RecordFeedbackRequest feedback = FeedbackReq("EZ");
    feedback.set_feedback(kFeedback);
    MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::RecordFeedback, feedback), "feedback");
    MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade, FinalizeGradeReq("EZ", "B")),
           "grade");
  }

  void Connect() {
    views = v1::Views::NewStub(server->NewChannel());
    audit = v1::Audit::NewStub(server->NewChannel());
    hooks = v1::Hooks::NewStub(server->NewChannel());
  }

  // The erasure notices a consumer receives within `wait` (its stream's other items ignored).
  std::vector<v1::HookItem> Notices(const std::string& consumer, v1::ActionKind kind,
                                    const std::string& token, absl::Duration wait) {
    grpc::ClientContext context;
    server->Prepare(context, token, wait);
    v1::SubscribeRequest q;
    q.set_consumer(consumer);
    q.add_kinds(kind);
    auto reader = hooks->Subscribe(&context, q);
    std::vector<v1::HookItem> out;
    v1::HookItem item;
    while (reader->Read(&item)) {
      if (item.type() != v1::HOOK_ITEM_TYPE_ERASURE) continue;
      out.push_back(item);
      context.TryCancel();
    }
    reader->Finish();
    return out;
  }

  v1::TimelineResponse Timeline(const std::string& token = "") {
    v1::TimelineRequest q;
    q.set_employee_id("EZ");
    q.set_page_size(1000);
    // Read-your-writes: the views have applied the whole log.
    const auto status = server->Status();
    for (const auto& p : status.partitions()) {
      if (p.end_offset() == 0) continue;
      auto* pos = q.mutable_consistency()->add_min_position();
      pos->set_partition(p.partition());
      pos->set_offset(p.end_offset() - 1);
    }
    return MustOk(server->Call(*views, &v1::Views::Stub::GetTimeline, q, token), "timeline");
  }

  std::string CheckInNotes() {
    v1::CheckInsRequest q;
    q.set_employee_id("EZ");
    const auto r = MustOk(server->Call(*views, &v1::Views::Stub::GetCheckIns, q), "check-ins");
    REQUIRE(r.entries_size() == 1);
    CHECK_FALSE(r.entries(0).has_sealed());
    return r.entries(0).check_in().notes();
  }

  // Publishes the grade-actions policy and grades EZ "A" again: a 15 % raise follows, computed
  // from the sealed salary. Returns EZ's payroll item as `token` reads it.
  v1::PayrollItem Raise(const std::string& token) {
    TestServer& s = *server;
    auto policies = v1::Policies::NewStub(s.NewChannel());
    v1::PublishPolicyRequest publish;
    publish.set_document(kGradeActionsPolicy);
    MustOk(s.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "policy");
    MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade, FinalizeGradeReq("EZ", "A")),
           "grade A");
    return PayrollItem(token);
  }

  // EZ's one payroll item, once the reactor and the views have it.
  v1::PayrollItem PayrollItem(const std::string& token) {
    v1::ListPayrollItemsRequest q;
    q.set_employee_id("EZ");
    v1::ListPayrollItemsResponse r;
    const bool one = WaitUntil([&] {
      r = MustOk(server->Call(*views, &v1::Views::Stub::ListPayrollItems, q, token), "payroll");
      return r.items_size() == 1;
    });
    INFO("EZ's payroll items: " << r.ShortDebugString());
    REQUIRE(one);
    return r.items(0);
  }

  Reply<v1::CommandResult> Erase(const std::string& token = "", const std::string& who = "EZ") {
    v1::EraseSubjectRequest q;
    q.set_employee_id(who);
    q.set_reason("request 2026-117");
    return server->Call(server->people(), &v1::People::Stub::EraseSubject, q, token);
  }
};

// The auditor's chain check (Audit.VerifyChain, as `perfctl audit verify`): on both backends,
// whatever offsets Kafka assigns.
void RequireVerified(Ledger& l) {
  grpc::ClientContext context;
  l.server->Prepare(context, "auditor-token");
  auto reader = l.audit->VerifyChain(&context, v1::VerifyChainRequest());
  v1::ChainCheckResponse r;
  bool ok = false;
  uint64_t checked = 0;
  while (reader->Read(&r)) {
    if (r.has_verdict()) {
      ok = r.verdict().ok();
      checked = r.verdict().events_checked();
    }
  }
  REQUIRE(reader->Finish().ok());
  CHECK(ok);
  CHECK(checked >= 10);
}

// Every string of the timeline's events, concatenated (what a reader was shown).
std::string Shown(const v1::TimelineResponse& t) {
  std::string out;
  for (const auto& e : t.events()) out += e.event().DebugString();
  return out;
}

bool FileContains(const std::filesystem::path& path, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str().find(needle) != std::string::npos;
}

std::string Run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) out.append(chunk.data(), n);
  pclose(pipe);
  return out;
}

// Every RocksDB database under `root` (a directory with a CURRENT file), every column family
// dumped with ldb (values decompressed), and every file read raw: none may hold `needle`.
void RequireNowhere(const std::string& root, const std::vector<std::string>& needles) {
  size_t files = 0;
  size_t families = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    files++;
    for (const auto& needle : needles) {
      INFO(entry.path() << " holds " << needle);
      CHECK_FALSE(FileContains(entry.path(), needle));
    }
    if (entry.path().filename() != "CURRENT") continue;
    const std::string db = entry.path().parent_path().string();
    const std::string list = Run("ldb --db=" + db + " list_column_families 2>&1");
    INFO("ldb list_column_families " << db << ": " << list);
    REQUIRE(list.find("Column families in") != std::string::npos);
    // "Column families in DIR: \n{default, views, ...}"
    const auto open = list.find('{');
    const auto close = list.find('}');
    REQUIRE(open != std::string::npos);
    std::stringstream names(list.substr(open + 1, close - open - 1));
    std::string family;
    while (std::getline(names, family, ',')) {
      family.erase(0, family.find_first_not_of(' '));
      const std::string dump =
          Run("ldb --db=" + db + " --column_family=" + family + " --hex dump 2>&1");
      families++;
      for (const auto& needle : needles) {
        std::string hex;
        for (unsigned char c : needle) {
          static const char* digits = "0123456789ABCDEF";
          hex += digits[c >> 4];
          hex += digits[c & 15];
        }
        INFO("ldb dump of " << db << " / " << family << " holds " << needle);
        CHECK(dump.find(hex) == std::string::npos);
        CHECK(dump.find(needle) == std::string::npos);
      }
    }
  }
  CHECK(files > 10);
  CHECK(families >= 10);
}

ERASURE_CASE("personal data is sealed at write and opened for readers") {
  Ledger l;
  TestServer& s = *l.server;
  // The reader who may see it sees it.
  const std::string shown = Shown(l.Timeline());
  CHECK(shown.find(kName) != std::string::npos);
  CHECK(shown.find(kEmail) != std::string::npos);
  CHECK(shown.find(kNotes) != std::string::npos);
  CHECK(l.CheckInNotes() == kNotes);
  // The log holds ciphertext: no payload carries the plaintext, the envelope seals it under EZ.
  const auto events = s.ReadAllEvents();
  size_t sealed = 0;
  for (const auto& e : events) {
    CHECK(e.envelope().payload().find(kName) == std::string::npos);
    CHECK(e.envelope().payload().find(kNotes) == std::string::npos);
    if (e.envelope().has_sealed()) {
      sealed++;
      CHECK(e.envelope().sealed().ciphertext().find(kName) == std::string::npos);
    }
  }
  CHECK(sealed >= 3);
  RequireVerified(l);
}

ERASURE_CASE("erase shreds the key; every reader shows placeholders") {
  Ledger l;
  TestServer& s = *l.server;
  // Bad input writes nothing.
  const uint64_t before = s.LogEnd();
  RequireError(l.Erase("", "NOBODY"), grpc::StatusCode::NOT_FOUND, "employee_id");
  RequireError(l.Erase("emp-token"), grpc::StatusCode::PERMISSION_DENIED, "ROLE_EMPLOYEE");
  v1::EraseSubjectRequest no_reason;
  no_reason.set_employee_id("EZ");
  RequireError(s.Call(s.people(), &v1::People::Stub::EraseSubject, no_reason),
               grpc::StatusCode::INVALID_ARGUMENT, "reason");
  CHECK(s.LogEnd() == before);

  const v1::CommandResult first = MustOk(l.Erase("hr-token"), "erase");
  REQUIRE(first.events_size() == 1);
  CHECK_FALSE(first.deduplicated());
  // A second erasure answers the first and appends nothing.
  const uint64_t after = s.LogEnd();
  const v1::CommandResult second = MustOk(l.Erase(), "erase again");
  CHECK(second.deduplicated());
  CHECK(second.events(0).event_id() == first.events(0).event_id());
  CHECK(s.LogEnd() == after);

  // The erasure status: the event, and the key destroyed.
  v1::ErasureStatusRequest status_q;
  status_q.set_employee_id("EZ");
  const auto status =
      MustOk(s.Call(*l.views, &v1::Views::Stub::GetErasureStatus, status_q, "auditor-token"));
  CHECK(status.erased());
  CHECK(status.erasure().envelope().event_id() == first.events(0).event_id());
  REQUIRE(status.keys_size() == 2);
  CHECK(status.keys(0).key_id() == "personal/EZ");
  CHECK(status.keys(0).destroyed());
  // The compensation records are kept (default retention: ten years from the erasure).
  CHECK(status.keys(1).key_id() == "retained/EZ");
  CHECK_FALSE(status.keys(1).destroyed());
  const absl::Duration kept = ToTime(status.keys(1).retained_until()) -
                              ToTime(status.erasure().envelope().recorded_at());
  CHECK(kept >= absl::Hours(24 * 3650) - absl::Minutes(1));
  CHECK(kept <= absl::Hours(24 * 3650) + absl::Minutes(1));
  status_q.set_employee_id(fx::kEmployee);
  const auto live = MustOk(s.Call(*l.views, &v1::Views::Stub::GetErasureStatus, status_q));
  CHECK_FALSE(live.erased());
  CHECK_FALSE(live.keys(0).destroyed());
  status_q.set_employee_id("NOBODY");
  RequireError(s.Call(*l.views, &v1::Views::Stub::GetErasureStatus, status_q),
               grpc::StatusCode::NOT_FOUND, "employee_id");

  const auto erased = EventsOfType(s.ReadAllEvents(), "SubjectErased");
  REQUIRE(erased.size() == 1);
  CHECK(erased[0].event().subject_erased().employee_id() == "EZ");
  CHECK(erased[0].event().subject_erased().keys_destroyed(0) == "personal/EZ");
  CHECK(erased[0].envelope().actor().principal() == "hank");

  auto check_placeholders = [&](const std::string& token) {
    INFO("token " << token);
    const v1::TimelineResponse t = l.Timeline(token);
    const std::string shown = Shown(t);
    CHECK(shown.find(kName) == std::string::npos);
    CHECK(shown.find(kNotes) == std::string::npos);
    CHECK(shown.find(kFeedback) == std::string::npos);
    bool saw_registration = false;
    bool saw_grade = false;
    for (const auto& e : t.events()) {
      if (e.event().has_employee_registered()) {
        saw_registration = true;
        CHECK(e.event().employee_registered().name() == "[erased]");
        CHECK(e.event().employee_registered().email() == "[erased]");
      }
      if (e.event().has_check_in_recorded()) {
        CHECK(e.event().check_in_recorded().notes() == "[erased]");
      }
      // Facts that are not personal data stay.
      if (e.event().has_grade_finalized()) {
        saw_grade = true;
        CHECK(!e.event().grade_finalized().grade().empty());
      }
    }
    CHECK(saw_registration);
    CHECK(saw_grade);
  };
  check_placeholders("admin-token");
  check_placeholders("auditor-token");
  CHECK(l.CheckInNotes() == "[erased]");
  // The subject's access request (Art. 15): their data, erased fields as placeholders.
  {
    grpc::ClientContext context;
    s.Prepare(context, "auditor-token");
    v1::ExportRequest q;
    q.set_employee_id("EZ");
    auto reader = l.audit->Export(&context, q);
    v1::RecordedEvent e;
    size_t n = 0;
    while (reader->Read(&e)) {
      n++;
      CHECK(e.event().DebugString().find(kName) == std::string::npos);
    }
    CHECK(reader->Finish().ok());
    CHECK(n >= 4);
  }
  // New personal data about an erased subject is refused; other facts are still recorded.
  v1::RecordCheckInRequest more = CheckInReq("EZ");
  more.set_notes("more notes");
  RequireError(s.Call(s.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, more),
               grpc::StatusCode::FAILED_PRECONDITION, "erased");
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade, FinalizeGradeReq("EZ", "A")),
         "a grade (no personal data)");
  // The chain covers the ciphertext, so it verifies after the erasure as before.
  RequireVerified(l);
  // Across a restart: the placeholders come from the erasure in the log.
  s.Restart();
  l.Connect();
  check_placeholders("admin-token");
  RequireVerified(l);
}

ERASURE_CASE("payroll and the LMS get an erasure notice and acknowledge it (Art. 19)") {
  Ledger l;
  TestServer& s = *l.server;
  MustOk(l.Erase(), "erase");
  // Both consumers are told; the notice names the employee and the erasure event.
  for (const auto& [consumer, kind, token] :
       std::vector<std::tuple<std::string, v1::ActionKind, std::string>>{
           {"payroll-eu", v1::ACTION_KIND_SALARY_ADJUSTMENT, "payroll-token"},
           {"moodle", v1::ACTION_KIND_TRAINING, "lms-token"}}) {
    INFO(consumer);
    const auto notices = l.Notices(consumer, kind, token, absl::Seconds(10));
    REQUIRE(notices.size() == 1);
    CHECK(notices[0].employee_id() == "EZ");
    CHECK(!notices[0].triggered_event_id().empty());
  }
  // Bad answers write nothing: an employee who was not erased, an action id beside it.
  const uint64_t before = s.LogEnd();
  v1::AcknowledgeRequest bad;
  bad.set_consumer("payroll-eu");
  auto* item = bad.add_items();
  item->set_erased_employee_id(fx::kEmployee);
  item->set_consumer_reference("DEL-1");
  RequireError(s.Call(*l.hooks, &v1::Hooks::Stub::Acknowledge, bad, "payroll-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "items[0].erased_employee_id");
  item->set_erased_employee_id("EZ");
  item->set_action_id("act-1");
  RequireError(s.Call(*l.hooks, &v1::Hooks::Stub::Acknowledge, bad, "payroll-token"),
               grpc::StatusCode::INVALID_ARGUMENT, "items[0].erased_employee_id");
  CHECK(s.LogEnd() == before);
  // Payroll acknowledges; again is a duplicate.
  item->clear_action_id();
  auto ack = MustOk(s.Call(*l.hooks, &v1::Hooks::Stub::Acknowledge, bad, "payroll-token"));
  CHECK(ack.outcomes(0) == v1::ACKNOWLEDGE_OUTCOME_RECORDED);
  ack = MustOk(s.Call(*l.hooks, &v1::Hooks::Stub::Acknowledge, bad, "payroll-token"));
  CHECK(ack.outcomes(0) == v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);
  // The status names who acknowledged; payroll is not told again, the LMS still is.
  v1::ErasureStatusRequest q;
  q.set_employee_id("EZ");
  const v1::StatusResponse log_status = s.Status();
  for (const auto& p : log_status.partitions()) {
    if (p.end_offset() == 0) continue;
    auto* pos = q.mutable_consistency()->add_min_position();
    pos->set_partition(p.partition());
    pos->set_offset(p.end_offset() - 1);
  }
  const auto status = MustOk(s.Call(*l.views, &v1::Views::Stub::GetErasureStatus, q));
  REQUIRE(status.acknowledgements_size() == 1);
  CHECK(status.acknowledgements(0).consumer() == "payroll-eu");
  CHECK(status.acknowledgements(0).consumer_reference() == "DEL-1");
  CHECK(l.Notices("payroll-eu", v1::ACTION_KIND_BONUS, "payroll-token", absl::Seconds(2)).empty());
  CHECK(l.Notices("moodle", v1::ACTION_KIND_TRAINING, "lms-token", absl::Seconds(10)).size() == 1);
}

ERASURE_CASE("no file of the data directory (nor topic) holds the plaintext") {
  Ledger l;
  TestServer& s = *l.server;
  MustOk(l.Erase(), "erase");
  l.Timeline();  // the views have applied everything
  s.Stop();
  RequireNowhere(s.data_dir(), {kName, kEmail, kNotes, kFeedback});
#if PERFLEDGER_ERASURE_KAFKA
  // Every record of both topics, values and headers, as kcat reads them.
  for (const std::string& topic : {l.prefix + ".control", l.prefix + ".events"}) {
    const std::string records = Run("kcat -b " + Brokers() + " -C -t " + topic +
                                    " -e -q -f '%k %h %s\\n' 2>&1");
    INFO("topic " << topic << ": " << records.size() << " bytes read");
    CHECK(records.size() > 100);
    for (const std::string needle : {kName, kEmail, kNotes, kFeedback}) {
      CHECK(records.find(needle) == std::string::npos);
    }
  }
#endif
}


ERASURE_CASE("compensation is sealed under the retained key and kept after an erasure") {
  Ledger l;
  TestServer& s = *l.server;
  const v1::PayrollItem before = l.Raise("payroll-token");
  const int64_t raise = kSalaryMinor * 1500 / 10'000;
  CHECK(before.amount().amount_minor() == raise);
  CHECK(before.percent_bp() == 1500);
  CHECK(before.sealed().empty());
  CHECK(before.erased().empty());
  // No payload carries an amount: they travel sealed under EZ's retained key.
  size_t retained = 0;
  for (const auto& e : s.ReadAllEvents()) {
    CHECK(e.envelope().payload().find(MoneyBytes(kSalaryMinor, "EUR")) == std::string::npos);
    CHECK(e.envelope().payload().find(MoneyBytes(raise, "EUR")) == std::string::npos);
    if (!e.envelope().has_retained()) continue;
    CHECK(e.envelope().retained().key() == v1::SEAL_KEY_RETAINED);
    if (e.envelope().retained().subject() == "EZ") retained++;
  }
  CHECK(retained >= 3);  // registration, grades, the raise
  // Readers who may see compensation see it opened; a grade carries the salary in force.
  bool saw_salary = false;
  const v1::TimelineResponse audited = l.Timeline("auditor-token");
  for (const auto& e : audited.events()) {
    if (!e.event().has_grade_finalized() || !e.event().grade_finalized().has_base_salary()) {
      continue;
    }
    saw_salary = true;
    CHECK(e.event().grade_finalized().base_salary().amount_minor() == kSalaryMinor);
  }
  CHECK(saw_salary);

  // An erasure keeps them: payroll still reads the amount, the retained key is live.
  MustOk(l.Erase(), "erase");
  l.Timeline();
  const v1::PayrollItem kept = l.PayrollItem("payroll-token");
  CHECK(kept.amount().amount_minor() == raise);
  CHECK(kept.erased().empty());
  // A simulated far future does not end a legal retention early.
  auto policies = v1::Policies::NewStub(s.NewChannel());
  v1::FireDeadlinesRequest fire;
  *fire.mutable_now() = ToTimestamp(absl::Now() + absl::Hours(24 * 365 * 20));
  const auto fired = MustOk(s.Call(*policies, &v1::Policies::Stub::FireDeadlines, fire), "fire");
  for (const std::string& f : fired.fired()) CHECK(f != "retention/EZ");
  CHECK(EventsOfType(s.ReadAllEvents(), "RetentionEnded").empty());
  CHECK(l.PayrollItem("payroll-token").amount().amount_minor() == raise);

  // Nothing of it in clear in any file.
  s.Stop();
  RequireNowhere(s.data_dir(), {MoneyBytes(kSalaryMinor, "EUR"), MoneyBytes(kMidpointMinor, "EUR"),
                                MoneyBytes(raise, "EUR")});
}

ERASURE_CASE("the retention end shreds the compensation records") {
  Ledger l(/*retention_days=*/0);
  TestServer& s = *l.server;
  const int64_t raise = l.Raise("payroll-token").amount().amount_minor();
  REQUIRE(raise > 0);
  MustOk(l.Erase(), "erase");
  // Retention 0: due with the erasure. The scheduler or this call appends RetentionEnded.
  auto policies = v1::Policies::NewStub(s.NewChannel());
  MustOk(s.Call(*policies, &v1::Policies::Stub::FireDeadlines, v1::FireDeadlinesRequest()),
         "fire");
  const auto ended = EventsOfType(s.ReadAllEvents(), "RetentionEnded");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].event().retention_ended().employee_id() == "EZ");
  CHECK(ended[0].event().retention_ended().keys_destroyed(0) == "retained/EZ");

  v1::ErasureStatusRequest status_q;
  status_q.set_employee_id("EZ");
  auto check_shredded = [&] {
    l.Timeline();
    const auto status =
        MustOk(s.Call(*l.views, &v1::Views::Stub::GetErasureStatus, status_q, "auditor-token"));
    REQUIRE(status.keys_size() == 2);
    CHECK(status.keys(1).key_id() == "retained/EZ");
    CHECK(status.keys(1).destroyed());
    CHECK(status.retention_ended().envelope().event_id() == ended[0].envelope().event_id());
    // Every reader shows the amounts as erased, because the retention end is in the log.
    for (const char* token : {"payroll-token", "auditor-token", "admin-token"}) {
      INFO(token);
      const v1::PayrollItem item = l.PayrollItem(token);
      CHECK_FALSE(item.has_amount());
      CHECK(item.percent_bp() == 0);
      CHECK(std::find(item.erased().begin(), item.erased().end(), "amount") != item.erased().end());
      CHECK(item.sealed().empty());
    }
    bool saw_grade = false;
    const v1::TimelineResponse audited = l.Timeline("auditor-token");
    for (const auto& e : audited.events()) {
      if (!e.event().has_grade_finalized()) continue;
      saw_grade = true;
      CHECK_FALSE(e.event().grade_finalized().has_base_salary());
      CHECK(std::find(e.erased().begin(), e.erased().end(), "grade_finalized.base_salary") !=
            e.erased().end());
      CHECK(e.event().grade_finalized().grade() != "");  // the grade itself stays
    }
    CHECK(saw_grade);
    // The actions re-derived from the log match the recorded ones: both lack the amounts.
    const auto dry = MustOk(s.Call(*policies, &v1::Policies::Stub::DryRun, v1::DryRunRequest(),
                                   "auditor-token"),
                            "dry run");
    CHECK(dry.differences().empty());
    RequireVerified(l);
  };
  check_shredded();
  // The salary can no longer be used: an update or a grade that needs it is refused whole.
  const uint64_t end = s.LogEnd();
  v1::UpdateEmployeeRequest update = UpdateEmployeeReq("EZ");
  update.add_update_mask("job_level");
  update.set_job_level("L4");
  RequireError(s.Call(s.people(), &v1::People::Stub::UpdateEmployee, update),
               grpc::StatusCode::FAILED_PRECONDITION, "retention period ended");
  CHECK(s.LogEnd() == end);
  // Across a restart, and in no file.
  s.Restart();
  l.Connect();
  policies = v1::Policies::NewStub(s.NewChannel());
  check_shredded();
  s.Stop();
  RequireNowhere(s.data_dir(), {MoneyBytes(kSalaryMinor, "EUR"), MoneyBytes(kMidpointMinor, "EUR"),
                                MoneyBytes(raise, "EUR")});
}

}  // namespace
}  // namespace perfledger::testing
