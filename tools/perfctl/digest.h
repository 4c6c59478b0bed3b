// SHA-256 for idempotency keys. Keys must be stable across runs, machines and releases, which
// rules out std::hash and absl::Hash (both are seeded or unspecified).
#ifndef PERFLEDGER_TOOLS_PERFCTL_DIGEST_H_
#define PERFLEDGER_TOOLS_PERFCTL_DIGEST_H_

#include <memory>
#include <string>

namespace perfctl {

// Incremental SHA-256. Not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const std::string& bytes) { Update(bytes.data(), bytes.size()); }
  void Update(const char* data, size_t size);
  // Lower-case hex of the 32-byte digest. The object must not be used afterwards.
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(const std::string& bytes);

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_DIGEST_H_
