// The role × field-class table and small-group suppression (ledger/access.h,
// projections/suppression.h).
#include <catch2/catch.hpp>

#include <vector>

#include "ledger/access.h"
#include "perfledger/v1/views.pb.h"
#include "projections/suppression.h"

namespace perfledger {
namespace {

TEST_CASE("access: the role table", "[access]") {
  using FC = v1::FieldClass;
  for (FC c : kFieldClasses) {
    INFO(FieldClassName(c));
    CHECK(RoleReach(v1::ROLE_ADMIN, c) == Reach::kAll);
    CHECK(RoleReach(v1::ROLE_AUDITOR, c) == Reach::kAll);
    CHECK(RoleReach(v1::ROLE_EMPLOYEE, c) == Reach::kSelf);
    CHECK(RoleReach(v1::ROLE_HR, c) == Reach::kScope);
    CHECK(RoleReach(v1::ROLE_SYSTEM, c) == Reach::kNone);
    CHECK(RoleReach(v1::ROLE_UNSPECIFIED, c) == Reach::kNone);
  }
  CHECK(RoleReach(v1::ROLE_MANAGER, FC::FIELD_CLASS_COMPENSATION) == Reach::kSelf);
  CHECK(RoleReach(v1::ROLE_MANAGER, FC::FIELD_CLASS_CONVERSATION) == Reach::kScope);
  CHECK(RoleReach(v1::ROLE_PAYROLL, FC::FIELD_CLASS_COMPENSATION) == Reach::kAll);
  CHECK(RoleReach(v1::ROLE_PAYROLL, FC::FIELD_CLASS_EVALUATION) == Reach::kNone);
  CHECK(RoleReach(v1::ROLE_LMS, FC::FIELD_CLASS_TRAINING) == Reach::kAll);
  CHECK(RoleReach(v1::ROLE_LMS, FC::FIELD_CLASS_IDENTITY) == Reach::kNone);
}

TEST_CASE("access: every personal field of the catalog carries a class", "[access]") {
  // The fields that hold names, e-mail or free text: a new one without a class would be shown
  // to everyone who sees its row.
  // Linked in (the pool holds only files the binary references).
  REQUIRE(v1::PayrollItem::descriptor() != nullptr);
  REQUIRE(v1::RankingEntry::descriptor() != nullptr);
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  struct Want {
    const char* field;
    v1::FieldClass c;
  };
  for (const Want& w : std::vector<Want>{
           {"perfledger.v1.EmployeeRegistered.name", v1::FIELD_CLASS_IDENTITY},
           {"perfledger.v1.EmployeeRegistered.email", v1::FIELD_CLASS_IDENTITY},
           {"perfledger.v1.EmployeeRegistered.base_salary", v1::FIELD_CLASS_COMPENSATION},
           {"perfledger.v1.CheckInRecorded.notes", v1::FIELD_CLASS_CONVERSATION},
           {"perfledger.v1.ScoreSubmitted.comment", v1::FIELD_CLASS_CONVERSATION},
           {"perfledger.v1.GradeFinalized.grade", v1::FIELD_CLASS_EVALUATION},
           {"perfledger.v1.ActionTriggered.amount", v1::FIELD_CLASS_COMPENSATION},
           {"perfledger.v1.ReviewFeedbackRecorded.feedback", v1::FIELD_CLASS_CONVERSATION},
           {"perfledger.v1.PayrollItem.amount", v1::FIELD_CLASS_COMPENSATION},
           {"perfledger.v1.RankingEntry.score_milli", v1::FIELD_CLASS_EVALUATION},
       }) {
    INFO(w.field);
    const auto* f = pool->FindFieldByName(w.field);
    REQUIRE(f != nullptr);
    CHECK(ClassOf(*f) == w.c);
  }
  // Every free-text string of an event payload (names "name", "email", "notes", "comment",
  // "reason", "feedback", "description", "note") has a class.
  const auto* event = pool->FindMessageTypeByName("perfledger.v1.Event");
  REQUIRE(event != nullptr);
  for (int i = 0; i < event->field_count(); i++) {
    const auto* body = event->field(i)->message_type();
    for (int j = 0; j < body->field_count(); j++) {
      const auto* f = body->field(j);
      const std::string& n = f->name();
      if (n == "name" && body->name() == "OrgUnitDefined") continue;  // a unit, not a person
      if (n == "name" && body->name() == "CycleOpened") continue;
      if (n == "comment" && body->name() == "PolicyPublished") continue;
      if (n == "reason" && body->name() == "ActionCancelled") continue;  // written by the ledger
      if (n == "reason" && body->name() == "SubjectErased") continue;  // the request's reference
      if (n == "name" || n == "email" || n == "notes" || n == "note" || n == "comment" ||
          n == "reason" || n == "feedback" || n == "description") {
        INFO(f->full_name());
        CHECK(ClassOf(*f) != v1::FIELD_CLASS_UNSPECIFIED);
      }
    }
  }
}

// Model check over every grade count vector of 4 cells with 0..6 people: small cells are
// hidden, and no hidden cell follows from the total and the shown cells.
TEST_CASE("suppression: no hidden count can be recovered by subtraction", "[access]") {
  const uint32_t k = 5;
  std::vector<uint64_t> counts(4);
  int cases = 0;
  for (int a = 0; a <= 6; a++)
    for (int b = 0; b <= 6; b++)
      for (int c = 0; c <= 6; c++)
        for (int d = 0; d <= 6; d++) {
          counts = {uint64_t(a), uint64_t(b), uint64_t(c), uint64_t(d)};
          const auto hide = projections::SuppressSmallCells(counts, k);
          const uint64_t total = a + b + c + d;
          INFO(a << " " << b << " " << c << " " << d);
          cases++;
          if (total < k) {
            CHECK(hide.total);
            continue;
          }
          CHECK_FALSE(hide.total);
          int hidden = 0;
          for (size_t i = 0; i < counts.size(); i++) {
            if (counts[i] > 0 && counts[i] < k) CHECK(hide.cells[i]);
            if (counts[i] == 0) CHECK_FALSE(hide.cells[i]);
            hidden += hide.cells[i] ? 1 : 0;
          }
          // One hidden cell would equal the total minus the shown ones.
          CHECK(hidden != 1);
        }
  CHECK(cases == 7 * 7 * 7 * 7);
}

}  // namespace
}  // namespace perfledger
