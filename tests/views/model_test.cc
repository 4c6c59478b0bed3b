// Model-based tests of the views (ARCHITECTURE: "each view against a plain fold of the same random
// events"). A random history goes into a real embedded log; the projector folds it into the
// views; the same events are folded independently into std::map models, and every query's
// answer (paged with random page sizes) must equal what the model says.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/util/message_differencer.h"
#include "projections/hook_queries.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "projections/views/views.h"
#include "tests/views/history.h"

namespace perfledger::views_test {
namespace {

using google::protobuf::Timestamp;
using google::protobuf::util::MessageDifferencer;

bool Later(const Timestamp& a, const Timestamp& b) {
  return a.seconds() > b.seconds() || (a.seconds() == b.seconds() && a.nanos() > b.nanos());
}

// ---------------------------------------------------------------- the model

// Everything the views should know, folded from the events in log order with plain containers.
// Written from the views' documented contracts, not from their code.
struct Model {
  // ranking and distribution: the latest grade per (cycle, employee).
  struct Grade {
    std::string org, grade;
    int64_t score = 0;
  };
  std::map<std::pair<std::string, std::string>, Grade> grades;
  std::map<std::string, uint64_t> cycle_policy;  // version of the cycle's last grade (log order)

  // timeline: event ids per employee in log order.
  std::map<std::string, std::vector<std::string>> timeline;

  // check-ins per employee in log order, and the latest business time.
  struct CheckIn {
    std::string manager, check_in_id, event_id;
  };
  std::map<std::string, std::vector<CheckIn>> checkins;
  std::map<std::string, Timestamp> last_checkin;
  // The same per employee–manager pair (what a manager-filtered query reports).
  std::map<std::pair<std::string, std::string>, Timestamp> last_pair_checkin;

  // goals
  struct Kr {
    std::string id;
    uint32_t weight = 0, progress = 0;
  };
  struct Goal {
    std::string cycle, parent;
    uint32_t weight = 0;
    std::vector<Kr> krs;
    bool closed = false;
    uint32_t okr = 0;
  };
  std::map<std::string, Goal> goals;

  // payroll, keyed by (employee, action id)
  std::map<std::pair<std::string, std::string>, v1::PayrollItem> payroll;

  // training records in the order they were opened; links (employee, action) → record
  struct Record {
    uint64_t seq;
    v1::TrainingRecord r;
  };
  std::vector<Record> training;
  std::map<std::pair<std::string, std::string>, size_t> training_link;

  // pip entries in the order they were opened
  struct Plan {
    uint64_t seq;
    v1::PipPlan p;
  };
  std::vector<Plan> pips;
  std::map<std::pair<std::string, std::string>, size_t> pip_by_action, pip_by_id;

