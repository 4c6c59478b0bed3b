// Crypto-shredding's building blocks: sealing (ledger/crypto.h), the store of per-subject keys
// (ledger/key_store.h), including the proof that a destroyed key leaves no stored copy, and the
// Sealer that splits an event's fields between a subject's two keys (ledger/sealing.h).
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/crypto.h"
#include "google/protobuf/util/message_differencer.h"
#include "ledger/key_store.h"
#include "ledger/sealing.h"
#include "rocksdb/db.h"
#include "tests/support/temp_dir.h"

namespace perfledger {
namespace {

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

crypto::Key KeyFromBytes(std::string_view bytes) {
  REQUIRE(bytes.size() == crypto::kKeyBytes);
  crypto::Key key;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

std::string_view Bytes(const crypto::Key& key) {
  return std::string_view(reinterpret_cast<const char*>(key.data()), key.size());
}

crypto::Key TestKey() {
  auto key = crypto::NewKey();
  REQUIRE(key.ok());
  return *key;
}

void RequireCode(const absl::Status& s, absl::StatusCode code, std::string_view mentions = "") {
  INFO(s.ToString());
  REQUIRE(s.code() == code);
  CHECK(absl::StrContains(s.message(), absl::string_view(mentions.data(), mentions.size())));
}

// Every regular file under `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, std::string_view needle) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) found.push_back(entry.path().string());
  }
  return found;
}

size_t CountFiles(const std::string& dir, std::string_view suffix) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().ends_with(suffix)) n++;
  }
  return n;
}

// The stored value of a key row, read beside the open store (a read-only open takes no lock).
std::string RawRow(const std::string& dir, const std::string& row) {
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value;
  REQUIRE(db->Get(rocksdb::ReadOptions(), row, &value).ok());
  return value;
}

struct StoreFixture {
  testing::TempDir tmp{"keystore"};
  KeyStoreOptions options{.dir = tmp.Sub("keys"), .kek_file = tmp.Sub("kek")};

  std::unique_ptr<KeyStore> Open() {
    auto store = KeyStore::Open(options);
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(*store);
  }
};

// ---- crypto.h

