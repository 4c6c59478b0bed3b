// Typed ids (ledger/ids.h): they keep their raw values, compare, hash and print as them, and do
// not convert into one another or from raw values implicitly.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/ids.h"
#include "ledger/types.h"

namespace perfledger {
namespace {

// Raw values become ids only explicitly, and ids give them back only through value().
static_assert(!std::is_convertible_v<uint32_t, PartitionId>);
static_assert(!std::is_convertible_v<uint64_t, Offset>);
static_assert(!std::is_convertible_v<int, Offset>);
static_assert(!std::is_convertible_v<PartitionId, uint32_t>);
static_assert(!std::is_convertible_v<Offset, uint64_t>);
static_assert(std::is_constructible_v<Offset, uint64_t>);
static_assert(!std::is_convertible_v<std::string, EmployeeId>);
static_assert(!std::is_convertible_v<const char*, CycleId>);
static_assert(!std::is_convertible_v<EmployeeId, std::string>);
static_assert(!std::is_convertible_v<CycleId, std::string_view>);
static_assert(std::is_constructible_v<EmployeeId, std::string>);
static_assert(std::is_constructible_v<EmployeeId, std::string_view>);

// A partition is not an offset, an employee is not a cycle: neither way, not even explicitly.
static_assert(!std::is_convertible_v<PartitionId, Offset>);
static_assert(!std::is_convertible_v<Offset, PartitionId>);
static_assert(!std::is_constructible_v<PartitionId, Offset>);
static_assert(!std::is_constructible_v<Offset, PartitionId>);
static_assert(!std::is_convertible_v<EmployeeId, CycleId>);
static_assert(!std::is_convertible_v<CycleId, EmployeeId>);
static_assert(!std::is_constructible_v<CycleId, EmployeeId>);
static_assert(!std::is_constructible_v<EmployeeId, CycleId>);

// Offsets add counts, not offsets; two offsets are a count apart.
template <typename A, typename B>
concept Addable = requires(A a, B b) { a + b; };
template <typename A, typename B>
concept Subtractable = requires(A a, B b) { a - b; };
static_assert(Addable<Offset, uint64_t>);
static_assert(!Addable<Offset, Offset>);
static_assert(!Addable<PartitionId, uint32_t>);
static_assert(!Addable<Offset, PartitionId>);
static_assert(std::is_same_v<decltype(Offset(5) - Offset(2)), uint64_t>);
static_assert(std::is_same_v<decltype(Offset(5) - 2), Offset>);
static_assert(!Subtractable<Offset, PartitionId>);

// A log's ends are picked by partition, never by a raw integer or an offset.
template <typename E, typename I>
concept Indexable = requires(E e, I i) { e[i]; };
static_assert(Indexable<LogEnds, PartitionId>);
static_assert(!Indexable<LogEnds, uint32_t>);
static_assert(!Indexable<LogEnds, Offset>);

// The position's fields cannot be given in the wrong order.
static_assert(std::is_constructible_v<LogPosition, PartitionId, Offset>);
static_assert(!std::is_constructible_v<LogPosition, Offset, PartitionId>);
static_assert(!std::is_constructible_v<LogPosition, uint32_t, uint64_t>);

TEST_CASE("ids: integer ids keep, compare and hash their values", "[ids]") {
  CHECK(PartitionId().value() == 0);
  CHECK(Offset().value() == 0);
  CHECK(PartitionId(7).value() == 7);
  CHECK(Offset(uint64_t{1} << 40).value() == uint64_t{1} << 40);
  CHECK(Offset(3) == Offset(3));
  CHECK(Offset(3) != Offset(4));
  CHECK(Offset(3) < Offset(4));
  CHECK(PartitionId(2) > PartitionId(1));
  CHECK(kControlPartition == PartitionId(0));

  absl::flat_hash_set<Offset> absl_set = {Offset(1), Offset(2), Offset(1)};
  CHECK(absl_set.size() == 2);
  std::unordered_set<PartitionId> std_set = {PartitionId(1), PartitionId(1), PartitionId(3)};
  CHECK(std_set.size() == 2);
  CHECK(std_set.contains(PartitionId(3)));
}

TEST_CASE("ids: offset arithmetic is that of positions in a sequence", "[ids]") {
  Offset at(10);
  CHECK(at + 1 == Offset(11));
  CHECK(at - 1 == Offset(9));
  CHECK(Offset(15) - at == 5u);
  CHECK(at - at == 0u);
  at += 5;
  CHECK(at == Offset(15));
}

TEST_CASE("ids: string ids keep, compare and hash their values", "[ids]") {
  const std::string raw = "E1";
  const EmployeeId from_string(raw);
  CHECK(from_string.value() == raw);
  CHECK(EmployeeId(std::string_view("E1")) == EmployeeId("E1"));
  CHECK(CycleId("2025H1") < CycleId("2025H2"));
  CHECK(EmployeeId().empty());
  CHECK_FALSE(EmployeeId("E1").empty());

  absl::flat_hash_set<EmployeeId> employees = {EmployeeId("E1"), EmployeeId("E2"),
                                               EmployeeId("E1")};
  CHECK(employees.size() == 2);
  std::unordered_set<CycleId> cycles = {CycleId("C1"), CycleId("C1")};
  CHECK(cycles.size() == 1);
}

TEST_CASE("ids: ids print as their values", "[ids]") {
  CHECK(absl::StrCat("partition ", PartitionId(3), " offset ", Offset(42)) ==
        "partition 3 offset 42");
  CHECK(absl::StrCat(EmployeeId("E1"), "/", CycleId("C1")) == "E1/C1");
  // StrCat's variadic form (more than five arguments) as well.
  CHECK(absl::StrCat(PartitionId(1), ":", Offset(2), ",", EmployeeId("E"), ",", CycleId("C")) ==
        "1:2,E,C");
  CHECK(absl::StrFormat("%d/%d %s in %s", PartitionId(1), Offset(2), EmployeeId("E1"),
                        CycleId("C1")) == "1/2 E1 in C1");
  CHECK(absl::StrFormat("[%4d|%-4d|%-3s|%3s]", PartitionId(1), Offset(2), EmployeeId("E"),
                        CycleId("C")) == "[   1|2   |E  |  C]");
  std::ostringstream out;
  out << PartitionId(5) << " " << Offset(6) << " " << EmployeeId("E1") << " " << CycleId("C1");
  CHECK(out.str() == "5 6 E1 C1");
}

TEST_CASE("ids: a log's ends are indexed by partition", "[ids]") {
  LogEnds ends(3);
  CHECK(ends.size() == 3);
  CHECK_FALSE(ends.empty());
  CHECK(LogEnds().empty());
  CHECK(ends.contains(PartitionId(2)));
  CHECK_FALSE(ends.contains(PartitionId(3)));
  std::vector<PartitionId> seen;
  for (PartitionId p : ends.partitions()) {
    CHECK(ends[p] == Offset(0));
    ends[p] = Offset(10 * p.value());
    seen.push_back(p);
  }
  CHECK(seen == std::vector<PartitionId>{PartitionId(0), PartitionId(1), PartitionId(2)});
  CHECK(ends[PartitionId(2)] == Offset(20));
  CHECK(ends == ends);
  CHECK(ends != LogEnds(3));
  CHECK(LogEnds(2, Offset(4))[PartitionId(1)] == Offset(4));

  std::vector<PartitionId> data;
  for (PartitionId p : DataPartitions(3)) data.push_back(p);
  CHECK(data == std::vector<PartitionId>{PartitionId(1), PartitionId(2)});
  CHECK(DataPartitions(1).begin() == DataPartitions(1).end());
  CHECK(DataPartitions(0).begin() == DataPartitions(0).end());
  CHECK(AllPartitions(0).begin() == AllPartitions(0).end());
}

TEST_CASE("ids: a position comes from the proto's fields", "[ids]") {
  v1::Position proto;
  proto.set_partition(2);
  proto.set_offset(9);
  const LogPosition at = PositionOf(proto);
  CHECK(at.partition == PartitionId(2));
  CHECK(at.offset == Offset(9));
  CHECK(at < LogPosition{PartitionId(2), Offset(10)});
  CHECK(at > LogPosition{PartitionId(1), Offset(100)});
}

}  // namespace
}  // namespace perfledger
