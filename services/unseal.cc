#include "services/unseal.h"

#include <utility>

namespace perfledger::services {

void UnsealCheckIns(Viewer& viewer,
                    google::protobuf::RepeatedPtrField<v1::CheckInEntry>* entries) {
  for (v1::CheckInEntry& entry : *entries) {
    if (!entry.has_sealed()) continue;
    v1::Event event;
    *event.mutable_check_in_recorded() = std::move(*entry.mutable_check_in());
    viewer.Unseal(entry.sealed(), entry.event_id(), event);
    *entry.mutable_check_in() = std::move(*event.mutable_check_in_recorded());
    entry.clear_sealed();
  }
}

void UnsealPayroll(Viewer& viewer, google::protobuf::RepeatedPtrField<v1::PayrollItem>* items) {
  for (v1::PayrollItem& item : *items) {
    UnsealRow(viewer, item, item.mutable_sealed(), item.mutable_erased());
  }
}

void UnsealDisputes(Viewer& viewer, google::protobuf::RepeatedPtrField<v1::DisputeRow>* rows) {
  for (v1::DisputeRow& row : *rows) {
    UnsealRow(viewer, row, row.mutable_sealed(), row.mutable_erased());
  }
}

}  // namespace perfledger::services
