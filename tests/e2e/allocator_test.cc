// allocator_test: the perfledgerd binary runs jemalloc with the settings of
// services/jemalloc_conf.cc. jemalloc reads them through a symbol the binary defines; a build
// that dropped the object from the link would still start and pass every other test, only
// slower (its folding threads would purge pages themselves). The purge threads are the visible
// proof: jemalloc names them jemalloc_bg_thd.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

std::vector<std::string> ThreadNames(pid_t pid) {
  std::vector<std::string> names;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(tasks)) {
    std::string name = ReadFile(entry.path().string() + "/comm");
    while (!name.empty() && name.back() == '\n') name.pop_back();
    names.push_back(name);
  }
  return names;
}

TEST_CASE("allocator_test: perfledgerd runs jemalloc with its background purge thread",
          "[e2e][allocator]") {
  TempDir dir("allocator");
  ServerProcess server(dir.Sub("data"), dir.path());
  server.Start();
  const std::vector<std::string> names = ThreadNames(server.process()->pid());
  std::string all;
  for (const auto& n : names) all += n + " ";
  INFO("threads: " << all);
  CHECK(std::count(names.begin(), names.end(), "jemalloc_bg_thd") >= 1);
  // Its own threads are there too, so the listing itself is trustworthy.
  CHECK(std::count(names.begin(), names.end(), "pl-commit") == 1);
  REQUIRE(server.Terminate(seconds(30)).has_value());
}

}  // namespace
}  // namespace perfledger::e2e
