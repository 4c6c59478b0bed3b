#include "tests/views/history.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/partitioner.h"
#include "projections/projector.h"
#include "projections/views/views.h"

namespace perfledger::views_test {

// ---------------------------------------------------------------- scratch, log, store

ScratchDir::ScratchDir(const std::string& tag) {
  std::string pattern = "/tmp/perfledger-" + tag + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::unique_ptr<EmbeddedLog> OpenLog(const std::string& dir, uint32_t data_partitions) {
  EmbeddedLogOptions options;
  options.dir = dir;
  options.data_partitions = data_partitions;
  options.sync = false;
  auto log = EmbeddedLog::Open(options);
  if (!log.ok()) {
    std::fprintf(stderr, "open log: %s\n", log.status().ToString().c_str());
    std::abort();
  }
  return std::move(*log);
}

std::unique_ptr<StateStore> OpenStore(const std::string& dir) {
  StateStoreOptions options;
  options.dir = dir;
  projections::Projector::AddFamilies(projections::AllViews(), options);
  auto store = StateStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open store: %s\n", store.status().ToString().c_str());
    std::abort();
  }
  return std::move(*store);
}

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

// ---------------------------------------------------------------- LogWriter

LogWriter::LogWriter(EventLog* log, bool keep_history, size_t batch)
    : log_(log), keep_history_(keep_history), batch_(batch) {}

std::string LogWriter::NextEventId() const { return absl::StrFormat("ev%07d", next_event_); }

void LogWriter::Control(const std::string& stream, v1::Event event,
                        const google::protobuf::Timestamp& occurred_at) {
  Add(kControlPartition, "", stream, std::move(event), occurred_at, control_end_);
  control_end_++;
}

void LogWriter::Data(const std::string& partition_key, const std::string& stream,
                     v1::Event event, const google::protobuf::Timestamp& occurred_at) {
  DataWithControlVersion(partition_key, stream, std::move(event), occurred_at, control_end_);
}

void LogWriter::DataWithControlVersion(const std::string& partition_key,
                                       const std::string& stream, v1::Event event,
                                       const google::protobuf::Timestamp& occurred_at,
                                       uint64_t control_version) {
  Add(DataPartitionFor(partition_key, log_->data_partitions()), partition_key, stream,
      std::move(event), occurred_at, control_version);
}

void LogWriter::Add(PartitionId partition, const std::string& partition_key,
                    const std::string& stream, v1::Event event,
                    const google::protobuf::Timestamp& occurred_at, uint64_t control_version) {
  v1::Envelope e;
  e.set_event_id(NextEventId());
  next_event_++;
  // The payload's type name, as the ledger writes it.
  const auto* field = event.GetDescriptor()->FindFieldByNumber(event.body_case());
  e.set_type(field == nullptr ? "" : field->message_type()->name());
  e.set_stream(stream);
  e.set_stream_version(++stream_versions_[stream]);
  e.set_partition_key(partition_key);
  e.mutable_position()->set_partition(partition.value());
  *e.mutable_occurred_at() = occurred_at;
  e.set_schema_version(1);
  e.set_control_version(control_version);
  e.set_payload(event.SerializeAsString());
  if (keep_history_) history_.push_back({e, std::move(event)});
  pending_.push_back(std::move(e));
  if (pending_.size() >= batch_) failed_.Update(Flush());
}

absl::Status LogWriter::Flush() {
  if (!failed_.ok()) return failed_;
  if (pending_.empty()) return absl::OkStatus();
  std::vector<v1::Envelope> batch;
  batch.swap(pending_);
  auto appended = AppendAndWait(*log_, std::move(batch));
  if (!appended.ok()) {
    failed_ = appended.status();
    return failed_;
  }
  last_appended_ = std::move(*appended);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- the random history

namespace {

constexpr int64_t kEpoch = 1'767'225'600;  // 2026-01-01T00:00:00Z
constexpr int64_t kDay = 86'400;

struct ActionRef {
  std::string id;
  v1::ActionKind kind;
  std::string course;
};

struct PipRef {
  std::string id;
  int64_t deadline = 0;
};

struct GoalRef {
  std::string id;
  std::string cycle;
  std::string owner;
  v1::OwnerKind owner_kind;
  std::vector<std::string> krs;
};

class Generator {
 public:
  Generator(const HistoryOptions& o, LogWriter& w) : options_(o), w_(w), rng_(o.seed) {}

  void Run() {
    for (const std::string& org : orgs_) {
      v1::Event e;
      auto* u = e.mutable_org_unit_defined();
      u->set_org_unit_id(org);
      u->set_name("unit " + org);
      u->set_parent_id(org == "U0" ? "" : "U0");
      w_.Control("org/" + org, e, Time());
    }
    for (const std::string& cycle : cycles_) {
      v1::Event e;
      auto* c = e.mutable_cycle_opened();
      c->set_cycle_id(cycle);
      c->mutable_scale()->add_grades("A");
      c->mutable_scale()->add_grades("B");
      c->mutable_scale()->add_grades("C");
      c->mutable_scale()->add_grades("D");
      w_.Control("cycle/" + cycle, e, Time());
    }
    PublishPolicy();
    for (int i = 0; i < options_.employees; i++) {
      const std::string id = absl::StrFormat("E%03d", i);
      employees_.push_back(id);
      org_[id] = Pick(orgs_);
      v1::Event e;
      auto* r = e.mutable_employee_registered();
      r->set_employee_id(id);
      r->set_name("person " + id);
      r->set_org_unit_id(org_[id]);
      r->set_manager_id(i < 3 ? "" : employees_[Uniform(0, 2)]);
      r->mutable_base_salary()->set_amount_minor(5'000'000 + Uniform(0, 100) * 10'000);
      r->mutable_base_salary()->set_currency("EUR");
      w_.Data(id, "employee/" + id, e, Time());
    }
    for (int i = 0; i < options_.events; i++) Step();
  }

 private:
  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }
  // Business time: anywhere in the year, not monotonic (clients send what happened when).
  google::protobuf::Timestamp Time() {
    const int64_t seconds = kEpoch + Uniform(0, 365 * kDay);
    return Ts(seconds, Chance(0.3) ? static_cast<int32_t>(Uniform(0, 999'999'999)) : 0);
  }
  std::string NewId(const char* prefix) { return absl::StrFormat("%s%05d", prefix, next_id_++); }

  void PublishPolicy() {
    policy_version_++;
    v1::Event e;
    auto* p = e.mutable_policy_published();
    p->set_policy_id("default");
    p->set_version(policy_version_);
    p->set_document_json("{}");
    w_.Control("policy/default", e, Time());
  }

  void Step() {
    const std::string& emp = Pick(employees_);
    const int64_t roll = Uniform(0, 99);
    if (roll < 10) return Metric(emp);
    if (roll < 18) return CheckIn(emp);
    if (roll < 22) return SetGoal(emp);
    if (roll < 24) return ReviseGoal();
    if (roll < 30) return Progress();
    if (roll < 31) return CloseGoal();
    if (roll < 34) return Score(emp);
    if (roll < 41) return Grade(emp);
    if (roll < 49) return Trigger(emp);
    if (roll < 60) return Report(emp);
    if (roll < 67) return TrainingReport(emp);
    if (roll < 77) return PipEvent(emp);
    if (roll < 79) return Threshold(emp);
    if (roll < 80) return Updated(emp);
    if (roll < 81) return PublishPolicy();
    if (roll < 84) return DisputeEvent(emp);
    return Metric(emp);
  }

  void Metric(const std::string& emp) {
    v1::Event e;
    auto* m = e.mutable_metric_observed();
    const bool person = Chance(0.8);
    m->set_subject_id(person ? emp : Pick(orgs_));
    m->set_subject_kind(person ? v1::OWNER_KIND_EMPLOYEE : v1::OWNER_KIND_ORG_UNIT);
    m->set_metric("defect_rate");
    m->set_value_milli(Uniform(0, 8000));
    m->set_unit("%");
    m->set_source("IoT");
    w_.Data(m->subject_id(), "metrics/" + m->subject_id(), e, Time());
  }

  void CheckIn(const std::string& emp) {
    v1::Event e;
    auto* c = e.mutable_check_in_recorded();
    c->set_check_in_id(NewId("CI"));
    c->set_employee_id(emp);
    c->set_manager_id(employees_[Uniform(0, 3)]);
    c->set_cycle_id(Pick(cycles_));
    c->set_notes("talked");
    w_.Data(emp, "employee/" + emp, e, Time());
  }

  void AddKeyResults(google::protobuf::RepeatedPtrField<v1::KeyResult>* out,
                     std::vector<std::string>& ids, const std::vector<std::string>& keep) {
    ids.clear();
    const bool zero_weights = Chance(0.2);
    for (const std::string& k : keep) ids.push_back(k);
    const int64_t fresh = Uniform(0, 3);
    for (int64_t i = 0; i < fresh; i++) ids.push_back(NewId("KR"));
    for (const std::string& id : ids) {
      auto* kr = out->Add();
      kr->set_key_result_id(id);
      kr->set_description("kr " + id);
      kr->set_start_milli(Uniform(0, 100));
      kr->set_target_milli(1000 + Uniform(0, 1000));
      kr->set_weight_bp(zero_weights ? 0 : static_cast<uint32_t>(Uniform(1, 5000)));
    }
  }

  // A parent among the goals created before `limit` in the same cycle, or none. Parents always
  // come earlier, so alignment never forms a loop.
  std::string ParentFor(const std::string& cycle, size_t limit) {
    if (Chance(0.35)) return "";
    std::vector<std::string> candidates;
    for (size_t i = 0; i < limit && i < goals_.size(); i++) {
      if (goals_[i].cycle == cycle) candidates.push_back(goals_[i].id);
    }
    return candidates.empty() ? "" : Pick(candidates);
  }

  void SetGoal(const std::string& emp) {
    GoalRef g;
    g.id = NewId("G");
    g.cycle = Pick(cycles_);
    const bool person = Chance(0.7);
    g.owner = person ? emp : Pick(orgs_);
    g.owner_kind = person ? v1::OWNER_KIND_EMPLOYEE : v1::OWNER_KIND_ORG_UNIT;
    v1::Event e;
    auto* s = e.mutable_goal_set();
    s->set_goal_id(g.id);
    s->set_cycle_id(g.cycle);
    s->set_owner_kind(g.owner_kind);
    s->set_owner_id(g.owner);
    s->set_parent_goal_id(ParentFor(g.cycle, goals_.size()));
    s->set_title("goal " + g.id);
    s->set_weight_bp(Chance(0.2) ? 0 : static_cast<uint32_t>(Uniform(1, 10000)));
    AddKeyResults(s->mutable_key_results(), g.krs, {});
    w_.Data(g.owner, "goal/" + g.id, e, Time());
    goals_.push_back(std::move(g));
  }

  void ReviseGoal() {
    if (goals_.empty()) return;
    const size_t index = static_cast<size_t>(Uniform(0, static_cast<int64_t>(goals_.size()) - 1));
    GoalRef& g = goals_[index];
    v1::Event e;
    auto* r = e.mutable_goal_revised();
    // Now and then a revision of a goal nobody set (the view ignores it).
    r->set_goal_id(Chance(0.05) ? NewId("G") : g.id);
    r->set_title("revised " + g.id);
    r->set_weight_bp(static_cast<uint32_t>(Uniform(0, 10000)));
    std::vector<std::string> keep;
    for (const std::string& k : g.krs) {
      if (Chance(0.6)) keep.push_back(k);
    }
    std::vector<std::string> ids;
    AddKeyResults(r->mutable_key_results(), ids, keep);
    if (r->goal_id() == g.id) g.krs = ids;
    r->set_parent_goal_id(ParentFor(g.cycle, index));
    r->set_reason("replanned");
    w_.Data(g.owner, "goal/" + g.id, e, Time());
  }

  void Progress() {
    if (goals_.empty()) return;
    const GoalRef& g = Pick(goals_);
    v1::Event e;
    auto* p = e.mutable_key_result_progress_recorded();
    p->set_goal_id(g.id);
    p->set_key_result_id(g.krs.empty() || Chance(0.05) ? NewId("KR") : Pick(g.krs));
    p->set_value_milli(Uniform(0, 2000));
    p->set_progress_bp(static_cast<uint32_t>(Uniform(0, 10000)));
    w_.Data(g.owner, "goal/" + g.id, e, Time());
  }

  void CloseGoal() {
    if (goals_.empty()) return;
    const GoalRef& g = Pick(goals_);
    v1::Event e;
    auto* c = e.mutable_goal_closed();
    c->set_goal_id(g.id);
    c->set_okr_grade_milli(static_cast<uint32_t>(Uniform(0, 1000)));
    w_.Data(g.owner, "goal/" + g.id, e, Time());
  }

  void Score(const std::string& emp) {
    v1::Event e;
    auto* s = e.mutable_score_submitted();
    s->set_score_id(NewId("S"));
    s->set_employee_id(emp);
    s->set_cycle_id(Pick(cycles_));
    s->set_reviewer_id(employees_[0]);
    s->set_source(v1::SCORE_SOURCE_MANAGER);
    auto* d = s->add_scores();
    d->set_dimension("quality");
    d->set_score_milli(Uniform(0, 5000));
    w_.Data(emp, "employee/" + emp, e, Time());
  }

  // `dispute`: the dispute the grade corrects (none: an ordinary grade).
  void Grade(const std::string& emp, const std::string& dispute = "") {
    const std::string cycle = Pick(cycles_);
    v1::Event e;
    auto* g = e.mutable_grade_finalized();
    g->set_employee_id(emp);
    g->set_cycle_id(cycle);
    // Few distinct scores, so ties (ordered by employee id) are common.
    const int64_t score = 500 * Uniform(0, 9);
    g->set_score_milli(score);
    g->set_grade(score >= 3500 ? "A" : score >= 2500 ? "B" : score >= 1500 ? "C" : "D");
    // By default one version per cycle (the version the cycle is graded under); optionally the
    // version in force at the time, which differs between grades of one cycle.
    g->set_policy_version(options_.grade_policy_follows_control ? policy_version_
                                                                : (cycle == "C1" ? 1 : 2));
    // Mostly the employee's unit; sometimes another one (a move between grades).
    g->set_org_unit_id(Chance(0.8) ? org_[emp] : Pick(orgs_));
    g->set_manager_id(employees_[0]);
    auto& previous = grade_event_[{cycle, emp}];
    g->set_supersedes_event_id(previous);
    g->set_dispute_id(dispute);
    previous = w_.NextEventId();
    w_.Data(emp, "employee/" + emp, e, Time());
  }

  void Trigger(const std::string& emp) {
    static const std::vector<v1::ActionKind> kinds = {
        v1::ACTION_KIND_SALARY_ADJUSTMENT, v1::ACTION_KIND_BONUS,     v1::ACTION_KIND_TRAINING,
        v1::ACTION_KIND_PIP,               v1::ACTION_KIND_HR_REVIEW, v1::ACTION_KIND_PROMOTION_NOMINATION};
    std::vector<ActionRef>& mine = actions_[emp];
    ActionRef a;
    if (!mine.empty() && Chance(0.06)) {
      a = Pick(mine);  // the same decision appended twice (a replayed reactor before dedupe)
      if (Chance(0.3)) a.kind = Pick(kinds);
    } else {
      a.id = NewId("A");
      a.kind = Pick(kinds);
      a.course = absl::StrCat("K", Uniform(1, 4));
      mine.push_back(a);
    }
    v1::Event e;
    auto* t = e.mutable_action_triggered();
    t->set_action_id(a.id);
    t->set_kind(a.kind);
    t->set_employee_id(emp);
    t->set_cycle_id(Chance(0.9) ? Pick(cycles_) : "");
    t->set_rule_id(absl::StrCat("grades.", Uniform(0, 3)));
    t->set_policy_version(policy_version_);
    t->add_cause_event_ids(absl::StrFormat("ev%07d", Uniform(0, static_cast<int64_t>(w_.events()))));
    if (Chance(0.3)) t->add_cause_event_ids(NewId("cause"));
    t->mutable_amount()->set_amount_minor(Uniform(0, 1'000'000));
    t->mutable_amount()->set_currency("EUR");
    t->set_percent_bp(static_cast<uint32_t>(Uniform(0, 2000)));
    *t->mutable_effective_at() = Time();
    t->set_reason_code(a.kind == v1::ACTION_KIND_BONUS ? "bonus" : "merit");
    if (a.kind == v1::ACTION_KIND_TRAINING) t->set_course_id(a.course);
    t->set_pip_length_days(90);
    t->set_pip_checkpoint_every_days(14);
    t->set_org_unit_id(org_[emp]);
    t->set_manager_id(employees_[0]);
    w_.Data(emp, "action/" + a.id, e, Time());
  }

  // An action id for a report by `emp`: mostly one of theirs, sometimes unknown, sometimes
  // another employee's (keyed by `emp`, so an orphan for every view).
  std::string ReportTarget(const std::string& emp) {
    const std::vector<ActionRef>& mine = actions_[emp];
    const int64_t roll = Uniform(0, 99);
    if (roll < 85 && !mine.empty()) return Pick(mine).id;
    if (roll < 93 || actions_.empty()) return NewId("A");
    const std::string& other = Pick(employees_);
    return actions_[other].empty() ? NewId("A") : Pick(actions_[other]).id;
  }

  void Report(const std::string& emp) {
    const std::string id = ReportTarget(emp);
    v1::Event e;
    switch (Uniform(0, 3)) {
      case 0: {
        auto* d = e.mutable_action_delivered();
        d->set_action_id(id);
        d->set_consumer(Chance(0.5) ? "payroll" : "lms");
        break;
      }
      case 1: {
        auto* a = e.mutable_action_acknowledged();
        a->set_action_id(id);
        a->set_consumer("payroll");
        a->set_consumer_reference(NewId("ref"));
        break;
      }
      case 2: {
        auto* r = e.mutable_action_rejected();
        r->set_action_id(id);
        r->set_consumer("payroll");
        r->set_reason("no budget");
        break;
      }
      default: {
        auto* c = e.mutable_action_cancelled();
        c->set_action_id(id);
        c->set_reason("grade superseded");
        break;
      }
    }
    w_.Data(emp, "action/" + id, e, Time());
  }

  void TrainingReport(const std::string& emp) {
    std::vector<const ActionRef*> training;
    for (const ActionRef& a : actions_[emp]) {
      if (a.kind == v1::ACTION_KIND_TRAINING) training.push_back(&a);
    }
    std::string action_id, course = absl::StrCat("K", Uniform(1, 4));
    const int64_t roll = Uniform(0, 99);
    if (roll < 50 && !training.empty()) {
      const ActionRef* a = Pick(training);
      action_id = a->id;
      if (Chance(0.9)) course = a->course;  // else the LMS reports under another code
    } else if (roll < 85) {
      if (!training.empty() && Chance(0.7)) course = Pick(training)->course;
    } else {
      action_id = NewId("A");  // an id this ledger never issued
    }
    v1::Event e;
    if (Chance(0.45)) {
      auto* r = e.mutable_training_enrolled();
      r->set_employee_id(emp);
      r->set_course_id(course);
      r->set_action_id(action_id);
      r->set_lms_reference(NewId("lms"));
    } else {
      auto* r = e.mutable_training_completed();
      r->set_employee_id(emp);
      r->set_course_id(course);
      r->set_action_id(action_id);
      r->set_passed(Chance(0.7));
      r->set_score_milli(Uniform(0, 100'000));
      r->set_lms_reference(NewId("lms"));
    }
    w_.Data(emp, "employee/" + emp, e, Time());
  }

  void PipEvent(const std::string& emp) {
    std::vector<PipRef>& mine = pips_[emp];
    const int64_t roll = Uniform(0, 99);
    v1::Event e;
    if (roll < 30 || mine.empty()) {
      std::vector<std::string> pip_actions;
      for (const ActionRef& a : actions_[emp]) {
        if (a.kind == v1::ACTION_KIND_PIP) pip_actions.push_back(a.id);
      }
      auto* o = e.mutable_pip_opened();
      PipRef p;
      p.id = (!mine.empty() && Chance(0.05)) ? Pick(mine).id : NewId("P");
      o->set_pip_id(p.id);
      o->set_employee_id(emp);
      o->set_cycle_id(Pick(cycles_));
      if (!pip_actions.empty() && Chance(0.7)) {
        o->set_action_id(Pick(pip_actions));
      } else if (Chance(0.3)) {
        o->set_action_id(NewId("A"));
      }
      const google::protobuf::Timestamp start = Time();
      *o->mutable_starts_at() = start;
      p.deadline = start.seconds() + 90 * kDay;
      *o->mutable_deadline_at() = Ts(p.deadline);
      o->set_checkpoint_every_days(14);
      o->add_goal_ids(NewId("G"));
      o->set_manager_id(employees_[0]);
      mine.push_back(p);
      w_.Data(emp, "pip/" + p.id, e, start);
      return;
    }
    PipRef& p = mine[static_cast<size_t>(Uniform(0, static_cast<int64_t>(mine.size()) - 1))];
    const std::string pip_id = Chance(0.07) ? NewId("P") : p.id;
    if (roll < 20) {
      auto* g = e.mutable_pip_goals_set();
      g->set_pip_id(pip_id);
      g->set_employee_id(emp);
      g->add_goal_ids(NewId("G"));
      if (Chance(0.5)) g->add_goal_ids(NewId("G"));
    } else if (roll < 55) {
      auto* c = e.mutable_pip_checkpoint_recorded();
      c->set_pip_id(pip_id);
      c->set_employee_id(emp);
      c->set_progress_bp(static_cast<uint32_t>(Uniform(0, 10000)));
    } else if (roll < 68) {
      auto* x = e.mutable_pip_extended();
      x->set_pip_id(pip_id);
      x->set_employee_id(emp);
      p.deadline += 30 * kDay;
      *x->mutable_new_deadline_at() = Ts(p.deadline);
    } else if (roll < 85) {
      auto* d = e.mutable_deadline_reached();
      // Mostly the plan's deadline; sometimes one an extension already moved (stale), a later
      // one, or a deadline of something else.
      const int64_t kind = Uniform(0, 9);
      d->set_subject(kind == 9 ? "action/" + NewId("A") : "pip/" + pip_id);
      d->set_employee_id(emp);
      const int64_t at = kind < 6 ? p.deadline : kind < 8 ? p.deadline - 30 * kDay : p.deadline + 1;
      *d->mutable_deadline_at() = Ts(at);
    } else {
      auto* c = e.mutable_pip_closed();
      c->set_pip_id(pip_id);
      c->set_employee_id(emp);
      c->set_outcome(Chance(0.5) ? v1::PIP_OUTCOME_SUCCEEDED : v1::PIP_OUTCOME_FAILED);
    }
    w_.Data(emp, "pip/" + pip_id, e, Time());
  }

  // Acknowledgements, disputes, corrections naming them and resolutions; now and then a
  // dispute id raised twice (ignored) or one nobody raised (an orphan).
  void DisputeEvent(const std::string& emp) {
    std::vector<std::string>& mine = disputes_[emp];
    const std::string cycle = Pick(cycles_);
    v1::Event e;
    if (mine.empty() || Chance(0.4)) {
      const std::string id = !mine.empty() && Chance(0.05) ? Pick(mine) : NewId("D");
      auto* r = e.mutable_dispute_raised();
      r->set_dispute_id(id);
      r->set_employee_id(emp);
      r->set_cycle_id(cycle);
      r->set_grade_event_id(grade_event_[{cycle, emp}]);
      r->set_grade("C");
      r->add_dimensions("quality");
      r->set_grounds("the quality score misses the audit");
      const bool skip = Chance(0.5);
      r->set_assigned_to(skip ? v1::DISPUTE_ASSIGNEE_SKIP_LEVEL : v1::DISPUTE_ASSIGNEE_HR);
      r->set_assignee_id(skip ? employees_[1] : "");
      *r->mutable_window_ends_at() = Time();
      r->set_org_unit_id(org_[emp]);
      r->set_manager_id(employees_[0]);
      mine.push_back(id);
      w_.Data(emp, "dispute/" + id, e, Time());
      return;
    }
    const std::string id = Chance(0.07) ? NewId("D") : Pick(mine);
    const int64_t roll = Uniform(0, 99);
    if (roll < 25) return Grade(emp, id);
    if (roll < 50) {
      auto* a = e.mutable_grade_acknowledged();
      a->set_employee_id(emp);
      a->set_cycle_id(cycle);
      a->set_grade_event_id(grade_event_[{cycle, emp}]);
      a->set_response(Chance(0.5) ? v1::ACKNOWLEDGEMENT_RESPONSE_AGREE
                                  : v1::ACKNOWLEDGEMENT_RESPONSE_DISAGREE);
      a->set_comment("seen");
      w_.Data(emp, "employee/" + emp, e, Time());
      return;
    }
    auto* r = e.mutable_dispute_resolved();
    r->set_dispute_id(id);
    r->set_employee_id(emp);
    r->set_cycle_id(cycle);
    r->set_outcome(static_cast<v1::DisputeOutcome>(Uniform(1, 3)));
    r->set_reason("decided");
    r->set_resolved_by(employees_[1]);
    w_.Data(emp, "dispute/" + id, e, Time());
  }

  void Threshold(const std::string& emp) {
    v1::Event e;
    auto* t = e.mutable_threshold_breached();
    const bool person = Chance(0.7);
    t->set_alert_id(NewId("AL"));
    t->set_metric("defect_rate");
    t->set_scope(person ? v1::OWNER_KIND_EMPLOYEE : v1::OWNER_KIND_ORG_UNIT);
    t->set_subject_id(person ? emp : org_[emp]);
    t->set_value_milli(3500);
    t->set_threshold_milli(3000);
    w_.Data(t->subject_id(), "alerts/" + t->subject_id(), e, Time());
  }

  void Updated(const std::string& emp) {
    v1::Event e;
    auto* u = e.mutable_employee_updated();
    u->set_employee_id(emp);
    u->set_job_level("L2");
    u->add_changed("job_level");
    w_.Data(emp, "employee/" + emp, e, Time());
  }

  const HistoryOptions& options_;
  LogWriter& w_;
  std::mt19937_64 rng_;
  uint64_t next_id_ = 0;
  uint64_t policy_version_ = 0;
  const std::vector<std::string> orgs_ = {"U0", "U1", "U2", "U3"};
  const std::vector<std::string> cycles_ = {"C1", "C2"};
  std::vector<std::string> employees_;
  std::map<std::string, std::string> org_;
  std::map<std::pair<std::string, std::string>, std::string> grade_event_;
  std::map<std::string, std::vector<ActionRef>> actions_;
  std::map<std::string, std::vector<PipRef>> pips_;
  std::map<std::string, std::vector<std::string>> disputes_;
  std::vector<GoalRef> goals_;
};

}  // namespace

void GenerateHistory(const HistoryOptions& options, LogWriter& writer) {
  Generator(options, writer).Run();
}

}  // namespace perfledger::views_test
