#include "ledger/sealing.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ledger/access.h"
#include "ledger/crypto.h"
#include "ledger/status_macros.h"

namespace perfledger {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsPersonal(const FieldDescriptor& f) {
  const v1::FieldClass c = ClassOf(f);
  return c == v1::FIELD_CLASS_IDENTITY || c == v1::FIELD_CLASS_CONVERSATION;
}

bool HasPersonal(const google::protobuf::Descriptor* d, int depth = 0) {
  if (depth > 8) return false;
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    if (IsPersonal(*f)) return true;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        f->message_type()->file()->package() == "perfledger.v1" &&
        HasPersonal(f->message_type(), depth + 1)) {
      return true;
    }
  }
  return false;
}

bool IsSet(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  return f->is_repeated() ? r->FieldSize(m, f) > 0 : r->HasField(m, f);
}

bool Recurse(const FieldDescriptor* f) {
  return f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         f->message_type()->file()->package() == "perfledger.v1";
}

void AddPath(v1::SealedFields& out, std::string path) {
  for (const auto& p : out.fields()) {
    if (p == path) return;
  }
  *out.add_fields() = std::move(path);
}

// `personal` starts as a copy of `full`. Afterwards `full` keeps everything but the personal
// fields and `personal` only those (and the structure leading to them, so element i of a
// repeated message still lines up). Set personal fields' paths go to `out.fields`.
void Split(Message& full, Message& personal, const std::string& prefix, v1::SealedFields& out) {
  const google::protobuf::Descriptor* d = full.GetDescriptor();
  const Reflection* r = full.GetReflection();
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    if (f->containing_oneof() != nullptr && !r->HasField(full, f)) continue;
    if (IsPersonal(*f)) {
      if (IsSet(full, f)) {
        AddPath(out, prefix + f->name());
        r->ClearField(&full, f);
      }
      continue;
    }
    if (Recurse(f) && HasPersonal(f->message_type())) {
      const std::string next = prefix + f->name() + ".";
      if (f->is_repeated()) {
        for (int j = 0; j < r->FieldSize(full, f); j++) {
          Split(*r->MutableRepeatedMessage(&full, f, j),
                *r->MutableRepeatedMessage(&personal, f, j), next, out);
        }
      } else if (r->HasField(full, f)) {
        Split(*r->MutableMessage(&full, f), *r->MutableMessage(&personal, f), next, out);
      }
      continue;
    }
    r->ClearField(&personal, f);
  }
}

// Copies the personal fields of `personal` into `full`, element by element.
void Overlay(const Message& personal, Message& full) {
  const google::protobuf::Descriptor* d = full.GetDescriptor();
  const Reflection* pr = personal.GetReflection();
  const Reflection* r = full.GetReflection();
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    if (f->containing_oneof() != nullptr && !pr->HasField(personal, f)) continue;
    if (IsPersonal(*f)) {
      if (!IsSet(personal, f)) continue;
      if (f->is_repeated()) {
        r->ClearField(&full, f);
        for (int j = 0; j < pr->FieldSize(personal, f); j++) {
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
            r->AddString(&full, f, pr->GetRepeatedString(personal, f, j));
          } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            r->AddMessage(&full, f)->CopyFrom(pr->GetRepeatedMessage(personal, f, j));
          }
        }
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        r->SetString(&full, f, pr->GetString(personal, f));
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        r->MutableMessage(&full, f)->CopyFrom(pr->GetMessage(personal, f));
      }
      continue;
    }
    if (!Recurse(f)) continue;
    if (f->is_repeated()) {
      const int n = std::min(pr->FieldSize(personal, f), r->FieldSize(full, f));
      for (int j = 0; j < n; j++) {
        Overlay(pr->GetRepeatedMessage(personal, f, j), *r->MutableRepeatedMessage(&full, f, j));
      }
    } else if (pr->HasField(personal, f)) {
      Overlay(pr->GetMessage(personal, f), *r->MutableMessage(&full, f));
    }
  }
}

