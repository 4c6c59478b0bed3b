#include "tests/support/test_server.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"

namespace perfledger::testing {

TestServer::TestServer(TestServerOptions options) : options_(std::move(options)) { StartServer(); }

TestServer::~TestServer() {
  if (server_ != nullptr) server_->Shutdown(absl::Seconds(2));
}

void TestServer::StartServer() {
  services::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.data_dir = data_dir_.path();
  config.data_partitions = options_.data_partitions;
  config.tokens_file = options_.tokens_file;
  config.log_backend = options_.log_backend;
  if (!options_.kafka_brokers.empty()) config.kafka_brokers = options_.kafka_brokers;
  if (!options_.kafka_topic_prefix.empty()) config.kafka_topic_prefix = options_.kafka_topic_prefix;
  config.max_threads = 256;
  config.retention_days = options_.retention_days;
  auto started = services::Server::Start(config);
  if (!started.ok()) {
    throw std::runtime_error(absl::StrCat("Server::Start: ", started.status().ToString()));
  }
  server_ = std::move(*started);
  channel_ = NewChannel();
  people_ = v1::People::NewStub(channel_);
  cycles_ = v1::Cycles::NewStub(channel_);
  goals_ = v1::Goals::NewStub(channel_);
  check_ins_ = v1::CheckIns::NewStub(channel_);
  metrics_ = v1::Metrics::NewStub(channel_);
  reviews_ = v1::Reviews::NewStub(channel_);
  pips_ = v1::Pips::NewStub(channel_);
  recognition_ = v1::Recognition::NewStub(channel_);
  training_ = v1::Training::NewStub(channel_);
  log_ = v1::Log::NewStub(channel_);
}

void TestServer::Stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::Seconds(2));
  server_.reset();  // closes the log and the state store, releasing their RocksDB locks
}

void TestServer::Restart() {
  Stop();
  StartServer();
}

std::shared_ptr<grpc::Channel> TestServer::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(limits::kGrpcMessageBytesMax));
  args.SetMaxSendMessageSize(static_cast<int>(limits::kGrpcMessageBytesMax));
  // Its own subchannel pool: a separate connection, as a separate client process would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials(), args);
}

