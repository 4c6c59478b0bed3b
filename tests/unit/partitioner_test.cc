// Partitioning must match Kafka's Java client byte for byte: the embedded log and a Kafka topic
// written by Java producers must place every key in the same partition.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "ledger/partitioner.h"

namespace perfledger {
namespace {

// Expected values come from the Java algorithm (org.apache.kafka.common.utils.Utils.murmur2,
// signed 32-bit results). They were computed once with a line-by-line Python transcription of
// the Java code (Java int overflow and >>> emulated), and the first seven agree with Kafka's own
// UtilsTest.testMurmur2 vectors. Java partition = (murmur2(key) & 0x7fffffff) % partitions; the
// ledger's data partition is that plus one (partition 0 is the control stream).
struct Vector {
  std::string key;
  int32_t murmur2;
  uint32_t java_partition_of_8;
  uint32_t java_partition_of_3;
};

const std::vector<Vector>& Vectors() {
  static const auto* kVectors = new std::vector<Vector>{
      {"", 275646681, 1, 0},
      {"21", -973932308, 4, 0},
      {"foobar", -790332482, 6, 0},
      {"a-little-bit-long-string", -985981536, 0, 2},
      {"a-little-bit-longer-string", -1486304829, 3, 2},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 5, 2},
      {"abc", 479470107, 3, 0},
      // One per tail length (0..3 trailing bytes), non-ASCII and high bytes.
      {"a", -1563381124, 4, 1},
      {"ab", 316155434, 2, 2},
      {"E1042", 673272140, 4, 2},
      {"employee-7", -1621616264, 0, 0},
      {"Zo\xc3\xab", -1306457314, 6, 1},
      {std::string("\xff\x80\x00\x7f\xfe", 5), 768357719, 7, 2},
  };
  return *kVectors;
}

TEST_CASE("partitioner: Murmur2 equals Kafka's Java murmur2", "[partitioner]") {
  for (const Vector& v : Vectors()) {
    INFO("key '" << v.key << "' (" << v.key.size() << " bytes)");
    CHECK(Murmur2(v.key) == v.murmur2);
  }
}

TEST_CASE("partitioner: DataPartitionFor is Java's partition plus one", "[partitioner]") {
  for (const Vector& v : Vectors()) {
    INFO("key '" << v.key << "'");
    CHECK(DataPartitionFor(v.key, 8).value() == v.java_partition_of_8 + 1);
    CHECK(DataPartitionFor(v.key, 3).value() == v.java_partition_of_3 + 1);
    CHECK(DataPartitionFor(v.key, 1) == PartitionId(1));
  }
  // Kafka's documented example: "foobar" over 50 partitions is partition 16.
  CHECK(DataPartitionFor("foobar", 50) == PartitionId(17));
}

TEST_CASE("partitioner: DataPartitionFor stays in 1..N and spreads keys", "[partitioner]") {
  for (uint32_t n : {1u, 2u, 3u, 8u, 31u, 256u}) {
    std::set<uint32_t> used;
    for (int i = 0; i < 10000; i++) {
      const std::string key = "E" + std::to_string(i);
      const uint32_t p = DataPartitionFor(key, n).value();
      REQUIRE(p >= 1);
      REQUIRE(p <= n);
      REQUIRE(DataPartitionFor(key, n) == PartitionId(p));  // deterministic
      used.insert(p);
    }
    INFO("partitions " << n);
    CHECK(used.size() == n);
  }
}

}  // namespace
}  // namespace perfledger
