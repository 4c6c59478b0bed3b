// A unique directory under /tmp for one test, removed with everything in it when the helper goes
// out of scope. Not thread-safe to move; share it by reference.
#pragma once

#include <string>
#include <string_view>

namespace perfledger::testing {

class TempDir {
 public:
  // Creates /tmp/perfledger-<tag>-XXXXXX. Throws std::runtime_error when it cannot.
  explicit TempDir(std::string_view tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name (not created).
  std::string Sub(std::string_view name) const;
  // Writes `content` to path()/name and returns the full path.
  std::string WriteFile(std::string_view name, std::string_view content) const;

 private:
  std::string path_;
};

}  // namespace perfledger::testing