  void Apply(const Recorded& rec, uint64_t seq) {
    const v1::Envelope& e = rec.envelope;
    const v1::Event& ev = rec.event;
    const std::string about = About(ev);
    if (!about.empty()) timeline[about].push_back(e.event_id());
    switch (ev.body_case()) {
      case v1::Event::kGradeFinalized: {
        const auto& g = ev.grade_finalized();
        grades[{g.cycle_id(), g.employee_id()}] = {g.org_unit_id(), g.grade(), g.score_milli()};
        cycle_policy[g.cycle_id()] = g.policy_version();
        break;
      }
      case v1::Event::kCheckInRecorded: {
        const auto& c = ev.check_in_recorded();
        checkins[c.employee_id()].push_back({c.manager_id(), c.check_in_id(), e.event_id()});
        auto [it, fresh] = last_checkin.try_emplace(c.employee_id(), e.occurred_at());
        if (!fresh && Later(e.occurred_at(), it->second)) it->second = e.occurred_at();
        auto [pit, pfresh] =
            last_pair_checkin.try_emplace({c.employee_id(), c.manager_id()}, e.occurred_at());
        if (!pfresh && Later(e.occurred_at(), pit->second)) pit->second = e.occurred_at();
        break;
      }
      case v1::Event::kGoalSet: {
        const auto& s = ev.goal_set();
        Goal g;
        g.cycle = s.cycle_id();
        g.parent = s.parent_goal_id();
        g.weight = s.weight_bp();
        for (const auto& kr : s.key_results()) g.krs.push_back({kr.key_result_id(), kr.weight_bp(), 0});
        goals[s.goal_id()] = g;
        break;
      }
      case v1::Event::kGoalRevised: {
        const auto& r = ev.goal_revised();
        auto it = goals.find(r.goal_id());
        if (it == goals.end()) break;
        Goal& g = it->second;
        g.weight = r.weight_bp();
        g.parent = r.parent_goal_id();
        std::vector<Kr> krs;
        for (const auto& kr : r.key_results()) {
          Kr k{kr.key_result_id(), kr.weight_bp(), 0};
          for (const Kr& old : g.krs) {
            if (old.id == k.id) k.progress = old.progress;
          }
          krs.push_back(k);
        }
        g.krs = krs;
        break;
      }
      case v1::Event::kKeyResultProgressRecorded: {
        const auto& p = ev.key_result_progress_recorded();
        auto it = goals.find(p.goal_id());
        if (it == goals.end()) break;
        for (Kr& k : it->second.krs) {
          if (k.id == p.key_result_id()) k.progress = p.progress_bp();
        }
        break;
      }
      case v1::Event::kGoalClosed: {
        auto it = goals.find(ev.goal_closed().goal_id());
        if (it == goals.end()) break;
        it->second.closed = true;
        it->second.okr = ev.goal_closed().okr_grade_milli();
        break;
      }
      case v1::Event::kActionTriggered:
        Triggered(e, ev.action_triggered(), seq);
        break;
      case v1::Event::kActionDelivered:
      case v1::Event::kActionAcknowledged:
      case v1::Event::kActionRejected:
      case v1::Event::kActionCancelled:
        Delivery(e, ev);
        break;
      case v1::Event::kTrainingEnrolled: {
        const auto& t = ev.training_enrolled();
        Lms(e, seq, t.employee_id(), t.course_id(), t.action_id(), false, false, 0,
            t.lms_reference());
        break;
      }
      case v1::Event::kTrainingCompleted: {
        const auto& t = ev.training_completed();
        Lms(e, seq, t.employee_id(), t.course_id(), t.action_id(), true, t.passed(),
            t.score_milli(), t.lms_reference());
        break;
      }
      case v1::Event::kPipOpened:
        PipOpened(e, ev.pip_opened(), seq);
        break;
      case v1::Event::kPipCheckpointRecorded: {
        const auto& c = ev.pip_checkpoint_recorded();
        if (v1::PipPlan* p = PlanById(c.employee_id(), c.pip_id()); p && InForce(*p)) {
          p->set_checkpoints(p->checkpoints() + 1);
          p->set_last_progress_bp(c.progress_bp());
          auto* logged = p->add_checkpoint_log();
          logged->set_event_id(e.event_id());
          *logged->mutable_occurred_at() = e.occurred_at();
          logged->set_progress_bp(c.progress_bp());
          DueAfter(e.occurred_at(), *p);
        }
        break;
      }
      case v1::Event::kPipGoalsSet: {
        const auto& g = ev.pip_goals_set();
        if (v1::PipPlan* p = PlanById(g.employee_id(), g.pip_id()); p && InForce(*p)) {
          p->mutable_goal_ids()->Assign(g.goal_ids().begin(), g.goal_ids().end());
        }
        break;
      }
      case v1::Event::kPipExtended: {
        const auto& x = ev.pip_extended();
        if (v1::PipPlan* p = PlanById(x.employee_id(), x.pip_id()); p && InForce(*p)) {
          p->set_status(v1::PIP_STATUS_OPEN);
          *p->mutable_deadline_at() = x.new_deadline_at();
          p->set_extensions(p->extensions() + 1);
        }
        break;
      }
      case v1::Event::kDeadlineReached: {
        const auto& d = ev.deadline_reached();
        if (d.subject().rfind("pip/", 0) != 0) break;
        v1::PipPlan* p = PlanById(d.employee_id(), d.subject().substr(4));
        if (p && p->status() == v1::PIP_STATUS_OPEN && !Later(p->deadline_at(), d.deadline_at())) {
          p->set_status(v1::PIP_STATUS_DEADLINE_REACHED);
        }
        break;
      }
      case v1::Event::kPipClosed: {
        const auto& c = ev.pip_closed();
        if (v1::PipPlan* p = PlanById(c.employee_id(), c.pip_id()); p && InForce(*p)) {
          p->set_status(v1::PIP_STATUS_CLOSED);
          p->set_outcome(c.outcome());
          *p->mutable_closed_at() = e.occurred_at();
          p->clear_next_checkpoint_due_at();
        }
        break;
      }
      default:
        break;
    }
  }

  // Who an event is about, for the timeline (the catalog's employee fields).
  static std::string About(const v1::Event& ev) {
    switch (ev.body_case()) {
      case v1::Event::kEmployeeRegistered: return ev.employee_registered().employee_id();
      case v1::Event::kEmployeeUpdated: return ev.employee_updated().employee_id();
      case v1::Event::kEmployeeDeparted: return ev.employee_departed().employee_id();
      case v1::Event::kGoalSet:
        return ev.goal_set().owner_kind() == v1::OWNER_KIND_EMPLOYEE ? ev.goal_set().owner_id() : "";
      case v1::Event::kCheckInRecorded: return ev.check_in_recorded().employee_id();
      case v1::Event::kMetricObserved:
        return ev.metric_observed().subject_kind() == v1::OWNER_KIND_EMPLOYEE
                   ? ev.metric_observed().subject_id()
                   : "";
      case v1::Event::kScoreSubmitted: return ev.score_submitted().employee_id();
      case v1::Event::kScoreAmended: return ev.score_amended().employee_id();
      case v1::Event::kCalibrationAdjusted: return ev.calibration_adjusted().employee_id();
      case v1::Event::kGradeFinalized: return ev.grade_finalized().employee_id();
      case v1::Event::kReviewFeedbackRecorded: return ev.review_feedback_recorded().employee_id();
      case v1::Event::kGradeAcknowledged: return ev.grade_acknowledged().employee_id();
      case v1::Event::kDisputeRaised: return ev.dispute_raised().employee_id();
      case v1::Event::kDisputeResolved: return ev.dispute_resolved().employee_id();
      case v1::Event::kActionTriggered: return ev.action_triggered().employee_id();
      case v1::Event::kPipOpened: return ev.pip_opened().employee_id();
      case v1::Event::kPipCheckpointRecorded: return ev.pip_checkpoint_recorded().employee_id();
      case v1::Event::kPipGoalsSet: return ev.pip_goals_set().employee_id();
      case v1::Event::kPipExtended: return ev.pip_extended().employee_id();
      case v1::Event::kPipClosed: return ev.pip_closed().employee_id();
      case v1::Event::kDeadlineReached: return ev.deadline_reached().employee_id();
      case v1::Event::kTrainingEnrolled: return ev.training_enrolled().employee_id();
      case v1::Event::kTrainingCompleted: return ev.training_completed().employee_id();
      case v1::Event::kThresholdBreached:
        return ev.threshold_breached().scope() == v1::OWNER_KIND_EMPLOYEE
                   ? ev.threshold_breached().subject_id()
                   : "";
      default: return "";
    }
  }

