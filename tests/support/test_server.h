// perfledgerd in-process for integration tests: the real services::Server on 127.0.0.1:0 with a
// temporary data directory, typed stubs for every service, and helpers to read the log back and
// verify its hash chain.
//
// Thread safety: the stubs and the call helpers may be used from many threads at once (gRPC
// stubs are thread-safe); Restart() only while no other thread uses the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "ledger/limits.h"
#include "services/server.h"
#include "tests/support/temp_dir.h"

namespace perfledger::testing {

// Pass as a call's token to send no authorization header even when a default token is set.
inline const std::string kNoToken = "<no token>";

struct TestServerOptions {
  // A tokens file (lines "<token> <principal> <role> [employee]"); empty = open loopback access.
  std::string tokens_file;
  // The bearer token the helpers send when a call names none; empty = send none.
  std::string default_token;
  uint32_t data_partitions = 4;
  // "embedded" (a RocksDB log in the data directory) or "kafka" (topics <kafka_topic_prefix>.*
  // on kafka_brokers; a Restart reopens the same topics).
  std::string log_backend = "embedded";
  std::string kafka_brokers;
  std::string kafka_topic_prefix;
  // How long an erasure keeps the employee's compensation records (--retention-days).
  uint32_t retention_days = limits::kRetentionDaysDefault;
};

// The answer of a unary call: its status and response.
template <typename Response>
struct Reply {
  grpc::Status status;
  Response response;
  bool ok() const { return status.ok(); }
};

class TestServer {
 public:
  // Starts the server; throws std::runtime_error when it cannot.
  explicit TestServer(TestServerOptions options = {});
  ~TestServer();

  // Shuts the server down and starts it again on the same data directory (a new port).
  void Restart();
  // Shuts the server down and keeps its data directory (to inspect its files); Restart()
  // starts it again. Nothing else may be called in between.
  void Stop();

  int port() const { return server_->port(); }
  services::Server& server() { return *server_; }
  const std::string& data_dir() const { return data_dir_.path(); }
  const TestServerOptions& options() const { return options_; }

  // A new channel to the server (separate HTTP/2 connection), e.g. one per simulated client.
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Typed stubs on the shared channel.
  v1::People::Stub& people() { return *people_; }
  v1::Cycles::Stub& cycles() { return *cycles_; }
  v1::Goals::Stub& goals() { return *goals_; }
  v1::CheckIns::Stub& check_ins() { return *check_ins_; }
  v1::Metrics::Stub& metrics() { return *metrics_; }
  v1::Reviews::Stub& reviews() { return *reviews_; }
  v1::Pips::Stub& pips() { return *pips_; }
  v1::Recognition::Stub& recognition() { return *recognition_; }
  v1::Training::Stub& training() { return *training_; }
  v1::Log::Stub& log() { return *log_; }

  // Gives `context` a deadline and the bearer token (`token`, or the default one when empty).
  void Prepare(grpc::ClientContext& context, const std::string& token = "",
               absl::Duration timeout = absl::Seconds(20)) const;

  // One unary call: Call(server.people(), &v1::People::Stub::DefineOrgUnit, request).
  template <typename Stub, typename Request, typename Response>
  Reply<Response> Call(Stub& stub,
                       grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                    Response*),
                       const Request& request, const std::string& token = "") const {
    grpc::ClientContext context;
    Prepare(context, token);
    Reply<Response> reply;
    reply.status = (stub.*method)(&context, request, &reply.response);
    return reply;
  }

  // Log.Status; throws when the call fails.
  v1::StatusResponse Status(const std::string& token = "");
  // Sum of every partition's end_offset from Log.Status: grows by one per appended event.
  uint64_t LogEnd(const std::string& token = "");
  // LogEnd once the log has settled: the views and the reactor have applied all of it and it
  // has stayed the same over several polls, each longer than the reactor's linger (the
  // reactor appends its reactions after applying their causes). Throws when it does not settle
  // within 10 s.
  uint64_t SettledLogEnd(const std::string& token = "");
  // Every event of every partition (Log.ReadEvents all_partitions, then per partition past the
  // server's read limit), ordered by partition and offset. Throws when a call fails.
  std::vector<v1::RecordedEvent> ReadAllEvents(const std::string& token = "");

 private:
  void StartServer();

  TestServerOptions options_;
  TempDir data_dir_{"server"};
  std::unique_ptr<services::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::People::Stub> people_;
  std::unique_ptr<v1::Cycles::Stub> cycles_;
  std::unique_ptr<v1::Goals::Stub> goals_;
  std::unique_ptr<v1::CheckIns::Stub> check_ins_;
  std::unique_ptr<v1::Metrics::Stub> metrics_;
  std::unique_ptr<v1::Reviews::Stub> reviews_;
  std::unique_ptr<v1::Pips::Stub> pips_;
  std::unique_ptr<v1::Recognition::Stub> recognition_;
  std::unique_ptr<v1::Training::Stub> training_;
  std::unique_ptr<v1::Log::Stub> log_;
};

// Verifies the hash chain of every partition in `events` (whole partitions from offset 0, as
// ReadAllEvents returns them) with perfledger::VerifyLink: sequences contiguous from 0, each
// prev_hash the previous event's hash (the genesis hash first), each hash recomputed, positions
// equal to sequences. With `status`, each partition must also end at its end_offset with the
// reported last_hash, so nothing was left unread. DATA_LOSS naming the event otherwise.
absl::Status VerifyChains(const std::vector<v1::RecordedEvent>& events,
                          const v1::StatusResponse* status = nullptr);

// The envelope of every event whose event_id is `id` (normally one).
std::vector<v1::RecordedEvent> EventsWithId(const std::vector<v1::RecordedEvent>& events,
                                            const std::string& id);
// The events of one type ("GradeFinalized", ...), in log order.
std::vector<v1::RecordedEvent> EventsOfType(const std::vector<v1::RecordedEvent>& events,
                                            const std::string& type);

}  // namespace perfledger::testing
