// Opens what view answers keep sealed (check-in notes, payroll amounts, the events of a
// timeline) for one caller, through the one visibility decision (ledger/access.h): the Views
// service and the Audit service's as-of answers share these, so no read path returns a row
// with its sealed copy or without the placeholders an erasure or a retention end calls for.
#pragma once

#include "google/protobuf/repeated_ptr_field.h"
#include "ledger/access.h"
#include "perfledger/v1/views.pb.h"

namespace perfledger::services {

// Opens each entry's sealed notes into its check-in and drops the sealed copy.
void UnsealCheckIns(Viewer& viewer, google::protobuf::RepeatedPtrField<v1::CheckInEntry>* entries);

// Opens each item's sealed amounts and reason (UnsealRow).
void UnsealPayroll(Viewer& viewer, google::protobuf::RepeatedPtrField<v1::PayrollItem>* items);

// Opens each dispute's sealed grounds and reason (UnsealRow).
void UnsealDisputes(Viewer& viewer, google::protobuf::RepeatedPtrField<v1::DisputeRow>* rows);
// Opens a praise's message, or a case's title and story, for a caller its audience lets see
// it (Access::SeesRecognition), and drops the sealed copy. A case about a subject whose
// erasure is in the log shows "[erased]" for both: its text is about every subject.
void UnsealPraise(Viewer& viewer, v1::PraiseEntry& praise);
void UnsealCase(Viewer& viewer, v1::CaseFile& case_file);
// The same for every item of a feed page.
void UnsealRecognition(Viewer& viewer,
                       google::protobuf::RepeatedPtrField<v1::RecognitionItem>* items);

}  // namespace perfledger::services
