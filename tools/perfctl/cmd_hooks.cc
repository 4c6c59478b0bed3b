// hooks tail|ack|reject: the Hooks service from an operator's seat — watch what a consumer
// would receive, and answer an item by hand (e.g. a raise payroll applied outside its client).

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "perfledger/v1/hooks.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/interrupt.h"
#include "tools/perfctl/parse.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

// "salary-adjustment" -> ACTION_KIND_SALARY_ADJUSTMENT.
absl::StatusOr<v1::ActionKind> ParseKind(const std::string& word) {
  std::string name = absl::AsciiStrToUpper(word);
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  v1::ActionKind kind;
  if (!v1::ActionKind_Parse(absl::StrCat("ACTION_KIND_", name), &kind) ||
      kind == v1::ACTION_KIND_UNSPECIFIED) {
    return UsageError(absl::StrCat("--kind '", word,
                                   "': expected salary-adjustment, bonus, training, "
                                   "promotion-nomination, pip, hr-review or alert"));
  }
  return kind;
}

std::string KindWord(v1::ActionKind kind) {
  return EnumWord(v1::ActionKind_Name(kind), "ACTION_KIND_");
}

// A training item names its course, a payroll item its amount.
std::string Amount(const v1::HookItem& item) {
  return item.course_id().empty()
             ? Marked("amount", FormatMoney(item.amount()), item.erased(), item.withheld())
             : item.course_id();
}

struct TailFlags {
  std::string consumer;
  std::vector<std::string> kinds;
  std::string cursor;
  bool include_resolved = false;
  uint32_t redeliver_seconds = 0;
  uint32_t max = 0;
};

