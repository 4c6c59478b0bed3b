// Reads of the recognition view (views/recognition.cc): the feed of an org unit and one case.
// The caller's visibility comes in as `sees` (the one decision, Access::SeesRecognition, for
// the items AudienceOf describes), so a page is filled with items the caller may see.
// Errors: INVALID_ARGUMENT naming the field for bad requests, NOT_FOUND for an unknown unit or
// case, otherwise storage errors.
#pragma once

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "ledger/access.h"
#include "perfledger/v1/views.pb.h"
#include "projections/projector.h"

namespace perfledger::projections {

// Who a praise or a case reaches: a praise by its visibility; a published case everyone in
// its subjects' units and above, any other case the subjects' managers.
RecognitionItem AudienceOf(const v1::PraiseEntry& praise);
RecognitionItem AudienceOf(const v1::CaseFile& case_file);

using SeesItem = absl::FunctionRef<bool(const RecognitionItem&)>;

// Newest first: praise and published cases about people in the unit and the units under it
// that `sees` accepts. A page reads at most limits::kFeedScanRowsMax rows; the token resumes
// after the last row read, so a short page with a token means "more may follow".
absl::StatusOr<v1::RecognitionFeedResponse> QueryRecognitionFeed(
    const Projector::Reader& r, const v1::RecognitionFeedRequest& q, SeesItem sees);

// The case as the view holds it (its title and story still sealed).
absl::StatusOr<v1::CaseFile> QueryCase(const Projector::Reader& r, const std::string& case_id);

}  // namespace perfledger::projections