void PlaceAt(Message& m, const std::vector<std::string>& path, size_t at,
             std::string_view placeholder) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(path[at]);
  if (f == nullptr) return;
  const Reflection* r = m.GetReflection();
  if (at + 1 == path.size()) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) return;
    if (f->is_repeated()) {
      r->ClearField(&m, f);
      r->AddString(&m, f, std::string(placeholder));
    } else {
      r->SetString(&m, f, std::string(placeholder));
    }
    return;
  }
  if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return;
  if (f->is_repeated()) {
    for (int j = 0; j < r->FieldSize(m, f); j++) {
      PlaceAt(*r->MutableRepeatedMessage(&m, f, j), path, at + 1, placeholder);
    }
  } else if (f->containing_oneof() == nullptr || r->HasField(m, f)) {
    PlaceAt(*r->MutableMessage(&m, f), path, at + 1, placeholder);
  }
}

// Payload types (by Event field number) that can hold personal data.
const std::vector<bool>& PersonalBodies() {
  static const std::vector<bool>* table = [] {
    const google::protobuf::Descriptor* d = v1::Event::descriptor();
    int max = 0;
    for (int i = 0; i < d->field_count(); i++) max = std::max(max, d->field(i)->number());
    auto* t = new std::vector<bool>(max + 1, false);
    for (int i = 0; i < d->field_count(); i++) {
      const FieldDescriptor* f = d->field(i);
      (*t)[f->number()] = HasPersonal(f->message_type());
    }
    return t;
  }();
  return *table;
}

}  // namespace

bool MayHoldPersonalData(const v1::Event& event) {
  const std::vector<bool>& t = PersonalBodies();
  const size_t n = static_cast<size_t>(event.body_case());
  return n < t.size() && t[n];
}

absl::StatusOr<std::optional<v1::SealedFields>> Sealer::Seal(v1::Event& event,
                                                             const std::string& subject,
                                                             const std::string& event_id) {
  if (!MayHoldPersonalData(event)) return std::optional<v1::SealedFields>();
  v1::Event personal = event;
  v1::SealedFields sealed;
  Split(event, personal, "", sealed);
  if (sealed.fields().empty()) return std::optional<v1::SealedFields>();
  auto key = keys_->GetOrCreate(subject, KeyPurpose::kPersonal);
  if (!key.ok()) {
    // Put the fields back: the command is refused and nothing of it may change.
    Overlay(personal, event);
    if (absl::IsFailedPrecondition(key.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "employee ", subject, " was erased: personal data about them is no longer recorded"));
    }
    return key.status();
  }
  auto ciphertext = crypto::Seal(*key, personal.SerializeAsString(), event_id);
  crypto::Wipe(*key);
  if (!ciphertext.ok()) {
    Overlay(personal, event);
    return ciphertext.status();
  }
  sealed.set_subject(subject);
  sealed.set_ciphertext(*std::move(ciphertext));
  return std::optional<v1::SealedFields>(std::move(sealed));
}

absl::Status Sealer::Open(const v1::SealedFields& sealed, const std::string& event_id,
                          v1::Event& event) {
  auto key = keys_->Get(sealed.subject(), KeyPurpose::kPersonal);
  absl::Status failed;
  if (key.ok()) {
    auto plain = crypto::Open(*key, sealed.ciphertext(), event_id);
    crypto::Wipe(*key);
    if (plain.ok()) {
      v1::Event personal;
      if (personal.ParseFromString(*plain)) {
        Overlay(personal, event);
        return absl::OkStatus();
      }
      failed = absl::DataLossError("sealed fields do not parse");
    } else {
      failed = plain.status();
    }
  } else {
    failed = key.status();
  }
  Placeholders(sealed, kUnreadablePlaceholder, event);
  return absl::DataLossError(absl::StrCat("event ", event_id, ": personal data of ",
                                          sealed.subject(), " cannot be opened: ",
                                          failed.message()));
}

void Sealer::Placeholders(const v1::SealedFields& sealed, std::string_view placeholder,
                          v1::Event& event) {
  for (const std::string& path : sealed.fields()) {
    const std::vector<std::string> parts = absl::StrSplit(path, '.');
    if (!parts.empty()) PlaceAt(event, parts, 0, placeholder);
  }
}

}  // namespace perfledger
