#include "ledger/access.h"
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
  out.push_back(MakeDisputesView());
  out.push_back(MakeHooksView());
  out.push_back(MakeRecognitionView());
  out.push_back(MakeEventIndexView());
  return out;
}

std::string EmployeeOf(const v1::Envelope&, const v1::Event& event) {
  // Goal revisions, progress and closings name only the goal; they are not on a timeline.
  const std::optional<Subject> subject = NamedSubject(event);
  return subject && subject->kind == Subject::Kind::kEmployee ? subject->id : "";
}

}  // namespace perfledger::projections
