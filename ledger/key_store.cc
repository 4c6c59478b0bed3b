#include "ledger/key_store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ledger/limits.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "rocksdb/transaction_log.h"
#include "rocksdb/write_batch.h"

namespace perfledger {
namespace {

constexpr char kLiveTag = 'K';
constexpr std::string_view kTombstone = "X";
// HMAC-SHA256(KEK, kKekCheckLabel): tells the store's KEK from any other without revealing it.
constexpr char kKekCheckRow[] = "meta/kek-check";
constexpr std::string_view kKekCheckLabel = "perfledger key store: key-encryption key check";
constexpr char kCountsRowPrefix[] = "meta/counts/";
constexpr size_t kKekHexChars = 2 * crypto::kKeyBytes;

// Destroy's purge retries while a concurrent read still pins an obsolete file: the read
// releases it within microseconds, a scan within its own duration.
constexpr int kPurgeAttempts = 50;
constexpr auto kPurgeRetryWait = std::chrono::milliseconds(20);

// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::string_view Name(KeyPurpose purpose) { return Sv(KeyPurposeName(purpose)); }

size_t Index(KeyPurpose purpose) { return static_cast<size_t>(purpose); }

std::string RowKey(KeyPurpose purpose, std::string_view subject) {
  return absl::StrCat(Name(purpose), "/", Sv(subject));
}

std::string CountsRow(KeyPurpose purpose) {
  return absl::StrCat(kCountsRowPrefix, Name(purpose));
}

absl::Status CheckSubject(std::string_view subject) {
  if (subject.empty()) return absl::InvalidArgumentError("key subject is empty");
  if (subject.size() > limits::kIdBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("key subject of ", subject.size(),
                                                   " bytes exceeds kIdBytesMax (",
                                                   limits::kIdBytesMax, ")"));
  }
  return absl::OkStatus();
}

absl::Status Destroyed(KeyPurpose purpose, std::string_view subject) {
  return absl::FailedPreconditionError(
      absl::StrCat(Name(purpose), " key of ", Sv(subject), " was destroyed"));
}

absl::Status KekFileError(absl::string_view path, absl::string_view problem) {
  return absl::FailedPreconditionError(absl::StrCat("kek_file ", path, ": ", problem));
}

absl::Status KekFileIoError(absl::string_view path, absl::string_view doing, int err) {
  return absl::UnavailableError(
      absl::StrCat("kek_file ", path, ": cannot ", doing, ": ", std::strerror(err)));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Writes the row that persists `counts` of `purpose` into `batch`.
void PutCounts(rocksdb::WriteBatch& batch, KeyPurpose purpose, const KeyCounts& counts) {
  std::string value;
  PutBigEndian64(value, counts.live);
  PutBigEndian64(value, counts.destroyed);
  batch.Put(CountsRow(purpose), value);
}

// The KEK in `path`, or nullopt when there is no such file.
absl::StatusOr<std::optional<crypto::Key>> ReadKekFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return KekFileError(path, absl::StrCat("cannot open: ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return KekFileIoError(path, "stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return KekFileError(path, "is not a regular file");
  }
  // Like ssh with its private keys: a key others can read (or replace) is not a secret.
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return KekFileError(path, absl::StrFormat("has mode %04o; it must not be accessible to group "
                                              "or others (chmod 600)",
                                              st.st_mode & 07777));
  }
  const off_t size = st.st_size;
  if (size != static_cast<off_t>(kKekHexChars) && size != static_cast<off_t>(kKekHexChars + 1)) {
    close(fd);
    return KekFileError(path, absl::StrCat("holds ", size, " bytes; expected ", kKekHexChars,
                                           " hex characters (", crypto::kKeyBytes,
                                           " bytes) and an optional newline"));
  }
  char text[kKekHexChars + 1];
  size_t got = 0;
  while (got < static_cast<size_t>(size)) {
    const ssize_t n = read(fd, text + got, static_cast<size_t>(size) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;  // shorter than fstat said: changed under us
      close(fd);
      OPENSSL_cleanse(text, sizeof(text));
      return KekFileIoError(path, "read", err);
    }
    got += static_cast<size_t>(n);
  }
  close(fd);
  crypto::Key kek;
  bool ok = got == kKekHexChars || text[kKekHexChars] == '\n';
  for (size_t i = 0; ok && i < crypto::kKeyBytes; i++) {
    const int hi = HexValue(text[2 * i]);
    const int lo = HexValue(text[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    kek[i] = static_cast<uint8_t>(ok ? (hi << 4) | lo : 0);
  }
  OPENSSL_cleanse(text, sizeof(text));
  if (!ok) {
    crypto::Wipe(kek);
    return KekFileError(path, absl::StrCat("expected ", kKekHexChars,
                                           " hex characters and an optional newline; found "
                                           "another character"));
  }
  return kek;
}

// Creates `path` holding `kek`, mode 0600, and syncs it and its directory. ALREADY_EXISTS when
// the file appeared meanwhile (another process created it first).
absl::Status CreateKekFile(const std::string& path, const crypto::Key& kek) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(path);
    return KekFileError(path, absl::StrCat("cannot create: ", std::strerror(errno)));
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  char text[kKekHexChars + 1];
  for (size_t i = 0; i < crypto::kKeyBytes; i++) {
    text[2 * i] = kDigits[kek[i] >> 4];
    text[2 * i + 1] = kDigits[kek[i] & 15];
  }
  text[kKekHexChars] = '\n';
  size_t put = 0;
  int err = 0;
  while (put < sizeof(text) && err == 0) {
    const ssize_t n = write(fd, text + put, sizeof(text) - put);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n > 0) put += static_cast<size_t>(n);
  }
  OPENSSL_cleanse(text, sizeof(text));
  if (err == 0 && fsync(fd) != 0) err = errno;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    // A partial file would be refused by every later Open; nothing was wrapped under it yet.
    unlink(path.c_str());
    return KekFileIoError(path, "write", err);
  }
  // The file's directory entry must be durable before any key is wrapped under the KEK.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return KekFileIoError(path, absl::StrCat("open directory ", dir), errno);
  err = fsync(dir_fd) == 0 ? 0 : errno;
  close(dir_fd);
  if (err != 0) return KekFileIoError(path, absl::StrCat("sync directory ", dir), err);
  return absl::OkStatus();
}

