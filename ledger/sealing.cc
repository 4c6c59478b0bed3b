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

// Which fields each key seals.
bool SealedBy(v1::SealKey key, const FieldDescriptor& f) {
  const v1::FieldClass c = ClassOf(f);
  if (key == v1::SEAL_KEY_RETAINED) return c == v1::FIELD_CLASS_COMPENSATION;
  return c == v1::FIELD_CLASS_IDENTITY || c == v1::FIELD_CLASS_CONVERSATION;
}

bool HasSealed(v1::SealKey key, const google::protobuf::Descriptor* d, int depth = 0) {
  if (depth > 8) return false;
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    if (SealedBy(key, *f)) return true;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        f->message_type()->file()->package() == "perfledger.v1" &&
        HasSealed(key, f->message_type(), depth + 1)) {
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

// `part` starts as a copy of `full`. Afterwards `full` keeps everything but the fields `key`
// seals and `part` only those (and the structure leading to them, so element i of a repeated
// message still lines up). Set sealed fields' paths go to `out.fields`.
void Split(v1::SealKey key, Message& full, Message& part, const std::string& prefix,
           v1::SealedFields& out) {
  const google::protobuf::Descriptor* d = full.GetDescriptor();
  const Reflection* r = full.GetReflection();
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    if (f->containing_oneof() != nullptr && !r->HasField(full, f)) continue;
    if (SealedBy(key, *f)) {
      if (IsSet(full, f)) {
        AddPath(out, prefix + f->name());
        r->ClearField(&full, f);
      }
      continue;
    }
    if (Recurse(f) && HasSealed(key, f->message_type())) {
      const std::string next = prefix + f->name() + ".";
      if (f->is_repeated()) {
        for (int j = 0; j < r->FieldSize(full, f); j++) {
          Split(key, *r->MutableRepeatedMessage(&full, f, j),
                *r->MutableRepeatedMessage(&part, f, j), next, out);
        }
      } else if (r->HasField(full, f)) {
        Split(key, *r->MutableMessage(&full, f), *r->MutableMessage(&part, f), next, out);
      }
      continue;
    }
    r->ClearField(&part, f);
  }
}

// Moves the fields `key` seals from `part` into `full`, element by element.
void Overlay(v1::SealKey key, Message& part, Message& full) {
  const google::protobuf::Descriptor* d = full.GetDescriptor();
  const Reflection* pr = part.GetReflection();
  const Reflection* r = full.GetReflection();
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    if (f->containing_oneof() != nullptr && !pr->HasField(part, f)) continue;
    if (SealedBy(key, *f)) {
      if (!IsSet(part, f)) continue;
      r->ClearField(&full, f);
      r->SwapFields(&part, &full, {f});
      continue;
    }
    if (!Recurse(f)) continue;
    if (f->is_repeated()) {
      const int n = std::min(pr->FieldSize(part, f), r->FieldSize(full, f));
      for (int j = 0; j < n; j++) {
        Overlay(key, *pr->MutableRepeatedMessage(&part, f, j),
                *r->MutableRepeatedMessage(&full, f, j));
      }
    } else if (pr->HasField(part, f)) {
      Overlay(key, *pr->MutableMessage(&part, f), *r->MutableMessage(&full, f));
    }
  }
}

// Writes `placeholder` into the string field at `path`; a field of another type is cleared.
// Returns whether the leaf is a string field.
bool PlaceAt(Message& m, const std::vector<std::string>& path, size_t at,
             std::string_view placeholder) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(path[at]);
  if (f == nullptr) return true;  // nothing of this name: nothing to mark
  const Reflection* r = m.GetReflection();
  if (at + 1 == path.size()) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
      r->ClearField(&m, f);
      return false;
    }
    if (f->is_repeated()) {
      r->ClearField(&m, f);
      r->AddString(&m, f, std::string(placeholder));
    } else {
      r->SetString(&m, f, std::string(placeholder));
    }
    return true;
  }
  if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return true;
  bool text = true;
  if (f->is_repeated()) {
    for (int j = 0; j < r->FieldSize(m, f); j++) {
      text = PlaceAt(*r->MutableRepeatedMessage(&m, f, j), path, at + 1, placeholder) && text;
    }
  } else {
    // The path names the payload it came from: reached even in an event whose body is unset
    // (a view row's sealed copy opens into an empty Event).
    text = PlaceAt(*r->MutableMessage(&m, f), path, at + 1, placeholder);
  }
  return text;
}

