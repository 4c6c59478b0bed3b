// Queries over the hook views (payroll, training), the PIP view and the disputes view: paged lists with optional
// filters, and the per-course training summary. Each takes a Projector::Reader, so a concurrent
// rebuild cannot drop a view mid-query.
//
// Paging: page_size defaults to 50 (max 1000); next_page_token is empty on the last page. A
// filter that the key layout cannot serve directly (payroll state together with employee_id) is
// applied while scanning, and one call scans at most a bounded number of rows: such a page may
// hold fewer entries than asked, even none, with a token to continue.
//
// Errors: INVALID_ARGUMENT naming the field for bad requests (ids, page_size, page_token, enum
// values), DATA_LOSS for a row that does not parse, otherwise storage errors.
#pragma once

#include "absl/status/statusor.h"
#include "perfledger/v1/views.pb.h"
#include "projections/projector.h"

namespace perfledger::projections {

absl::StatusOr<v1::ListPayrollItemsResponse> QueryPayrollItems(
    const Projector::Reader& r, const v1::ListPayrollItemsRequest& q);
absl::StatusOr<v1::ListTrainingResponse> QueryTraining(const Projector::Reader& r,
                                                       const v1::ListTrainingRequest& q);
// A course nobody was recommended or reported is all zeros, not NOT_FOUND.
absl::StatusOr<v1::TrainingSummaryResponse> QueryTrainingSummary(
    const Projector::Reader& r, const v1::TrainingSummaryRequest& q);
absl::StatusOr<v1::ListPipsResponse> QueryPips(const Projector::Reader& r,
                                               const v1::ListPipsRequest& q);
// Disputes by employee (a prefix of the key), the other filters applied while scanning.
absl::StatusOr<v1::ListDisputesResponse> QueryDisputes(const Projector::Reader& r,
                                                       const v1::ListDisputesRequest& q);
// The hook consumers' acknowledgements of an employee's erasure notice, by consumer name (at
// most limits::kAckItemsMax).
absl::StatusOr<std::vector<v1::ErasureAcknowledgement>> QueryErasureAcknowledgements(
    const Projector::Reader& r, const EmployeeId& employee);

}  // namespace perfledger::projections
