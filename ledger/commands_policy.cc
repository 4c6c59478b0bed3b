// Policies (control stream) and the reactor's decisions.
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/hash_chain.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/policy.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {

Ledger::Result Ledger::PublishPolicy(const v1::PublishPolicyRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(d.RequireOrgWide("document"));
    if (r.document().empty()) return FieldError("document", "required");
    if (r.document().size() > limits::kPolicyBytesMax) {
      return FieldError("document", absl::StrCat(r.document().size(), " bytes, at most ",
                                                 limits::kPolicyBytesMax));
    }
    RETURN_IF_ERROR(CheckText("comment", r.comment(), Presence::kOptional));
    policy::Format format = policy::Format::kAuto;
    const std::string f = absl::AsciiStrToLower(r.format());
    if (f == "json") {
      format = policy::Format::kJson;
    } else if (f == "yaml" || f == "yml") {
      format = policy::Format::kYaml;
    } else if (!f.empty()) {
      return FieldError("format", "must be yaml, json or empty");
    }
    auto parsed = policy::ParsePolicy(r.document(), format);
    if (!parsed.ok()) {
      // The parser names the path (and line) at fault; say which request field held it.
      return FieldError("document", std::string(parsed.status().message()));
    }
    uint64_t version = 1;
    if (auto current = d.Find("policy/current"); current && current->has_policy()) {
      version = current->policy().version() + 1;
    }
    const std::string stream = absl::StrCat("policy/", parsed->policy_id);
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_policy_published();
    p->set_policy_id(parsed->policy_id);
    p->set_version(version);
    p->set_document_json(policy::CanonicalJson(*parsed));
    p->set_document_sha256(ToHex(Sha256(p->document_json())));
    p->set_comment(r.comment());
    d.Emit(stream, Route::Control(), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::React(const internal::Reaction& reaction, const CommandContext& ctx) {
  v1::CommandMeta meta;
  meta.set_idempotency_key(reaction.command_id());
  if (!reaction.events().empty()) meta.set_causation_id(reaction.events(0).causation_id());
  // admit = false: the reactor drains the backlog admission control waits on.
  return Execute(meta, reaction, ctx, [&](Decision& d) -> absl::Status {
    if (reaction.events().empty()) return absl::InternalError("empty reaction");
    for (const auto& re : reaction.events()) {
      d.Emit(re.stream(), re.control() ? Route::Control() : Route::Data(re.partition_key()),
             re.event(), "", re.has_occurred_at() ? &re.occurred_at() : nullptr);
    }
    return absl::OkStatus();
  }, /*admit=*/false);
}

}  // namespace perfledger