  void Triggered(const v1::Envelope& e, const v1::ActionTriggered& a, uint64_t seq) {
    const std::pair<std::string, std::string> key{a.employee_id(), a.action_id()};
    if ((a.kind() == v1::ACTION_KIND_SALARY_ADJUSTMENT || a.kind() == v1::ACTION_KIND_BONUS) &&
        !payroll.count(key)) {
      v1::PayrollItem& i = payroll[key];
      i.set_action_id(a.action_id());
      i.set_kind(a.kind());
      i.set_employee_id(a.employee_id());
      i.set_cycle_id(a.cycle_id());
      *i.mutable_amount() = a.amount();
      i.set_percent_bp(a.percent_bp());
      *i.mutable_effective_at() = a.effective_at();
      i.set_reason_code(a.reason_code());
      *i.mutable_cause_event_ids() = a.cause_event_ids();
      i.set_rule_id(a.rule_id());
      i.set_policy_version(a.policy_version());
      i.set_state(v1::PAYROLL_STATE_PENDING);
      i.set_triggered_event_id(e.event_id());
      *i.mutable_triggered_at() = e.occurred_at();
      i.set_org_unit_id(a.org_unit_id());
    }
    if (a.kind() == v1::ACTION_KIND_TRAINING && !training_link.count(key)) {
      v1::TrainingRecord r;
      r.set_record_id(a.action_id());
      r.set_employee_id(a.employee_id());
      r.set_course_id(a.course_id());
      r.set_state(v1::TRAINING_STATE_RECOMMENDED);
      r.set_action_id(a.action_id());
      r.set_rule_id(a.rule_id());
      r.set_cycle_id(a.cycle_id());
      *r.mutable_cause_event_ids() = a.cause_event_ids();
      *r.mutable_recommended_at() = e.occurred_at();
      training_link[key] = training.size();
      training.push_back({seq, r});
    }
    if (a.kind() == v1::ACTION_KIND_PIP && !pip_by_action.count(key)) {
      v1::PipPlan p;
      p.set_employee_id(a.employee_id());
      p.set_cycle_id(a.cycle_id());
      p.set_status(v1::PIP_STATUS_TRIGGERED);
      p.set_cause_action_id(a.action_id());
      p.set_rule_id(a.rule_id());
      *p.mutable_cause_event_ids() = a.cause_event_ids();
      *p.mutable_triggered_at() = e.occurred_at();
      p.set_checkpoint_every_days(a.pip_checkpoint_every_days());
      p.set_pip_length_days(a.pip_length_days());
      p.set_manager_id(a.manager_id());
      pip_by_action[key] = pips.size();
      pips.push_back({seq, p});
    }
  }

  // Delivery reports: matched by the envelope's key (the employee) and the action id.
  void Delivery(const v1::Envelope& e, const v1::Event& ev) {
    std::string action;
    switch (ev.body_case()) {
      case v1::Event::kActionDelivered: action = ev.action_delivered().action_id(); break;
      case v1::Event::kActionAcknowledged: action = ev.action_acknowledged().action_id(); break;
      case v1::Event::kActionRejected: action = ev.action_rejected().action_id(); break;
      default: action = ev.action_cancelled().action_id(); break;
    }
    const std::pair<std::string, std::string> key{e.partition_key(), action};
    if (auto it = payroll.find(key); it != payroll.end()) {
      v1::PayrollItem& i = it->second;
      const bool open =
          i.state() == v1::PAYROLL_STATE_PENDING || i.state() == v1::PAYROLL_STATE_DELIVERED;
      switch (ev.body_case()) {
        case v1::Event::kActionDelivered:
          if (i.state() == v1::PAYROLL_STATE_PENDING) {
            i.set_state(v1::PAYROLL_STATE_DELIVERED);
            i.set_consumer(ev.action_delivered().consumer());
          }
          break;
        case v1::Event::kActionAcknowledged:
          if (open || (i.state() == v1::PAYROLL_STATE_CANCELLED && i.consumer_reference().empty())) {
            if (open) i.set_state(v1::PAYROLL_STATE_APPLIED);
            i.set_consumer(ev.action_acknowledged().consumer());
            i.set_consumer_reference(ev.action_acknowledged().consumer_reference());
          }
          break;
        case v1::Event::kActionRejected:
          if (open) {
            i.set_state(v1::PAYROLL_STATE_REJECTED);
            i.set_consumer(ev.action_rejected().consumer());
            i.set_reason(ev.action_rejected().reason());
          }
          break;
        default:
          if (i.state() != v1::PAYROLL_STATE_CANCELLED) {
            i.set_state(v1::PAYROLL_STATE_CANCELLED);
            i.set_reason(ev.action_cancelled().reason());
          }
          break;
      }
    }
    if (ev.body_case() != v1::Event::kActionCancelled) return;
    if (auto it = training_link.find(key); it != training_link.end()) {
      training[it->second].r.set_cancelled(true);
    }
    if (auto it = pip_by_action.find(key); it != pip_by_action.end()) {
      v1::PipPlan& p = pips[it->second].p;
      if (NeedsAttention(p)) p.set_status(v1::PIP_STATUS_CANCELLED);
    }
  }

