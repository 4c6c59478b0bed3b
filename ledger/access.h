// Who may see and do what (ARCHITECTURE §9): principals bound to people, scope resolved from the write
// model, and the one visibility decision every read path goes through.
//
// Scope:
//   employee  themselves;
//   manager   themselves and everyone whose reporting line reaches them: through `manager_id`
//             (direct or indirect) and through the org units they manage (and those units'
//             descendants). Scope follows the write model as it is now, so a person who moved
//             is in the new manager's scope from the move on and out of the old one's;
//   hr        everyone, or the people and units under the org subtrees its token names;
//   payroll, lms, auditor, system, admin: everyone (what they see comes from the role table).
//
// Visibility: `Visible(principal, field_class, subject)` looks up the role × field-class table
// (RoleReach: none, self, scope or all) and then the subject's scope. It is the only decision:
// queries, streams, exports, explain and audit answers all redact through it (Redact below).
//
// Thread safety: Access is thread-safe (it only reads the write model). A Viewer is one call's
// memo of scope answers: one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "ledger/ids.h"
#include "google/protobuf/message.h"
#include "perfledger/v1/common.pb.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"
#include "perfledger/v1/ledger.pb.h"
#include "perfledger/v1/privacy.pb.h"

namespace perfledger {

class WriteModel;
class Sealer;

// An authenticated caller.
struct Principal {
  std::string name;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  // The person the caller is: required for employees and managers, optional for other roles.
  std::string employee_id;
  // hr only: the org subtrees (unit ids) the token is limited to; empty = the whole organisation.
  std::vector<std::string> org_units;
};

// How far a role sees a field class.
enum class Reach : uint8_t {
  kNone,   // never
  kSelf,   // only about the caller themselves
  kScope,  // about anyone in the caller's scope (themselves included)
  kAll,    // about anyone
};

// The role × field-class table, in one place (the README prints it).
Reach RoleReach(v1::Role role, v1::FieldClass field_class);

// Every field class, for tables and tests.
inline constexpr v1::FieldClass kFieldClasses[] = {
    v1::FIELD_CLASS_IDENTITY,     v1::FIELD_CLASS_COMPENSATION, v1::FIELD_CLASS_EVALUATION,
    v1::FIELD_CLASS_CONVERSATION, v1::FIELD_CLASS_METRICS,      v1::FIELD_CLASS_TRAINING};

// Short lower-case name: "identity", "compensation", ...
std::string_view FieldClassName(v1::FieldClass field_class);

// What a row or field is about.
struct Subject {
  enum class Kind : uint8_t { kEmployee, kOrgUnit, kOrganisation };
  Kind kind = Kind::kOrganisation;
  std::string id;

  static Subject Employee(std::string id) { return {Kind::kEmployee, std::move(id)}; }
  static Subject OrgUnit(std::string id) { return {Kind::kOrgUnit, std::move(id)}; }
  // Org-wide facts (cycles, policies, org units' definitions): no person.
  static Subject Organisation() { return {Kind::kOrganisation, ""}; }
};

// Recognition (praise and the case library, docs/RECOGNITION.md): who besides the item's author
// and subjects, hr in scope of a subject, auditors and admin sees it.
enum class Audience : uint8_t {
  kPublic,       // everyone in the subjects' org units and in the units above them
  kPrivate,      // nobody else
  kManagerOnly,  // the subjects' managers: everyone whose scope a subject is in
};

// A praise (author: the giver; subjects: the recipients) or a case (the nominator; the
// subjects). `subject_units` are the subjects' org units when the item was recorded.
struct RecognitionItem {
  Audience audience = Audience::kPrivate;
  std::string author_id;
  std::vector<std::string> subject_ids;
  std::vector<std::string> subject_units;
};

// Scope resolution over the write model.
class Access {
 public:
  // `sealer` opens sealed personal data for readers (none: such fields read as unreadable).
  explicit Access(WriteModel* write_model, Sealer* sealer = nullptr)
      : wm_(write_model), sealer_(sealer) {}

  // Whether `subject` is the caller: their own employee id (an org unit or the organisation
  // never is).
  static bool IsSelf(const Principal& p, const Subject& subject);

  // Whether `subject` is in the caller's scope (header comment). Org-wide facts are in every
  // scope; an org unit is in a manager's scope when they manage it or an ancestor.
  bool InScope(const Principal& p, const Subject& subject) const;

  // The one visibility decision.
  bool Visible(const Principal& p, v1::FieldClass field_class, const Subject& subject) const;
  // The same decision for a recognition item as a whole (its text included): the item's author
  // and subjects; hr about a subject in its scope; auditors and admin; and the item's audience.
  // Payroll, the LMS and the system role never. Units and reporting lines are the write
  // model's as it is now, except the subjects' units (recorded with the item).
  bool SeesRecognition(const Principal& p, const RecognitionItem& item) const;