absl::Status RunTail(Session& session, const TailFlags& flags) {
  v1::SubscribeRequest request;
  PERFCTL_RETURN_IF_ERROR(ValidateId("--consumer", flags.consumer));
  request.set_consumer(flags.consumer);
  for (const std::string& k : flags.kinds) {
    PERFCTL_ASSIGN_OR_RETURN(v1::ActionKind kind, ParseKind(k));
    request.add_kinds(kind);
  }
  request.set_cursor(flags.cursor);
  request.set_include_resolved(flags.include_resolved);
  request.set_redeliver_after_seconds(flags.redeliver_seconds);

  PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
  auto stub = v1::Hooks::NewStub(connection->channel());
  auto context = connection->NewUnboundedContext();
  CancelOnInterrupt cancel(context.get());
  auto reader = stub->Subscribe(context.get(), request);
  const bool json = session.format() == OutputFormat::kJson;
  StreamingTable table({"TYPE", "KIND", "ACTION", "EMPLOYEE", "CYCLE", "AMOUNT/COURSE", "ATTEMPT",
                        "CURSOR"},
                       {6, 10, 24, 10, 8, 14, 7, 0});
  v1::HookItem item;
  uint32_t received = 0;
  while (reader->Read(&item)) {
    if (json) {
      std::cout << ToJsonValue(item).dump() << '\n' << std::flush;
    } else {
      const std::string type = item.type() == v1::HOOK_ITEM_TYPE_CANCELLATION ? "cancel"
                               : item.type() == v1::HOOK_ITEM_TYPE_ERASURE   ? "erasure"
                               : item.resolved()                             ? "done"
                                                                             : "action";
      table.PrintRow(std::cout, {type, KindWord(item.kind()), item.action_id(), item.employee_id(),
                                 item.cycle_id(), Amount(item), absl::StrCat(item.attempt()),
                                 item.cursor()});
    }
    if (flags.max > 0 && ++received >= flags.max) {
      context->TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  if (cancel.interrupted() || (flags.max > 0 && received >= flags.max)) return absl::OkStatus();
  if (status.ok()) return absl::UnavailableError("the server ended the stream (shutting down?)");
  return FromGrpc(status);
}

struct AnswerFlags {
  std::string consumer;
  std::vector<std::string> action_ids;
  std::string reference;
  std::string reason;
  bool cancellation = false;
  // The ids are employees whose erasure notices are acknowledged.
  bool erasure = false;
};

absl::Status RunAnswer(Session& session, const AnswerFlags& flags, bool reject) {
  v1::AcknowledgeRequest request;
  PERFCTL_RETURN_IF_ERROR(ValidateId("--consumer", flags.consumer));
  request.set_consumer(flags.consumer);
  for (const std::string& id : flags.action_ids) {
    PERFCTL_RETURN_IF_ERROR(ValidateId(flags.erasure ? "EMPLOYEE_ID" : "ACTION_ID", id));
    v1::AcknowledgeItem* item = request.add_items();
    if (flags.erasure) {
      item->set_erased_employee_id(id);
      item->set_consumer_reference(flags.reference);
      continue;
    }
    item->set_action_id(id);
    if (reject) {
      item->set_reject_reason(flags.reason);
    } else {
      item->set_consumer_reference(flags.reference);
      item->set_cancellation(flags.cancellation);
    }
  }
  PERFCTL_ASSIGN_OR_RETURN(
      v1::AcknowledgeResponse response,
      (CallUnary<v1::Hooks>(session, &v1::Hooks::Stub::Acknowledge, request)));
  if (session.format() == OutputFormat::kJson) {
    std::cout << ToJsonValue(response).dump(2) << '\n';
    return absl::OkStatus();
  }
  Table table({"ACTION", "OUTCOME"});
  for (int i = 0; i < response.outcomes_size(); i++) {
    table.AddRow({flags.erasure ? absl::StrCat("erasure of ", request.items(i).erased_employee_id())
                                : request.items(i).action_id(),
                  response.outcomes(i) == v1::ACKNOWLEDGE_OUTCOME_DUPLICATE ? "duplicate (already recorded)"
                                                                           : "recorded"});
  }
  table.Print(std::cout);
  return absl::OkStatus();
}

}  // namespace

void AddHookCommands(CLI::App& app, Session& session) {
  CLI::App* hooks = app.add_subcommand(
      "hooks", "The payroll and LMS hook streams: watch them, answer items by hand");
  hooks->require_subcommand(1);

  auto tail = std::make_shared<TailFlags>();
  CLI::App* sub = hooks->add_subcommand(
      "tail", "Print what a consumer receives (without acknowledging; Ctrl-C ends)");
  sub->add_option("--consumer", tail->consumer, "Consumer name, e.g. payroll-eu")->required();
  sub->add_option("--kind", tail->kinds,
                  "salary-adjustment, bonus, training, promotion-nomination, pip, hr-review. "
                  "Repeatable")
      ->required();
  sub->add_option("--cursor", tail->cursor, "Resume after this cursor (from an earlier item)");
  sub->add_flag("--include-resolved", tail->include_resolved,
                "Also replay acknowledged and rejected actions after the cursor");
  sub->add_option("--redeliver-seconds", tail->redeliver_seconds,
                  "Send unacknowledged items again after this many seconds (0 = server default)");
  sub->add_option("--max", tail->max, "Stop after this many items (0 = follow until Ctrl-C)");
  sub->footer(Examples({"perfctl hooks tail --consumer payroll-eu --kind salary-adjustment --kind bonus",
                        "perfctl hooks tail --consumer lms --kind training --include-resolved --max 20"}));
  sub->callback([&session, tail] {
    session.Select("tail hooks", [&session, tail] { return RunTail(session, *tail); });
  });

  auto ack = std::make_shared<AnswerFlags>();
  sub = hooks->add_subcommand("ack", "Acknowledge actions with the consumer's reference");
  sub->add_option("ACTION_ID", ack->action_ids, "Action ids")->required();
  sub->add_option("--consumer", ack->consumer, "Consumer name")->required();
  sub->add_option("--reference", ack->reference, "The consumer's id for the effect")->required();
  sub->add_flag("--cancellation", ack->cancellation,
                "Acknowledge the cancellation notice (the effect was reversed)");
  sub->footer(Examples({"perfctl hooks ack act-3f9a --consumer payroll-eu --reference PAY-2026-0042"}));
  sub->callback([&session, ack] {
    session.Select("acknowledge actions", [&session, ack] { return RunAnswer(session, *ack, false); });
  });

  auto erased = std::make_shared<AnswerFlags>();
  erased->erasure = true;
  sub = hooks->add_subcommand(
      "ack-erasure",
      "Acknowledge erasure notices: the consumer erased what it held about these employees");
  sub->add_option("EMPLOYEE_ID", erased->action_ids, "Erased employees' ids")->required();
  sub->add_option("--consumer", erased->consumer, "Consumer name")->required();
  sub->add_option("--reference", erased->reference, "The consumer's reference for its erasure")
      ->required();
  sub->footer(Examples({"perfctl hooks ack-erasure W13 --consumer payroll-eu --reference DEL-2026-7"}));
  sub->callback([&session, erased] {
    session.Select("acknowledge erasure notices",
                   [&session, erased] { return RunAnswer(session, *erased, false); });
  });

  auto reject = std::make_shared<AnswerFlags>();
  sub = hooks->add_subcommand("reject", "Refuse actions with a reason (not delivered again)");
  sub->add_option("ACTION_ID", reject->action_ids, "Action ids")->required();
  sub->add_option("--consumer", reject->consumer, "Consumer name")->required();
  sub->add_option("--reason", reject->reason, "Why")->required();
  sub->footer(Examples({"perfctl hooks reject act-3f9a --consumer payroll-eu --reason 'employee left'"}));
  sub->callback([&session, reject] {
    session.Select("reject actions", [&session, reject] { return RunAnswer(session, *reject, true); });
  });
}

}  // namespace perfctl
