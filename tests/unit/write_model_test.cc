// ledger/write_model: the fold of the log that command validation reads, its persistence and
// its catch-up after a lost tail.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "ledger/embedded_log.h"
#include "ledger/state_store.h"
#include "ledger/write_model.h"
#include "tests/support/temp_dir.h"

namespace perfledger {
namespace {

// A command record's answer, read back from the log.
v1::CommandResult AnswerOf(const internal::CommandRecord& record, EventLog& log) {
  absl::StatusOr<v1::CommandResult> answer = WriteModel::Answer(record, log);
  REQUIRE(answer.ok());
  return *std::move(answer);
}

using testing::TempDir;

// One decided event: its header (position filled once appended) and payload.
struct Decided {
  v1::Envelope header;
  v1::Event event;
};

Decided Make(const std::string& stream, uint64_t version, uint32_t partition, v1::Event event,
             const std::string& event_id) {
  Decided d;
  d.header.set_event_id(event_id);
  d.header.set_stream(stream);
  d.header.set_stream_version(version);
  d.header.mutable_position()->set_partition(partition);
  d.event = std::move(event);
  return d;
}

// Marks `events` as one command: all carry the command id, the first the digest and count.
void AsCommand(std::vector<Decided*> events, const std::string& command_id,
               const std::string& digest) {
  for (size_t i = 0; i < events.size(); i++) {
    events[i]->header.set_command_id(command_id);
    if (i == 0) {
      events[i]->header.set_command_digest(digest);
      events[i]->header.set_command_event_count(static_cast<uint32_t>(events.size()));
    }
  }
}

v1::Event OrgUnit(const std::string& id, const std::string& name) {
  v1::Event e;
  e.mutable_org_unit_defined()->set_org_unit_id(id);
  e.mutable_org_unit_defined()->set_name(name);
  return e;
}

v1::Event Registered(const std::string& id, const std::string& manager, int64_t salary) {
  v1::Event e;
  auto* p = e.mutable_employee_registered();
  p->set_employee_id(id);
  p->set_name("Ada");
  p->set_org_unit_id("O1");
  p->set_manager_id(manager);
  p->mutable_base_salary()->set_amount_minor(salary);
  p->mutable_base_salary()->set_currency("EUR");
  return e;
}

v1::Event Updated(const std::string& id, const std::string& name, int64_t salary) {
  v1::Event e;
  auto* p = e.mutable_employee_updated();
  p->set_employee_id(id);
  p->set_name(name);
  p->set_org_unit_id("O1");
  p->mutable_base_salary()->set_amount_minor(salary);
  p->mutable_base_salary()->set_currency("EUR");
  p->add_changed("name");
  return e;
}

v1::Event Metric(const std::string& subject, int64_t value) {
  v1::Event e;
  e.mutable_metric_observed()->set_subject_id(subject);
  e.mutable_metric_observed()->set_value_milli(value);
  return e;
}

class Harness {
 public:
  explicit Harness(uint32_t data_partitions = 3) {
    EmbeddedLogOptions options;
    options.dir = dir_.Sub("log");
    options.data_partitions = data_partitions;
    options.sync = false;
    auto log = EmbeddedLog::Open(options);
    REQUIRE(log.ok());
    log_ = std::move(*log);
    OpenModel();
  }

  void OpenModel() {
    wm_.reset();
    store_.reset();
    StateStoreOptions options;
    options.dir = dir_.Sub("state");
    options.families = {WriteModel::kFamily};
    auto store = StateStore::Open(options);
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    store_ = std::move(*store);
    auto wm = WriteModel::Open(store_.get(), log_->partitions());
    INFO(wm.status().ToString());
    REQUIRE(wm.ok());
    wm_ = std::move(*wm);
  }

  // Appends the events to the log as one batch and fills their positions.
  void Append(std::vector<Decided*> events) {
    std::vector<v1::Envelope> envelopes;
    for (Decided* d : events) {
      v1::Envelope e = d->header;
      e.set_payload(d->event.SerializeAsString());
      envelopes.push_back(std::move(e));
    }
    auto positions = AppendAndWait(*log_, std::move(envelopes));
    REQUIRE(positions.ok());
    for (size_t i = 0; i < events.size(); i++) {
      events[i]->header.mutable_position()->set_offset((*positions)[i].offset.value());
    }
  }

