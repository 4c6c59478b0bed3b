// Factories of the views (one file each under views/). Key layouts are documented in each file.
#pragma once

#include <memory>
#include <string>

#include "perfledger/internal/hooks.pb.h"
#include "perfledger/v1/common.pb.h"
#include "projections/keys.h"

#include "projections/view.h"

namespace perfledger::projections {

std::unique_ptr<View> MakeTimelineView();
std::unique_ptr<View> MakeRankingView();
std::unique_ptr<View> MakeDistributionView();
std::unique_ptr<View> MakeCheckInsView();
std::unique_ptr<View> MakeGoalsView();
std::unique_ptr<View> MakePayrollView();
std::unique_ptr<View> MakeTrainingView();
std::unique_ptr<View> MakePipView();
std::unique_ptr<View> MakeDisputesView();
std::unique_ptr<View> MakeHooksView();
// Praise, the case library and the recognition feed per org unit (views/recognition.cc).
inline constexpr char kRecognitionView[] = "recognition";
std::unique_ptr<View> MakeRecognitionView();

// "<index>/<kind>/": the prefix of one kind's entries in a hooks-view index ('t', 'o' or 'n';
// see views/hooks.cc).
std::string HookKindPrefix(char index, v1::ActionKind kind);
// A hooks-view record still to deliver (neither answered nor cancelled), and one whose
// cancellation notice is still to deliver (acknowledged, then cancelled, notice unanswered).
bool HookOpen(const internal::HookRecord& r);
bool HookNoticeOpen(const internal::HookRecord& r);
// The hooks view's erasure notices (views/hooks.cc): the notice of an employee, the index of
// notices in log order ("e/" + position), and a consumer's acknowledgement.
std::string ErasureRecordKey(const EmployeeId& employee);
std::string ErasureIndexKey(LogPosition at);
std::string ErasureAckKey(const EmployeeId& employee, const std::string& consumer);
inline constexpr char kEventIndexView[] = "event_index";
std::unique_ptr<View> MakeEventIndexView();

}  // namespace perfledger::projections