// The number of a RocksDB file named "<digits><suffix>", or nullopt for other names.
std::optional<uint64_t> FileNumber(std::string_view name, std::string_view suffix) {
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  uint64_t number = 0;
  if (!absl::SimpleAtoi(Sv(name.substr(0, name.size() - suffix.size())), &number)) {
    return std::nullopt;
  }
  return number;
}

// The names in `dir` (none for a missing directory). The range-for form of directory_iterator
// throws on errors; this one returns them.
absl::StatusOr<std::vector<std::string>> ListDir(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return names;
  std::filesystem::directory_iterator it(dir, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) return absl::UnavailableError(absl::StrCat("list ", dir.string(), ": ", ec.message()));
  return names;
}

}  // namespace

std::string_view KeyPurposeName(KeyPurpose purpose) {
  switch (purpose) {
    case KeyPurpose::kPersonal:
      return "personal";
    case KeyPurpose::kRetained:
      return "retained";
  }
  PL_CHECK(false);  // an enum value out of range
  return {};
}

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const KeyStoreOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("key store: dir is not set");
  if (options.kek_file.empty()) {
    return absl::InvalidArgumentError("key store: kek_file is not set");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create key store directory ", options.dir, ": ", ec.message()));
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  // Wrapped keys are random bytes that do not compress; uncompressed, a test can also prove by
  // searching the files that a destroyed key is gone.
  db_options.compression = rocksdb::kNoCompression;
  db_options.bottommost_compression = rocksdb::kNoCompression;
  // Destroy relies on an obsolete WAL file being deleted, not archived (WAL_ttl_seconds and
  // WAL_size_limit_MB both 0) nor reused with its old records still in it (recycling).
  db_options.WAL_ttl_seconds = 0;
  db_options.WAL_size_limit_MB = 0;
  db_options.recycle_log_file_num = 0;

  auto store = std::unique_ptr<KeyStore>(new KeyStore());
  store->dir_ = options.dir;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, options.dir, &raw),
                            absl::StrCat("open key store ", options.dir)));
  store->db_.reset(raw);

  std::string check;
  const rocksdb::Status read_check =
      store->db_->Get(rocksdb::ReadOptions(), std::string(kKekCheckRow), &check);
  if (!read_check.ok() && !read_check.IsNotFound()) {
    return FromRocks(read_check,
                     absl::StrCat("read ", kKekCheckRow, " of key store ", options.dir));
  }
  const bool has_kek = read_check.ok();

  ASSIGN_OR_RETURN(std::optional<crypto::Key> kek, ReadKekFile(options.kek_file));
  if (!kek.has_value()) {
    if (has_kek) {
      return KekFileError(options.kek_file,
                          absl::StrCat("is absent, but the key store at ", options.dir,
                                       " holds keys wrapped under it; restore the file (a new "
                                       "key-encryption key would lose every key)"));
    }
    ASSIGN_OR_RETURN(crypto::Key fresh, crypto::NewKey());
    absl::Status created = CreateKekFile(options.kek_file, fresh);
    crypto::Wipe(fresh);
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
    ASSIGN_OR_RETURN(kek, ReadKekFile(options.kek_file));
    if (!kek.has_value()) return KekFileError(options.kek_file, "vanished after it was created");
  }
  store->kek_ = *kek;
  crypto::Wipe(*kek);

  const std::string expected = crypto::HmacSha256(store->kek_, kKekCheckLabel);
  if (has_kek) {
    if (check.size() != expected.size() ||
        CRYPTO_memcmp(check.data(), expected.data(), expected.size()) != 0) {
      return KekFileError(options.kek_file,
                          absl::StrCat("does not hold the key-encryption key of the key store at ",
                                       options.dir));
    }
  } else {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    RETURN_IF_ERROR(FromRocks(store->db_->Put(sync, std::string(kKekCheckRow), expected),
                              absl::StrCat("write ", kKekCheckRow, " of key store ", options.dir)));
  }

  for (KeyPurpose purpose : {KeyPurpose::kPersonal, KeyPurpose::kRetained}) {
    const std::string row = CountsRow(purpose);
    std::string value;
    const rocksdb::Status s = store->db_->Get(rocksdb::ReadOptions(), row, &value);
    if (s.IsNotFound()) continue;
    RETURN_IF_ERROR(FromRocks(s, absl::StrCat("read ", row, " of key store ", options.dir)));
    if (value.size() != 16) {
      return absl::DataLossError(absl::StrCat("key store ", options.dir, ": ", row, " holds ",
                                              value.size(), " bytes, not 16"));
    }
    const std::string_view bytes = value;
    store->counts_[Index(purpose)] = {.live = GetBigEndian64(bytes),
                                      .destroyed = GetBigEndian64(bytes.substr(8))};
  }
  return store;
}