  void Lms(const v1::Envelope& e, uint64_t seq, const std::string& emp, const std::string& course,
           const std::string& action, bool completion, bool passed, int64_t score,
           const std::string& reference) {
    v1::TrainingRecord* r = nullptr;
    if (auto it = training_link.find({emp, action}); !action.empty() && it != training_link.end()) {
      r = &training[it->second].r;
    } else {
      // The first record of the employee and course (log order) the report can advance.
      for (Record& rec : training) {
        if (rec.r.employee_id() != emp || rec.r.course_id() != course) continue;
        if (rec.r.state() == v1::TRAINING_STATE_RECOMMENDED ||
            (completion && rec.r.state() == v1::TRAINING_STATE_ENROLLED)) {
          r = &rec.r;
          break;
        }
      }
    }
    if (r == nullptr) {
      v1::TrainingRecord fresh;
      fresh.set_record_id(e.event_id());
      fresh.set_employee_id(emp);
      fresh.set_course_id(course);
      training.push_back({seq, fresh});
      r = &training.back().r;
    }
    if (!completion) {
      if (r->state() != v1::TRAINING_STATE_RECOMMENDED &&
          r->state() != v1::TRAINING_STATE_UNSPECIFIED) {
        return;
      }
      r->set_state(v1::TRAINING_STATE_ENROLLED);
      *r->mutable_enrolled_at() = e.occurred_at();
    } else {
      if (r->state() == v1::TRAINING_STATE_COMPLETED) return;
      r->set_state(v1::TRAINING_STATE_COMPLETED);
      *r->mutable_completed_at() = e.occurred_at();
      r->set_passed(passed);
      r->set_score_milli(score);
    }
    r->set_lms_reference(reference);
  }

  static bool InForce(const v1::PipPlan& p) {
    return p.status() == v1::PIP_STATUS_OPEN || p.status() == v1::PIP_STATUS_DEADLINE_REACHED;
  }
  static bool NeedsAttention(const v1::PipPlan& p) {
    return InForce(p) || p.status() == v1::PIP_STATUS_TRIGGERED;
  }

  v1::PipPlan* PlanById(const std::string& emp, const std::string& pip) {
    auto it = pip_by_id.find({emp, pip});
    return it == pip_by_id.end() ? nullptr : &pips[it->second].p;
  }

  void PipOpened(const v1::Envelope& e, const v1::PipOpened& o, uint64_t seq) {
    if (pip_by_id.count({o.employee_id(), o.pip_id()})) return;
    size_t index = pips.size();
    if (auto it = pip_by_action.find({o.employee_id(), o.action_id()});
        !o.action_id().empty() && it != pip_by_action.end() &&
        pips[it->second].p.status() == v1::PIP_STATUS_TRIGGERED) {
      index = it->second;
    } else {
      v1::PipPlan p;
      p.set_employee_id(o.employee_id());
      p.set_cause_action_id(o.action_id());
      pips.push_back({seq, p});
    }
    v1::PipPlan& p = pips[index].p;
    p.set_pip_id(o.pip_id());
    if (!o.cycle_id().empty()) p.set_cycle_id(o.cycle_id());
    p.set_status(v1::PIP_STATUS_OPEN);
    *p.mutable_starts_at() = o.starts_at();
    *p.mutable_deadline_at() = o.deadline_at();
    p.set_checkpoint_every_days(o.checkpoint_every_days());
    *p.mutable_goal_ids() = o.goal_ids();
    if (!o.manager_id().empty()) p.set_manager_id(o.manager_id());
    DueAfter(o.starts_at(), p);
    pip_by_id[{o.employee_id(), o.pip_id()}] = index;
  }

