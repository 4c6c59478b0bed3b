// The per-partition hash chain (ledger/hash_chain.h): sealing and verifying one link.
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "ledger/hash_chain.h"
#include "perfledger/v1/events.pb.h"

namespace perfledger {
namespace {

v1::Envelope MakeEnvelope(const std::string& id, uint64_t version = 1) {
  v1::Envelope e;
  e.set_event_id(id);
  e.set_type("EmployeeRegistered");
  e.set_stream("employee/E1");
  e.set_stream_version(version);
  e.set_partition_key("E1");
  e.mutable_position()->set_partition(3);
  e.mutable_occurred_at()->set_seconds(1'767'225'600);
  e.mutable_recorded_at()->set_seconds(1'767'225'601);
  e.mutable_actor()->set_principal("hr-bot");
  e.mutable_actor()->set_role(v1::ROLE_HR);
  e.set_schema_version(1);
  e.set_command_id("cmd-1");
  v1::Event event;
  auto* p = event.mutable_employee_registered();
  p->set_employee_id("E1");
  p->set_name("Ada");
  p->mutable_base_salary()->set_amount_minor(6'000'000);
  p->mutable_base_salary()->set_currency("EUR");
  e.set_payload(event.SerializeAsString());
  return e;
}

// Three sealed events chained from the genesis hash.
std::vector<v1::Envelope> MakeChain() {
  std::vector<v1::Envelope> chain;
  std::string prev = GenesisHash();
  for (uint64_t i = 0; i < 3; i++) {
    v1::Envelope e = MakeEnvelope("ev-" + std::to_string(i), i + 1);
    e.mutable_position()->set_offset(i);
    SealEnvelope(e, prev, i);
    prev = e.hash();
    chain.push_back(e);
  }
  return chain;
}

void RequireDataLoss(const absl::Status& s, const std::string& mentions) {
  INFO(s.ToString());
  REQUIRE(s.code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(s.message(), mentions));
}

TEST_CASE("hash chain: sha256 and hex of known vectors", "[hash_chain]") {
  CHECK(ToHex(Sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(ToHex(Sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(ToHex(std::string("\x00\x7f\xff", 3)) == "007fff");
  CHECK(GenesisHash() == std::string(kHashBytes, '\0'));
}

TEST_CASE("hash chain: SealEnvelope and ComputeHash agree", "[hash_chain]") {
  v1::Envelope e = MakeEnvelope("ev-1");
  const std::string payload = e.payload();
  e.mutable_position()->set_offset(7);
  SealEnvelope(e, GenesisHash(), 7);
  CHECK(e.hash().size() == kHashBytes);
  CHECK(e.hash() == ComputeHash(e));
  CHECK(e.prev_hash() == GenesisHash());
  CHECK(e.sequence() == 7);
  CHECK(e.payload_sha256() == Sha256(payload));
  // Sealing moves the payload and the position aside and back: both survive unchanged.
  CHECK(e.payload() == payload);
  CHECK(e.position().partition() == 3);
  CHECK(e.position().offset() == 7);
  CHECK(VerifyLink(e, GenesisHash(), 7).ok());

  // The hash does not depend on the stored hash or the position (Kafka assigns offsets later).
  v1::Envelope moved = e;
  moved.mutable_position()->set_partition(9);
  moved.mutable_position()->set_offset(12345);
  moved.set_hash("junk");
  CHECK(ComputeHash(moved) == e.hash());

  // Sealing is deterministic.
  v1::Envelope again = MakeEnvelope("ev-1");
  again.mutable_position()->set_offset(7);
  SealEnvelope(again, GenesisHash(), 7);
  CHECK(again.hash() == e.hash());
}

TEST_CASE("hash chain: a chain of three verifies link by link", "[hash_chain]") {
  const auto chain = MakeChain();
  std::string prev = GenesisHash();
  for (uint64_t i = 0; i < chain.size(); i++) {
    INFO("link " << i);
    CHECK(VerifyLink(chain[i], prev, i).ok());
    prev = chain[i].hash();
  }
  CHECK(chain[1].prev_hash() == chain[0].hash());
  CHECK(chain[2].prev_hash() == chain[1].hash());
}

TEST_CASE("hash chain: VerifyLink catches a changed header field", "[hash_chain]") {
  const auto chain = MakeChain();
  const v1::Envelope& good = chain[1];
  const std::string& prev = chain[0].hash();

  SECTION("stream_version") {
    v1::Envelope e = good;
    e.set_stream_version(99);
    RequireDataLoss(VerifyLink(e, prev, 1), "hash does not match");
  }
  SECTION("actor") {
    v1::Envelope e = good;
    e.mutable_actor()->set_principal("mallory");
    RequireDataLoss(VerifyLink(e, prev, 1), "hash does not match");
  }
  SECTION("occurred_at") {
    v1::Envelope e = good;
    e.mutable_occurred_at()->set_nanos(1);
    RequireDataLoss(VerifyLink(e, prev, 1), "hash does not match");
  }
  SECTION("event_id") {
    v1::Envelope e = good;
    e.set_event_id("ev-forged");
    RequireDataLoss(VerifyLink(e, prev, 1), "hash does not match");
  }
  SECTION("the hash itself") {
    v1::Envelope e = good;
    std::string h = e.hash();
    h[0] = static_cast<char>(h[0] ^ 1);
    e.set_hash(h);
    RequireDataLoss(VerifyLink(e, prev, 1), "hash does not match");
  }
}

TEST_CASE("hash chain: VerifyLink catches a changed payload", "[hash_chain]") {
  const auto chain = MakeChain();
  const std::string& prev = chain[0].hash();

  SECTION("payload changed, digest left alone") {
    v1::Envelope e = chain[1];
    v1::Event forged;
    forged.ParseFromString(e.payload());
    forged.mutable_employee_registered()->mutable_base_salary()->set_amount_minor(9'000'000);
    e.set_payload(forged.SerializeAsString());
    RequireDataLoss(VerifyLink(e, prev, 1), "payload does not match payload_sha256");
  }
  SECTION("payload and its digest changed together") {
    v1::Envelope e = chain[1];
    e.set_payload(e.payload() + "x");
    e.set_payload_sha256(Sha256(e.payload()));
    RequireDataLoss(VerifyLink(e, prev, 1), "hash does not match");
  }
}

TEST_CASE("hash chain: VerifyLink catches a wrong prev_hash", "[hash_chain]") {
  const auto chain = MakeChain();
  SECTION("the verifier expects another predecessor") {
    RequireDataLoss(VerifyLink(chain[2], chain[0].hash(), 2), "prev_hash");
  }
  SECTION("the event names another predecessor") {
    v1::Envelope e = chain[2];
    e.set_prev_hash(GenesisHash());
    RequireDataLoss(VerifyLink(e, chain[1].hash(), 2), "prev_hash");
  }
  SECTION("an event dropped from the middle") {
    // Verifying chain[2] right after chain[0] (chain[1] lost) fails on sequence or prev_hash.
    const absl::Status s = VerifyLink(chain[2], chain[0].hash(), 1);
    CHECK(s.code() == absl::StatusCode::kDataLoss);
  }
}

TEST_CASE("hash chain: VerifyLink catches a wrong sequence", "[hash_chain]") {
  const auto chain = MakeChain();
  RequireDataLoss(VerifyLink(chain[1], chain[0].hash(), 2), "sequence is 1, expected 2");
  v1::Envelope e = chain[1];
  e.set_sequence(5);
  RequireDataLoss(VerifyLink(e, chain[0].hash(), 5), "hash does not match");
}

TEST_CASE("hash chain: a shredded payload still verifies", "[hash_chain]") {
  auto chain = MakeChain();
  chain[1].clear_payload();  // crypto-shredding empties the payload, keeps payload_sha256
  std::string prev = GenesisHash();
  for (uint64_t i = 0; i < chain.size(); i++) {
    INFO("link " << i);
    CHECK(VerifyLink(chain[i], prev, i).ok());
    prev = chain[i].hash();
  }
  // Shredding does not license changing the digest it leaves behind.
  v1::Envelope e = chain[1];
  e.set_payload_sha256(Sha256("something else"));
  RequireDataLoss(VerifyLink(e, chain[0].hash(), 1), "hash does not match");
}

}  // namespace
}  // namespace perfledger