TEST_CASE("crypto: seal and open round trip", "[crypto]") {
  const crypto::Key key = TestKey();
  for (const std::string& plaintext :
       {std::string(), std::string("Ada Lovelace"), std::string(100'000, 'x')}) {
    auto sealed = crypto::Seal(key, plaintext, "event-1/name");
    REQUIRE(sealed.ok());
    CHECK(sealed->size() == plaintext.size() + crypto::kSealOverheadBytes);
    CHECK(static_cast<uint8_t>((*sealed)[0]) == crypto::kSealVersion);
    auto opened = crypto::Open(key, *sealed, "event-1/name");
    REQUIRE(opened.ok());
    CHECK(*opened == plaintext);
  }
  auto no_aad = crypto::Seal(key, "x", "");
  REQUIRE(no_aad.ok());
  auto opened = crypto::Open(key, *no_aad, "");
  REQUIRE(opened.ok());
  CHECK(*opened == "x");
}

TEST_CASE("crypto: open reads a known AES-256-GCM vector", "[crypto]") {
  // The GCM specification's test case 16 (McGrew & Viega), in the sealed format.
  const crypto::Key key = KeyFromBytes(
      FromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  const std::string sealed =
      std::string(1, static_cast<char>(crypto::kSealVersion)) +
      FromHex("cafebabefacedbaddecaf888") +
      FromHex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3d"
              "a7b08b1056828838c5f61e6393ba7a0abcc9f662") +
      FromHex("76fc6ece0f4e1768cddf8853bb2d551b");
  auto opened = crypto::Open(key, sealed, FromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2"));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  CHECK(Hex(*opened) ==
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
        "49a6b525b16aedf5aa0de657ba637b39");
}

TEST_CASE("crypto: a flipped bit anywhere, another aad or another key does not open",
          "[crypto]") {
  const crypto::Key key = TestKey();
  auto sealed = crypto::Seal(key, "salary 6000000 EUR", "event-7");
  REQUIRE(sealed.ok());
  const size_t tag_at = sealed->size() - crypto::kTagBytes;
  const std::vector<std::pair<const char*, size_t>> positions = {
      {"nonce first", 1},
      {"nonce last", crypto::kNonceBytes},
      {"ciphertext first", 1 + crypto::kNonceBytes},
      {"ciphertext last", tag_at - 1},
      {"tag first", tag_at},
      {"tag last", sealed->size() - 1},
  };
  for (const auto& [name, at] : positions) {
    for (int bit = 0; bit < 8; bit += 7) {
      SECTION(std::string(name) + " bit " + std::to_string(bit)) {
        std::string altered = *sealed;
        altered[at] = static_cast<char>(altered[at] ^ (1 << bit));
        RequireCode(crypto::Open(key, altered, "event-7").status(), absl::StatusCode::kDataLoss,
                    "does not authenticate");
      }
    }
  }
  SECTION("version") {
    std::string altered = *sealed;
    altered[0] = static_cast<char>(altered[0] ^ 1);
    RequireCode(crypto::Open(key, altered, "event-7").status(), absl::StatusCode::kDataLoss,
                "unknown format version");
  }
  SECTION("aad") {
    RequireCode(crypto::Open(key, *sealed, "event-6").status(), absl::StatusCode::kDataLoss,
                "does not authenticate");
    RequireCode(crypto::Open(key, *sealed, "").status(), absl::StatusCode::kDataLoss,
                "does not authenticate");
  }
  SECTION("key") {
    RequireCode(crypto::Open(TestKey(), *sealed, "event-7").status(),
                absl::StatusCode::kDataLoss, "does not authenticate");
  }
}

TEST_CASE("crypto: truncated or extended sealed bytes do not open", "[crypto]") {
  const crypto::Key key = TestKey();
  auto sealed = crypto::Seal(key, "conversation notes", "aad");
  REQUIRE(sealed.ok());
  for (size_t n = 0; n < sealed->size(); n++) {
    const absl::Status s = crypto::Open(key, sealed->substr(0, n), "aad").status();
    INFO("length " << n << ": " << s.ToString());
    CHECK(s.code() == absl::StatusCode::kDataLoss);
    if (n < crypto::kSealOverheadBytes) CHECK(absl::StrContains(s.message(), "shorter"));
  }
  RequireCode(crypto::Open(key, *sealed + "x", "aad").status(), absl::StatusCode::kDataLoss,
              "does not authenticate");
}

TEST_CASE("crypto: two seals of the same input differ", "[crypto]") {
  const crypto::Key key = TestKey();
  auto a = crypto::Seal(key, "same", "aad");
  auto b = crypto::Seal(key, "same", "aad");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(a->substr(1, crypto::kNonceBytes) != b->substr(1, crypto::kNonceBytes));
  CHECK(*crypto::Open(key, *a, "aad") == *crypto::Open(key, *b, "aad"));
  CHECK(*crypto::NewKey() != *crypto::NewKey());
}

TEST_CASE("crypto: hmac-sha256 and derived keys", "[crypto]") {
  crypto::Key key;
  for (size_t i = 0; i < key.size(); i++) key[i] = static_cast<uint8_t>(i);
  CHECK(Hex(crypto::HmacSha256(key, "The quick brown fox jumps over the lazy dog")) ==
        "f87ad256151fc7b4c5dffa4adb3ebe911a8eeb8a8ebdee3c2a4a8e5f5ec02c32");
  CHECK(Hex(crypto::HmacSha256(key, "")) ==
        "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb");
  const crypto::Key mac_key = crypto::DeriveKey(key, "mac");
  CHECK(Bytes(mac_key) == crypto::HmacSha256(key, "mac"));
  CHECK(crypto::DeriveKey(key, "mac") == mac_key);
  CHECK(crypto::DeriveKey(key, "search") != mac_key);
  CHECK(mac_key != key);
}

TEST_CASE("crypto: wrap and unwrap a data key", "[crypto]") {
  const crypto::Key kek = TestKey();
  const crypto::Key dek = TestKey();
  auto wrapped = crypto::WrapKey(kek, dek, "personal/E1");
  REQUIRE(wrapped.ok());
  CHECK(wrapped->find(Bytes(dek)) == std::string::npos);
  auto unwrapped = crypto::UnwrapKey(kek, *wrapped, "personal/E1");
  REQUIRE(unwrapped.ok());
  CHECK(*unwrapped == dek);

  RequireCode(crypto::UnwrapKey(kek, *wrapped, "personal/E2").status(),
              absl::StatusCode::kDataLoss, "personal/E2");
  RequireCode(crypto::UnwrapKey(TestKey(), *wrapped, "personal/E1").status(),
              absl::StatusCode::kDataLoss, "does not authenticate");
  // A value sealed under the KEK for another use is not a wrapped key, even with the same aad.
  auto sealed = crypto::Seal(kek, Bytes(dek), "personal/E1");
  REQUIRE(sealed.ok());
  RequireCode(crypto::UnwrapKey(kek, *sealed, "personal/E1").status(),
              absl::StatusCode::kDataLoss);
}

// ---- key_store.h: the KEK file

TEST_CASE("key store: creates the KEK file with mode 0600 and 64 hex characters", "[key_store]") {
  StoreFixture f;
  crypto::Key key;
  {
    auto store = f.Open();
    auto created = store->GetOrCreate("E1", KeyPurpose::kPersonal);
    REQUIRE(created.ok());
    key = *created;
  }
  struct stat st;
  REQUIRE(stat(f.options.kek_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  std::ifstream in(f.options.kek_file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(text.size() == 65);
  CHECK(text.back() == '\n');
  CHECK(text.find_first_not_of("0123456789abcdef") == 64);
  // The file is the KEK: the store reopens with it and unwraps the same key.
  auto store = f.Open();
  CHECK(*store->Get("E1", KeyPurpose::kPersonal) == key);
}

TEST_CASE("key store: accepts a KEK file without newline and in upper case", "[key_store]") {
  StoreFixture f;
  const std::string path = f.tmp.WriteFile("kek", std::string(64, 'A'));
  REQUIRE(chmod(path.c_str(), 0400) == 0);
  auto store = f.Open();
  CHECK(store->GetOrCreate("E1", KeyPurpose::kPersonal).ok());
}

TEST_CASE("key store: refuses a KEK file others can access", "[key_store]") {
  StoreFixture f;
  { f.Open(); }
  for (mode_t mode : {0640, 0604, 0620}) {
    REQUIRE(chmod(f.options.kek_file.c_str(), mode) == 0);
    auto store = KeyStore::Open(f.options);
    RequireCode(store.status(), absl::StatusCode::kFailedPrecondition, "kek_file");
    CHECK(absl::StrContains(store.status().message(), f.options.kek_file));
  }
  REQUIRE(chmod(f.options.kek_file.c_str(), 0600) == 0);
  f.Open();
}

TEST_CASE("key store: refuses a malformed KEK file", "[key_store]") {
  StoreFixture f;
  const std::vector<std::string> bad = {
      "",
      std::string(63, 'a'),
      std::string(63, 'a') + "\n",
      std::string(66, 'a'),
      std::string(64, 'a') + "\r\n",
      std::string(64, 'a') + " ",
      std::string(63, 'a') + "g",
      std::string(62, 'a') + "\n\n",
  };
  for (const std::string& content : bad) {
    const std::string path = f.tmp.WriteFile("kek", content);
    REQUIRE(chmod(path.c_str(), 0600) == 0);
    auto store = KeyStore::Open(f.options);
    INFO("content of " << content.size() << " bytes");
    RequireCode(store.status(), absl::StatusCode::kFailedPrecondition, "kek_file");
    CHECK(absl::StrContains(store.status().message(), path));
  }
}

TEST_CASE("key store: refuses another KEK, or none, once it holds keys", "[key_store]") {
  StoreFixture f;
  { REQUIRE(f.Open()->GetOrCreate("E1", KeyPurpose::kPersonal).ok()); }
  const std::string original = [&] {
    std::ifstream in(f.options.kek_file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();

  REQUIRE(std::filesystem::remove(f.options.kek_file));
  RequireCode(KeyStore::Open(f.options).status(), absl::StatusCode::kFailedPrecondition,
              "is absent");
  CHECK_FALSE(std::filesystem::exists(f.options.kek_file));  // no new KEK was made up

  f.tmp.WriteFile("kek", std::string(64, 'b'));
  REQUIRE(chmod(f.options.kek_file.c_str(), 0600) == 0);
  RequireCode(KeyStore::Open(f.options).status(), absl::StatusCode::kFailedPrecondition,
              "does not hold the key-encryption key");

  f.tmp.WriteFile("kek", original);
  REQUIRE(chmod(f.options.kek_file.c_str(), 0600) == 0);
  CHECK(f.Open()->Get("E1", KeyPurpose::kPersonal).ok());
}

// ---- key_store.h: keys

TEST_CASE("key store: GetOrCreate returns one key per subject and purpose, across reopens",
          "[key_store]") {
  StoreFixture f;
  crypto::Key personal;
  crypto::Key retained;
  {
    auto store = f.Open();
    RequireCode(store->Get("E1", KeyPurpose::kPersonal).status(), absl::StatusCode::kNotFound,
                "no personal key of E1");
    CHECK(*store->State("E1", KeyPurpose::kPersonal) == KeyState::kAbsent);
    personal = *store->GetOrCreate("E1", KeyPurpose::kPersonal);
    retained = *store->GetOrCreate("E1", KeyPurpose::kRetained);
    CHECK(personal != retained);
    CHECK(*store->GetOrCreate("E1", KeyPurpose::kPersonal) == personal);
    CHECK(*store->Get("E1", KeyPurpose::kPersonal) == personal);
    CHECK(*store->State("E1", KeyPurpose::kPersonal) == KeyState::kLive);
    CHECK(*store->GetOrCreate("E2", KeyPurpose::kPersonal) != personal);
    CHECK(store->Counts(KeyPurpose::kPersonal).live == 2);
    CHECK(store->Counts(KeyPurpose::kRetained).live == 1);
  }
  auto store = f.Open();
  CHECK(*store->Get("E1", KeyPurpose::kPersonal) == personal);
  CHECK(*store->GetOrCreate("E1", KeyPurpose::kRetained) == retained);
  CHECK(*store->State("E1", KeyPurpose::kRetained) == KeyState::kLive);
  CHECK(store->Counts(KeyPurpose::kPersonal).live == 2);
  CHECK(store->Counts(KeyPurpose::kRetained).live == 1);
}

TEST_CASE("key store: subjects are checked", "[key_store]") {
  StoreFixture f;
  auto store = f.Open();
  RequireCode(store->GetOrCreate("", KeyPurpose::kPersonal).status(),
              absl::StatusCode::kInvalidArgument, "empty");
  RequireCode(store->Get(std::string(65, 'e'), KeyPurpose::kPersonal).status(),
              absl::StatusCode::kInvalidArgument, "kIdBytesMax");
  RequireCode(store->Destroy("", KeyPurpose::kPersonal), absl::StatusCode::kInvalidArgument);
  CHECK(store->GetOrCreate(std::string(64, 'e'), KeyPurpose::kPersonal).ok());
}

TEST_CASE("key store: a destroyed key stays destroyed", "[key_store]") {
  StoreFixture f;
  {
    auto store = f.Open();
    REQUIRE(store->GetOrCreate("E1", KeyPurpose::kPersonal).ok());
    REQUIRE(store->GetOrCreate("E1", KeyPurpose::kRetained).ok());
    REQUIRE(store->Destroy("E1", KeyPurpose::kPersonal).ok());
    RequireCode(store->Get("E1", KeyPurpose::kPersonal).status(),
                absl::StatusCode::kFailedPrecondition, "personal key of E1 was destroyed");
    RequireCode(store->GetOrCreate("E1", KeyPurpose::kPersonal).status(),
                absl::StatusCode::kFailedPrecondition, "personal key of E1 was destroyed");
    CHECK(*store->State("E1", KeyPurpose::kPersonal) == KeyState::kDestroyed);
    // The other purpose is untouched: compensation records outlive the erasure.
    CHECK(store->Get("E1", KeyPurpose::kRetained).ok());
    // Idempotent, and a subject that never had a key cannot get one afterwards.
    CHECK(store->Destroy("E1", KeyPurpose::kPersonal).ok());
    CHECK(store->Destroy("E9", KeyPurpose::kPersonal).ok());
    RequireCode(store->GetOrCreate("E9", KeyPurpose::kPersonal).status(),
                absl::StatusCode::kFailedPrecondition, "was destroyed");
    CHECK(store->Counts(KeyPurpose::kPersonal).live == 0);
    CHECK(store->Counts(KeyPurpose::kPersonal).destroyed == 2);
  }
  auto store = f.Open();
  CHECK(*store->State("E1", KeyPurpose::kPersonal) == KeyState::kDestroyed);
  CHECK(*store->State("E9", KeyPurpose::kPersonal) == KeyState::kDestroyed);
  CHECK(*store->State("E1", KeyPurpose::kRetained) == KeyState::kLive);
  RequireCode(store->Get("E1", KeyPurpose::kPersonal).status(),
              absl::StatusCode::kFailedPrecondition, "was destroyed");
  RequireCode(store->GetOrCreate("E1", KeyPurpose::kPersonal).status(),
              absl::StatusCode::kFailedPrecondition, "was destroyed");
  CHECK(store->Counts(KeyPurpose::kPersonal).live == 0);
  CHECK(store->Counts(KeyPurpose::kPersonal).destroyed == 2);
  CHECK(store->Counts(KeyPurpose::kRetained).live == 1);
}

TEST_CASE("key store: after Destroy no file of the store holds the key", "[key_store]") {
  StoreFixture f;
  auto create = [](KeyStore& store, const std::string& prefix, int n) {
    for (int i = 0; i < n; i++) {
      REQUIRE(store.GetOrCreate(prefix + std::to_string(i), KeyPurpose::kPersonal).ok());
    }
  };
  crypto::Key old_key;
  {
    // Each reopen flushes what the WAL held into an SST file of its own.
    auto store = f.Open();
    create(*store, "before-", 300);
    old_key = *store->GetOrCreate("victim-old", KeyPurpose::kPersonal);
  }
  { create(*f.Open(), "middle-", 300); }
  auto store = f.Open();
  create(*store, "after-", 300);
  // Only in the memtable and the WAL.
  const crypto::Key new_key = *store->GetOrCreate("victim-new", KeyPurpose::kPersonal);
  create(*store, "last-", 300);
  CHECK(CountFiles(f.options.dir, ".sst") >= 2);
  CHECK(CountFiles(f.options.dir, ".log") >= 1);

  const std::string old_row = RawRow(f.options.dir, "personal/victim-old");
  const std::string new_row = RawRow(f.options.dir, "personal/victim-new");
  REQUIRE(old_row.size() == 1 + crypto::kSealOverheadBytes + crypto::kKeyBytes);
  // The search finds what is there: before Destroy, both rows are in the files.
  CHECK_FALSE(FilesContaining(f.options.dir, old_row).empty());
  CHECK_FALSE(FilesContaining(f.options.dir, new_row).empty());
  // Keys are only ever stored wrapped.
  CHECK(FilesContaining(f.options.dir, Bytes(old_key)).empty());
  CHECK(FilesContaining(f.options.dir, Bytes(new_key)).empty());

  REQUIRE(store->Destroy("victim-old", KeyPurpose::kPersonal).ok());
  REQUIRE(store->Destroy("victim-new", KeyPurpose::kPersonal).ok());
  create(*store, "later-", 300);

  for (const std::string_view needle :
       {std::string_view(old_row), std::string_view(new_row), std::string_view(old_row).substr(1),
        std::string_view(new_row).substr(1), Bytes(old_key), Bytes(new_key)}) {
    const std::vector<std::string> found = FilesContaining(f.options.dir, needle);
    INFO("found in " << found.size() << " files, e.g. " << (found.empty() ? "" : found[0]));
    CHECK(found.empty());
  }
  // Nothing else was lost on the way.
  CHECK(store->Get("before-7", KeyPurpose::kPersonal).ok());
  CHECK(store->Get("middle-299", KeyPurpose::kPersonal).ok());
  CHECK(store->Get("after-0", KeyPurpose::kPersonal).ok());
  CHECK(store->Get("last-150", KeyPurpose::kPersonal).ok());
  store.reset();
  store = f.Open();
  CHECK(*store->Get("before-7", KeyPurpose::kPersonal) != old_key);
  CHECK(store->Get("later-299", KeyPurpose::kPersonal).ok());
  CHECK(*store->State("victim-old", KeyPurpose::kPersonal) == KeyState::kDestroyed);
  CHECK(*store->State("victim-new", KeyPurpose::kPersonal) == KeyState::kDestroyed);
  CHECK(store->Counts(KeyPurpose::kPersonal).live == 1'500);
}

TEST_CASE("key store: concurrent first GetOrCreate calls return one key", "[key_store]") {
  StoreFixture f;
  auto store = f.Open();
  constexpr int kThreads = 8;
  for (int round = 0; round < 20; round++) {
    const std::string subject = absl::StrCat("E", round);
    std::vector<crypto::Key> keys(kThreads);
    std::vector<absl::Status> statuses(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        auto key = store->GetOrCreate(subject, KeyPurpose::kPersonal);
        statuses[t] = key.status();
        if (key.ok()) keys[t] = *key;
      });
    }
    for (auto& t : threads) t.join();
    for (int t = 0; t < kThreads; t++) {
      REQUIRE(statuses[t].ok());
      CHECK(keys[t] == keys[0]);
    }
  }
  CHECK(store->Counts(KeyPurpose::kPersonal).live == 20);
}

TEST_CASE("key store: a lookup racing Destroy does not bring the key back", "[key_store]") {
  StoreFixture f;
  auto store = f.Open();
  for (int round = 0; round < 5; round++) {
    const std::string subject = absl::StrCat("E", round);
    REQUIRE(store->GetOrCreate(subject, KeyPurpose::kPersonal).ok());
    std::atomic<bool> destroyed = false;
    std::atomic<bool> done = false;
    // Catch2's assertions are not thread-safe: the readers count, the test thread checks.
    std::atomic<int> other_errors = 0;
    std::atomic<int> live_after_destroy = 0;
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; t++) {
      readers.emplace_back([&] {
        while (!done) {
          const bool after = destroyed;
          auto key = store->Get(subject, KeyPurpose::kPersonal);
          if (key.ok() && after) live_after_destroy++;
          if (!key.ok() && !absl::IsFailedPrecondition(key.status())) other_errors++;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    REQUIRE(store->Destroy(subject, KeyPurpose::kPersonal).ok());
    destroyed = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    done = true;
    for (auto& t : readers) t.join();
    CHECK(other_errors == 0);
    CHECK(live_after_destroy == 0);
    RequireCode(store->Get(subject, KeyPurpose::kPersonal).status(),
                absl::StatusCode::kFailedPrecondition, "was destroyed");
    CHECK(*store->State(subject, KeyPurpose::kPersonal) == KeyState::kDestroyed);
  }
}


TEST_CASE("sealer: identity and conversation under the personal key, compensation under the "
          "retained key", "[sealing]") {
  StoreFixture f;
  auto store = f.Open();
  Sealer sealer(store.get());
  v1::Event event;
  auto* g = event.mutable_grade_finalized();
  g->set_employee_id("E1");
  g->set_grade("A");
  g->mutable_base_salary()->set_amount_minor(5'000'000);
  g->mutable_base_salary()->set_currency("EUR");
  g->set_job_level("L3");
  const v1::Event original = event;

  auto parts = sealer.Seal(event, "E1", "ev-1");
  REQUIRE(parts.ok());
  CHECK_FALSE(parts->personal.has_value());  // a grade names no one and says nothing
  REQUIRE(parts->retained.has_value());
  CHECK(parts->retained->key() == v1::SEAL_KEY_RETAINED);
  CHECK(parts->retained->subject() == "E1");
  CHECK(std::vector<std::string>(parts->retained->fields().begin(),
                                 parts->retained->fields().end()) ==
        std::vector<std::string>{"grade_finalized.base_salary", "grade_finalized.job_level"});
  // The payload keeps what is not sealed, and nothing of what is.
  CHECK(event.grade_finalized().grade() == "A");
  CHECK_FALSE(event.grade_finalized().has_base_salary());
  CHECK(event.grade_finalized().job_level().empty());

  v1::Event opened = event;
  REQUIRE(sealer.Open(*parts->retained, "ev-1", opened).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(opened, original));
  // Bound to its event: under another id it does not open.
  v1::Event moved = event;
  CHECK(absl::IsDataLoss(sealer.Open(*parts->retained, "ev-2", moved)));

  // A check-in's notes go under the personal key; both keys are the employee's own.
  v1::Event check_in;
  check_in.mutable_check_in_recorded()->set_employee_id("E1");
  check_in.mutable_check_in_recorded()->set_notes("private");
  auto ci = sealer.Seal(check_in, "E1", "ev-3");
  REQUIRE(ci.ok());
  REQUIRE(ci->personal.has_value());
  CHECK(ci->personal->key() == v1::SEAL_KEY_PERSONAL);
  CHECK_FALSE(ci->retained.has_value());
  CHECK(check_in.check_in_recorded().notes().empty());
  CHECK(*store->State("E1", KeyPurpose::kPersonal) == KeyState::kLive);
  CHECK(*store->State("E1", KeyPurpose::kRetained) == KeyState::kLive);
}

TEST_CASE("sealer: placeholders mark text and name the cleared amounts", "[sealing]") {
  StoreFixture f;
  auto store = f.Open();
  Sealer sealer(store.get());
  v1::Event event;
  auto* a = event.mutable_action_triggered();
  a->set_action_id("act-1");
  a->set_employee_id("E1");
  a->mutable_amount()->set_amount_minor(750'000);
  a->set_percent_bp(1500);
  auto parts = sealer.Seal(event, "E1", "ev-1");
  REQUIRE(parts.ok());
  REQUIRE(parts->retained.has_value());
  // Once the key is gone, the fields cannot be opened; the reader marks them instead.
  REQUIRE(store->Destroy("E1", KeyPurpose::kRetained).ok());
  v1::Event shown;  // as a view row's copy opens: an empty event
  google::protobuf::RepeatedPtrField<std::string> cleared;
  Sealer::Placeholders(*parts->retained, kErasedPlaceholder, shown, &cleared);
  CHECK(std::vector<std::string>(cleared.begin(), cleared.end()) ==
        std::vector<std::string>{"action_triggered.amount", "action_triggered.percent_bp"});
  CHECK_FALSE(shown.action_triggered().has_amount());
  v1::Event unreadable = event;
  CHECK(absl::IsDataLoss(sealer.Open(*parts->retained, "ev-1", unreadable)));
  // A destroyed key is not created again: new compensation about E1 is refused whole.
  v1::Event later = event;
  later.mutable_action_triggered()->mutable_amount()->set_amount_minor(1);
  const v1::Event before = later;
  auto refused = sealer.Seal(later, "E1", "ev-2");
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK(google::protobuf::util::MessageDifferencer::Equals(later, before));
}

}  // namespace
}  // namespace perfledger
