#include "services/unseal.h"

#include <utility>

#include "ledger/sealing.h"
#include "projections/recognition_queries.h"

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

void UnsealPraise(Viewer& viewer, v1::PraiseEntry& praise) {
  if (!praise.has_sealed()) return;
  v1::Event event;
  event.mutable_praise_given();
  viewer.UnsealRecognition(projections::AudienceOf(praise), praise.sealed(), praise.event_id(),
                           event);
  praise.set_message(event.praise_given().message());
  praise.clear_sealed();
}

void UnsealCase(Viewer& viewer, v1::CaseFile& case_file) {
  if (case_file.has_sealed()) {
    v1::Event event;
    event.mutable_case_nominated();
    viewer.UnsealRecognition(projections::AudienceOf(case_file), case_file.sealed(),
                             case_file.event_id(), event);
    case_file.set_title(event.case_nominated().title());
    case_file.set_story(event.case_nominated().story());
    case_file.clear_sealed();
  }
  for (const std::string& s : case_file.subject_ids()) {
    if (!viewer.access().IsErased(s)) continue;
    case_file.set_title(kErasedPlaceholder);
    case_file.set_story(kErasedPlaceholder);
    break;
  }
}

void UnsealRecognition(Viewer& viewer,
                       google::protobuf::RepeatedPtrField<v1::RecognitionItem>* items) {
  for (v1::RecognitionItem& item : *items) {
    if (item.has_praise()) UnsealPraise(viewer, *item.mutable_praise());
    if (item.has_case_file()) UnsealCase(viewer, *item.mutable_case_file());
  }
}

}  // namespace perfledger::services
