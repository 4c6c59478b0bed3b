// perfledgerd's wiring: opens the log and the state store, catches the write model up, and
// serves the gRPC services with health checking and reflection.
//
// Thread safety: Start/Shutdown/Wait from one controlling thread; the services are thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "ledger/ledger.h"
#include "ledger/state_store.h"
#include "ledger/write_model.h"
#include "projections/backlog.h"
#include "projections/projector.h"
#include "projections/reactor.h"
#include "services/auth.h"
#include "services/config.h"

namespace perfledger::services {

// Shared by every service: the domain and the server's lifetime state.
struct ServiceDeps {
  Ledger* ledger = nullptr;
  projections::Projector* projector = nullptr;
  projections::Reactor* reactor = nullptr;
  EventLog* log = nullptr;
  const Authenticator* auth = nullptr;
  // Scope and visibility (ledger/access.h), over the write model.
  const Access* access = nullptr;
  const ServerConfig* config = nullptr;
  absl::Time started_at;
  // Set when shutdown begins: long-lived streams end at their next wake-up.
  std::atomic<bool> stopping{false};
};

// A client command's context: who sent it (from the authenticated call), received now, and
// the call's deadline (admission control waits no longer).
CommandContext CallerContext(const Principal& principal,
                             const grpc::ServerContextBase& call);

class Server {
 public:
  // Opens everything and starts serving. `config.listen` may use port 0 (see port()).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config);
  ~Server();

  int port() const { return port_; }
  const ServerConfig& config() const { return config_; }
  Ledger& ledger() { return *ledger_; }
  EventLog& log() { return *log_; }
  projections::Projector& projector() { return *projector_; }
  projections::Reactor& reactor() { return *reactor_; }

  // Stops accepting calls, lets in-flight calls finish within `grace`, ends streams, closes
  // the log (queued appends complete) and the stores. Idempotent.
  void Shutdown(absl::Duration grace);

  // Blocks until Shutdown.
  void Wait();

 private:
  Server() = default;
  void ScheduleDeadlines();

  ServerConfig config_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<WriteModel> write_model_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<projections::Projector> projector_;
  std::unique_ptr<projections::Reactor> reactor_;
  std::unique_ptr<projections::BacklogGate> backlog_;
  std::thread scheduler_;
  std::mutex scheduler_mu_;
  std::condition_variable scheduler_cv_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Access> access_;
  std::unique_ptr<ServiceDeps> deps_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

// Each service family, registered by Server::Start.
std::vector<std::unique_ptr<grpc::Service>> MakeCommandServices(ServiceDeps* deps);
std::unique_ptr<grpc::Service> MakeLogService(ServiceDeps* deps);
std::unique_ptr<grpc::Service> MakeViewsService(ServiceDeps* deps);
std::unique_ptr<grpc::Service> MakePoliciesService(ServiceDeps* deps);
std::unique_ptr<grpc::Service> MakeHooksService(ServiceDeps* deps);
std::unique_ptr<grpc::Service> MakeAuditService(ServiceDeps* deps);

}  // namespace perfledger::services