  // The next checkpoint: `every` days after `t`, to the nanosecond; none without a cadence.
  static void DueAfter(const google::protobuf::Timestamp& t, v1::PipPlan& p) {
    if (p.checkpoint_every_days() == 0) {
      p.clear_next_checkpoint_due_at();
      return;
    }
    p.mutable_next_checkpoint_due_at()->set_seconds(t.seconds() +
                                                    86'400LL * p.checkpoint_every_days());
    p.mutable_next_checkpoint_due_at()->set_nanos(t.nanos());
  }

  // ---- expected answers

  uint32_t OwnProgress(const Goal& g) const {
    if (g.krs.empty()) return 0;
    uint64_t weights = 0, acc = 0;
    for (const Kr& k : g.krs) weights += k.weight;
    for (const Kr& k : g.krs) acc += (weights == 0 ? 1 : k.weight) * uint64_t{k.progress};
    return static_cast<uint32_t>(acc / (weights == 0 ? g.krs.size() : weights));
  }

  // The expected node: own progress from key results; children (goals naming it as parent, by
  // id) weighted by weight (0 counts 1); both halves averaged when the goal has key results.
  v1::GoalNode Node(const std::string& id, uint32_t depth, uint32_t max_depth) const {
    const Goal& g = goals.at(id);
    v1::GoalNode n;
    n.set_goal_id(id);
    n.set_weight_bp(g.weight);
    n.set_closed(g.closed);
    n.set_own_progress_bp(OwnProgress(g));
    uint64_t cw = 0, cacc = 0;
    if (depth < max_depth) {
      for (const auto& [cid, child] : goals) {
        if (child.parent != id) continue;
        v1::GoalNode c = Node(cid, depth + 1, max_depth);
        const uint64_t w = child.weight == 0 ? 1 : child.weight;
        cw += w;
        cacc += w * c.rolled_up_progress_bp();
        *n.add_children() = std::move(c);
      }
    }
    uint32_t rolled = n.own_progress_bp();
    if (cw > 0) {
      const uint32_t children = static_cast<uint32_t>(cacc / cw);
      rolled = g.krs.empty() ? children : (n.own_progress_bp() + children) / 2;
    }
    n.set_rolled_up_progress_bp(rolled);
    n.set_okr_grade_milli(g.closed ? g.okr : rolled / 10);
    return n;
  }
};

// ---------------------------------------------------------------- comparing

// Pages through a query until its token is empty; page sizes are random (1..7 or the default),
// so paging is exercised on every list.
template <typename Request, typename Response, typename Fn, typename Take>
void PageAll(Request q, std::mt19937_64& rng, Fn&& query, Take&& take) {
  std::string token;
  for (int pages = 0;; pages++) {
    REQUIRE(pages < 100'000);
    q.set_page_size(static_cast<uint32_t>(std::uniform_int_distribution<int>(0, 7)(rng)));
    q.set_page_token(token);
    absl::StatusOr<Response> r = query(q);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    take(*r);
    token = r->next_page_token();
    if (token.empty()) return;
  }
}

template <typename M>
void RequireSameList(const std::vector<M>& got, const std::vector<M>& want,
                     const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); i++) {
    INFO("entry " << i << "\ngot:  " << got[i].ShortDebugString()
                  << "\nwant: " << want[i].ShortDebugString());
    REQUIRE(MessageDifferencer::Equals(got[i], want[i]));
  }
}

void CheckGoalNode(const v1::GoalNode& got, const v1::GoalNode& want) {
  INFO("goal " << want.goal_id());
  REQUIRE(got.goal_id() == want.goal_id());
  CHECK(got.weight_bp() == want.weight_bp());
  CHECK(got.closed() == want.closed());
  CHECK(got.own_progress_bp() == want.own_progress_bp());
  CHECK(got.rolled_up_progress_bp() == want.rolled_up_progress_bp());
  CHECK(got.okr_grade_milli() == want.okr_grade_milli());
  REQUIRE(got.children_size() == want.children_size());
  for (int i = 0; i < got.children_size(); i++) CheckGoalNode(got.children(i), want.children(i));
}

constexpr int64_t kNowSeconds = 1'767'225'600 + 400 * 86'400;
const std::vector<std::string> kCycles = {"C1", "C2"};
const std::vector<std::string> kOrgs = {"", "U0", "U1", "U2", "U3"};
const std::vector<std::string> kCourses = {"", "K1", "K2", "K3", "K4"};

// Compares every query of every view with the model.
void CompareAll(projections::Projector& projector, EventLog& log, const Model& m,
                const std::vector<std::string>& employees, uint64_t seed,
                bool compare_cycle_policy) {
  std::mt19937_64 rng(seed * 7919);
  auto reader = projector.Read();

  // ---- ranking: order (score desc, employee id), rank, percentile, total
  for (const std::string& cycle : kCycles) {
    for (const std::string& org : kOrgs) {
      std::vector<std::pair<int64_t, std::string>> rows;  // (-score, employee)
      std::map<std::string, Model::Grade> by_employee;
      for (const auto& [key, g] : m.grades) {
        if (key.first != cycle || (!org.empty() && g.org != org)) continue;
        rows.push_back({-g.score, key.second});
        by_employee[key.second] = g;
      }
      std::sort(rows.begin(), rows.end());
      std::vector<v1::RankingEntry> want;
      for (size_t i = 0; i < rows.size(); i++) {
        v1::RankingEntry& e = want.emplace_back();
        const Model::Grade& g = by_employee[rows[i].second];
        e.set_rank(i + 1);
        e.set_employee_id(rows[i].second);
        e.set_score_milli(g.score);
        e.set_grade(g.grade);
        e.set_org_unit_id(g.org);
        e.set_percentile_bp(static_cast<uint32_t>((rows.size() - (i + 1)) * 10'000 / rows.size()));
      }
      std::vector<v1::RankingEntry> got;
      v1::RankingRequest q;
      q.set_cycle_id(cycle);
      q.set_org_unit_id(org);
      PageAll<v1::RankingRequest, v1::RankingResponse>(
          q, rng, [&](const auto& r) { return projections::QueryRanking(reader, r); },
          [&](const v1::RankingResponse& r) {
            CHECK(r.total() == rows.size());
            got.insert(got.end(), r.entries().begin(), r.entries().end());
          });
      RequireSameList(got, want, "ranking " + cycle + " org '" + org + "'");
    }
  }

  // ---- distribution: counts per grade, shares, total
  for (const std::string& cycle : kCycles) {
    for (const std::string& org : kOrgs) {
      std::map<std::string, uint64_t> counts;
      uint64_t total = 0;
      for (const auto& [key, g] : m.grades) {
        if (key.first != cycle || (!org.empty() && g.org != org)) continue;
        counts[g.grade]++;
        total++;
      }
      v1::DistributionRequest q;
      q.set_cycle_id(cycle);
      q.set_org_unit_id(org);
      auto r = projections::QueryDistribution(reader, q);
      REQUIRE(r.ok());
      INFO("distribution " << cycle << " org '" << org << "': " << r->ShortDebugString());
      CHECK(r->total() == total);
      REQUIRE(static_cast<size_t>(r->grades_size()) == counts.size());
      size_t i = 0;
      for (const auto& [grade, n] : counts) {
        CHECK(r->grades(static_cast<int>(i)).grade() == grade);
        CHECK(r->grades(static_cast<int>(i)).count() == n);
        CHECK(r->grades(static_cast<int>(i)).share_bp() == n * 10'000 / total);
        i++;
      }
      if (compare_cycle_policy && m.cycle_policy.count(cycle)) {
        CHECK(r->policy_version() == m.cycle_policy.at(cycle));
      }
    }
  }

  for (const std::string& emp : employees) {
    // ---- timeline: every event about the person, in log order
    std::vector<std::string> got_events;
    v1::TimelineRequest tq;
    tq.set_employee_id(emp);
    PageAll<v1::TimelineRequest, v1::TimelineResponse>(
        tq, rng, [&](const auto& r) { return projections::QueryTimeline(reader, r); },
        [&](const v1::TimelineResponse& r) {
          for (const auto& e : r.events()) {
            got_events.push_back(e.envelope().event_id());
            // The entry is the log's event, byte for byte (the projector copies the bytes the
            // log stores; a fold without them serializes the parsed envelope).
            const LogPosition at = PositionOf(e.envelope().position());
            auto stored = log.Read(at.partition, at.offset, 1);
            REQUIRE(stored.ok());
            REQUIRE(stored->size() == 1);
            CHECK(e.envelope().SerializeAsString() == stored->front().SerializeAsString());
          }
        });
    {
      INFO("timeline " << emp);
      const auto it = m.timeline.find(emp);
      CHECK(got_events == (it == m.timeline.end() ? std::vector<std::string>() : it->second));
    }

    // ---- check-ins: per pair (and all managers, by manager then log order), latest time
    std::vector<std::string> managers = {""};
    for (int i = 0; i < 4; i++) managers.push_back(employees[static_cast<size_t>(i)]);
    const auto mine = m.checkins.find(emp);
    for (const std::string& manager : managers) {
      std::vector<std::pair<std::string, size_t>> order;  // (manager, log index) for sorting
      std::vector<Model::CheckIn> want;
      if (mine != m.checkins.end()) {
        for (size_t i = 0; i < mine->second.size(); i++) {
          if (manager.empty() || mine->second[i].manager == manager) {
            order.push_back({mine->second[i].manager, i});
          }
        }
      }
      std::sort(order.begin(), order.end());
      for (const auto& [mgr, i] : order) want.push_back(mine->second[i]);
      std::vector<v1::CheckInEntry> got;
      v1::CheckInsRequest q;
      q.set_employee_id(emp);
      q.set_manager_id(manager);
      int64_t days = -2;
      Timestamp last;
      PageAll<v1::CheckInsRequest, v1::CheckInsResponse>(
          q, rng,
          [&](const auto& r) {
            return projections::QueryCheckIns(reader, r, absl::FromUnixSeconds(kNowSeconds));
          },
          [&](const v1::CheckInsResponse& r) {
            got.insert(got.end(), r.entries().begin(), r.entries().end());
            days = r.days_since_last();
            last = r.last_check_in_at();
          });
      INFO("check-ins " << emp << " with '" << manager << "'");
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); i++) {
        CHECK(got[i].check_in_id() == want[i].check_in_id);
        CHECK(got[i].event_id() == want[i].event_id);
        CHECK(got[i].manager_id() == want[i].manager);
        CHECK(got[i].employee_id() == emp);
      }
      std::optional<Timestamp> want_last;
      if (manager.empty()) {
        if (auto lt = m.last_checkin.find(emp); lt != m.last_checkin.end()) want_last = lt->second;
      } else if (auto lt = m.last_pair_checkin.find({emp, manager});
                 lt != m.last_pair_checkin.end()) {
        want_last = lt->second;
      }
      if (!want_last) {
        CHECK(days == -1);
      } else {
        CHECK(MessageDifferencer::Equals(last, *want_last));
        CHECK(days == (kNowSeconds - want_last->seconds()) / 86'400);
      }
    }
  }

  // ---- goals: the tree of each cycle, and single goals
  for (const std::string& cycle : kCycles) {
    std::vector<v1::GoalNode> want;
    for (const auto& [id, g] : m.goals) {
      if (g.cycle == cycle && g.parent.empty()) want.push_back(m.Node(id, 1, 16));
    }
    v1::GoalTreeRequest q;
    q.set_cycle_id(cycle);
    auto r = projections::QueryGoalTree(reader, q);
    INFO("goal tree " << cycle << ": " << r.status().ToString());
    REQUIRE(r.ok());
    REQUIRE(static_cast<size_t>(r->roots_size()) == want.size());
    for (size_t i = 0; i < want.size(); i++) CheckGoalNode(r->roots(static_cast<int>(i)), want[i]);
  }
  int single = 0;
  for (const auto& [id, g] : m.goals) {
    if (single++ % 7 != 0) continue;
    const uint32_t depth = static_cast<uint32_t>(std::uniform_int_distribution<int>(1, 3)(rng));
    v1::GoalTreeRequest q;
    q.set_goal_id(id);
    q.set_max_depth(depth);
    auto r = projections::QueryGoalTree(reader, q);
    REQUIRE(r.ok());
    REQUIRE(r->roots_size() == 1);
    CheckGoalNode(r->roots(0), m.Node(id, 1, depth));
  }

  // ---- payroll: every filter combination
  std::vector<std::string> payroll_employees = {""};
  payroll_employees.insert(payroll_employees.end(), employees.begin(), employees.end());
  for (const std::string& cycle : {std::string(), kCycles[0], kCycles[1]}) {
    for (const std::string& emp : payroll_employees) {
      for (int state = 0; state <= v1::PayrollState_MAX; state++) {
        // Index order: by cycle then action for one employee, else by cycle, employee, action.
        std::vector<std::pair<std::string, const v1::PayrollItem*>> sorted;
        for (const auto& [key, item] : m.payroll) {
          if (!cycle.empty() && item.cycle_id() != cycle) continue;
          if (!emp.empty() && item.employee_id() != emp) continue;
          if (state != 0 && item.state() != state) continue;
          sorted.push_back({emp.empty() ? absl::StrCat(item.cycle_id(), "/", item.employee_id(),
                                                       "/", item.action_id())
                                        : absl::StrCat(item.cycle_id(), "/", item.action_id()),
                            &item});
        }
        std::sort(sorted.begin(), sorted.end());
        std::vector<v1::PayrollItem> want;
        for (const auto& [k, item] : sorted) want.push_back(*item);
        std::vector<v1::PayrollItem> got;
        v1::ListPayrollItemsRequest q;
        q.set_cycle_id(cycle);
        q.set_employee_id(emp);
        q.set_state(static_cast<v1::PayrollState>(state));
        PageAll<v1::ListPayrollItemsRequest, v1::ListPayrollItemsResponse>(
            q, rng, [&](const auto& r) { return projections::QueryPayrollItems(reader, r); },
            [&](const v1::ListPayrollItemsResponse& r) {
              got.insert(got.end(), r.items().begin(), r.items().end());
            });
        RequireSameList(got, want,
                        absl::StrCat("payroll cycle '", cycle, "' employee '", emp, "' state ",
                                     state));
      }
    }
  }

  // ---- training: lists by employee and course, and the per-course summary
  for (const std::string& emp : payroll_employees) {
    for (const std::string& course : kCourses) {
      std::vector<std::pair<std::pair<std::string, uint64_t>, const v1::TrainingRecord*>> sorted;
      for (const Model::Record& rec : m.training) {
        if (!emp.empty() && rec.r.employee_id() != emp) continue;
        if (!course.empty() && rec.r.course_id() != course) continue;
        const std::string order = emp.empty() && !course.empty()
                                      ? rec.r.course_id() + "/" + rec.r.employee_id() + "/"
                                      : rec.r.employee_id() + "/" + rec.r.course_id() + "/";
        sorted.push_back({{order, rec.seq}, &rec.r});
      }
      std::sort(sorted.begin(), sorted.end());
      std::vector<v1::TrainingRecord> want;
      for (const auto& [k, r] : sorted) want.push_back(*r);
      std::vector<v1::TrainingRecord> got;
      v1::ListTrainingRequest q;
      q.set_employee_id(emp);
      q.set_course_id(course);
      PageAll<v1::ListTrainingRequest, v1::ListTrainingResponse>(
          q, rng, [&](const auto& r) { return projections::QueryTraining(reader, r); },
          [&](const v1::ListTrainingResponse& r) {
            got.insert(got.end(), r.records().begin(), r.records().end());
          });
      RequireSameList(got, want, "training employee '" + emp + "' course '" + course + "'");
    }
  }
  for (const std::string course : {"K1", "K2", "K3", "K4", "K9"}) {
    uint64_t recommended = 0, enrolled = 0, completed = 0, passed = 0, cancelled = 0;
    int64_t score_sum = 0;
    for (const Model::Record& rec : m.training) {
      const v1::TrainingRecord& r = rec.r;
      if (r.course_id() != course) continue;
      recommended += !r.action_id().empty();
      enrolled += r.state() == v1::TRAINING_STATE_ENROLLED ||
                  r.state() == v1::TRAINING_STATE_COMPLETED;
      const bool done = r.state() == v1::TRAINING_STATE_COMPLETED;
      completed += done;
      passed += done && r.passed();
      cancelled += r.cancelled();
      if (done) score_sum += r.score_milli();
    }
    v1::TrainingSummaryRequest q;
    q.set_course_id(course);
    auto r = projections::QueryTrainingSummary(reader, q);
    REQUIRE(r.ok());
    INFO("training summary " << course << ": " << r->ShortDebugString());
    CHECK(r->course_id() == course);
    CHECK(r->recommended() == recommended);
    CHECK(r->enrolled() == enrolled);
    CHECK(r->completed() == completed);
    CHECK(r->passed() == passed);
    CHECK(r->cancelled() == cancelled);
    CHECK(r->mean_score_milli() == (completed == 0 ? 0 : score_sum / static_cast<int64_t>(completed)));
  }

  // ---- pips: by employee, all or only those needing attention
  for (const std::string& emp : payroll_employees) {
    for (bool open_only : {false, true}) {
      std::vector<std::pair<std::pair<std::string, uint64_t>, const v1::PipPlan*>> sorted;
      for (const Model::Plan& plan : m.pips) {
        if (!emp.empty() && plan.p.employee_id() != emp) continue;
        if (open_only && !Model::NeedsAttention(plan.p)) continue;
        sorted.push_back({{plan.p.employee_id() + "/", plan.seq}, &plan.p});
      }
      std::sort(sorted.begin(), sorted.end());
      std::vector<v1::PipPlan> want;
      for (const auto& [k, p] : sorted) want.push_back(*p);
      std::vector<v1::PipPlan> got;
      v1::ListPipsRequest q;
      q.set_employee_id(emp);
      q.set_open_only(open_only);
      PageAll<v1::ListPipsRequest, v1::ListPipsResponse>(
          q, rng, [&](const auto& r) { return projections::QueryPips(reader, r); },
          [&](const v1::ListPipsResponse& r) {
            got.insert(got.end(), r.plans().begin(), r.plans().end());
          });
      RequireSameList(got, want,
                      absl::StrCat("pips employee '", emp, "' open_only ", open_only));
    }
  }
}

// The history reached every state the views distinguish, so the comparison means something.
void RequireCoverage(const Model& m) {
  std::set<int> payroll, training, pips;
  bool unsolicited = false, cancelled_training = false, extended = false, applied_then_cancelled = false;
  for (const auto& [key, item] : m.payroll) {
    payroll.insert(item.state());
    applied_then_cancelled |= item.state() == v1::PAYROLL_STATE_CANCELLED &&
                              !item.consumer_reference().empty();
  }
  for (const auto& rec : m.training) {
    training.insert(rec.r.state());
    unsolicited |= rec.r.action_id().empty();
    cancelled_training |= rec.r.cancelled();
  }
  for (const auto& plan : m.pips) {
    pips.insert(plan.p.status());
    extended |= plan.p.extensions() > 0;
  }
  CHECK(payroll.size() == 5);
  CHECK(training.size() == 3);
  CHECK(pips.size() == 5);
  CHECK(unsolicited);
  CHECK(cancelled_training);
  CHECK(extended);
  CHECK(applied_then_cancelled);
  size_t roots = 0, closed = 0, deep = 0;
  for (const auto& [id, g] : m.goals) {
    roots += g.parent.empty();
    closed += g.closed;
    deep += !g.parent.empty() && m.goals.count(g.parent) && !m.goals.at(g.parent).parent.empty();
  }
  CHECK(roots > 0);
  CHECK(closed > 0);
  CHECK(deep > 0);
  CHECK(m.grades.size() > 10);
}

projections::ProjectorOptions Batches(size_t n) {
  projections::ProjectorOptions o;
  o.batch_events = n;
  return o;
}

struct Run {
  uint64_t seed;
  uint32_t partitions;
  size_t batch_events;
  int events;
  // Start the projector before appending (it folds while the log grows) or after.
  bool live;
};

void RunModel(const Run& run, bool grade_policy_follows_control = false) {
  INFO("seed " << run.seed << " partitions " << run.partitions << " batch " << run.batch_events
               << (run.live ? " live" : " after"));
  ScratchDir dir("views-model");
  auto log = OpenLog(dir.Sub("log"), run.partitions);
  auto store = OpenStore(dir.Sub("state"));
  std::unique_ptr<projections::Projector> projector;
  auto start = [&] {
    auto p = projections::Projector::Start(log.get(), store.get(), projections::AllViews(),
                                           Batches(run.batch_events));
    REQUIRE(p.ok());
    projector = std::move(*p);
  };
  if (run.live) start();

  LogWriter writer(log.get(), /*keep_history=*/true, /*batch=*/97);
  HistoryOptions options;
  options.seed = run.seed;
  options.events = run.events;
  options.grade_policy_follows_control = grade_policy_follows_control;
  GenerateHistory(options, writer);
  REQUIRE(writer.Flush().ok());
  if (!run.live) start();

  Model model;
  std::vector<std::string> employees;
  for (size_t i = 0; i < writer.history().size(); i++) {
    const Recorded& r = writer.history()[i];
    model.Apply(r, i);
    if (r.event.has_employee_registered()) {
      employees.push_back(r.event.employee_registered().employee_id());
    }
  }
  REQUIRE(projector->WaitCaughtUp(absl::Now() + absl::Seconds(60)).ok());
  CHECK(projector->events_applied() == writer.events());
  if (run.events >= 3000) RequireCoverage(model);
  CompareAll(*projector, *log, model, employees, run.seed, !grade_policy_follows_control);

  // A rebuild from offset 0 answers the same.
  REQUIRE(projector->Rebuild(absl::Now() + absl::Seconds(60)).ok());
  CompareAll(*projector, *log, model, employees, run.seed + 1, !grade_policy_follows_control);
}

TEST_CASE("views equal a plain fold of the same random events", "[model]") {
  const std::vector<Run> runs = {
      {1, 4, 4096, 3000, false},
      {2, 3, 7, 2000, true},
      {3, 8, 64, 3000, true},
      {4, 1, 1, 1500, false},
      {5, 5, 500, 6000, true},
  };
  for (const Run& run : runs) {
    DYNAMIC_SECTION("seed " << run.seed) { RunModel(run); }
  }
}

TEST_CASE("query arguments are validated", "[model]") {
  ScratchDir dir("views-args");
  auto log = OpenLog(dir.Sub("log"), 2);
  auto store = OpenStore(dir.Sub("state"));
  auto p = projections::Projector::Start(log.get(), store.get(), projections::AllViews());
  REQUIRE(p.ok());
  auto reader = (*p)->Read();

  v1::ListPayrollItemsRequest pq;
  pq.set_employee_id("bad/id");
  CHECK(projections::QueryPayrollItems(reader, pq).status().message().find("employee_id") == 0);
  pq.set_employee_id("");
  pq.set_state(static_cast<v1::PayrollState>(42));
  CHECK(projections::QueryPayrollItems(reader, pq).status().message().find("state") == 0);
  pq.set_state(v1::PAYROLL_STATE_PENDING);
  pq.set_page_size(1001);
  CHECK(projections::QueryPayrollItems(reader, pq).status().message().find("page_size") == 0);
  pq.set_page_size(0);
  pq.set_page_token("not base64!");
  CHECK(projections::QueryPayrollItems(reader, pq).status().message().find("page_token") == 0);

  // A token of one query is refused by another (its key lies under another prefix).
  v1::ListPipsRequest all;
  all.set_page_token("cC9FMS8");  // base64 of "p/E1/"
  v1::ListPipsRequest open = all;
  open.set_open_only(true);
  CHECK(absl::IsInvalidArgument(projections::QueryPips(reader, open).status()));

  v1::TrainingSummaryRequest sq;
  CHECK(projections::QueryTrainingSummary(reader, sq).status().message().find("course_id") == 0);
  sq.set_course_id("K1");
  auto empty = projections::QueryTrainingSummary(reader, sq);
  REQUIRE(empty.ok());
  CHECK(empty->recommended() == 0);
  CHECK(empty->mean_score_milli() == 0);
}

}  // namespace
}  // namespace perfledger::views_test
