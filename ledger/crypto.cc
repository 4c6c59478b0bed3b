#include "ledger/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "ledger/status_macros.h"

namespace perfledger::crypto {
namespace {

// OpenSSL 3 looks an algorithm up by name on every implicit fetch; fetch each once.
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const kCipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return kCipher;
}

EVP_MAC* Hmac() {
  static EVP_MAC* const kMac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return kMac;
}

struct CipherCtxFree {
  // EVP_CIPHER_CTX_free cleanses the key schedule.
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// Wrapped keys are sealed with this before the caller's key id as aad, so that nothing else
// sealed under a key-encryption key can pass for a wrapped key.
constexpr char kWrapAadPrefix[] = "perfledger wrapped key:";

// EVP_*Update takes int lengths; longer inputs go through in pieces of this size.
constexpr size_t kUpdateChunkBytes = size_t{1} << 30;

using EvpUpdate = int (*)(EVP_CIPHER_CTX*, unsigned char*, int*, const unsigned char*, int);

// Runs `update` over `in` in pieces; writes the output to `out` (nullptr: aad, no output).
// Returns the bytes written, or -1 when OpenSSL fails.
int64_t UpdateChunked(EvpUpdate update, EVP_CIPHER_CTX* ctx, std::string_view in,
                      unsigned char* out) {
  int64_t written = 0;
  for (size_t at = 0; at < in.size(); at += kUpdateChunkBytes) {
    const size_t n = std::min(kUpdateChunkBytes, in.size() - at);
    int len = 0;
    if (update(ctx, out == nullptr ? nullptr : out + written, &len,
               reinterpret_cast<const unsigned char*>(in.data() + at),
               static_cast<int>(n)) != 1) {
      return -1;
    }
    written += len;
  }
  return written;
}

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat("OpenSSL failed to ", what));
}

// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string WrapAad(std::string_view key_id) { return absl::StrCat(kWrapAadPrefix, Sv(key_id)); }

}  // namespace

absl::StatusOr<Key> NewKey() {
  Key key;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    return OpenSslError("generate random key bytes");
  }
  return key;
}

void Wipe(Key& key) { OPENSSL_cleanse(key.data(), key.size()); }

absl::StatusOr<std::string> Seal(const Key& key, std::string_view plaintext,
                                 std::string_view aad) {
  std::string out(kSealOverheadBytes + plaintext.size(), '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  bytes[0] = kSealVersion;
  unsigned char* nonce = bytes + 1;
  unsigned char* ciphertext = nonce + kNonceBytes;
  unsigned char* tag = ciphertext + plaintext.size();
  if (RAND_bytes(nonce, static_cast<int>(kNonceBytes)) != 1) {
    return OpenSslError("generate a nonce");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr || Aes256Gcm() == nullptr ||
      EVP_EncryptInit_ex2(ctx.get(), Aes256Gcm(), key.data(), nonce, nullptr) != 1) {
    return OpenSslError("start AES-256-GCM encryption");
  }
  int final_len = 0;
  if (UpdateChunked(EVP_EncryptUpdate, ctx.get(), aad, nullptr) < 0 ||
      UpdateChunked(EVP_EncryptUpdate, ctx.get(), plaintext, ciphertext) !=
          static_cast<int64_t>(plaintext.size()) ||
      EVP_EncryptFinal_ex(ctx.get(), tag, &final_len) != 1 || final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) !=
          1) {
    return OpenSslError("encrypt with AES-256-GCM");
  }
  return out;
}

absl::StatusOr<std::string> Open(const Key& key, std::string_view sealed, std::string_view aad) {
  if (sealed.size() < kSealOverheadBytes) {
    return absl::DataLossError(absl::StrCat("sealed value of ", sealed.size(),
                                            " bytes is shorter than its version, nonce and tag (",
                                            kSealOverheadBytes, " bytes)"));
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  if (bytes[0] != kSealVersion) {
    return absl::DataLossError(
        absl::StrCat("sealed value has unknown format version ", static_cast<int>(bytes[0]),
                     " (expected ", static_cast<int>(kSealVersion), ")"));
  }
  const unsigned char* nonce = bytes + 1;
  const std::string_view ciphertext =
      sealed.substr(1 + kNonceBytes, sealed.size() - kSealOverheadBytes);
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer; copy the tag rather than cast const away.
  unsigned char tag[kTagBytes];
  std::copy_n(bytes + sealed.size() - kTagBytes, kTagBytes, tag);

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr || Aes256Gcm() == nullptr ||
      EVP_DecryptInit_ex2(ctx.get(), Aes256Gcm(), key.data(), nonce, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag) !=
          1) {
    return OpenSslError("start AES-256-GCM decryption");
  }
  std::string plaintext(ciphertext.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  if (UpdateChunked(EVP_DecryptUpdate, ctx.get(), aad, nullptr) < 0 ||
      UpdateChunked(EVP_DecryptUpdate, ctx.get(), ciphertext, out) !=
          static_cast<int64_t>(ciphertext.size())) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return OpenSslError("decrypt with AES-256-GCM");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out + ciphertext.size(), &final_len) != 1) {
    // Decrypted but unauthenticated bytes must not leave here, nor linger in freed memory.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return absl::DataLossError(absl::StrCat(
        "sealed value of ", sealed.size(),
        " bytes does not authenticate: wrong key, other aad, or altered bytes"));
  }
  return plaintext;
}

std::string HmacSha256(const Key& key, std::string_view data) {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(
      Hmac() == nullptr ? nullptr : EVP_MAC_CTX_new(Hmac()));
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  std::string out(kMacBytes, '\0');
  size_t len = 0;
  const bool ok =
      ctx != nullptr && EVP_MAC_init(ctx.get(), key.data(), key.size(), params) == 1 &&
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) == 1 &&
      EVP_MAC_final(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, out.size()) ==
          1 &&
      len == kMacBytes;
  // A MAC over bytes in memory fails only when OpenSSL itself is broken; a wrong MAC must never
  // be returned as a right one.
  PL_CHECK(ok);
  return out;
}

Key DeriveKey(const Key& key, std::string_view label) {
  static_assert(kMacBytes == kKeyBytes, "an HMAC-SHA256 output is one key");
  std::string mac = HmacSha256(key, label);
  Key derived;
  std::copy_n(reinterpret_cast<const uint8_t*>(mac.data()), kKeyBytes, derived.begin());
  OPENSSL_cleanse(mac.data(), mac.size());
  return derived;
}

absl::StatusOr<std::string> WrapKey(const Key& kek, const Key& dek, std::string_view key_id) {
  return Seal(kek,
              std::string_view(reinterpret_cast<const char*>(dek.data()), dek.size()),
              WrapAad(key_id));
}

absl::StatusOr<Key> UnwrapKey(const Key& kek, std::string_view wrapped, std::string_view key_id) {
  absl::StatusOr<std::string> bytes = Open(kek, wrapped, WrapAad(key_id));
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("wrapped key ", Sv(key_id), ": ", bytes.status().message()));
  }
  if (bytes->size() != kKeyBytes) {
    const size_t size = bytes->size();
    OPENSSL_cleanse(bytes->data(), bytes->size());
    return absl::DataLossError(absl::StrCat("wrapped key ", Sv(key_id), " holds ", size,
                                            " bytes, not a key of ", kKeyBytes));
  }
  Key dek;
  std::copy_n(reinterpret_cast<const uint8_t*>(bytes->data()), kKeyBytes, dek.begin());
  OPENSSL_cleanse(bytes->data(), bytes->size());
  return dek;
}

}  // namespace perfledger::crypto
