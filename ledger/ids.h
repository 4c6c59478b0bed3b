// Typed ids: the values that cross module boundaries each have a type of their own, so that a
// partition passed where an offset is expected, or an employee id where a cycle id is, does not
// compile. Each type is built from its raw value only explicitly and gives it back only through
// value(); protobuf fields stay raw and are converted where they become a domain argument.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace perfledger {

// An integer with an identity: each `Tag` makes a type of its own. It compares and hashes as its
// raw value and prints as it: operator<<, AbslStringify, absl::StrCat and absl::StrFormat's %d.
// The Abseil this builds with (20220623) reads AbslStringify in neither StrCat nor StrFormat, so
// the type also converts to absl::AlphaNum (a formatting argument, nothing converts it further)
// and formats through AbslFormatConvert (%d, with width and the '-' flag). It has no arithmetic:
// a type that needs some declares it next to its alias.
template <typename Tag, typename Rep>
class StrongInt {
 public:
  using rep_type = Rep;

  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep value) : value_(value) {}

  constexpr Rep value() const { return value_; }

  friend constexpr auto operator<=>(const StrongInt&, const StrongInt&) = default;
  friend constexpr bool operator==(const StrongInt&, const StrongInt&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const StrongInt& v) {
    return H::combine(std::move(h), v.value_);
  }

  friend std::ostream& operator<<(std::ostream& os, const StrongInt& v) { return os << v.value_; }
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const StrongInt& v) {
    sink.Append(absl::StrCat(v.value_));
  }
  // absl::AlphaNum keeps the digits in itself; returned as a prvalue, it is built in place.
  operator absl::AlphaNum() const { return absl::AlphaNum(value_); }  // NOLINT: formatting only
  friend absl::FormatConvertResult<absl::FormatConversionCharSet::d> AbslFormatConvert(
      const StrongInt& v, const absl::FormatConversionSpec& spec, absl::FormatSink* sink) {
    sink->PutPaddedString(absl::StrCat(v.value_), spec.width(), -1, spec.has_left_flag());
    return {true};
  }

 private:
  Rep value_ = 0;
};

// A string with an identity: each `Tag` makes a type of its own. Compares, hashes and prints
// (operator<<, AbslStringify, absl::StrCat, absl::StrFormat's %s) as the string it holds; for
// StrCat and StrFormat it converts to absl::AlphaNum and formats through AbslFormatConvert, as
// StrongInt does.
template <typename Tag>
class StrongString {
 public:
  StrongString() = default;
  explicit StrongString(std::string value) : value_(std::move(value)) {}
  explicit StrongString(std::string_view value) : value_(value) {}
  explicit StrongString(const char* value) : value_(value) {}

  const std::string& value() const { return value_; }
  // The unset id (a field left empty): the ledger's ids are never empty strings.
  bool empty() const { return value_.empty(); }

  friend auto operator<=>(const StrongString&, const StrongString&) = default;
  friend bool operator==(const StrongString&, const StrongString&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const StrongString& v) {
    return H::combine(std::move(h), v.value_);
  }

  friend std::ostream& operator<<(std::ostream& os, const StrongString& v) {
    return os << v.value_;
  }
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const StrongString& v) {
    sink.Append(v.value_);
  }
  operator absl::AlphaNum() const { return absl::AlphaNum(value_); }  // NOLINT: formatting only
  friend absl::FormatConvertResult<absl::FormatConversionCharSet::s> AbslFormatConvert(
      const StrongString& v, const absl::FormatConversionSpec& spec, absl::FormatSink* sink) {
    sink->PutPaddedString(v.value_, spec.width(), spec.precision(), spec.has_left_flag());
    return {true};
  }

 private:
  std::string value_;
};

struct PartitionIdTag {};
struct OffsetTag {};
struct EmployeeIdTag {};
struct CycleIdTag {};

// A partition of the event log: 0 is the control stream, 1..N hold data keyed by subject. A
// partition count (EventLog::partitions()) stays a plain integer: it is a size, not a partition.
using PartitionId = StrongInt<PartitionIdTag, uint32_t>;

// A place within one partition. Offsets grow strictly within a partition but may have gaps
// (Kafka); an end is the offset after the last event. Its arithmetic is that of a position in a
// sequence: an offset plus or minus a count is an offset, and two offsets of one partition are a
// count apart. Adding offsets, or mixing one with a partition, does not compile.
using Offset = StrongInt<OffsetTag, uint64_t>;

constexpr Offset operator+(Offset at, uint64_t count) { return Offset(at.value() + count); }
constexpr Offset operator-(Offset at, uint64_t count) { return Offset(at.value() - count); }
constexpr Offset& operator+=(Offset& at, uint64_t count) { return at = at + count; }
// The count of offsets in [from, to): `from` must not be past `to`.
constexpr uint64_t operator-(Offset to, Offset from) { return to.value() - from.value(); }

// The partitions 0..count-1 in order, for range-for loops over a log's partitions:
// `for (PartitionId p : AllPartitions(log.partitions()))`.
class PartitionRange {
 public:
  class iterator {
   public:
    using value_type = PartitionId;
    using difference_type = std::ptrdiff_t;
    constexpr iterator() = default;
    constexpr explicit iterator(uint32_t p) : p_(p) {}
    constexpr PartitionId operator*() const { return PartitionId(p_); }
    constexpr iterator& operator++() {
      ++p_;
      return *this;
    }
    constexpr iterator operator++(int) { return iterator(p_++); }
    friend constexpr bool operator==(iterator, iterator) = default;

   private:
    uint32_t p_ = 0;
  };

  constexpr PartitionRange(uint32_t first, uint32_t end) : first_(first), end_(end) {}
  constexpr iterator begin() const { return iterator(first_); }
  constexpr iterator end() const { return iterator(end_ > first_ ? end_ : first_); }

 private:
  uint32_t first_;
  uint32_t end_;
};

// Every partition of a log of `count` partitions (the control partition included).
constexpr PartitionRange AllPartitions(uint32_t count) { return PartitionRange(0, count); }
// Its data partitions: 1..count-1.
constexpr PartitionRange DataPartitions(uint32_t count) {
  return PartitionRange(1, count > 0 ? count : 1);
}

// A person: the employee id the commands and events name (ledger/validation.h checks its form).
using EmployeeId = StrongString<EmployeeIdTag>;
// A review cycle, as its id.
using CycleId = StrongString<CycleIdTag>;

}  // namespace perfledger

template <typename Tag, typename Rep>
struct std::hash<perfledger::StrongInt<Tag, Rep>> {
  size_t operator()(const perfledger::StrongInt<Tag, Rep>& v) const {
    return std::hash<Rep>()(v.value());
  }
};

template <typename Tag>
struct std::hash<perfledger::StrongString<Tag>> {
  size_t operator()(const perfledger::StrongString<Tag>& v) const {
    return std::hash<std::string>()(v.value());
  }
};
