// Factories of the views (one file each under views/). Key layouts are documented in each file.
#pragma once

#include <memory>

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

}  // namespace perfledger::projections
