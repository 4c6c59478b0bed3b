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

}  // namespace perfledger::services
