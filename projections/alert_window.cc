#include "projections/alert_window.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ledger/policy_eval.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "projections/keys.h"

namespace perfledger::projections {
namespace {

// Rows read per step while evicting: usually one or two leave per observation.
constexpr size_t kEvictScanRows = 64;
// WindowState.extreme_kind: which extreme the candidates serve.
constexpr int32_t kNoExtreme = 0;
constexpr int32_t kMaxExtreme = 1;
constexpr int32_t kMinExtreme = 2;

int32_t ExtremeKind(policy::Aggregate aggregate) {
  switch (aggregate) {
    case policy::Aggregate::kMax:
      return kMaxExtreme;
    case policy::Aggregate::kMin:
      return kMinExtreme;
    case policy::Aggregate::kMean:
    case policy::Aggregate::kLast:
      break;
  }
  return kNoExtreme;
}

// Time then arrival, both order-preserving, so key order is the window's order.
std::string SampleSuffix(const google::protobuf::Timestamp& at, uint64_t seq) {
  std::string out;
  PutOrderedInt64(out, at.seconds());
  PutBigEndian32(out, static_cast<uint32_t>(at.nanos()));
  PutBigEndian64(out, seq);
  return out;
}

absl::Time SampleTime(std::string_view key, size_t prefix_size) {
  std::string_view suffix = key.substr(prefix_size);
  const int64_t seconds = static_cast<int64_t>(GetBigEndian64(suffix) ^ (uint64_t{1} << 63));
  const uint32_t nanos = GetBigEndian32(suffix.substr(8));
  return absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
}

std::string EncodeValue(int64_t v) {
  std::string out;
  PutBigEndian64(out, static_cast<uint64_t>(v));
  return out;
}

int64_t DecodeValue(std::string_view bytes) { return static_cast<int64_t>(GetBigEndian64(bytes)); }

}  // namespace

absl::StatusOr<AlertWindow> AlertWindow::Load(ViewTxn& txn, std::string_view rule_id,
                                              std::string_view subject, uint32_t window_days,
                                              policy::Aggregate aggregate,
                                              size_t max_samples) {
  AlertWindow window(Key({"win", rule_id, subject}), Key({"ws", rule_id, subject}) + "/",
                     Key({"wx", rule_id, subject}) + "/", std::max<uint32_t>(window_days, 1),
                     std::max<size_t>(max_samples, 1));
  ASSIGN_OR_RETURN(std::optional<std::string> stored, txn.Get(window.header_key_));
  if (stored && !window.header_.ParseFromString(*stored)) {
    return absl::DataLossError(absl::StrCat("reactor row ", window.header_key_));
  }
  if (stored && !window.header_.migrated()) RETURN_IF_ERROR(window.Migrate(txn));
  window.header_.set_migrated(true);
  RETURN_IF_ERROR(window.TrackExtreme(txn, ExtremeKind(aggregate)));
  return window;
}

// A header from before samples were rows: replay its samples (arrival order) as rows.
absl::Status AlertWindow::Migrate(ViewTxn& txn) {
  internal::WindowState old = std::move(header_);
  header_ = internal::WindowState();
  header_.set_migrated(true);
  header_.set_breached(old.breached());
  for (const internal::WindowSample& s : old.samples()) {
    RETURN_IF_ERROR(Add(txn, s.at(), s.value_milli()));
  }
  SaveHeader(txn);
  return absl::OkStatus();
}

absl::Status AlertWindow::Add(ViewTxn& txn, const google::protobuf::Timestamp& at,
                              int64_t value_milli) {
  const absl::Time t = ToTime(at);
  if (!header_.has_newest() || t > ToTime(header_.newest())) *header_.mutable_newest() = at;
  const absl::Time cutoff = ToTime(header_.newest()) - absl::Hours(24) * window_days_;
  if (t <= cutoff) return absl::OkStatus();  // late and already out
  const uint64_t seq = header_.next_seq();
  header_.set_next_seq(seq + 1);
  const std::string suffix = SampleSuffix(at, seq);
  const std::string key = sample_prefix_ + suffix;
  txn.Put(key, EncodeValue(value_milli));
  header_.set_count(header_.count() + 1);
  set_sum(sum() + value_milli);
  // The latest by time; a tie goes to the later arrival (it sorts after).
  if (header_.count() == 1 || !header_.has_last_at() || t >= ToTime(header_.last_at())) {
    header_.set_last(value_milli);
    *header_.mutable_last_at() = at;
  }
  if (header_.front().empty() || key < header_.front()) header_.set_front(key);
  RETURN_IF_ERROR(OfferCandidate(txn, suffix, value_milli));
  RETURN_IF_ERROR(Evict(txn));
  SaveHeader(txn);
  return absl::OkStatus();
}

absl::Status AlertWindow::Evict(ViewTxn& txn) {
  const absl::Time cutoff = ToTime(header_.newest()) - absl::Hours(24) * window_days_;
  auto stays = [&](std::string_view key) {
    return SampleTime(key, sample_prefix_.size()) > cutoff && header_.count() <= max_samples_;
  };
  if (header_.count() == 0 || stays(header_.front())) return absl::OkStatus();
  std::string from = header_.front();
  while (header_.count() > 0) {
    ASSIGN_OR_RETURN(auto rows, txn.Scan(sample_prefix_, from, kEvictScanRows));
    if (rows.empty()) {
      return absl::DataLossError(absl::StrCat("alert window ", header_key_, ": ", header_.count(),
                                              " samples counted, no rows left"));
    }
    for (const auto& [key, value] : rows) {
      if (stays(key)) {
        header_.set_front(key);
        return absl::OkStatus();
      }
      txn.Delete(key);
      header_.set_count(header_.count() - 1);
      set_sum(sum() - DecodeValue(value));
      // Eviction goes oldest first, so an evicted candidate is always the oldest one.
      if (header_.extreme_kind() != kNoExtreme &&
          header_.extreme_front() == std::string_view(key).substr(sample_prefix_.size())) {
        RETURN_IF_ERROR(DropFrontCandidate(txn));
      }
    }
    from = rows.back().first + '\0';  // the next key after the last one read
  }
  header_.clear_front();
  return absl::OkStatus();
}

bool AlertWindow::Dominates(int64_t later, int64_t earlier) const {
  return header_.extreme_kind() == kMaxExtreme ? later >= earlier : later <= earlier;
}

absl::StatusOr<internal::WindowCandidate> AlertWindow::GetCandidate(ViewTxn& txn,
                                                                    std::string_view suffix) {
  ASSIGN_OR_RETURN(std::optional<std::string> stored,
                   txn.Get(candidate_prefix_ + std::string(suffix)));
  internal::WindowCandidate candidate;
  if (!stored || !candidate.ParseFromString(*stored)) {
    return absl::DataLossError(
        absl::StrCat("alert window ", header_key_, ": a linked candidate is missing or unreadable"));
  }
  return candidate;
}

void AlertWindow::PutCandidate(ViewTxn& txn, std::string_view suffix,
                               const internal::WindowCandidate& candidate) {
  txn.PutReadBack(candidate_prefix_ + std::string(suffix), candidate.SerializeAsString());
}

absl::Status AlertWindow::TrackExtreme(ViewTxn& txn, int32_t kind) {
  if (header_.extreme_kind() == kind) return absl::OkStatus();
  // Another rule aggregate (a new policy version): drop the old candidates, following links.
  for (std::string at = header_.extreme_front(); !at.empty();) {
    ASSIGN_OR_RETURN(internal::WindowCandidate c, GetCandidate(txn, at));
    txn.Delete(candidate_prefix_ + at);
    at = c.next();
  }
  header_.set_extreme_kind(kind);
  header_.clear_extreme_front();
  header_.clear_extreme_back();
  header_.clear_extreme();
  if (kind != kNoExtreme && header_.count() > 0) {
    // The monotonic queue of the samples as they stand, oldest first.
    ASSIGN_OR_RETURN(auto samples, txn.Scan(sample_prefix_, header_.front(),
                                            std::numeric_limits<size_t>::max()));
    std::vector<std::pair<std::string_view, int64_t>> queue;
    for (const auto& [key, value] : samples) {
      const int64_t v = DecodeValue(value);
      while (!queue.empty() && Dominates(v, queue.back().second)) queue.pop_back();
      queue.emplace_back(std::string_view(key).substr(sample_prefix_.size()), v);
    }
    for (size_t i = 0; i < queue.size(); i++) {
      internal::WindowCandidate c;
      c.set_value(queue[i].second);
      if (i > 0) c.set_prev(std::string(queue[i - 1].first));
      if (i + 1 < queue.size()) c.set_next(std::string(queue[i + 1].first));
      PutCandidate(txn, queue[i].first, c);
    }
    if (!queue.empty()) {
      header_.set_extreme_front(std::string(queue.front().first));
      header_.set_extreme_back(std::string(queue.back().first));
      header_.set_extreme(queue.front().second);
    }
  }
  SaveHeader(txn);
  return absl::OkStatus();
}

absl::Status AlertWindow::OfferCandidate(ViewTxn& txn, std::string_view suffix, int64_t value) {
  if (header_.extreme_kind() == kNoExtreme) return absl::OkStatus();
  // Its neighbours: walk back from the newest candidate to the first one before it (no step
  // at all for a sample that arrives in order). `next` ends as the first candidate after it,
  // the largest (smallest) of the later samples.
  std::string prev_key = header_.extreme_back(), next_key;
  internal::WindowCandidate prev, next;
  while (!prev_key.empty()) {
    ASSIGN_OR_RETURN(prev, GetCandidate(txn, prev_key));
    if (prev_key < suffix) break;
    next_key = std::move(prev_key);
    next = std::move(prev);
    prev_key = next.prev();
  }
  if (!next_key.empty() && Dominates(next.value(), value)) return absl::OkStatus();
  // The candidates right behind it that it dominates leave the queue.
  while (!prev_key.empty() && Dominates(value, prev.value())) {
    txn.Delete(candidate_prefix_ + prev_key);
    prev_key = prev.prev();
    if (!prev_key.empty()) {
      ASSIGN_OR_RETURN(prev, GetCandidate(txn, prev_key));
    }
  }
  internal::WindowCandidate node;
  node.set_value(value);
  node.set_prev(prev_key);
  node.set_next(next_key);
  PutCandidate(txn, suffix, node);
  if (prev_key.empty()) {
    // Nothing before it survived: it is the oldest candidate, the window's extreme.
    header_.set_extreme_front(std::string(suffix));
    header_.set_extreme(value);
  } else {
    prev.set_next(std::string(suffix));
    PutCandidate(txn, prev_key, prev);
  }
  if (next_key.empty()) {
    header_.set_extreme_back(std::string(suffix));
  } else {
    next.set_prev(std::string(suffix));
    PutCandidate(txn, next_key, next);
  }
  return absl::OkStatus();
}

absl::Status AlertWindow::DropFrontCandidate(ViewTxn& txn) {
  ASSIGN_OR_RETURN(internal::WindowCandidate front, GetCandidate(txn, header_.extreme_front()));
  txn.Delete(candidate_prefix_ + header_.extreme_front());
  if (front.next().empty()) {
    header_.clear_extreme_front();
    header_.clear_extreme_back();
    header_.clear_extreme();
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(internal::WindowCandidate next, GetCandidate(txn, front.next()));
  next.clear_prev();
  PutCandidate(txn, front.next(), next);
  header_.set_extreme_front(front.next());
  header_.set_extreme(next.value());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> AlertWindow::Aggregate(ViewTxn& txn,
                                                              policy::Aggregate aggregate) const {
  if (header_.count() == 0) return std::optional<int64_t>();
  switch (aggregate) {
    case policy::Aggregate::kMean:
      return std::optional<int64_t>(
          policy::DivRound(sum(), static_cast<__int128>(header_.count())));
    case policy::Aggregate::kLast:
      return std::optional<int64_t>(header_.last());
    case policy::Aggregate::kMax:
    case policy::Aggregate::kMin: {
      if (header_.extreme_kind() == ExtremeKind(aggregate)) {
        if (header_.extreme_front().empty()) {
          return absl::DataLossError(absl::StrCat("alert window ", header_key_, ": ",
                                                  header_.count(), " samples, no candidate"));
        }
        return std::optional<int64_t>(header_.extreme());
      }
      ASSIGN_OR_RETURN(auto rows, txn.Scan(sample_prefix_, header_.front(),
                                           std::numeric_limits<size_t>::max()));
      std::optional<int64_t> out;
      for (const auto& row : rows) {
        const int64_t v = DecodeValue(row.second);
        if (!out) out = v;
        else out = aggregate == policy::Aggregate::kMax ? std::max(*out, v) : std::min(*out, v);
      }
      return out;
    }
  }
  return std::optional<int64_t>();
}

void AlertWindow::SetBreached(ViewTxn& txn, bool breached) {
  header_.set_breached(breached);
  SaveHeader(txn);
}

__int128 AlertWindow::sum() const {
  return static_cast<__int128>(static_cast<unsigned __int128>(
      (static_cast<unsigned __int128>(static_cast<uint64_t>(header_.sum_high())) << 64) |
      header_.sum_low()));
}

void AlertWindow::set_sum(__int128 sum) {
  const auto bits = static_cast<unsigned __int128>(sum);
  header_.set_sum_high(static_cast<int64_t>(static_cast<uint64_t>(bits >> 64)));
  header_.set_sum_low(static_cast<uint64_t>(bits));
}

void AlertWindow::SaveHeader(ViewTxn& txn) {
  txn.PutReadBack(header_key_, header_.SerializeAsString());
}

}  // namespace perfledger::projections