// Payload types (by Event field number) that can hold sealed fields: bit 1 << SealKey.
const std::vector<uint8_t>& SealedBodies() {
  static const std::vector<uint8_t>* table = [] {
    const google::protobuf::Descriptor* d = v1::Event::descriptor();
    int max = 0;
    for (int i = 0; i < d->field_count(); i++) max = std::max(max, d->field(i)->number());
    auto* t = new std::vector<uint8_t>(max + 1, 0);
    for (int i = 0; i < d->field_count(); i++) {
      const FieldDescriptor* f = d->field(i);
      for (v1::SealKey key : {v1::SEAL_KEY_PERSONAL, v1::SEAL_KEY_RETAINED}) {
        if (HasSealed(key, f->message_type())) (*t)[f->number()] |= 1u << key;
      }
    }
    return t;
  }();
  return *table;
}

KeyPurpose PurposeOf(v1::SealKey key) {
  return key == v1::SEAL_KEY_RETAINED ? KeyPurpose::kRetained : KeyPurpose::kPersonal;
}

}  // namespace

bool MayHoldSealedFields(const v1::Event& event) {
  const std::vector<uint8_t>& t = SealedBodies();
  const size_t n = static_cast<size_t>(event.body_case());
  return n < t.size() && t[n] != 0;
}

absl::StatusOr<std::optional<v1::SealedFields>> Sealer::SealPart(v1::SealKey key,
                                                                 v1::Event& event,
                                                                 const std::string& subject,
                                                                 const std::string& event_id) {
  const std::vector<uint8_t>& t = SealedBodies();
  const size_t n = static_cast<size_t>(event.body_case());
  if (n >= t.size() || (t[n] & (1u << key)) == 0) return std::optional<v1::SealedFields>();
  v1::Event part = event;
  v1::SealedFields sealed;
  Split(key, event, part, "", sealed);
  if (sealed.fields().empty()) return std::optional<v1::SealedFields>();
  auto data_key = keys_->GetOrCreate(subject, PurposeOf(key));
  if (!data_key.ok()) {
    // Put the fields back: the command is refused and nothing of it may change.
    Overlay(key, part, event);
    if (absl::IsFailedPrecondition(data_key.status())) {
      return absl::FailedPreconditionError(
          key == v1::SEAL_KEY_RETAINED
              ? absl::StrCat("employee ", subject,
                             " was erased and their retention period ended: compensation "
                             "records about them are no longer kept")
              : absl::StrCat("employee ", subject,
                             " was erased: personal data about them is no longer recorded"));
    }
    return data_key.status();
  }
  auto ciphertext = crypto::Seal(*data_key, part.SerializeAsString(), event_id);
  crypto::Wipe(*data_key);
  if (!ciphertext.ok()) {
    Overlay(key, part, event);
    return ciphertext.status();
  }
  sealed.set_subject(subject);
  sealed.set_key(key);
  sealed.set_ciphertext(*std::move(ciphertext));
  return std::optional<v1::SealedFields>(std::move(sealed));
}

absl::StatusOr<Sealer::Parts> Sealer::Seal(v1::Event& event, const std::string& subject,
                                           const std::string& event_id) {
  Parts parts;
  if (!MayHoldSealedFields(event)) return parts;
  ASSIGN_OR_RETURN(parts.personal, SealPart(v1::SEAL_KEY_PERSONAL, event, subject, event_id));
  auto retained = SealPart(v1::SEAL_KEY_RETAINED, event, subject, event_id);
  if (!retained.ok()) {
    if (parts.personal) {
      // Open cannot fail here (the key was just used), and the command is refused whole.
      v1::Event personal;
      if (Open(*parts.personal, event_id, personal).ok()) {
        Overlay(v1::SEAL_KEY_PERSONAL, personal, event);
      }
    }
    return retained.status();
  }
  parts.retained = *std::move(retained);
  return parts;
}

absl::Status Sealer::Open(const v1::SealedFields& sealed, const std::string& event_id,
                          v1::Event& event) {
  auto key = keys_->Get(sealed.subject(), PurposeOf(sealed.key()));
  absl::Status failed;
  if (key.ok()) {
    auto plain = crypto::Open(*key, sealed.ciphertext(), event_id);
    crypto::Wipe(*key);
    if (plain.ok()) {
      v1::Event part;
      if (part.ParseFromString(*plain)) {
        Overlay(sealed.key(), part, event);
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
  return absl::DataLossError(absl::StrCat("event ", event_id, ": ",
                                          std::string(KeyPurposeName(PurposeOf(sealed.key()))),
                                          " data of ", sealed.subject(),
                                          " cannot be opened: ", failed.message()));
}

void Sealer::Placeholders(const v1::SealedFields& sealed, std::string_view placeholder,
                          v1::Event& event,
                          google::protobuf::RepeatedPtrField<std::string>* cleared) {
  for (const std::string& path : sealed.fields()) {
    const std::vector<std::string> parts = absl::StrSplit(path, '.');
    if (parts.empty()) continue;
    if (!PlaceAt(event, parts, 0, placeholder) && cleared != nullptr) {
      bool seen = false;
      for (const std::string& c : *cleared) seen = seen || c == path;
      if (!seen) *cleared->Add() = path;
    }
  }
}

}  // namespace perfledger
