// Personal data at rest (DESIGN §9, GDPR): an event's identity and conversation fields (the
// (field_class) annotations of events.proto) leave the payload before it is written and travel
// sealed in the envelope under the subject's personal data key (key_store.h); readers open them
// again, or show placeholders once the subject's erasure is in the log.
//
// No plaintext of those fields is written anywhere: not to the log, Kafka, the write model or
// the views, which all fold the payload as stored.
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

// Whether events of this payload type can hold personal data at all (a table built once from
// the annotations: metric observations cannot, and cost nothing).
bool MayHoldPersonalData(const v1::Event& event);

class Sealer {
 public:
  explicit Sealer(KeyStore* keys) : keys_(keys) {}

  // Moves the personal fields of `event` (an event about employee `subject`) into a
  // SealedFields under the subject's personal key, bound to `event_id`. Returns nullopt, with
  // `event` untouched, when none is set. FAILED_PRECONDITION naming the employee when their key
  // was destroyed (they were erased); the store's errors otherwise.
  absl::StatusOr<std::optional<v1::SealedFields>> Seal(v1::Event& event,
                                                       const std::string& subject,
                                                       const std::string& event_id);

  // Opens `sealed` (from the envelope of event `event_id`) back into `event`. A missing or
  // destroyed key, or ciphertext that does not open, leaves kUnreadablePlaceholder in the
  // fields and returns DATA_LOSS naming the event: readers answer with what they have.
  absl::Status Open(const v1::SealedFields& sealed, const std::string& event_id,
                    v1::Event& event);

  // Writes kErasedPlaceholder into every sealed field of `event` (string fields; a repeated
  // string field holds one placeholder).
  static void Placeholders(const v1::SealedFields& sealed, std::string_view placeholder,
                           v1::Event& event);

  KeyStore* keys() const { return keys_; }

 private:
  KeyStore* keys_;
};

}  // namespace perfledger
