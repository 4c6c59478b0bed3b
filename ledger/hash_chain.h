// The per-partition hash chain of ARCHITECTURE §8.
//
//   hash = SHA-256(prev_hash || canonical bytes)
//
// The canonical bytes are the deterministic protobuf serialization of the envelope with `hash`,
// `position` and `payload` cleared; `payload_sha256` stands in for the payload so that a
// crypto-shredded payload still verifies, and `position` is left out because Kafka assigns
// offsets after the hash is fixed. Thread-safe: all functions are pure.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "perfledger/v1/envelope.pb.h"

namespace perfledger {

inline constexpr size_t kHashBytes = 32;

// 32 zero bytes: the prev_hash of the first event of a partition.
const std::string& GenesisHash();

// SHA-256 of arbitrary bytes (raw 32 bytes).
std::string Sha256(std::string_view data);

// Lower-case hex of bytes.
std::string ToHex(std::string_view bytes);

// Fills payload_sha256 from payload, then prev_hash, sequence and hash.
void SealEnvelope(v1::Envelope& e, const std::string& prev_hash, uint64_t sequence);

// The hash an envelope should carry given its own fields (prev_hash included).
std::string ComputeHash(const v1::Envelope& e);

// ComputeHash for a hot loop: moves the payload, position and hash aside instead of copying the
// envelope, and puts them back (`e` is unchanged on return). Used by the chain verifier, which
// checks a million events in seconds only if it does not copy each one.
std::string ComputeHashInPlace(v1::Envelope& e);

// Checks one link: payload digest matches (unless the payload was shredded, i.e. empty),
// prev_hash equals `expected_prev` and hash equals ComputeHash. DATA_LOSS naming the field
// that disagrees otherwise.
absl::Status VerifyLink(const v1::Envelope& e, const std::string& expected_prev,
                        uint64_t expected_sequence);

}  // namespace perfledger