void TestServer::Prepare(grpc::ClientContext& context, const std::string& token,
                         absl::Duration timeout) const {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (token == kNoToken) return;
  const std::string& bearer = token.empty() ? options_.default_token : token;
  if (!bearer.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
}

v1::StatusResponse TestServer::Status(const std::string& token) {
  auto reply = Call(log(), &v1::Log::Stub::Status, v1::StatusRequest(), token);
  if (!reply.ok()) {
    throw std::runtime_error(absl::StrCat("Log.Status: ", reply.status.error_message()));
  }
  return reply.response;
}

uint64_t TestServer::LogEnd(const std::string& token) {
  const v1::StatusResponse status = Status(token);
  uint64_t end = 0;
  for (const auto& p : status.partitions()) end += p.end_offset();
  return end;
}

uint64_t TestServer::SettledLogEnd(const std::string& token) {
  constexpr int kStablePolls = 3;
  const absl::Duration poll = absl::Milliseconds(5 * limits::kReactorLingerMillis);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  uint64_t last = 0;
  int stable = 0;
  while (absl::Now() < deadline) {
    const v1::StatusResponse status = Status(token);
    uint64_t end = 0;
    for (const auto& p : status.partitions()) end += p.end_offset();
    bool applied = true;
    for (const auto& lag : status.views()) applied = applied && lag.lag_events() == 0;
    stable = applied && end == last ? stable + 1 : 0;
    if (stable == kStablePolls) return end;
    last = end;
    absl::SleepFor(poll);
  }
  throw std::runtime_error("the log did not settle within 10 s");
}

namespace {

// Reads one ReadEvents call to the end; throws on a failed call.
void ReadInto(v1::Log::Stub& stub, const TestServer& server, const v1::ReadEventsRequest& request,
              const std::string& token, std::vector<v1::RecordedEvent>& out, size_t* count) {
  grpc::ClientContext context;
  server.Prepare(context, token);
  auto reader = stub.ReadEvents(&context, request);
  v1::RecordedEvent event;
  *count = 0;
  while (reader->Read(&event)) {
    out.push_back(event);
    ++*count;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    throw std::runtime_error(absl::StrCat("Log.ReadEvents: ", status.error_message()));
  }
}

}  // namespace

std::vector<v1::RecordedEvent> TestServer::ReadAllEvents(const std::string& token) {
  std::vector<v1::RecordedEvent> out;
  v1::ReadEventsRequest all;
  all.set_all_partitions(true);
  all.set_from_offset(0);
  all.set_limit(limits::kReadLimitMax);
  size_t count = 0;
  ReadInto(log(), *this, all, token, out, &count);
  // The limit counts across partitions: continue each partition after what it returned.
  const uint32_t partitions = server_->log().partitions();
  std::vector<uint64_t> next(partitions, 0);
  for (const auto& e : out) {
    const auto& pos = e.envelope().position();
    if (pos.partition() < partitions) {
      next[pos.partition()] = std::max<uint64_t>(next[pos.partition()], pos.offset() + 1);
    }
  }
  for (uint32_t p = 0; p < partitions; p++) {
    for (;;) {
      v1::ReadEventsRequest one;
      one.set_partition(p);
      one.set_from_offset(next[p]);
      one.set_limit(limits::kReadLimitMax);
      ReadInto(log(), *this, one, token, out, &count);
      if (count == 0) break;
      next[p] = out.back().envelope().position().offset() + 1;
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.envelope().position();
    const auto& pb = b.envelope().position();
    return std::make_pair(pa.partition(), pa.offset()) <
           std::make_pair(pb.partition(), pb.offset());
  });
  return out;
}

absl::Status VerifyChains(const std::vector<v1::RecordedEvent>& events,
                          const v1::StatusResponse* status) {
  std::map<uint32_t, std::pair<std::string, uint64_t>> tips;  // partition → (tip, next sequence)
  for (const auto& recorded : events) {
    const v1::Envelope& e = recorded.envelope();
    auto [it, inserted] = tips.try_emplace(e.position().partition(), GenesisHash(), 0);
    auto& [tip, sequence] = it->second;
    if (e.position().offset() != sequence) {
      return absl::DataLossError(absl::StrFormat("partition %d: offset %d where %d was expected",
                                                 e.position().partition(),
                                                 e.position().offset(), sequence));
    }
    if (absl::Status s = VerifyLink(e, tip, sequence); !s.ok()) return s;
    tip = e.hash();
    sequence++;
  }
  if (status != nullptr) {
    for (const auto& ps : status->partitions()) {
      auto it = tips.find(ps.partition());
      const uint64_t read = it == tips.end() ? 0 : it->second.second;
      const std::string tip = it == tips.end() ? GenesisHash() : it->second.first;
      if (read != ps.end_offset()) {
        return absl::DataLossError(absl::StrFormat("partition %d: read %d events, end_offset %d",
                                                   ps.partition(), read, ps.end_offset()));
      }
      if (ToHex(tip) != ps.last_hash()) {
        return absl::DataLossError(absl::StrFormat("partition %d: chain tip %s, status says %s",
                                                   ps.partition(), ToHex(tip), ps.last_hash()));
      }
    }
  }
  return absl::OkStatus();
}

std::vector<v1::RecordedEvent> EventsWithId(const std::vector<v1::RecordedEvent>& events,
                                            const std::string& id) {
  std::vector<v1::RecordedEvent> out;
  for (const auto& e : events) {
    if (e.envelope().event_id() == id) out.push_back(e);
  }
  return out;
}

std::vector<v1::RecordedEvent> EventsOfType(const std::vector<v1::RecordedEvent>& events,
                                            const std::string& type) {
  std::vector<v1::RecordedEvent> out;
  for (const auto& e : events) {
    if (e.envelope().type() == type) out.push_back(e);
  }
  return out;
}

}  // namespace perfledger::testing
