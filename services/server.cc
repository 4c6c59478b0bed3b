#include "services/server.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "ledger/embedded_log.h"
#include "ledger/kafka_log.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/status_macros.h"
#include "projections/view.h"
#include "services/status_map.h"

namespace perfledger::services {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat(what, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerConfig& c) {
  if (c.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      c.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ASSIGN_OR_RETURN(std::string cert, ReadFile(c.tls_cert, "--tls-cert"));
  ASSIGN_OR_RETURN(std::string key, ReadFile(c.tls_key, "--tls-key"));
  options.pem_key_cert_pairs.push_back({key, cert});
  if (!c.tls_client_ca.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(c.tls_client_ca, "--tls-client-ca"));
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::unique_ptr<EventLog>> OpenLog(const ServerConfig& c) {
  if (c.log_backend == "embedded") {
    EmbeddedLogOptions options;
    options.dir = (std::filesystem::path(c.data_dir) / "log").string();
    options.data_partitions = c.data_partitions;
    ASSIGN_OR_RETURN(auto log, EmbeddedLog::Open(options));
    return std::unique_ptr<EventLog>(std::move(log));
  }
  if (c.log_backend == "kafka") {
    KafkaLogOptions options;
    options.brokers = c.kafka_brokers;
    options.topic_prefix = c.kafka_topic_prefix;
    options.data_partitions = c.data_partitions;
    options.replication_factor = static_cast<int>(c.kafka_replication_factor);
    options.role = c.read_replica ? KafkaRole::kReadReplica : KafkaRole::kWriter;
    ASSIGN_OR_RETURN(auto log, KafkaLog::Open(options));
    return std::unique_ptr<EventLog>(std::move(log));
  }
  return absl::InvalidArgumentError(absl::StrCat("--log-backend: unknown backend ", c.log_backend));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  RETURN_IF_ERROR(ValidateConfig(config));
  auto server = std::unique_ptr<Server>(new Server());
  server->config_ = config;
  ASSIGN_OR_RETURN(server->auth_, Authenticator::Load(config.tokens_file));
  ASSIGN_OR_RETURN(server->log_, OpenLog(config));
  StateStoreOptions state_options;
  state_options.dir = (std::filesystem::path(config.data_dir) / "state").string();
  std::vector<std::unique_ptr<projections::View>> views = projections::AllViews();
  projections::Projector::AddFamilies(views, state_options);
  state_options.families.push_back(WriteModel::kFamily);
  for (const std::string& f : projections::Reactor::Families()) state_options.families.push_back(f);
  ASSIGN_OR_RETURN(server->state_, StateStore::Open(state_options));
  ASSIGN_OR_RETURN(server->write_model_,
                   WriteModel::Open(server->state_.get(), server->log_->partitions()));
  // The data keys of personal data live outside the log (ledger/key_store.h). An erasure folded
  // into the write model destroys its subject's key, so the hook is set before any folding.
  KeyStoreOptions key_options;
  key_options.dir = config.key_dir.empty()
                        ? (std::filesystem::path(config.data_dir) / "keys").string()
                        : config.key_dir;
  key_options.kek_file = config.kek_file.empty()
                             ? (std::filesystem::path(config.data_dir) / "kek").string()
                             : config.kek_file;
  std::filesystem::create_directories(config.data_dir);
  ASSIGN_OR_RETURN(server->keys_, KeyStore::Open(key_options));
  KeyStore* keys = server->keys_.get();
  server->write_model_->SetErasureHook([keys](const EmployeeId& employee, v1::SealKey key) {
    return keys->Destroy(employee.value(), key == v1::SEAL_KEY_RETAINED ? KeyPurpose::kRetained
                                                                         : KeyPurpose::kPersonal);
  });
  // A crash may leave the write model behind the log; fold the difference before serving.
  RETURN_IF_ERROR(server->write_model_->CatchUp(*server->log_));
  server->ledger_ = std::make_unique<Ledger>(server->log_.get(), server->write_model_.get());
  RETURN_IF_ERROR(server->ledger_->EnableSealing(
      keys, absl::Hours(24) * static_cast<int64_t>(config.retention_days)));
  server->sealer_ = std::make_unique<Sealer>(keys);
  ASSIGN_OR_RETURN(server->projector_, projections::Projector::Start(
                                           server->log_.get(), server->state_.get(),
                                           std::move(views)));
  if (!config.read_replica) {
    ASSIGN_OR_RETURN(server->reactor_,
                     projections::Reactor::Start(server->log_.get(), server->state_.get(),
                                                 server->ledger_.get()));
  }

  if (!config.read_replica && config.view_backlog_events_max > 0) {
    std::vector<projections::BacklogGate::Source> sources = {
        {"views", server->projector_.get()}, {"policy reactor", &server->reactor_->projector()}};
    server->backlog_ = std::make_unique<projections::BacklogGate>(
        std::move(sources), config.view_backlog_events_max,
        absl::Milliseconds(limits::kViewBacklogWaitMillisMax));
    projections::BacklogGate* gate = server->backlog_.get();
    server->ledger_->SetAdmission([gate](absl::Time deadline) { return gate->Admit(deadline); });
  }

  server->deps_ = std::make_unique<ServiceDeps>();
  server->deps_->ledger = server->ledger_.get();
  server->deps_->projector = server->projector_.get();
  server->deps_->reactor = server->reactor_.get();
  server->deps_->log = server->log_.get();
  server->deps_->auth = server->auth_.get();
  server->access_ = std::make_unique<Access>(server->write_model_.get(), server->sealer_.get());
  server->deps_->access = server->access_.get();
  server->deps_->config = &server->config_;
  server->deps_->started_at = absl::Now();

  server->services_ = MakeCommandServices(server->deps_.get());
  server->services_.push_back(MakeLogService(server->deps_.get()));
  server->services_.push_back(MakeViewsService(server->deps_.get()));
  server->services_.push_back(MakeHooksService(server->deps_.get()));
  server->services_.push_back(MakeAuditService(server->deps_.get()));
  if (server->reactor_ != nullptr) {
    server->services_.push_back(MakePoliciesService(server->deps_.get()));
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  ASSIGN_OR_RETURN(auto credentials, Credentials(config));
  builder.AddListeningPort(config.listen, credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits::kGrpcMessageBytesMax));
  builder.SetMaxSendMessageSize(static_cast<int>(limits::kGrpcMessageBytesMax));
  grpc::ResourceQuota quota("perfledgerd");
  quota.SetMaxThreads(static_cast<int>(config.max_threads));
  builder.SetResourceQuota(quota);
  // gRPC's sync server lets a thread that finished a call exit when more than MAX_POLLERS
  // (default 2) are idle, and starts a new one for the next call: with a few dozen clients
  // every command paid for a thread's creation and exit (clone, mmap, thread-local set-up),
  // half of the server's CPU per command. Keep finished threads as pollers instead.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              static_cast<int>(config.max_threads));
  for (auto& s : server->services_) builder.RegisterService(s.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeParseErrorInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("--listen ", config.listen,
                                               ": cannot listen (address in use or invalid)"));
  }
  if (server->reactor_ != nullptr && config.deadline_check_seconds > 0) {
    // The live-only scheduler: turns due deadlines into DeadlineReached facts.
    Server* raw = server.get();
    server->scheduler_ = std::thread([raw] { raw->ScheduleDeadlines(); });
  }
  LogInfo(absl::StrCat("perfledgerd ", PERFLEDGER_VERSION, " serving on port ", server->port_,
                       " (", std::string(server->log_->backend()), " log, data ", config.data_dir, ")"));
  return server;
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  deps_->stopping.store(true);
  if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
  // Commands waiting for the views to catch up give up now instead of holding the drain.
  if (backlog_ != nullptr) backlog_->Close();
  // In-flight unary calls finish within the grace period; streams see `stopping` and end.
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  {
    std::lock_guard<std::mutex> lock(scheduler_mu_);
    scheduler_cv_.notify_all();
  }
  if (scheduler_.joinable()) scheduler_.join();
  reactor_.reset();
  log_->Close();
  projector_.reset();
  LogInfo("perfledgerd stopped");
}

void Server::Wait() { server_->Wait(); }

CommandContext CallerContext(const Principal& principal,
                             const grpc::ServerContextBase& call) {
  CommandContext ctx;
  ctx.actor = ToActor(principal);
  ctx.principal = principal;
  ctx.now = absl::Now();
  ctx.deadline = absl::FromChrono(call.deadline());
  return ctx;
}

void Server::ScheduleDeadlines() {
  CommandContext ctx;
  ctx.actor.set_principal("deadline-scheduler");
  ctx.actor.set_role(v1::ROLE_SYSTEM);
  ctx.principal = Principal{"deadline-scheduler", v1::ROLE_SYSTEM, "", {}};
  std::unique_lock<std::mutex> lock(scheduler_mu_);
  while (!deps_->stopping.load()) {
    scheduler_cv_.wait_for(lock, std::chrono::seconds(config_.deadline_check_seconds));
    if (deps_->stopping.load()) break;
    lock.unlock();
    auto fired = reactor_->FireDeadlines(
        absl::Now(), ctx, absl::Now() + absl::Seconds(limits::kDeadlineFireWaitSeconds));
    if (!fired.ok()) {
      LogWarning(absl::StrCat("deadline scheduler: ", fired.status().ToString()));
    } else if (fired->fired_size() > 0) {
      LogInfo(absl::StrCat("deadline scheduler: fired ", fired->fired_size(), " deadline(s)"));
    }
    lock.lock();
  }
}

Server::~Server() {
  if (server_ != nullptr) Shutdown(absl::Seconds(0));
  // Members are destroyed in reverse order: services, ledger, write model, state, log.
}

}  // namespace perfledger::services
