// Cancels a gRPC call when the operator presses Ctrl-C (SIGINT) or the process gets SIGTERM.
//
// A signal handler may not call into gRPC, so the handler only writes a byte to a pipe; a
// watcher thread reads it and calls ClientContext::TryCancel(). The call then ends with
// CANCELLED, which the caller reports as a clean stop. A second signal exits at once (130).
//
// Thread safety: construct and destroy on the thread that owns the call. One instance at a time.
#ifndef PERFLEDGER_TOOLS_PERFCTL_INTERRUPT_H_
#define PERFLEDGER_TOOLS_PERFCTL_INTERRUPT_H_

#include <signal.h>

#include <atomic>
#include <thread>

#include <grpcpp/client_context.h>

namespace perfctl {

class CancelOnInterrupt {
 public:
  // Installs the handlers; `context` must outlive this object.
  explicit CancelOnInterrupt(grpc::ClientContext* context);
  // Restores the previous handlers and stops the watcher.
  ~CancelOnInterrupt();
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  // True once a signal cancelled the call.
  bool interrupted() const { return interrupted_.load(); }

 private:
  grpc::ClientContext* context_;
  int pipe_[2] = {-1, -1};
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  std::atomic<bool> interrupted_{false};
  std::thread watcher_;
};

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_INTERRUPT_H_
