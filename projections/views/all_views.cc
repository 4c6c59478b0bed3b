#include "projections/views/views.h"

namespace perfledger::projections {

std::vector<std::unique_ptr<View>> AllViews() {
  std::vector<std::unique_ptr<View>> out;
  out.push_back(MakeTimelineView());
  out.push_back(MakeRankingView());
  out.push_back(MakeDistributionView());
  out.push_back(MakeCheckInsView());
  out.push_back(MakeGoalsView());
  out.push_back(MakePayrollView());
  out.push_back(MakeTrainingView());
  out.push_back(MakePipView());
  out.push_back(MakeHooksView());
  out.push_back(MakeEventIndexView());
  return out;
}

std::string EmployeeOf(const v1::Envelope& e, const v1::Event& event) {
  switch (event.body_case()) {
    case v1::Event::kEmployeeRegistered: return event.employee_registered().employee_id();
    case v1::Event::kEmployeeUpdated: return event.employee_updated().employee_id();
    case v1::Event::kEmployeeDeparted: return event.employee_departed().employee_id();
    case v1::Event::kGoalSet:
      return event.goal_set().owner_kind() == v1::OWNER_KIND_EMPLOYEE ? event.goal_set().owner_id()
                                                                       : "";
    case v1::Event::kCheckInRecorded: return event.check_in_recorded().employee_id();
    case v1::Event::kMetricObserved:
      return event.metric_observed().subject_kind() == v1::OWNER_KIND_EMPLOYEE
                 ? event.metric_observed().subject_id()
                 : "";
    case v1::Event::kScoreSubmitted: return event.score_submitted().employee_id();
    case v1::Event::kScoreAmended: return event.score_amended().employee_id();
    case v1::Event::kCalibrationAdjusted: return event.calibration_adjusted().employee_id();
    case v1::Event::kGradeFinalized: return event.grade_finalized().employee_id();
    case v1::Event::kReviewFeedbackRecorded: return event.review_feedback_recorded().employee_id();
    case v1::Event::kActionTriggered: return event.action_triggered().employee_id();
    case v1::Event::kPipOpened: return event.pip_opened().employee_id();
    case v1::Event::kPipCheckpointRecorded: return event.pip_checkpoint_recorded().employee_id();
    case v1::Event::kPipExtended: return event.pip_extended().employee_id();
    case v1::Event::kPipClosed: return event.pip_closed().employee_id();
    case v1::Event::kDeadlineReached: return event.deadline_reached().employee_id();
    case v1::Event::kTrainingEnrolled: return event.training_enrolled().employee_id();
    case v1::Event::kTrainingCompleted: return event.training_completed().employee_id();
    case v1::Event::kThresholdBreached:
      return event.threshold_breached().scope() == v1::OWNER_KIND_EMPLOYEE
                 ? event.threshold_breached().subject_id()
                 : "";
    default:
      // Goal revisions, progress and closings name only the goal; they are not on a timeline.
      return "";
  }
}

}  // namespace perfledger::projections
