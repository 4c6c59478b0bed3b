#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace perfledger::testing {

TempDir::TempDir(std::string_view tag) {
  std::string pattern = "/tmp/perfledger-" + std::string(tag) + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ec;  // never throw from a destructor; a leftover dir in /tmp is harmless
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Sub(std::string_view name) const {
  return (std::filesystem::path(path_) / std::string(name)).string();
}

std::string TempDir::WriteFile(std::string_view name, std::string_view content) const {
  const std::string file = Sub(name);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + file);
  return file;
}

}  // namespace perfledger::testing
