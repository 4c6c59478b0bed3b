// Personal data at rest (ARCHITECTURE §9, GDPR): an event's identity and conversation fields, and
// its compensation fields (the (field_class) annotations of events.proto), leave the payload
// before it is written and travel sealed in the envelope: the first under the subject's
// personal key (`sealed`), the others under the subject's retained key (`retained`; key_store.h).
// Readers open them again, or show placeholders once the subject's erasure (personal) or
// retention end (retained) is in the log.
//
// No plaintext of those fields is written anywhere: not to the log, Kafka, the write model or
// the views, which all fold the payload as stored and keep sealed copies where they need them.
//
// Thread safety: Sealer is thread-safe (the key store is).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/key_store.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"

namespace perfledger {

// What readers see in place of a field whose subject was erased.
inline constexpr char kErasedPlaceholder[] = "[erased]";
// ... and of a field whose key is gone although no erasure is in the log (a lost key store).
inline constexpr char kUnreadablePlaceholder[] = "[unreadable]";

// Whether events of this payload type can hold sealed fields at all (a table built once from
// the annotations: metric observations cannot, and cost nothing).
bool MayHoldSealedFields(const v1::Event& event);

class Sealer {
 public:
  explicit Sealer(KeyStore* keys) : keys_(keys) {}

  // What Seal took out of an event.
  struct Parts {
    std::optional<v1::SealedFields> personal;  // for Envelope.sealed
    std::optional<v1::SealedFields> retained;  // for Envelope.retained
  };

  // Moves the sealed fields of `event` (an event about employee `subject`) into SealedFields
  // under the subject's keys, bound to `event_id`; a part is nullopt when none of its fields is
  // set. FAILED_PRECONDITION naming the employee when a key it needs was destroyed (erasure,
  // retention end), with `event` untouched; the store's errors otherwise.
  absl::StatusOr<Parts> Seal(v1::Event& event, const std::string& subject,
                             const std::string& event_id);

  // Opens `sealed` (from event `event_id`, under the key it names) back into `event`. A
  // missing or destroyed key, or ciphertext that does not open, leaves kUnreadablePlaceholder
  // in the fields and returns DATA_LOSS naming the event: readers answer with what they have.
  absl::Status Open(const v1::SealedFields& sealed, const std::string& event_id,
                    v1::Event& event);

  // Writes `placeholder` into every sealed string field of `event` (a repeated string field
  // holds one placeholder). Sealed fields of other types (amounts) stay cleared, and their
  // paths are added to `cleared` once each, so a reader can mark them.
  static void Placeholders(const v1::SealedFields& sealed, std::string_view placeholder,
                           v1::Event& event,
                           google::protobuf::RepeatedPtrField<std::string>* cleared = nullptr);

  KeyStore* keys() const { return keys_; }

 private:
  absl::StatusOr<std::optional<v1::SealedFields>> SealPart(v1::SealKey key, v1::Event& event,
                                                           const std::string& subject,
                                                           const std::string& event_id);

  KeyStore* keys_;
};

}  // namespace perfledger
