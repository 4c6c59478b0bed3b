// operating_flags_test: docs/OPERATING.md's configuration table and `perfledgerd --help` list the
// same long flags. An operator reads the table; a flag added to the server without a row (or a
// row for a flag that no longer exists) fails here.

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

std::set<std::string> Flags(const std::string& text, const std::regex& pattern) {
  std::set<std::string> flags;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    flags.insert((*it)[1].str());
  }
  return flags;
}

TEST_CASE("operating_flags_test: docs/OPERATING.md lists every flag of perfledgerd --help",
          "[e2e][docs]") {
  std::string help;
  {
    FILE* pipe = ::popen(PERFLEDGERD_PATH " --help", "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) help.append(buffer, n);
    REQUIRE(::pclose(pipe) == 0);
  }
  std::ifstream in(PERFLEDGER_DOCS_DIR "/OPERATING.md");
  REQUIRE(in.good());
  std::stringstream doc;
  doc << in.rdbuf();

  // Help lines start with the flag ("  --listen TEXT=..." or "  -h,--help ..."); table rows
  // with "| `--listen`".
  std::set<std::string> served = Flags(help, std::regex(R"((?:^|\n)\s+(?:-\w,)?(--[a-z][a-z0-9-]*))"));
  served.erase("--help");
  served.erase("--version");
  const std::set<std::string> documented =
      Flags(doc.str(), std::regex(R"(\n\|\s*`(--[a-z][a-z0-9-]*)[ `])"));
  REQUIRE(served.size() > 10);
  for (const std::string& flag : served) {
    INFO("flag " << flag << " of perfledgerd --help");
    CHECK(documented.count(flag) == 1);
  }
  for (const std::string& flag : documented) {
    INFO("row " << flag << " of docs/OPERATING.md");
    CHECK(served.count(flag) == 1);
  }
}

}  // namespace
}  // namespace perfledger::e2e