KeyStore::~KeyStore() {
  if (db_) db_->Close().PermitUncheckedError();
  for (auto& [row, key] : cache_) crypto::Wipe(key);
  crypto::Wipe(kek_);
}

absl::StatusOr<KeyStore::Row> KeyStore::ReadRow(const std::string& row_key) {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), row_key, &value);
  Row row;
  if (s.IsNotFound()) return row;
  RETURN_IF_ERROR(FromRocks(s, absl::StrCat("read key row ", row_key)));
  if (value == kTombstone) {
    row.state = KeyState::kDestroyed;
  } else if (value.size() > 1 && value[0] == kLiveTag) {
    row.state = KeyState::kLive;
    row.wrapped = value.substr(1);
  } else {
    return absl::DataLossError(absl::StrCat("key row ", row_key, ": a value of ", value.size(),
                                            " bytes is neither a wrapped key nor a tombstone"));
  }
  return row;
}

absl::StatusOr<crypto::Key> KeyStore::Lookup(const std::string& row_key,
                                             std::string_view subject, KeyPurpose purpose) {
  uint64_t epoch = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(row_key);
    if (it != cache_.end()) return it->second;
    epoch = epoch_;
  }
  ASSIGN_OR_RETURN(Row row, ReadRow(row_key));
  switch (row.state) {
    case KeyState::kAbsent:
      return absl::NotFoundError(
          absl::StrCat("no ", Name(purpose), " key of ", Sv(subject)));
    case KeyState::kDestroyed:
      return Destroyed(purpose, subject);
    case KeyState::kLive:
      break;
  }
  ASSIGN_OR_RETURN(crypto::Key key, crypto::UnwrapKey(kek_, row.wrapped, row_key));
  CacheKey(row_key, key, epoch);
  return key;
}

