// training: course recommendations (ActionTriggered of kind TRAINING) and what the LMS reported
// about them (TrainingEnrolled / TrainingCompleted), plus per-course effectiveness counts
// (ARCHITECTURE §7). <pos> is the big-endian (partition, offset) of the event that opened the
// record, so an employee's records of one course sort in log order.
//   "t/<employee>/<course>/" + pos   → TrainingRecord
//   "c/<course>/<employee>/" + pos   → TrainingRecord (copy, for per-course lists)
//   "a/<employee>/<action>"          → the record's "t/" key
//   "s/<course>"                     → six BE64 counters: recommended, enrolled, completed,
//                                      passed, cancelled, sum of completion scores
//
// Which record an LMS report answers:
//   - the record of its action id, when it names an action this view has seen for the same
//     employee (the LMS got the id from the recommendation);
//   - otherwise (no action id, or one this view does not know) the first record of the same
//     employee and course, in log order, that the report can still advance: RECOMMENDED for an
//     enrolment, RECOMMENDED or ENROLLED for a completion;
//   - otherwise a new record opened by the report itself (an unsolicited enrolment), whose
//     record_id is the report's event id.
// A report that cannot advance its record (a second enrolment, a second completion) is a
// duplicate and changes nothing; a retake therefore shows up only when reported without the
// completed recommendation's action id.
//
// Ordering assumption: reports and cancellations are keyed by the employee, so they follow the
// recommendation in the same partition. A cancellation is matched by (envelope partition_key,
// action id); an unknown one is an orphan and is ignored. Because every lookup stays within one
// employee (one partition), the result does not depend on how partitions interleave.
#include "absl/strings/str_cat.h"
#include "ledger/status_macros.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

// A record's contribution to its course's counters; a change applies new minus old.
struct Counts {
  int64_t recommended = 0, enrolled = 0, completed = 0, passed = 0, cancelled = 0, score_sum = 0;
};

Counts CountsOf(const v1::TrainingRecord& r) {
  Counts c;
  c.recommended = r.action_id().empty() ? 0 : 1;
  c.enrolled = r.state() == v1::TRAINING_STATE_ENROLLED ||
               r.state() == v1::TRAINING_STATE_COMPLETED;
  c.completed = r.state() == v1::TRAINING_STATE_COMPLETED;
  c.passed = c.completed && r.passed();
  c.cancelled = r.cancelled();
  c.score_sum = c.completed ? r.score_milli() : 0;
  return c;
}

std::string RecordKey(const std::string& employee, const std::string& course,
                      const v1::Position& at) {
  return Key({"t", employee, course}) + "/" + PositionSuffix(PositionOf(at));
}

