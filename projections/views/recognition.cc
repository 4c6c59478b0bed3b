// recognition: praise and the case library (docs/RECOGNITION.md), and the feed per org unit.
// <when> is the big-endian descending business time in microseconds, <pos> the big-endian
// (partition, offset) of the event that put the item in the feed, so a unit's feed reads
// newest first.
//   "u/<unit>"                 → parent unit id (OrgUnitDefined): the feed's unit chains
//   "p/<praise_id>"            → PraiseEntry (its message sealed as the log holds it)
//   "c/<case_id>"              → CaseFile (title and story sealed as the log holds them)
//   "k/<case_id>"              → the case's feed keys, each length-prefixed (BE32)
//   "f/<unit>/" + when + pos   → "p/<praise_id>" or "c/<case_id>"
//
// An item enters the feed of each recipient's (subject's) org unit at the time of the event and
// of every unit above it then, once per unit: praise of any visibility when given (the query
// shows each caller only what SeesRecognition lets them see), a case when published. A
// withdrawn case leaves every feed; its row stays with status WITHDRAWN.
//
// Ordering: a case's events all go to its first subject's partition, in log order; org units
// are control events, applied before the data that depends on them. A praise or case id seen
// before is ignored (the ledger refuses duplicates; a replay does the same either way).
#include <set>

#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

class RecognitionView final : public View {
 public:
  std::string_view name() const override { return kRecognitionView; }

  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override {
    switch (event.body_case()) {
      case v1::Event::kOrgUnitDefined:
        txn.Put(Key({"u", event.org_unit_defined().org_unit_id()}),
                event.org_unit_defined().parent_id());
        return absl::OkStatus();
      case v1::Event::kPraiseGiven:
        return Praise(e, event.praise_given(), txn);
      case v1::Event::kCaseNominated:
        return Nominated(e, event.case_nominated(), txn);
      case v1::Event::kCaseConsentRecorded: {
        const auto& c = event.case_consent_recorded();
        return UpdateCase(txn, c.case_id(), [&](v1::CaseFile& f) -> absl::Status {
          for (auto& entry : *f.mutable_consents()) {
            if (entry.subject_id() != c.subject_id()) continue;
            entry.set_consent(c.consent());
            entry.set_event_id(e.event_id());
            *entry.mutable_recorded_at() = e.occurred_at();
          }
          return absl::OkStatus();
        });
      }
      case v1::Event::kCaseReviewed: {
        const auto& c = event.case_reviewed();
        return UpdateCase(txn, c.case_id(), [&](v1::CaseFile& f) -> absl::Status {
          f.set_review(c.decision());
          *f.mutable_reviewed_at() = e.occurred_at();
          return absl::OkStatus();
        });
      }
      case v1::Event::kCasePublished: {
        const auto& c = event.case_published();
        return UpdateCase(txn, c.case_id(), [&](v1::CaseFile& f) -> absl::Status {
          if (f.status() != v1::CASE_STATUS_NOMINATED) return absl::OkStatus();
          f.set_status(v1::CASE_STATUS_PUBLISHED);
          *f.mutable_published_at() = e.occurred_at();
          ASSIGN_OR_RETURN(std::vector<std::string> keys,
                           FeedKeys(txn, f.subject_org_unit_ids(), e));
          std::string list;
          for (const std::string& k : keys) {
            txn.Put(k, Key({"c", c.case_id()}));
            PutBigEndian32(list, static_cast<uint32_t>(k.size()));
            list += k;
          }
          txn.Put(Key({"k", c.case_id()}), list);
          return absl::OkStatus();
        });
      }
      case v1::Event::kCaseWithdrawn: {
        const auto& c = event.case_withdrawn();
        return UpdateCase(txn, c.case_id(), [&](v1::CaseFile& f) -> absl::Status {
          if (f.status() == v1::CASE_STATUS_WITHDRAWN) return absl::OkStatus();
          f.set_status(v1::CASE_STATUS_WITHDRAWN);
          *f.mutable_withdrawn_at() = e.occurred_at();
          f.set_withdrawn_by(c.by());
          f.set_withdrawn_subject_id(c.subject_id());
          const std::string list_key = Key({"k", c.case_id()});
          ASSIGN_OR_RETURN(auto list, txn.Get(list_key));
          if (list) {
            std::string_view rest = *list;
            while (rest.size() >= 4) {
              const uint32_t n = GetBigEndian32(rest.substr(0, 4));
              if (rest.size() < 4 + static_cast<size_t>(n)) {
                return absl::DataLossError("recognition: a case's feed keys do not parse");
              }
              txn.Delete(rest.substr(4, n));
              rest.remove_prefix(4 + n);
            }
            txn.Delete(list_key);
          }
          return absl::OkStatus();
        });
      }
      default:
        return absl::OkStatus();
    }
  }

