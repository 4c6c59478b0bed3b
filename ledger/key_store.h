// The data keys of crypto-shredding, one per subject and purpose, kept outside the event log:
// the log is immutable and replicated, so erasing a subject means destroying its key here, which
// leaves every value sealed under it in the log unreadable (crypto.h).
//
// Layout: one RocksDB under `dir`. Row "<purpose>/<subject>" holds 'K' || the data key wrapped
// under the key-encryption key (crypto::WrapKey, the row name bound as aad), or the tombstone
// 'X' once the key is destroyed: a destroyed key is never silently replaced by a new one, which
// would let later events of an erased subject be sealed and read again. Rows "meta/..." hold a
// MAC that recognizes the key-encryption key and the counts of Counts(). Every write is synced.
//
// The key-encryption key (KEK) lives in `kek_file`, apart from the store, as 64 hex characters
// and an optional newline; a copy of the store is useless without it. Open creates the file
// with a fresh random KEK (mode 0600, file and directory synced) when it is absent and the store
// has never had one. A crash while it is written can leave it short; Open refuses it then, and
// as nothing was wrapped under it yet, deleting it is safe. Once keys exist, losing the file
// loses every key.
//
// Destroy and what remains: after Destroy returns, the wrapped key is in no file under `dir`
// (the memtable is flushed, the whole key space compacted with its older versions dropped, and
// the WAL and SST files that held them deleted; Destroy checks that they are gone). Out of its
// reach: backups or copies of `dir` taken earlier still hold the wrapped key, readable by anyone
// who also holds the KEK; disk blocks of deleted files are not overwritten; and copies of the
// key that callers hold in memory (Get returns a value) are theirs to Wipe.
//
// Thread safety: thread-safe. Creation and destruction are serialized; concurrent first
// GetOrCreate calls for one subject return the same key. Reads of cached keys take one mutex.
//
// Errors: subject ids are checked (INVALID_ARGUMENT when empty or longer than
// limits::kIdBytesMax). RocksDB errors map through FromRocks (rocks_util.h): I/O errors are
// UNAVAILABLE, corruption is DATA_LOSS. A row that does not decode or a wrapped key that does
// not unwrap is DATA_LOSS naming the row.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ledger/crypto.h"
#include "rocksdb/db.h"

namespace perfledger {

enum class KeyPurpose {
  // Seals a subject's identity and conversation data; destroyed when the subject is erased.
  kPersonal,
  // Seals compensation records kept under a legal retention duty; destroyed when the retention
  // period ends, which may be long after the subject's erasure.
  kRetained,
};

// "personal", "retained": the purpose's part of a row name and of messages.
std::string_view KeyPurposeName(KeyPurpose purpose);

enum class KeyState {
  kAbsent,     // never created (nor destroyed)
  kLive,
  kDestroyed,  // a tombstone: the key is gone and is not created again
};

struct KeyStoreOptions {
  // Directory of the RocksDB database; created if missing.
  std::string dir;
  // The KEK file (see above); its directory must exist. Keep it off the volume of `dir` and of
  // its backups.
  std::string kek_file;
};

// Keys of one purpose, as of now.
struct KeyCounts {
  uint64_t live = 0;
  uint64_t destroyed = 0;  // tombstones, those of subjects that never had a key included
};

class KeyStore {
 public:
  // Opens or creates the store at options.dir and loads, or creates, the KEK. INVALID_ARGUMENT
  // when either option is empty. FAILED_PRECONDITION naming `kek_file` and its path when the
  // file has group or other permission bits, is not a regular file, is not 64 hex characters
  // (and an optional newline), cannot be opened or created, holds a KEK other than the one the
  // store was created with, or is absent while the store has keys. UNAVAILABLE when it cannot be
  // read or written. The store's errors as above.
  static absl::StatusOr<std::unique_ptr<KeyStore>> Open(const KeyStoreOptions& options);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // The subject's key of `purpose`, created, wrapped and durably stored first if there is none.
  // FAILED_PRECONDITION "<purpose> key of <subject> was destroyed" for a destroyed key.
  absl::StatusOr<crypto::Key> GetOrCreate(std::string_view subject, KeyPurpose purpose);

  // The subject's key of `purpose`. NOT_FOUND when none was ever created, FAILED_PRECONDITION
  // when it was destroyed.
  absl::StatusOr<crypto::Key> Get(std::string_view subject, KeyPurpose purpose);

  // Whether the subject's key of `purpose` exists. Errors: the store's only.
  absl::StatusOr<KeyState> State(std::string_view subject, KeyPurpose purpose);

  // Destroys the subject's key of `purpose` and purges every stored copy (see above); leaves a
  // tombstone even when no key was ever created, so none is created later. Idempotent: calling
  // it again for a destroyed key purges again. Once the tombstone is written the key is
  // destroyed for every caller; when the purge that follows fails or cannot confirm that the
  // old files are gone (a long read pins them), the error is UNAVAILABLE and calling Destroy
  // again finishes it. Takes as long as rewriting the whole store.
  absl::Status Destroy(std::string_view subject, KeyPurpose purpose);

  // Live and destroyed keys of `purpose`, for status pages and metrics. Kept with the rows, so
  // they survive restarts; never reads the store.
  KeyCounts Counts(KeyPurpose purpose);

  const std::string& dir() const { return dir_; }

 private:
  KeyStore() = default;

  // What a row holds: its state and, when live, the wrapped key.
  struct Row {
    KeyState state = KeyState::kAbsent;
    std::string wrapped;
  };
  absl::StatusOr<Row> ReadRow(const std::string& row_key);
  // The cached key of `row_key`, or the stored one (unwrapped and cached). NOT_FOUND when
  // absent, FAILED_PRECONDITION when destroyed.
  absl::StatusOr<crypto::Key> Lookup(const std::string& row_key, std::string_view subject,
                                     KeyPurpose purpose);
  // Caches `key` unless a Destroy ran since `epoch` was read (it may have been this key's).
  void CacheKey(const std::string& row_key, const crypto::Key& key, uint64_t epoch);
  // Flushes, compacts, deletes the obsolete files and checks that none from before is left;
  // `what` names the Destroy in errors.
  absl::Status Purge(const std::string& what);
  // Files under dir_ that may still hold rows overwritten before the purge: SST files numbered
  // up to `sst_max`, WAL files numbered below `wal_current`, any archived WAL file.
  absl::StatusOr<std::vector<std::string>> Leftovers(uint64_t sst_max, uint64_t wal_current);

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  crypto::Key kek_{};

  // Guards cache_, epoch_ and counts_. Never held across a RocksDB call.
  std::mutex mu_;
  absl::flat_hash_map<std::string, crypto::Key> cache_;  // row name → unwrapped key
  uint64_t epoch_ = 0;                                   // Destroys so far
  KeyCounts counts_[2];                                  // by KeyPurpose

  // Serializes the writes of rows (creation, destruction): a check for a row and the write that
  // follows it happen as one step.
  std::mutex write_mu_;
  // Serializes purges: two whole-store compactions at once would only redo each other's work.
  std::mutex purge_mu_;
};

}  // namespace perfledger