void KeyStore::CacheKey(const std::string& row_key, const crypto::Key& key, uint64_t epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (epoch != epoch_) return;
  if (cache_.size() >= limits::kKeyCacheEntriesMax) {
    // Dropping everything is as good as any eviction order for keys read once per event, and
    // costs nothing between drops.
    for (auto& [row, cached] : cache_) crypto::Wipe(cached);
    cache_.clear();
  }
  cache_.try_emplace(row_key, key);
}

absl::StatusOr<crypto::Key> KeyStore::Get(std::string_view subject, KeyPurpose purpose) {
  RETURN_IF_ERROR(CheckSubject(subject));
  return Lookup(RowKey(purpose, subject), subject, purpose);
}

absl::StatusOr<crypto::Key> KeyStore::GetOrCreate(std::string_view subject, KeyPurpose purpose) {
  RETURN_IF_ERROR(CheckSubject(subject));
  const std::string row_key = RowKey(purpose, subject);
  absl::StatusOr<crypto::Key> found = Lookup(row_key, subject, purpose);
  if (!absl::IsNotFound(found.status())) return found;

  // Absent when looked up; under write_mu_ it either still is and is created here, or a
  // concurrent call created it first and its key is the one returned.
  std::lock_guard<std::mutex> write_lock(write_mu_);
  found = Lookup(row_key, subject, purpose);
  if (!absl::IsNotFound(found.status())) return found;

  ASSIGN_OR_RETURN(crypto::Key key, crypto::NewKey());
  absl::StatusOr<std::string> wrapped = crypto::WrapKey(kek_, key, row_key);
  if (!wrapped.ok()) {
    crypto::Wipe(key);
    return wrapped.status();
  }
  KeyCounts counts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts = counts_[Index(purpose)];
  }
  counts.live++;
  rocksdb::WriteBatch batch;
  std::string value(1, kLiveTag);
  value += *wrapped;
  batch.Put(row_key, value);
  PutCounts(batch, purpose, counts);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  absl::Status written =
      FromRocks(db_->Write(sync, &batch), absl::StrCat("store key row ", row_key));
  if (!written.ok()) {
    crypto::Wipe(key);
    return written;
  }
  uint64_t epoch = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts_[Index(purpose)] = counts;
    epoch = epoch_;  // no Destroy runs while write_mu_ is held
  }
  CacheKey(row_key, key, epoch);
  return key;
}

absl::StatusOr<KeyState> KeyStore::State(std::string_view subject, KeyPurpose purpose) {
  RETURN_IF_ERROR(CheckSubject(subject));
  const std::string row_key = RowKey(purpose, subject);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.contains(row_key)) return KeyState::kLive;
  }
  ASSIGN_OR_RETURN(Row row, ReadRow(row_key));
  return row.state;
}

KeyCounts KeyStore::Counts(KeyPurpose purpose) {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_[Index(purpose)];
}