 private:
  // The feed keys of an item about people in `units` recorded by `e`: one per unit on the way
  // from each unit up to the root, each unit once.
  static absl::StatusOr<std::vector<std::string>> FeedKeys(
      ViewTxn& txn, const google::protobuf::RepeatedPtrField<std::string>& units,
      const v1::Envelope& e) {
    std::string suffix;
    PutDescendingInt64(suffix, absl::ToUnixMicros(ToTime(e.occurred_at())));
    suffix += PositionSuffix(PositionOf(e.position()));
    std::set<std::string> chain;
    for (const std::string& unit : units) {
      std::string walk = unit;
      for (uint32_t hop = 0; hop < limits::kScopeDepthMax && !walk.empty(); hop++) {
        if (!chain.insert(walk).second) break;  // the rest of the way is known (or a cycle)
        ASSIGN_OR_RETURN(auto parent, txn.Get(Key({"u", walk})));
        walk = parent ? *parent : std::string();
      }
    }
    std::vector<std::string> keys;
    for (const std::string& unit : chain) keys.push_back(Key({"f", unit}) + "/" + suffix);
    return keys;
  }

  static absl::Status Praise(const v1::Envelope& e, const v1::PraiseGiven& p, ViewTxn& txn) {
    const std::string row = Key({"p", p.praise_id()});
    ASSIGN_OR_RETURN(auto existing, txn.Get(row));
    if (existing) return absl::OkStatus();
    v1::PraiseEntry entry;
    entry.set_praise_id(p.praise_id());
    entry.set_event_id(e.event_id());
    entry.set_giver_id(p.giver_id());
    *entry.mutable_recipient_ids() = p.recipient_ids();
    *entry.mutable_values() = p.values();
    // The message stays sealed in the row (an unsealed log keeps it in the payload).
    entry.set_message(p.message());
    entry.set_visibility(p.visibility());
    *entry.mutable_occurred_at() = e.occurred_at();
    *entry.mutable_recipient_org_unit_ids() = p.recipient_org_unit_ids();
    if (e.has_sealed()) *entry.mutable_sealed() = e.sealed();
    txn.Put(row, entry.SerializeAsString());
    ASSIGN_OR_RETURN(std::vector<std::string> keys, FeedKeys(txn, p.recipient_org_unit_ids(), e));
    for (const std::string& k : keys) txn.Put(k, row);
    return absl::OkStatus();
  }

  static absl::Status Nominated(const v1::Envelope& e, const v1::CaseNominated& c,
                                ViewTxn& txn) {
    const std::string row = Key({"c", c.case_id()});
    ASSIGN_OR_RETURN(auto existing, txn.Get(row));
    if (existing) return absl::OkStatus();
    v1::CaseFile f;
    f.set_case_id(c.case_id());
    f.set_event_id(e.event_id());
    f.set_nominator_id(c.nominator_id());
    *f.mutable_subject_ids() = c.subject_ids();
    *f.mutable_subject_org_unit_ids() = c.subject_org_unit_ids();
    f.set_title(c.title());
    f.set_story(c.story());
    *f.mutable_evidence() = c.evidence();
    f.set_status(v1::CASE_STATUS_NOMINATED);
    for (const std::string& s : c.subject_ids()) f.add_consents()->set_subject_id(s);
    *f.mutable_nominated_at() = e.occurred_at();
    if (e.has_sealed()) *f.mutable_sealed() = e.sealed();
    txn.Put(row, f.SerializeAsString());
    return absl::OkStatus();
  }

  // Applies `change` to the case's row; an event about a case this view has not seen is an
  // orphan and changes nothing.
  template <typename Fn>
  static absl::Status UpdateCase(ViewTxn& txn, const std::string& case_id, Fn&& change) {
    const std::string row = Key({"c", case_id});
    ASSIGN_OR_RETURN(auto value, txn.Get(row));
    if (!value) return absl::OkStatus();
    v1::CaseFile f;
    if (!f.ParseFromString(*value)) {
      return absl::DataLossError("recognition: case row does not parse");
    }
    RETURN_IF_ERROR(change(f));
    txn.Put(row, f.SerializeAsString());
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<View> MakeRecognitionView() { return std::make_unique<RecognitionView>(); }

}  // namespace perfledger::projections