  void Commit(std::vector<Decided*> events) {
    std::vector<FoldInput> inputs;
    for (Decided* d : events) inputs.push_back({&d->header, &d->event});
    const absl::Status s = wm_->ApplyCommitted(inputs);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  void AppendAndCommit(std::vector<Decided*> events) {
    Append(events);
    Commit(events);
  }

  uint64_t Version(const std::string& key) {
    auto e = wm_->Find(key);
    return e ? e->version() : 0;
  }

  EmbeddedLog& log() { return *log_; }
  WriteModel& wm() { return *wm_; }

 private:
  TempDir dir_{"wm"};
  std::unique_ptr<EmbeddedLog> log_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<WriteModel> wm_;
};

TEST_CASE("write model: folds every kind of entity", "[write_model]") {
  Harness h;
  auto org = Make("org/O1", 1, 0, OrgUnit("O1", "Sales"), "ev-org");
  auto reg = Make("employee/E1", 1, 1, Registered("E1", "M1", 100), "ev-reg");
  auto upd = Make("employee/E1", 2, 1, Updated("E1", "Ada L.", 200), "ev-upd");
  h.AppendAndCommit({&org, &reg, &upd});

  auto o = h.wm().Find("org/O1");
  REQUIRE(o.has_value());
  CHECK(o->version() == 1);
  CHECK(o->org_unit().name() == "Sales");
  auto e = h.wm().Find("employee/E1");
  REQUIRE(e.has_value());
  CHECK(e->version() == 2);
  CHECK(e->employee().base_salary().amount_minor() == 200);
  CHECK(e->employee().base_salary().amount_minor() == 200);
  CHECK_FALSE(e->employee().departed());

  v1::Event departed;
  departed.mutable_employee_departed()->set_employee_id("E1");
  v1::Event opened;
  opened.mutable_cycle_opened()->set_cycle_id("C1");
  opened.mutable_cycle_opened()->mutable_scale()->add_grades("A");
  opened.mutable_cycle_opened()->mutable_scale()->add_grades("B");
  opened.mutable_cycle_opened()->set_policy_version(3);
  v1::Event closed;
  closed.mutable_cycle_closed()->set_cycle_id("C1");
  auto dep = Make("employee/E1", 3, 1, departed, "ev-dep");
  auto open = Make("cycle/C1", 1, 0, opened, "ev-open");
  auto close = Make("cycle/C1", 2, 0, closed, "ev-close");
  h.AppendAndCommit({&dep, &open, &close});
  CHECK(h.wm().Find("employee/E1")->employee().departed());
  auto c = h.wm().Find("cycle/C1");
  REQUIRE(c.has_value());
  CHECK(c->version() == 2);
  CHECK(c->cycle().closed());
  CHECK(c->cycle().policy_version() == 3);
  CHECK(std::vector<std::string>(c->cycle().grades().begin(), c->cycle().grades().end()) ==
        std::vector<std::string>{"A", "B"});

  v1::Event set;
  {
    auto* g = set.mutable_goal_set();
    g->set_goal_id("G1");
    g->set_cycle_id("C1");
    g->set_owner_kind(v1::OWNER_KIND_EMPLOYEE);
    g->set_owner_id("E2");
    g->set_org_unit_id("O1");
    auto* kr = g->add_key_results();
    kr->set_key_result_id("KR1");
    kr->set_start_milli(0);
    kr->set_target_milli(100);
  }
  v1::Event revised;
  {
    auto* g = revised.mutable_goal_revised();
    g->set_goal_id("G1");
    g->set_parent_goal_id("G0");
    auto* kr = g->add_key_results();
    kr->set_key_result_id("KR2");
    kr->set_start_milli(10);
    kr->set_target_milli(20);
  }
  v1::Event goal_closed;
  goal_closed.mutable_goal_closed()->set_goal_id("G1");
  auto gs = Make("goal/G1", 1, 2, set, "ev-gs");
  auto gr = Make("goal/G1", 2, 2, revised, "ev-gr");
  h.AppendAndCommit({&gs, &gr});
  auto g = h.wm().Find("goal/G1");
  REQUIRE(g.has_value());
  CHECK(g->version() == 2);
  CHECK(g->goal().owner_id() == "E2");
  CHECK(g->goal().cycle_id() == "C1");
  CHECK(g->goal().parent_goal_id() == "G0");
  REQUIRE(g->goal().key_result_ids_size() == 1);
  CHECK(g->goal().key_result_ids(0) == "KR2");
  CHECK(g->goal().key_result_start_milli(0) == 10);
  CHECK(g->goal().key_result_target_milli(0) == 20);
  CHECK_FALSE(g->goal().closed());
  auto gc = Make("goal/G1", 3, 2, goal_closed, "ev-gc");
  h.AppendAndCommit({&gc});
  CHECK(h.wm().Find("goal/G1")->goal().closed());

  v1::Event submitted;
  submitted.mutable_score_submitted()->set_score_id("S1");
  submitted.mutable_score_submitted()->set_employee_id("E2");
  submitted.mutable_score_submitted()->set_cycle_id("C1");
  submitted.mutable_score_submitted()->set_reviewer_id("M1");
  v1::Event amended;
  amended.mutable_score_amended()->set_score_id("S1");
  v1::Event grade;
  grade.mutable_grade_finalized()->set_employee_id("E2");
  grade.mutable_grade_finalized()->set_cycle_id("C1");
  grade.mutable_grade_finalized()->set_grade("B");
  auto ss = Make("employee/E2", 1, 3, submitted, "ev-ss");
  h.AppendAndCommit({&ss});
  CHECK(h.wm().Find("score/S1")->score().last_event_id() == "ev-ss");
  CHECK(h.wm().Find("score/S1")->score().reviewer_id() == "M1");
  auto sa = Make("employee/E2", 2, 3, amended, "ev-sa");
  auto gf = Make("employee/E2", 3, 3, grade, "ev-gf");
  h.AppendAndCommit({&sa, &gf});
  CHECK(h.wm().Find("score/S1")->score().last_event_id() == "ev-sa");
  CHECK(h.wm().Find("grade/E2/C1")->grade().grade() == "B");
  CHECK(h.wm().Find("grade/E2/C1")->grade().event_id() == "ev-gf");
  CHECK(h.Version("employee/E2") == 3);

  CHECK_FALSE(h.wm().Find("employee/NOPE").has_value());
  CHECK(h.wm().Checkpoint() == h.log().Ends());
}

TEST_CASE("write model: persists with its checkpoint and reopens", "[write_model]") {
  Harness h;
  auto reg = Make("employee/E1", 1, 1, Registered("E1", "", 100), "client-ev-1");
  auto upd = Make("employee/E1", 2, 1, Updated("E1", "Ada B.", 150), "pl-generated-1");
  AsCommand({&reg}, "cmd-1", "digest-1");
  h.AppendAndCommit({&reg});
  h.AppendAndCommit({&upd});
  const LogEnds checkpoint = h.wm().Checkpoint();
  CHECK(checkpoint == h.log().Ends());

  h.OpenModel();
  CHECK(h.wm().Checkpoint() == checkpoint);
  auto e = h.wm().Find("employee/E1");
  REQUIRE(e.has_value());
  CHECK(e->version() == 2);
  CHECK(e->employee().base_salary().amount_minor() == 150);
  // Client event ids are indexed (to the command that appended them and their position);
  // generated ones are not.
  const auto indexed = h.wm().FindEvent("client-ev-1");
  REQUIRE(indexed.has_value());
  CHECK(indexed->command_id == "cmd-1");
  REQUIRE(indexed->position.has_value());
  CHECK(h.log().Read(indexed->position->partition, indexed->position->offset, 1)
            ->at(0)
            .event_id() == "client-ev-1");
  CHECK_FALSE(h.wm().FindEvent("pl-generated-1").has_value());
  auto record = h.wm().FindCommand("cmd-1");
  REQUIRE(record.has_value());
  CHECK(record->digest() == "digest-1");
  CHECK(record->missing() == 0);
  // The record keeps positions; the answer's ids, streams and versions come from the log.
  CHECK(record->result().events_size() == 0);
  const v1::CommandResult answer = AnswerOf(*record, h.log());
  REQUIRE(answer.events_size() == 1);
  CHECK(answer.events(0).event_id() == "client-ev-1");
  CHECK(answer.events(0).stream() == "employee/E1");
  CHECK(answer.events(0).stream_version() == 1);
  CHECK(answer.events(0).position().partition() == 1);
  CHECK_FALSE(h.wm().FindCommand("cmd-unknown").has_value());
}

TEST_CASE("write model: the pending overlay", "[write_model]") {
  Harness h;
  auto reg = Make("employee/E1", 1, 1, Registered("E1", "", 100), "ev-1");
  h.AppendAndCommit({&reg});

  auto u2 = Make("employee/E1", 2, 1, Updated("E1", "two", 200), "ev-2");
  auto u3 = Make("employee/E1", 3, 1, Updated("E1", "three", 300), "ev-3");
  SECTION("a decided event is visible before it commits, and after") {
    h.wm().ApplyPending({&u2.header, &u2.event});
    h.wm().ApplyPending({&u3.header, &u3.event});
    CHECK(h.Version("employee/E1") == 3);
    CHECK(h.wm().Find("employee/E1")->employee().base_salary().amount_minor() == 300);
    h.Append({&u2, &u3});
    h.Commit({&u2});
    // One of the two in-flight events committed: the overlay still shows the later one.
    CHECK(h.Version("employee/E1") == 3);
    h.Commit({&u3});
    CHECK(h.Version("employee/E1") == 3);
    CHECK(h.wm().Find("employee/E1")->employee().base_salary().amount_minor() == 300);
  }
  SECTION("a failed append drops the overlay") {
    h.wm().ApplyPending({&u2.header, &u2.event});
    CHECK(h.Version("employee/E1") == 2);
    h.wm().DropPending();
    CHECK(h.Version("employee/E1") == 1);
    CHECK(h.wm().Find("employee/E1")->employee().base_salary().amount_minor() == 100);
  }
  SECTION("a new entity exists only in the overlay until it commits") {
    auto reg2 = Make("employee/E2", 1, 2, Registered("E2", "E1", 100), "ev-e2");
    h.wm().ApplyPending({&reg2.header, &reg2.event});
    CHECK(h.wm().Find("employee/E2").has_value());
    h.wm().DropPending();
    CHECK_FALSE(h.wm().Find("employee/E2").has_value());
  }
}

TEST_CASE("write model: CatchUp refolds a lost tail", "[write_model]") {
  Harness h(3);
  // Ten events, the write model applies only the first three (its later writes were "lost").
  auto reg1 = Make("employee/E1", 1, 1, Registered("E1", "", 100), "ev-r1");
  auto reg2 = Make("employee/E2", 1, 2, Registered("E2", "E1", 100), "ev-r2");
  auto org = Make("org/O1", 1, 0, OrgUnit("O1", "Sales"), "ev-org");
  h.AppendAndCommit({&reg1, &reg2, &org});
  const LogEnds applied = h.wm().Checkpoint();

  auto upd = Make("employee/E1", 2, 1, Updated("E1", "renamed", 500), "ev-upd");
  auto org2 = Make("org/O1", 2, 0, OrgUnit("O1", "Sales EMEA"), "ev-org2");
  // A command spanning partitions whose first event sits in a later partition than its second:
  // catch-up meets the second first and must still assemble the record.
  auto m1 = Make("metrics/E2", 1, 3, Metric("E2", 1), "obs-1");
  auto m2 = Make("metrics/E1", 1, 1, Metric("E1", 2), "obs-2");
  AsCommand({&m1, &m2}, "cmd-batch", "digest-batch");
  // And one in the natural order.
  auto m3 = Make("metrics/E1", 2, 1, Metric("E1", 3), "obs-3");
  auto m4 = Make("metrics/E2", 2, 3, Metric("E2", 4), "obs-4");
  auto m5 = Make("metrics/E2", 3, 3, Metric("E2", 5), "obs-5");
  AsCommand({&m3, &m4, &m5}, "cmd-batch2", "digest-batch2");
  h.Append({&upd, &org2});
  h.Append({&m1, &m2});
  h.Append({&m3, &m4, &m5});
  CHECK(h.Version("employee/E1") == 1);

  h.OpenModel();  // a restart
  CHECK(h.wm().Checkpoint() == applied);
  CHECK(h.Version("employee/E1") == 1);
  REQUIRE(h.wm().CatchUp(h.log()).ok());
  CHECK(h.wm().Checkpoint() == h.log().Ends());
  CHECK(h.Version("employee/E1") == 2);
  CHECK(h.wm().Find("employee/E1")->employee().base_salary().amount_minor() == 500);
  CHECK(h.Version("employee/E2") == 1);
  CHECK(h.Version("org/O1") == 2);
  CHECK(h.wm().Find("org/O1")->org_unit().name() == "Sales EMEA");
  CHECK(h.Version("metrics/E1") == 2);
  CHECK(h.Version("metrics/E2") == 3);
  CHECK(h.wm().FindEvent("obs-4")->command_id == "cmd-batch2");

  auto ids = [&](const internal::CommandRecord& r) {
    std::multiset<std::string> out;
    const v1::CommandResult answer = AnswerOf(r, h.log());
    for (const auto& e : answer.events()) out.insert(e.event_id());
    return out;
  };
  auto batch = h.wm().FindCommand("cmd-batch");
  REQUIRE(batch.has_value());
  CHECK(batch->digest() == "digest-batch");
  CHECK(batch->missing() == 0);
  CHECK(ids(*batch) == std::multiset<std::string>{"obs-1", "obs-2"});
  auto batch2 = h.wm().FindCommand("cmd-batch2");
  REQUIRE(batch2.has_value());
  CHECK(batch2->digest() == "digest-batch2");
  CHECK(batch2->missing() == 0);
  CHECK(ids(*batch2) == std::multiset<std::string>{"obs-3", "obs-4", "obs-5"});
  const v1::CommandResult answer2 = AnswerOf(*batch2, h.log());
  for (const auto& e : answer2.events()) {
    if (e.event_id() == "obs-5") {
      CHECK(e.stream() == "metrics/E2");
      CHECK(e.stream_version() == 3);
      CHECK(e.position().partition() == 3);
      CHECK(e.position().offset() == m5.header.position().offset());
    }
  }

  // A second catch-up (and a restart) finds nothing to do and changes nothing.
  REQUIRE(h.wm().CatchUp(h.log()).ok());
  h.OpenModel();
  REQUIRE(h.wm().CatchUp(h.log()).ok());
  CHECK(h.wm().Checkpoint() == h.log().Ends());
  CHECK(h.Version("metrics/E2") == 3);
  CHECK(ids(*h.wm().FindCommand("cmd-batch")) == std::multiset<std::string>{"obs-1", "obs-2"});
}

TEST_CASE("write model: a live multi-event command records its answer in order", "[write_model]") {
  Harness h(3);
  auto m1 = Make("metrics/E2", 1, 3, Metric("E2", 1), "pl-a");
  auto m2 = Make("metrics/E1", 1, 1, Metric("E1", 2), "pl-b");
  AsCommand({&m1, &m2}, "cmd-live", "digest-live");
  h.AppendAndCommit({&m1, &m2});
  auto record = h.wm().FindCommand("cmd-live");
  REQUIRE(record.has_value());
  CHECK(record->missing() == 0);
  const v1::CommandResult answer = AnswerOf(*record, h.log());
  REQUIRE(answer.events_size() == 2);
  CHECK(answer.events(0).event_id() == "pl-a");
  CHECK(answer.events(1).event_id() == "pl-b");
}

}  // namespace
}  // namespace perfledger
