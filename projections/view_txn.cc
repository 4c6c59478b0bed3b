#include "projections/view_txn.h"

#include <limits>
#include <memory>

#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "projections/keys.h"

namespace perfledger::projections {

absl::StatusOr<std::optional<std::string>> ViewTxn::Get(std::string_view key) {
  if (auto it = options_.rows->find(key); it != options_.rows->end()) return it->second;
  if (options_.pending != nullptr) {
    MergePending(*options_.pending);
    if (const auto* found = FindNewest(*options_.pending, key)) return *found;
  }
  if (options_.ingesting != nullptr) {
    if (const auto* found = FindNewest(*options_.ingesting, key)) return *found;
  }
  RowCache* cache = options_.cache;
  if (cache != nullptr) {
    // Debian's Abseil has its own string_view: look up with that for a heterogeneous find.
    if (auto it = cache->find(absl::string_view(key.data(), key.size())); it != cache->end()) {
      return it->second;
    }
  }
  std::string value;
  rocksdb::Status s = options_.db->Get(rocksdb::ReadOptions(), options_.family,
                                       rocksdb::Slice(key.data(), key.size()), &value);
  std::optional<std::string> found;
  if (!s.IsNotFound()) {
    RETURN_IF_ERROR(FromRocks(s, "read view"));
    found = std::move(value);
  }
  if (cache != nullptr) cache->insert_or_assign(std::string(key), found);
  return found;
}

void ViewTxn::Put(std::string_view key, std::string_view value) {
  PutOwned(std::string(key), std::string(value));
}

void ViewTxn::PutOwned(std::string key, std::string value) {
  bytes_put_ += key.size() + value.size();
  options_.rows->insert_or_assign(std::move(key), std::move(value));
}

void ViewTxn::PutReadBack(std::string_view key, std::string_view value) {
  Put(key, value);
  if (options_.cache != nullptr && options_.read_back != nullptr) {
    options_.read_back->emplace_back(key);
  }
}

void ViewTxn::Delete(std::string_view key) {
  bytes_put_ += key.size();
  options_.rows->insert_or_assign(std::string(key), std::nullopt);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ViewTxn::Scan(
    std::string_view prefix) {
  return Scan(prefix, prefix, std::numeric_limits<size_t>::max());
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ViewTxn::Scan(
    std::string_view prefix, std::string_view from, size_t limit) {
  if (from < prefix) from = prefix;
  std::vector<std::pair<std::string, std::string>> out;
  // "" when no key is greater than every key with the prefix (a prefix of 0xff bytes).
  const std::string end = PrefixEnd(std::string(prefix));
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(options_.db->NewIterator(ro, options_.family));
  it->Seek(rocksdb::Slice(from.data(), from.size()));
  std::vector<const ViewRows*> sets;
  if (options_.ingesting != nullptr) AddSets(*options_.ingesting, sets);
  if (options_.pending != nullptr) {
    MergePending(*options_.pending);
    AddSets(*options_.pending, sets);
  }
  sets.push_back(options_.rows);
  MergedRows mine(sets, from);
  const rocksdb::Slice wanted(prefix.data(), prefix.size());
  auto stored_in_range = [&] { return it->Valid() && it->key().starts_with(wanted); };
  auto mine_in_range = [&] { return !mine.done() && mine.top().first.starts_with(prefix); };
  // Merge the stored rows with the fold's: on equal keys the fold wins (a nullopt hides the
  // stored row).
  while ((stored_in_range() || mine_in_range()) && out.size() < limit) {
    const bool take_stored =
        stored_in_range() && (!mine_in_range() || it->key().compare(mine.top().first) < 0);
    if (take_stored) {
      out.emplace_back(it->key().ToString(), it->value().ToString());
      it->Next();
      continue;
    }
    const auto& [key, value] = mine.top();
    if (stored_in_range() && it->key() == rocksdb::Slice(key)) it->Next();
    if (value) out.emplace_back(key, *value);
    mine.Next();
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan view"));
  return out;
}

}  // namespace perfledger::projections
