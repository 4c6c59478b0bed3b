#include "ledger/hash_chain.h"

#include <openssl/evp.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "ledger/status_macros.h"

namespace perfledger {

const std::string& GenesisHash() {
  static const std::string* kGenesis = new std::string(kHashBytes, '\0');
  return *kGenesis;
}

std::string Sha256(std::string_view data) {
  // OpenSSL 3's one-shot SHA256() looks the algorithm up and allocates a context on every call,
  // which cost as much as hashing a 400-byte event. Fetch once; one context per thread.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  std::string out(kHashBytes, '\0');
  unsigned int len = 0;
  const bool ok = kSha256 != nullptr && ctx != nullptr &&
                  EVP_DigestInit_ex2(ctx.get(), kSha256, nullptr) == 1 &&
                  EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()),
                                     &len) == 1 &&
                  len == kHashBytes;
  // Hashing in memory fails only when OpenSSL itself is broken; a chain must never be sealed
  // with a wrong hash.
  PL_CHECK(ok);
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

namespace {

std::string CanonicalBytes(const v1::Envelope& e) {
  // Copy the header only: clearing the payload before the copy keeps this cheap for big events.
  v1::Envelope header;
  header.CopyFrom(e);
  header.clear_hash();
  header.clear_position();
  header.clear_payload();
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    header.SerializeToCodedStream(&coded);
  }
  return out;
}

}  // namespace

std::string ComputeHash(const v1::Envelope& e) {
  return Sha256(e.prev_hash() + CanonicalBytes(e));
}

void SealEnvelope(v1::Envelope& e, const std::string& prev_hash, uint64_t sequence) {
  e.set_payload_sha256(Sha256(e.payload()));
  e.set_prev_hash(prev_hash);
  e.set_sequence(sequence);
  // Hot path of every append: move the payload and position aside instead of copying the
  // envelope, serialize the header, and put them back.
  std::string payload;
  payload.swap(*e.mutable_payload());
  v1::Position position;
  position.Swap(e.mutable_position());
  e.clear_position();
  e.clear_hash();
  std::string canonical = prev_hash;
  {
    google::protobuf::io::StringOutputStream stream(&canonical);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&coded);
  }
  e.set_hash(Sha256(canonical));
  e.mutable_payload()->swap(payload);
  e.mutable_position()->Swap(&position);
}

std::string ComputeHashInPlace(v1::Envelope& e) {
  std::string payload;
  payload.swap(*e.mutable_payload());
  std::string hash;
  hash.swap(*e.mutable_hash());
  const bool had_position = e.has_position();
  v1::Position position;
  if (had_position) position.Swap(e.mutable_position());
  e.clear_position();
  std::string canonical = e.prev_hash();
  {
    google::protobuf::io::StringOutputStream stream(&canonical);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&coded);
  }
  e.mutable_payload()->swap(payload);
  e.mutable_hash()->swap(hash);
  if (had_position) e.mutable_position()->Swap(&position);
  return Sha256(canonical);
}

absl::Status VerifyLink(const v1::Envelope& e, const std::string& expected_prev,
                        uint64_t expected_sequence) {
  auto where = [&] {
    return absl::StrFormat("partition %d offset %d (event %s)", e.position().partition(),
                           e.position().offset(), e.event_id());
  };
  if (e.sequence() != expected_sequence) {
    return absl::DataLossError(absl::StrFormat("%s: sequence is %d, expected %d", where(),
                                               e.sequence(), expected_sequence));
  }
  if (e.prev_hash() != expected_prev) {
    return absl::DataLossError(
        absl::StrCat(where(), ": prev_hash does not match the previous event's hash"));
  }
  if (!e.payload().empty() && Sha256(e.payload()) != e.payload_sha256()) {
    return absl::DataLossError(absl::StrCat(where(), ": payload does not match payload_sha256"));
  }
  if (ComputeHash(e) != e.hash()) {
    return absl::DataLossError(absl::StrCat(where(), ": hash does not match the envelope"));
  }
  return absl::OkStatus();
}

}  // namespace perfledger
