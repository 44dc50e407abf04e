#pragma once
// A directory under $TMPDIR removed (recursively) when the object dies.
#include <string>

namespace pullcache::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void writeTextFile(const std::string& path, const std::string& content);
std::string readTextFile(const std::string& path);

}  // namespace pullcache::testing
