#include "tools/perfctl/interrupt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace perfctl {
namespace {

// The write end of the active instance's pipe; -1 when none is installed.
std::atomic<int> g_signal_fd{-1};

constexpr char kSignalled = 's';
constexpr char kStop = 'q';

extern "C" void OnSignal(int) {
  const int saved_errno = errno;
  const int fd = g_signal_fd.load();
  if (fd >= 0) {
    // write() is async-signal-safe; a full pipe means a byte is already waiting, which suffices.
    [[maybe_unused]] ssize_t n = write(fd, &kSignalled, 1);
  }
  errno = saved_errno;
}

}  // namespace

CancelOnInterrupt::CancelOnInterrupt(grpc::ClientContext* context) : context_(context) {
  if (pipe2(pipe_, O_CLOEXEC) != 0) return;  // no pipe: Ctrl-C falls back to killing the process
  g_signal_fd.store(pipe_[1]);
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &old_int_);
  sigaction(SIGTERM, &action, &old_term_);
  watcher_ = std::thread([this] {
    char byte = 0;
    while (true) {
      const ssize_t n = read(pipe_[0], &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == kStop) return;
      // A second Ctrl-C means the cancelled call is not ending: stop without waiting for it.
      if (interrupted_.exchange(true)) std::_Exit(130);
      context_->TryCancel();
    }
  });
}

CancelOnInterrupt::~CancelOnInterrupt() {
  if (pipe_[0] < 0) return;
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  g_signal_fd.store(-1);
  [[maybe_unused]] ssize_t n = write(pipe_[1], &kStop, 1);
  watcher_.join();
  close(pipe_[0]);
  close(pipe_[1]);
}

}  // namespace perfctl