absl::Status KeyStore::Destroy(std::string_view subject, KeyPurpose purpose) {
  RETURN_IF_ERROR(CheckSubject(subject));
  const std::string row_key = RowKey(purpose, subject);
  {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    ASSIGN_OR_RETURN(Row row, ReadRow(row_key));
    if (row.state != KeyState::kDestroyed) {
      KeyCounts counts;
      {
        std::lock_guard<std::mutex> lock(mu_);
        counts = counts_[Index(purpose)];
      }
      if (row.state == KeyState::kLive) counts.live--;
      counts.destroyed++;
      rocksdb::WriteBatch batch;
      batch.Put(row_key, kTombstone);
      PutCounts(batch, purpose, counts);
      rocksdb::WriteOptions sync;
      sync.sync = true;
      RETURN_IF_ERROR(
          FromRocks(db_->Write(sync, &batch), absl::StrCat("write tombstone of ", row_key)));
      std::lock_guard<std::mutex> lock(mu_);
      counts_[Index(purpose)] = counts;
      // A lookup that read the live row before the tombstone was written must not cache it.
      epoch_++;
      auto it = cache_.find(row_key);
      if (it != cache_.end()) {
        crypto::Wipe(it->second);
        cache_.erase(it);
      }
    }
  }
  return Purge(absl::StrCat("destroy ", Name(purpose), " key of ", Sv(subject)));
}

absl::Status KeyStore::Purge(const std::string& what) {
  std::lock_guard<std::mutex> purge_lock(purge_mu_);
  // The memtable goes to an SST file (a flush keeps only the newest version of each row), and
  // the WAL files that held the older versions become obsolete.
  rocksdb::FlushOptions flush;
  flush.wait = true;
  flush.allow_write_stall = true;
  RETURN_IF_ERROR(FromRocks(db_->Flush(flush), absl::StrCat(what, ": flush")));
  std::unique_ptr<rocksdb::LogFile> wal;
  RETURN_IF_ERROR(FromRocks(db_->GetCurrentWalFile(&wal), absl::StrCat(what, ": find the WAL")));
  const uint64_t wal_current = wal->LogNumber();
  // Every SST file on disk now is an input of the compaction below: a forced compaction of the
  // bottommost level rewrites each file, keeping the newest version of each row only (the store
  // takes no snapshots), and the inputs become obsolete.
  uint64_t sst_max = 0;
  ASSIGN_OR_RETURN(const std::vector<std::string> names, ListDir(dir_));
  for (const std::string& name : names) {
    const std::optional<uint64_t> n = FileNumber(name, ".sst");
    if (n.has_value()) sst_max = std::max(sst_max, *n);
  }
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  compact.exclusive_manual_compaction = true;
  RETURN_IF_ERROR(
      FromRocks(db_->CompactRange(compact, nullptr, nullptr), absl::StrCat(what, ": compact")));

  // Obsolete files go when no reader pins them any more. Re-enabling file deletions deletes
  // every obsolete file before it returns, here in this thread.
  std::vector<std::string> leftovers;
  for (int attempt = 0; attempt < kPurgeAttempts; attempt++) {
    if (attempt > 0) std::this_thread::sleep_for(kPurgeRetryWait);
    RETURN_IF_ERROR(FromRocks(db_->DisableFileDeletions(), absl::StrCat(what, ": purge")));
    RETURN_IF_ERROR(FromRocks(db_->EnableFileDeletions(/*force=*/false),
                              absl::StrCat(what, ": purge")));
    ASSIGN_OR_RETURN(leftovers, Leftovers(sst_max, wal_current));
    if (leftovers.empty()) return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(what, ": files that may hold the old key remain in ",
                                             dir_, " (", absl::StrJoin(leftovers, ", "),
                                             "); Destroy again to finish"));
}

absl::StatusOr<std::vector<std::string>> KeyStore::Leftovers(uint64_t sst_max,
                                                            uint64_t wal_current) {
  std::vector<std::string> leftovers;
  ASSIGN_OR_RETURN(const std::vector<std::string> names, ListDir(dir_));
  for (const std::string& name : names) {
    const std::optional<uint64_t> sst = FileNumber(name, ".sst");
    const std::optional<uint64_t> wal = FileNumber(name, ".log");
    if ((sst.has_value() && *sst <= sst_max) || (wal.has_value() && *wal < wal_current)) {
      leftovers.push_back(name);
    }
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> archived,
                   ListDir(std::filesystem::path(dir_) / "archive"));
  for (const std::string& name : archived) leftovers.push_back(absl::StrCat("archive/", name));
  return leftovers;
}

}  // namespace perfledger
