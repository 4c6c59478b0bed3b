// The cryptography behind crypto-shredding: personal data goes into the log sealed under a key
// of its subject (AES-256-GCM), the keys live outside the log (key_store.h), and destroying a
// key leaves the sealed bytes in the log unreadable while the hash chain still verifies.
//
// Sealed format (version 1):
//
//   version (1 byte, = 1) || nonce (12 random bytes) || ciphertext || tag (16 bytes)
//
// `aad` is authenticated but not stored: Open needs the same bytes Seal was given, which binds
// a sealed value to its context (an event id, a field name) so it cannot be moved elsewhere.
// Nonces are random, so one key seals at most 2^32 values before a nonce collision becomes a
// real risk (NIST SP 800-38D §8.3); a key per subject and purpose stays far below that.
//
// Thread safety: every function is thread-safe (no shared mutable state). A Key is a plain
// value: copies are not wiped when they go out of scope, so code that keeps one for long calls
// Wipe when done with it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace perfledger::crypto {

// AES-256-GCM and HMAC-SHA256 sizes: properties of the algorithms, not tunable limits.
inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;
inline constexpr size_t kMacBytes = 32;
inline constexpr uint8_t kSealVersion = 1;
// Bytes Seal adds to the plaintext.
inline constexpr size_t kSealOverheadBytes = 1 + kNonceBytes + kTagBytes;

using Key = std::array<uint8_t, kKeyBytes>;

// A fresh random key from OpenSSL's CSPRNG. INTERNAL when the generator fails (not seeded).
absl::StatusOr<Key> NewKey();

// Overwrites the key's bytes so that they do not outlive their use in memory.
void Wipe(Key& key);

// Encrypts and authenticates `plaintext` (and authenticates `aad`) under `key` with a fresh
// random nonce; two seals of the same input differ. INTERNAL when OpenSSL fails (no random
// bytes); never fails on input.
absl::StatusOr<std::string> Seal(const Key& key, std::string_view plaintext,
                                 std::string_view aad);

// Checks and decrypts what Seal returned. DATA_LOSS naming what is wrong when `sealed` is
// shorter than the format, has an unknown version, or its tag does not verify (wrong key, other
// aad, or altered bytes: GCM cannot tell these apart). Never returns unauthenticated plaintext.
absl::StatusOr<std::string> Open(const Key& key, std::string_view sealed, std::string_view aad);

// HMAC-SHA256 of `data` under `key`: kMacBytes raw bytes.
std::string HmacSha256(const Key& key, std::string_view data);

// A key derived from `key` for one use named by `label` (HMAC-SHA256(key, label)), e.g. the MAC
// key of a data key: one stored key serves several purposes without reusing its bytes.
Key DeriveKey(const Key& key, std::string_view label);

// Wraps a data key `dek` under a key-encryption key `kek`: Seal of the key's bytes with
// `key_id` (the name of the row that stores it) bound as aad, so a wrapped key copied to another
// row does not unwrap.
absl::StatusOr<std::string> WrapKey(const Key& kek, const Key& dek, std::string_view key_id);

// The data key WrapKey wrapped. DATA_LOSS when `wrapped` does not open under `kek` and `key_id`
// (see Open) or does not hold exactly kKeyBytes.
absl::StatusOr<Key> UnwrapKey(const Key& kek, std::string_view wrapped, std::string_view key_id);

}  // namespace perfledger::crypto