  // Whether employee `id` reports to manager `manager` through any line (manager_id chain or a
  // managed unit's subtree). Bounded walks: a cycle in the data ends them.
  bool ReportsTo(const std::string& id, const std::string& manager) const;
  // Whether org unit `unit` is `root` or lies under it.
  bool UnitUnder(const std::string& unit, const std::string& root) const;
  // The employee's org unit ("" when unknown).
  std::string OrgUnitOf(const EmployeeId& employee_id) const;
  // Whether `id` names an employee (else it is taken for an org unit).
  bool IsEmployee(const std::string& id) const;
  // Whether the employee's erasure (SubjectErased) is in the log.
  bool IsErased(const std::string& id) const;
  // Whether the end of the employee's retention period (RetentionEnded) is in the log.
  bool IsRetentionEnded(const std::string& id) const;
  Sealer* sealer() const { return sealer_; }

 private:
  bool UnitManagedBy(const std::string& unit, const std::string& manager) const;
  bool HrCovers(const Principal& p, const Subject& subject) const;

  WriteModel* wm_;
  Sealer* sealer_;
};

// One call's view of the data: the principal, and a memo of scope answers (a ranking page asks
// about the same people over and over).
class Viewer {
 public:
  Viewer(const Access& access, Principal principal)
      : access_(access), principal_(std::move(principal)) {}

  const Principal& principal() const { return principal_; }
  const Access& access() const { return access_; }

  bool InScope(const Subject& subject);
  bool Visible(v1::FieldClass field_class, const Subject& subject);
  // Whether any field class about `subject` is visible: rows about nobody the caller may see
  // anything of are left out of lists.
  bool SeesAnything(const Subject& subject);
  // hr, auditor and admin see aggregates in full; every other role sees them with small groups
  // hidden.
  bool SeesSmallGroups() const;
  // Whether every class about everyone is visible (admin, auditor, an unlimited hr token):
  // read paths skip redaction for such a caller.
  bool SeesEverything() const;
  // Opens an event's sealed fields into `event` when the caller may read their class about
  // the subject (identity or conversation under the personal key, compensation under the
  // retained key): placeholders once the subject's erasure (personal) or retention end
  // (retained) is in the log. Sealed fields that hold no text (amounts) are then left cleared
  // and their paths added to `erased`.
  void Unseal(const v1::SealedFields& sealed, const std::string& event_id, v1::Event& event,
              google::protobuf::RepeatedPtrField<std::string>* erased = nullptr);
  // Opens sealed fields the caller may read because SeesRecognition said so (the item's
  // audience decides, not the field-class table): placeholders as Unseal.
  void UnsealRecognition(const RecognitionItem& item, const v1::SealedFields& sealed,
                         const std::string& event_id, v1::Event& event);

 private:
  // Opens `sealed` into `event` once the caller's right to read it is decided.
  void Open(const v1::SealedFields& sealed, const std::string& event_id, v1::Event& event,
            google::protobuf::RepeatedPtrField<std::string>* erased);

  const Access& access_;
  Principal principal_;
  absl::flat_hash_map<std::string, bool> in_scope_;
};

// Clears every field of `message` (recursively) whose class `viewer` may not see about
// `subject`, and appends the field's path ("base_salary", "progress.comment") to `withheld`
// once. Returns the number of fields cleared.
int Redact(Viewer& viewer, const Subject& subject, google::protobuf::Message& message,
           google::protobuf::RepeatedPtrField<std::string>* withheld,
           std::string_view path_prefix = "");

// Opens the sealed copies a payroll or hook row keeps (`sealed`: its ActionTriggered's amounts,
// its rejection's reason) into the row's fields of the same names, lists in `erased` the names
// of those whose retention ended, and drops the copies: the row leaves the server without them.
void UnsealRow(Viewer& viewer, google::protobuf::Message& row,
               google::protobuf::RepeatedPtrField<v1::SealedRef>* sealed,
               google::protobuf::RepeatedPtrField<std::string>* erased);

// The subject an event's payload names: the employee or org unit, or the organisation for
// control facts (org units, cycles, policies); nullopt for events that name only a goal or an
// action (revisions, progress, answers).
std::optional<Subject> NamedSubject(const v1::Event& event);

// What an event is about: NamedSubject, else the subject its partition key names.
Subject SubjectOf(const v1::Envelope& envelope, const v1::Event& event, const Access& access);

// Applies the visibility decision to one event read from the log: false when the caller may see
// nothing about its subject (leave it out); otherwise opens its sealed personal data (Unseal),
// redacts `event` in place, lists what was withheld, and clears `envelope.payload` when
// anything was (it would carry the field).
bool RedactRecorded(Viewer& viewer, v1::RecordedEvent& recorded);

// The field class of a field ("unspecified" when it carries none).
v1::FieldClass ClassOf(const google::protobuf::FieldDescriptor& field);

}  // namespace perfledger