class TrainingView final : public View {
 public:
  std::string_view name() const override { return "training"; }

  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    switch (event.body_case()) {
      case v1::Event::kActionTriggered:
        return Recommended(e, event.action_triggered(), txn);
      case v1::Event::kTrainingEnrolled: {
        const auto& r = event.training_enrolled();
        ASSIGN_OR_RETURN(Found found,
                         Find(txn, r.employee_id(), r.course_id(), r.action_id(),
                              /*completion=*/false));
        v1::TrainingRecord record;
        const bool opened = found.key.empty();
        if (opened) {
          found.key = RecordKey(r.employee_id(), r.course_id(), e.position());
          record = Unsolicited(e, r.employee_id(), r.course_id());
        } else {
          record = found.record;
          if (record.state() != v1::TRAINING_STATE_RECOMMENDED) return absl::OkStatus();
        }
        record.set_state(v1::TRAINING_STATE_ENROLLED);
        if (e.has_occurred_at()) *record.mutable_enrolled_at() = e.occurred_at();
        record.set_lms_reference(r.lms_reference());
        return Write(txn, found.key, opened ? nullptr : &found.record, record);
      }
      case v1::Event::kTrainingCompleted: {
        const auto& r = event.training_completed();
        ASSIGN_OR_RETURN(Found found,
                         Find(txn, r.employee_id(), r.course_id(), r.action_id(),
                              /*completion=*/true));
        v1::TrainingRecord record;
        const bool opened = found.key.empty();
        if (opened) {
          found.key = RecordKey(r.employee_id(), r.course_id(), e.position());
          record = Unsolicited(e, r.employee_id(), r.course_id());
        } else {
          record = found.record;
          if (record.state() == v1::TRAINING_STATE_COMPLETED) return absl::OkStatus();
        }
        record.set_state(v1::TRAINING_STATE_COMPLETED);
        if (e.has_occurred_at()) *record.mutable_completed_at() = e.occurred_at();
        record.set_passed(r.passed());
        record.set_score_milli(r.score_milli());
        record.set_lms_reference(r.lms_reference());
        return Write(txn, found.key, opened ? nullptr : &found.record, record);
      }
      case v1::Event::kActionCancelled: {
        const auto& c = event.action_cancelled();
        if (e.partition_key().empty()) return absl::OkStatus();
        ASSIGN_OR_RETURN(auto key, txn.Get(Key({"a", e.partition_key(), c.action_id()})));
        if (!key) return absl::OkStatus();  // orphan (or not a training action)
        ASSIGN_OR_RETURN(v1::TrainingRecord old, Load(txn, *key));
        if (old.cancelled()) return absl::OkStatus();
        v1::TrainingRecord record = old;
        record.set_cancelled(true);
        return Write(txn, *key, &old, record);
      }
      default:
        return absl::OkStatus();
    }
  }

 private:
  struct Found {
    std::string key;  // empty: no record
    v1::TrainingRecord record;
  };

  static absl::Status Recommended(const v1::Envelope& e, const v1::ActionTriggered& a,
                                  ViewTxn& txn) {
    if (a.kind() != v1::ACTION_KIND_TRAINING) return absl::OkStatus();
    const std::string link = Key({"a", a.employee_id(), a.action_id()});
    ASSIGN_OR_RETURN(auto existing, txn.Get(link));
    if (existing) return absl::OkStatus();  // the same decision again (ids derive from causes)
    v1::TrainingRecord record;
    record.set_record_id(a.action_id());
    record.set_employee_id(a.employee_id());
    record.set_course_id(a.course_id());
    record.set_state(v1::TRAINING_STATE_RECOMMENDED);
    record.set_action_id(a.action_id());
    record.set_rule_id(a.rule_id());
    record.set_cycle_id(a.cycle_id());
    *record.mutable_cause_event_ids() = a.cause_event_ids();
    if (e.has_occurred_at()) *record.mutable_recommended_at() = e.occurred_at();
    const std::string key = RecordKey(a.employee_id(), a.course_id(), e.position());
    txn.Put(link, key);
    return Write(txn, key, nullptr, record);
  }

  static v1::TrainingRecord Unsolicited(const v1::Envelope& e, const std::string& employee,
                                        const std::string& course) {
    v1::TrainingRecord record;
    record.set_record_id(e.event_id());
    record.set_employee_id(employee);
    record.set_course_id(course);
    return record;
  }

  static absl::StatusOr<v1::TrainingRecord> Load(ViewTxn& txn, const std::string& key) {
    ASSIGN_OR_RETURN(auto value, txn.Get(key));
    v1::TrainingRecord record;
    if (!value || !record.ParseFromString(*value)) {
      return absl::DataLossError("training: a linked record is missing or does not parse");
    }
    return record;
  }

  // The record a report answers (see the file comment); key empty when none.
  static absl::StatusOr<Found> Find(ViewTxn& txn, const std::string& employee,
                                    const std::string& course, const std::string& action_id,
                                    bool completion) {
    Found found;
    if (!action_id.empty()) {
      ASSIGN_OR_RETURN(auto key, txn.Get(Key({"a", employee, action_id})));
      if (key) {
        ASSIGN_OR_RETURN(found.record, Load(txn, *key));
        found.key = *key;
        return found;
      }
    }
    ASSIGN_OR_RETURN(auto rows, txn.Scan(Key({"t", employee, course}) + "/"));
    for (auto& [key, value] : rows) {
      v1::TrainingRecord record;
      if (!record.ParseFromString(value)) {
        return absl::DataLossError("training: a record does not parse");
      }
      const bool open = record.state() == v1::TRAINING_STATE_RECOMMENDED ||
                        (completion && record.state() == v1::TRAINING_STATE_ENROLLED);
      if (open) {
        found.key = std::move(key);
        found.record = std::move(record);
        return found;
      }
    }
    return found;
  }

  // Stores `record` under `key` and its copy, and moves the course counters from `old` (null
  // for a new record) to `record`.
  static absl::Status Write(ViewTxn& txn, const std::string& key, const v1::TrainingRecord* old,
                            const v1::TrainingRecord& record) {
    const std::string value = record.SerializeAsString();
    txn.Put(key, value);
    // The copy's key: same position suffix, course before employee.
    const std::string suffix = key.substr(key.size() - 12);
    txn.Put(Key({"c", record.course_id(), record.employee_id()}) + "/" + suffix, value);

    const Counts before = old ? CountsOf(*old) : Counts{};
    const Counts after = CountsOf(record);
    const std::string summary_key = Key({"s", record.course_id()});
    ASSIGN_OR_RETURN(auto stored, txn.Get(summary_key));
    int64_t n[6] = {};
    if (stored) {
      if (stored->size() != sizeof(n)) return absl::DataLossError("training: bad summary row");
      for (size_t i = 0; i < 6; i++) {
        n[i] = static_cast<int64_t>(GetBigEndian64(std::string_view(*stored).substr(i * 8, 8)));
      }
    }
    n[0] += after.recommended - before.recommended;
    n[1] += after.enrolled - before.enrolled;
    n[2] += after.completed - before.completed;
    n[3] += after.passed - before.passed;
    n[4] += after.cancelled - before.cancelled;
    n[5] += after.score_sum - before.score_sum;
    std::string out;
    for (int64_t v : n) PutBigEndian64(out, static_cast<uint64_t>(v));
    txn.Put(summary_key, out);
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeTrainingView() { return std::make_unique<TrainingView>(); }

}  // namespace perfledger::projections
