// Metric observations (high volume) and training reports from the LMS.
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

// The checks name the fields below an observation (".subject_id"); InField puts the
// observation's own name in front. Field names are needed only in an error, so the full name
// ("observations[17].subject_id") is built only then, never for every observation of a batch
// on the ingest's hottest path.
absl::Status CheckObservation(const v1::Observation& o) {
  RETURN_IF_ERROR(CheckId(".subject_id", o.subject_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckName(".metric", o.metric(), Presence::kRequired));
  RETURN_IF_ERROR(CheckName(".unit", o.unit(), Presence::kOptional));
  RETURN_IF_ERROR(CheckName(".source", o.source(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId(".cycle_id", o.cycle_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckRange(".value_milli", o.value_milli(), -limits::kMetricMilliAbsMax,
                             limits::kMetricMilliAbsMax));
  if (o.has_denominator()) {
    RETURN_IF_ERROR(CheckRange(".denominator", o.denominator(), 1, limits::kMetricDenominatorMax));
  }
  if (o.has_observed_at()) RETURN_IF_ERROR(CheckTimestamp(".observed_at", o.observed_at()));
  RETURN_IF_ERROR(CheckId(".event_id", o.event_id(), Presence::kOptional));
  if (absl::StartsWith(o.event_id(), kGeneratedEventIdPrefix)) {
    return FieldError(".event_id",
                      absl::StrCat("the prefix '", kGeneratedEventIdPrefix, "' is reserved"));
  }
  return absl::OkStatus();
}

// `s` (OK, or an error whose message starts with the field it names, as every check's and
// lookup's does) with the observation's name in front of that field.
absl::Status InField(const google::protobuf::RepeatedPtrField<v1::Observation>& obs,
                     std::string_view prefix, int i, absl::Status s) {
  if (s.ok()) return s;
  const std::string name = obs.size() == 1 && prefix == "observation"
                               ? std::string(prefix)
                               : absl::StrCat(std::string(prefix), "[", i, "]");
  return absl::Status(s.code(), absl::StrCat(name, std::string(s.message())));
}

// Decides the events of a batch of observations. Lookups are cached per batch: a feed usually
// repeats a few subjects many times.
// An observation with an event id already recorded with the same content (a feed's re-send) is
// acknowledged as a duplicate, not appended again; `prior` looks it up.
using PriorLookup = absl::FunctionRef<absl::StatusOr<Prior>(
    const std::string&, const v1::MetricObserved&, const google::protobuf::Timestamp*)>;

absl::Status DecideObservations(Decision& d,
                                const google::protobuf::RepeatedPtrField<v1::Observation>& obs,
                                std::string_view prefix, PriorLookup prior) {
  if (obs.empty()) return FieldError(std::string(prefix), "at least one observation is required");
  RETURN_IF_ERROR(CheckCount(std::string(prefix), obs.size(), limits::kObservationsPerRequestMax));
  // (kind, subject) → org unit; the keys point into `obs`, which outlives the map.
  absl::flat_hash_map<std::pair<int, absl::string_view>, std::string> org_unit_of;
  absl::flat_hash_map<std::string, bool> cycle_ok;
  std::string single_subject = obs[0].subject_id();
  for (int i = 0; i < obs.size(); i++) {
    const v1::Observation& o = obs[i];
    RETURN_IF_ERROR(InField(obs, prefix, i, CheckObservation(o)));
    const v1::OwnerKind kind = o.subject_kind() == v1::OWNER_KIND_UNSPECIFIED
                                   ? v1::OWNER_KIND_EMPLOYEE
                                   : o.subject_kind();
    const std::pair<int, absl::string_view> cache_key(
        static_cast<int>(kind), absl::string_view(o.subject_id().data(), o.subject_id().size()));
    auto it = org_unit_of.find(cache_key);
    if (it == org_unit_of.end()) {
      std::string org_unit;
      if (kind == v1::OWNER_KIND_EMPLOYEE) {
        absl::StatusOr<std::string> unit = d.EmployeeOrgUnit(".subject_id", o.subject_id());
        RETURN_IF_ERROR(InField(obs, prefix, i, unit.status()));
        org_unit = *std::move(unit);
      } else if (kind == v1::OWNER_KIND_ORG_UNIT) {
        RETURN_IF_ERROR(InField(obs, prefix, i, d.OrgUnit(".subject_id", o.subject_id()).status()));
        org_unit = o.subject_id();
      } else {
        return InField(obs, prefix, i, FieldError(".subject_kind", "must be EMPLOYEE or ORG_UNIT"));
      }
      // A limited hr token feeds metrics of its subtrees only (checked once per subject).
      RETURN_IF_ERROR(InField(obs, prefix, i,
                              kind == v1::OWNER_KIND_EMPLOYEE
                                  ? d.RequireScope(".subject_id", o.subject_id())
                                  : d.RequireUnitScope(".subject_id", o.subject_id())));
      it = org_unit_of.emplace(cache_key, std::move(org_unit)).first;
    }
    if (!o.cycle_id().empty() && !cycle_ok.contains(o.cycle_id())) {
      RETURN_IF_ERROR(InField(obs, prefix, i,
                              d.Cycle(".cycle_id", o.cycle_id(), CycleMust::kExist).status()));
      cycle_ok[o.cycle_id()] = true;
    }
    if (o.subject_id() != single_subject) single_subject.clear();
    v1::Event e;
    auto* p = e.mutable_metric_observed();
    p->set_subject_id(o.subject_id());
    p->set_subject_kind(kind);
    p->set_metric(o.metric());
    p->set_value_milli(o.value_milli());
    p->set_unit(o.unit());
    p->set_source(o.source());
    p->set_org_unit_id(it->second);
    p->set_cycle_id(o.cycle_id());
    if (o.has_denominator()) p->set_denominator(o.denominator());
    if (!o.event_id().empty()) {
      const google::protobuf::Timestamp* at = o.has_observed_at() ? &o.observed_at() : nullptr;
      ASSIGN_OR_RETURN(const Prior found, prior(o.event_id(), *p, at));
      if (found == Prior::kSame) {
        d.AddDuplicate(o.event_id());
        continue;
      }
      if (found == Prior::kDifferent) {
        return InField(obs, prefix, i,
                       absl::AlreadyExistsError(absl::StrCat(
                           ".event_id: ", o.event_id(),
                           " was already recorded with other content")));
      }
      if (found == Prior::kInFlight) {
        return InField(obs, prefix, i,
                       absl::AbortedError(absl::StrCat(
                           ".event_id: ", o.event_id(),
                           " is being recorded by another command; send again")));
      }
    }
    d.Emit(MetricsStream(o.subject_id()), Route::Data(o.subject_id()), std::move(e), o.event_id(),
           o.has_observed_at() ? &o.observed_at() : nullptr);
    if (!o.event_id().empty()) d.events().back().id_checked = true;
  }
  if (d.meta().has_expected_version()) {
    if (single_subject.empty()) {
      return FieldError("meta.expected_version",
                        "applies to one stream; this batch observes several subjects");
    }
    RETURN_IF_ERROR(d.ExpectVersion(MetricsStream(single_subject)));
  }
  return absl::OkStatus();
}

}  // namespace

Ledger::Result Ledger::ObserveMetric(const v1::ObserveMetricRequest& r, const CommandContext& ctx) {
  // A single observation's own event id doubles as the command's (idempotent re-sends).
  v1::CommandMeta meta = r.meta();
  // Check the observation's own id under its own name before it doubles as the command's.
  if (absl::Status s = CheckId("observation.event_id", r.observation().event_id(),
                               Presence::kOptional);
      !s.ok()) {
    return s;
  }
  if (absl::StartsWith(r.observation().event_id(), kGeneratedEventIdPrefix)) {
    return FieldError("observation.event_id",
                      absl::StrCat("the prefix '", kGeneratedEventIdPrefix, "' is reserved"));
  }
  if (meta.event_id().empty() && !r.observation().event_id().empty()) {
    meta.set_event_id(r.observation().event_id());
  }
  google::protobuf::RepeatedPtrField<v1::Observation> one;
  *one.Add() = r.observation();
  one[0].clear_event_id();  // meta carries it
  return Execute(meta, r, ctx, [&](Decision& d) -> absl::Status {
    if (!r.has_observation()) return FieldError("observation", "required");
    // The observation's id is the command's: a re-send is answered as the same command.
    return DecideObservations(d, one, "observation",
                              [](const std::string&, const v1::MetricObserved&,
                                 const google::protobuf::Timestamp*) -> absl::StatusOr<Prior> {
                                return Prior::kNone;
                              });
  });
}

Ledger::Result Ledger::ObserveMetrics(const v1::ObserveMetricsRequest& r,
                                      const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    return DecideObservations(
        d, r.observations(), "observations",
        [this](const std::string& id, const v1::MetricObserved& m,
               const google::protobuf::Timestamp* at) { return PriorObservation(id, m, at); });
  });
}

Ledger::Result Ledger::RecordTraining(const v1::RecordTrainingRequest& r,
                                      const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("course_id", r.course_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("action_id", r.action_id(), Presence::kOptional));
    RETURN_IF_ERROR(CheckName("lms_reference", r.lms_reference(), Presence::kOptional));
    RETURN_IF_ERROR(CheckRange("score_milli", r.score_milli(), 0, 100'000));
    RETURN_IF_ERROR(d.Employee("employee_id", r.employee_id(), EmployeeMust::kExist).status());
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    if (r.verb() == "enrolled" || r.verb() == "registered") {
      auto* p = e.mutable_training_enrolled();
      p->set_employee_id(r.employee_id());
      p->set_course_id(r.course_id());
      p->set_action_id(r.action_id());
      p->set_lms_reference(r.lms_reference());
    } else if (r.verb() == "completed") {
      auto* p = e.mutable_training_completed();
      p->set_employee_id(r.employee_id());
      p->set_course_id(r.course_id());
      p->set_action_id(r.action_id());
      p->set_passed(r.passed());
      p->set_score_milli(r.score_milli());
      p->set_lms_reference(r.lms_reference());
    } else {
      return FieldError("verb", "must be enrolled, registered or completed");
    }
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

}  // namespace perfledger
