#include "ledger/access.h"

#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/sealing.h"
#include "ledger/write_model.h"

namespace perfledger {

Reach RoleReach(v1::Role role, v1::FieldClass field_class) {
  using FC = v1::FieldClass;
  switch (role) {
    case v1::ROLE_ADMIN:
    case v1::ROLE_AUDITOR:
      return Reach::kAll;
    case v1::ROLE_HR:
      // hr's scope is the whole organisation unless its token names subtrees.
      return Reach::kScope;
    case v1::ROLE_MANAGER:
      // Pay is between a person and HR: a manager sees their own, not their reports'.
      return field_class == FC::FIELD_CLASS_COMPENSATION ? Reach::kSelf : Reach::kScope;
    case v1::ROLE_EMPLOYEE:
      return Reach::kSelf;
    case v1::ROLE_PAYROLL:
      // Compensation actions and what applying them needs (the employee id is the row's key).
      return field_class == FC::FIELD_CLASS_COMPENSATION ? Reach::kAll : Reach::kNone;
    case v1::ROLE_LMS:
      return field_class == FC::FIELD_CLASS_TRAINING ? Reach::kAll : Reach::kNone;
    case v1::ROLE_SYSTEM:
    default:
      return Reach::kNone;
  }
}

std::string_view FieldClassName(v1::FieldClass field_class) {
  switch (field_class) {
    case v1::FIELD_CLASS_IDENTITY: return "identity";
    case v1::FIELD_CLASS_COMPENSATION: return "compensation";
    case v1::FIELD_CLASS_EVALUATION: return "evaluation";
    case v1::FIELD_CLASS_CONVERSATION: return "conversation";
    case v1::FIELD_CLASS_METRICS: return "metrics";
    case v1::FIELD_CLASS_TRAINING: return "training";
    default: return "unspecified";
  }
}

bool Access::IsSelf(const Principal& p, const Subject& subject) {
  return subject.kind == Subject::Kind::kEmployee && !p.employee_id.empty() &&
         subject.id == p.employee_id;
}

std::string Access::OrgUnitOf(const EmployeeId& employee_id) const {
  std::string unit;
  wm_->Visit(EmployeeStream(employee_id.value()), [&](const internal::Entity& e) {
    if (e.has_employee()) unit = e.employee().org_unit_id();
  });
  return unit;
}

bool Access::IsEmployee(const std::string& id) const {
  bool found = false;
  wm_->Visit(EmployeeStream(id), [&](const internal::Entity& e) { found = e.has_employee(); });
  return found;
}

bool Access::IsErased(const std::string& id) const {
  bool erased = false;
  wm_->Visit(EmployeeStream(id), [&](const internal::Entity& e) {
    erased = e.has_employee() && e.employee().erased();
  });
  return erased;
}

bool Access::IsRetentionEnded(const std::string& id) const {
  bool ended = false;
  wm_->Visit(EmployeeStream(id), [&](const internal::Entity& e) {
    ended = e.has_employee() && e.employee().retention_ended();
  });
  return ended;
}

bool Access::UnitManagedBy(const std::string& unit, const std::string& manager) const {
  std::string walk = unit;
  for (uint32_t hop = 0; hop < limits::kScopeDepthMax && !walk.empty(); hop++) {
    bool managed = false;
    std::string parent;
    wm_->Visit(OrgUnitStream(walk), [&](const internal::Entity& e) {
      if (!e.has_org_unit()) return;
      managed = e.org_unit().manager_id() == manager;
      parent = e.org_unit().parent_id();
    });
    if (managed) return true;
    walk = std::move(parent);
  }
  return false;
}

bool Access::UnitUnder(const std::string& unit, const std::string& root) const {
  std::string walk = unit;
  for (uint32_t hop = 0; hop < limits::kScopeDepthMax && !walk.empty(); hop++) {
    if (walk == root) return true;
    std::string parent;
    wm_->Visit(OrgUnitStream(walk), [&](const internal::Entity& e) {
      if (e.has_org_unit()) parent = e.org_unit().parent_id();
    });
    walk = std::move(parent);
  }
  return false;
}

bool Access::ReportsTo(const std::string& id, const std::string& manager) const {
  if (manager.empty()) return false;
  std::string walk = id;
  for (uint32_t hop = 0; hop < limits::kScopeDepthMax && !walk.empty(); hop++) {
    bool found = false;
    std::string next;
    std::string unit;
    wm_->Visit(EmployeeStream(walk), [&](const internal::Entity& e) {
      if (!e.has_employee()) return;
      found = true;
      next = e.employee().manager_id();
      unit = e.employee().org_unit_id();
    });
    if (!found) return false;
    if (next == manager) return true;
    if (!unit.empty() && walk != manager && UnitManagedBy(unit, manager)) return true;
    if (next == walk) return false;
    walk = std::move(next);
  }
  return false;
}

bool Access::HrCovers(const Principal& p, const Subject& subject) const {
  if (p.org_units.empty()) return true;
  std::string unit;
  switch (subject.kind) {
    case Subject::Kind::kOrganisation: return true;
    case Subject::Kind::kOrgUnit: unit = subject.id; break;
    case Subject::Kind::kEmployee: unit = OrgUnitOf(EmployeeId(subject.id)); break;
  }
  if (unit.empty()) return false;
  for (const auto& root : p.org_units) {
    if (UnitUnder(unit, root)) return true;
  }
  return false;
}

bool Access::InScope(const Principal& p, const Subject& subject) const {
  if (subject.kind == Subject::Kind::kOrganisation) return true;
  switch (p.role) {
    case v1::ROLE_EMPLOYEE:
      return IsSelf(p, subject);
    case v1::ROLE_MANAGER:
      if (IsSelf(p, subject)) return true;
      if (subject.kind == Subject::Kind::kOrgUnit) return UnitManagedBy(subject.id, p.employee_id);
      return ReportsTo(subject.id, p.employee_id);
    case v1::ROLE_HR:
      return HrCovers(p, subject);
    case v1::ROLE_UNSPECIFIED:
      return false;
    default:
      return true;
  }
}

bool Access::Visible(const Principal& p, v1::FieldClass field_class,
                     const Subject& subject) const {
  // Org-wide facts (cycles, policies, units' definitions) are nobody's: whoever reads the class
  // at all sees them.
  if (subject.kind == Subject::Kind::kOrganisation) {
    return RoleReach(p.role, field_class) != Reach::kNone;
  }
  switch (RoleReach(p.role, field_class)) {
    case Reach::kNone: return false;
    case Reach::kSelf: return IsSelf(p, subject);
    case Reach::kScope: return InScope(p, subject);
    case Reach::kAll: return true;
  }
  return false;
}

bool Access::SeesRecognition(const Principal& p, const RecognitionItem& item) const {
  switch (p.role) {
    case v1::ROLE_ADMIN:
    case v1::ROLE_AUDITOR:
      return true;
    case v1::ROLE_HR:
      for (const std::string& s : item.subject_ids) {
        if (InScope(p, Subject::Employee(s))) return true;
      }
      return false;
    case v1::ROLE_EMPLOYEE:
    case v1::ROLE_MANAGER:
      break;
    default:
      return false;  // payroll, the LMS, the system role: recognition is not theirs
  }
  const std::string& me = p.employee_id;
  if (me.empty()) return false;
  if (item.author_id == me) return true;
  for (const std::string& s : item.subject_ids) {
    if (s == me) return true;
  }
  switch (item.audience) {
    case Audience::kPrivate:
      return false;
    case Audience::kManagerOnly:
      for (const std::string& s : item.subject_ids) {
        if (ReportsTo(s, me)) return true;
      }
      return false;
    case Audience::kPublic: {
      for (const std::string& s : item.subject_ids) {
        if (ReportsTo(s, me)) return true;
      }
      const std::string mine = OrgUnitOf(EmployeeId(me));
      if (mine.empty()) return false;
      for (const std::string& unit : item.subject_units) {
        if (!unit.empty() && UnitUnder(unit, mine)) return true;
      }
      return false;
    }
  }
  return false;
}

// ---------------------------------------------------------------- Viewer

bool Viewer::InScope(const Subject& subject) {
  if (subject.kind == Subject::Kind::kOrganisation) return true;
  std::string key = absl::StrCat(subject.kind == Subject::Kind::kEmployee ? "e/" : "u/",
                                 subject.id);
  auto it = in_scope_.find(key);
  if (it != in_scope_.end()) return it->second;
  const bool in = access_.InScope(principal_, subject);
  if (in_scope_.size() < limits::kListItemsMax * 1024) in_scope_.emplace(std::move(key), in);
  return in;
}

bool Viewer::Visible(v1::FieldClass field_class, const Subject& subject) {
  if (subject.kind == Subject::Kind::kOrganisation) {
    return access_.Visible(principal_, field_class, subject);
  }
  switch (RoleReach(principal_.role, field_class)) {
    case Reach::kNone: return false;
    case Reach::kSelf: return Access::IsSelf(principal_, subject);
    case Reach::kScope: return InScope(subject);
    case Reach::kAll: return true;
  }
  return false;
}

bool Viewer::SeesAnything(const Subject& subject) {
  for (v1::FieldClass c : kFieldClasses) {
    if (Visible(c, subject)) return true;
  }
  return false;
}

bool Viewer::SeesSmallGroups() const {
  return principal_.role == v1::ROLE_HR || principal_.role == v1::ROLE_AUDITOR ||
         principal_.role == v1::ROLE_ADMIN;
}

void Viewer::Unseal(const v1::SealedFields& sealed, const std::string& event_id,
                    v1::Event& event, google::protobuf::RepeatedPtrField<std::string>* erased) {
  const Subject subject = Subject::Employee(sealed.subject());
  const bool retained = sealed.key() == v1::SEAL_KEY_RETAINED;
  if (retained ? !Visible(v1::FIELD_CLASS_COMPENSATION, subject)
               : !Visible(v1::FIELD_CLASS_IDENTITY, subject) &&
                     !Visible(v1::FIELD_CLASS_CONVERSATION, subject)) {
    return;  // the fields stay empty, and Redact lists them as withheld
  }
  Open(sealed, event_id, event, erased);
}

void Viewer::UnsealRecognition(const RecognitionItem& item, const v1::SealedFields& sealed,
                               const std::string& event_id, v1::Event& event) {
  if (sealed.key() != v1::SEAL_KEY_PERSONAL || !access_.SeesRecognition(principal_, item)) return;
  Open(sealed, event_id, event, nullptr);
}

void Viewer::Open(const v1::SealedFields& sealed, const std::string& event_id, v1::Event& event,
                  google::protobuf::RepeatedPtrField<std::string>* erased) {
  const bool retained = sealed.key() == v1::SEAL_KEY_RETAINED;
  // The erasure or retention end in the log decides, not whether a key happens to be there:
  // replay stays a function of the log.
  if (retained ? access_.IsRetentionEnded(sealed.subject()) : access_.IsErased(sealed.subject())) {
    Sealer::Placeholders(sealed, kErasedPlaceholder, event, erased);
    return;
  }
  if (access_.sealer() == nullptr) {
    Sealer::Placeholders(sealed, kUnreadablePlaceholder, event);
    return;
  }
  if (absl::Status s = access_.sealer()->Open(sealed, event_id, event); !s.ok()) {
    LogWarning(s.ToString());
  }
}

namespace {

// Copies the fields of `from` (a payload) that `to` has under the same name and type.
void CopyByName(const google::protobuf::Message& from, google::protobuf::Message& to) {
  const google::protobuf::Reflection* fr = from.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> set;
  fr->ListFields(from, &set);
  for (const google::protobuf::FieldDescriptor* f : set) {
    const google::protobuf::FieldDescriptor* t = to.GetDescriptor()->FindFieldByName(f->name());
    if (t == nullptr || t->type() != f->type() || t->is_repeated() || f->is_repeated()) continue;
    if (t->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
        t->message_type() != f->message_type()) {
      continue;
    }
    const google::protobuf::Reflection* tr = to.GetReflection();
    switch (f->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
        tr->SetString(&to, t, fr->GetString(from, f));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT32:
        tr->SetUInt32(&to, t, fr->GetUInt32(from, f));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
        tr->SetInt64(&to, t, fr->GetInt64(from, f));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE:
        tr->MutableMessage(&to, t)->CopyFrom(fr->GetMessage(from, f));
        break;
      default:
        break;
    }
  }
}

}  // namespace

void UnsealRow(Viewer& viewer, google::protobuf::Message& row,
               google::protobuf::RepeatedPtrField<v1::SealedRef>* sealed,
               google::protobuf::RepeatedPtrField<std::string>* erased) {
  for (const v1::SealedRef& ref : *sealed) {
    v1::Event event;
    google::protobuf::RepeatedPtrField<std::string> cleared;
    viewer.Unseal(ref.sealed(), ref.event_id(), event, &cleared);
    const google::protobuf::Reflection* r = event.GetReflection();
    std::vector<const google::protobuf::FieldDescriptor*> body;
    r->ListFields(event, &body);
    if (!body.empty()) CopyByName(r->GetMessage(event, body[0]), row);
    for (const std::string& path : cleared) {
      const std::string name = path.substr(path.rfind('.') + 1);
      if (row.GetDescriptor()->FindFieldByName(name) == nullptr) continue;
      bool seen = false;
      for (const std::string& e : *erased) seen = seen || e == name;
      if (!seen) *erased->Add() = name;
    }
  }
  sealed->Clear();
}

bool Viewer::SeesEverything() const {
  return principal_.role == v1::ROLE_ADMIN || principal_.role == v1::ROLE_AUDITOR ||
         (principal_.role == v1::ROLE_HR && principal_.org_units.empty());
}

// ---------------------------------------------------------------- redaction

namespace {

std::optional<Subject> OfKind(v1::OwnerKind kind, const std::string& id) {
  switch (kind) {
    case v1::OWNER_KIND_EMPLOYEE: return Subject::Employee(id);
    case v1::OWNER_KIND_ORG_UNIT: return Subject::OrgUnit(id);
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<Subject> NamedSubject(const v1::Event& event) {
  using E = v1::Event;
  switch (event.body_case()) {
    case E::kOrgUnitDefined:
    case E::kCycleOpened:
    case E::kCycleClosed:
    case E::kPolicyPublished:
      return Subject::Organisation();
    case E::kEmployeeRegistered: return Subject::Employee(event.employee_registered().employee_id());
    case E::kEmployeeUpdated: return Subject::Employee(event.employee_updated().employee_id());
    case E::kEmployeeDeparted: return Subject::Employee(event.employee_departed().employee_id());
    case E::kSubjectErased: return Subject::Employee(event.subject_erased().employee_id());
    case E::kRetentionEnded: return Subject::Employee(event.retention_ended().employee_id());
    case E::kErasureNoticeAcknowledged:
      return Subject::Employee(event.erasure_notice_acknowledged().employee_id());
    case E::kGoalSet:
      return OfKind(event.goal_set().owner_kind(), event.goal_set().owner_id());
    case E::kCheckInRecorded: return Subject::Employee(event.check_in_recorded().employee_id());
    case E::kMetricObserved:
      return OfKind(event.metric_observed().subject_kind(), event.metric_observed().subject_id());
    case E::kThresholdBreached:
      return OfKind(event.threshold_breached().scope(), event.threshold_breached().subject_id());
    case E::kScoreSubmitted: return Subject::Employee(event.score_submitted().employee_id());
    case E::kScoreAmended: return Subject::Employee(event.score_amended().employee_id());
    case E::kCalibrationAdjusted:
      return Subject::Employee(event.calibration_adjusted().employee_id());
    case E::kGradeFinalized: return Subject::Employee(event.grade_finalized().employee_id());
    case E::kReviewFeedbackRecorded:
      return Subject::Employee(event.review_feedback_recorded().employee_id());
    case E::kGradeAcknowledged: return Subject::Employee(event.grade_acknowledged().employee_id());
    case E::kDisputeRaised: return Subject::Employee(event.dispute_raised().employee_id());
    case E::kDisputeResolved: return Subject::Employee(event.dispute_resolved().employee_id());
    case E::kActionTriggered: return Subject::Employee(event.action_triggered().employee_id());
    case E::kPipOpened: return Subject::Employee(event.pip_opened().employee_id());
    case E::kPipGoalsSet: return Subject::Employee(event.pip_goals_set().employee_id());
    case E::kPipCheckpointRecorded:
      return Subject::Employee(event.pip_checkpoint_recorded().employee_id());
    case E::kPipExtended: return Subject::Employee(event.pip_extended().employee_id());
    case E::kDeadlineReached: return Subject::Employee(event.deadline_reached().employee_id());
    case E::kPipClosed: return Subject::Employee(event.pip_closed().employee_id());
    case E::kTrainingEnrolled: return Subject::Employee(event.training_enrolled().employee_id());
    case E::kTrainingCompleted: return Subject::Employee(event.training_completed().employee_id());
    // Recognition is read through its own audience decision (SeesRecognition), never from a
    // person's timeline, where a private praise would reach the giver's managers. SubjectOf
    // falls back to the partition key: the giver, or a case's first subject, whose personal
    // key seals the text.
    case E::kPraiseGiven:
    case E::kCaseNominated:
    case E::kCaseConsentRecorded:
    case E::kCaseReviewed:
    case E::kCasePublished:
    case E::kCaseWithdrawn:
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

Subject SubjectOf(const v1::Envelope& envelope, const v1::Event& event, const Access& access) {
  if (std::optional<Subject> named = NamedSubject(event)) return *std::move(named);
  // Goal revisions and progress, action answers: the partition key is their subject (a goal's
  // owner, an action's employee).
  const std::string& key = envelope.partition_key();
  if (key.empty()) return Subject::Organisation();
  return access.IsEmployee(key) ? Subject::Employee(key) : Subject::OrgUnit(key);
}

bool RedactRecorded(Viewer& viewer, v1::RecordedEvent& recorded) {
  const bool everything = viewer.SeesEverything();
  Subject subject;
  if (!everything) {
    subject = SubjectOf(recorded.envelope(), recorded.event(), viewer.access());
    if (!viewer.SeesAnything(subject)) return false;
  }
  if (recorded.envelope().has_sealed()) {
    viewer.Unseal(recorded.envelope().sealed(), recorded.envelope().event_id(),
                  *recorded.mutable_event(), recorded.mutable_erased());
  }
  if (recorded.envelope().has_retained()) {
    viewer.Unseal(recorded.envelope().retained(), recorded.envelope().event_id(),
                  *recorded.mutable_event(), recorded.mutable_erased());
  }
  if (everything) return true;
  if (Redact(viewer, subject, *recorded.mutable_event(), recorded.mutable_withheld()) > 0) {
    recorded.mutable_envelope()->clear_payload();
  }
  return true;
}

v1::FieldClass ClassOf(const google::protobuf::FieldDescriptor& field) {
  return field.options().GetExtension(v1::field_class);
}

namespace {

void AddOnce(google::protobuf::RepeatedPtrField<std::string>* withheld, std::string path) {
  if (withheld == nullptr) return;
  for (const auto& w : *withheld) {
    if (w == path) return;
  }
  *withheld->Add() = std::move(path);
}

}  // namespace

int Redact(Viewer& viewer, const Subject& subject, google::protobuf::Message& message,
           google::protobuf::RepeatedPtrField<std::string>* withheld,
           std::string_view path_prefix) {
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  const google::protobuf::Reflection* r = message.GetReflection();
  int cleared = 0;
  for (int i = 0; i < d->field_count(); i++) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    // A oneof member that is not the set one holds nothing to show or hide.
    if (f->containing_oneof() != nullptr && !r->HasField(message, f)) continue;
    const v1::FieldClass c = ClassOf(*f);
    if (c != v1::FIELD_CLASS_UNSPECIFIED) {
      if (viewer.Visible(c, subject)) continue;
      r->ClearField(&message, f);
      AddOnce(withheld, absl::StrCat(std::string(path_prefix), f->name()));
      cleared++;
      continue;
    }
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->message_type()->file()->package() != "perfledger.v1") continue;
    const std::string prefix = absl::StrCat(std::string(path_prefix), f->name(), ".");
    if (f->is_repeated()) {
      for (int j = 0; j < r->FieldSize(message, f); j++) {
        cleared += Redact(viewer, subject, *r->MutableRepeatedMessage(&message, f, j), withheld,
                          prefix);
      }
    } else if (r->HasField(message, f)) {
      cleared += Redact(viewer, subject, *r->MutableMessage(&message, f), withheld, prefix);
    }
  }
  return cleared;
}

}  // namespace perfledger
