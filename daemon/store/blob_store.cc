#include "daemon/store/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace pullcache::store {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

}  // namespace

BlobStore::BlobStore(std::string dir) : dir_(std::move(dir)) {
  for (const char* sub : {"/blobs/sha256", "/blobs/sha512", "/tmp"}) {
    if (auto r = makeDirs(dir_ + sub); !r) throw std::runtime_error(r.error().message());
  }
}

std::string BlobStore::blobPath(const Digest& digest) const {
  std::string_view hex = digest.hex();
  std::string path;
  path.reserve(dir_.size() + 20 + hex.size());
  path += dir_;
  path += "/blobs/";
  path += digest.algorithmName();
  path += '/';
  path += hex.substr(0, 2);
  path += '/';
  path += hex;
  return path;
}

Result<std::optional<OpenBlob>> BlobStore::open(const Digest& digest) const {
  std::string path = blobPath(digest);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<OpenBlob>{};
    return systemError(errno, "open blob");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return systemError(errno, "stat blob");
  return std::optional<OpenBlob>{OpenBlob{std::move(fd), static_cast<std::uint64_t>(st.st_size)}};
}

Result<StagingFile> BlobStore::createStaging(const Digest& digest) {
  std::string path = dir_ + "/tmp/" + std::string(digest.algorithmName()) + "-" +
                     std::string(digest.hex()) + "." + std::to_string(::getpid()) + "." +
                     std::to_string(staging_counter_.fetch_add(1));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return systemError(errno, "create staging file");
  return StagingFile{std::move(path), std::move(fd)};
}

Result<void> BlobStore::commit(StagingFile& staging, const Digest& digest) {
  if (::fsync(staging.fd.get()) != 0) return systemError(errno, "fsync blob");
  std::string target = blobPath(digest);
  std::string parent = target.substr(0, target.rfind('/'));
  if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
    return systemError(errno, "mkdir " + parent);
  if (::rename(staging.path.c_str(), target.c_str()) != 0)
    return systemError(errno, "rename blob into place");
  staging.path.clear();
  return ok();
}

void BlobStore::discard(StagingFile& staging) noexcept {
  if (!staging.path.empty()) ::unlink(staging.path.c_str());
  staging.path.clear();
  staging.fd.reset();
}

Result<void> BlobStore::remove(const Digest& digest) {
  std::string path = blobPath(digest);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return systemError(errno, "unlink blob");
  return ok();
}

Result<std::size_t> BlobStore::cleanStaging() {
  std::string tmp = dir_ + "/tmp";
  DirPtr d(::opendir(tmp.c_str()));
  if (!d) return systemError(errno, "opendir " + tmp);
  std::size_t removed = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (::unlinkat(dirfd(d.get()), e->d_name, 0) == 0) ++removed;
  }
  return removed;
}

Result<void> BlobStore::scan(const std::function<void(const Digest&, std::uint64_t)>& fn,
                             const std::function<void(const std::string&)>& stray) const {
  for (std::string_view algorithm : {"sha256", "sha512"}) {
    std::string root = dir_ + "/blobs/" + std::string(algorithm);
    DirPtr top(::opendir(root.c_str()));
    if (!top) return systemError(errno, "opendir " + root);
    while (dirent* sub = ::readdir(top.get())) {
      std::string_view prefix = sub->d_name;
      if (prefix == "." || prefix == "..") continue;
      std::string subdir = root + "/" + std::string(prefix);
      DirPtr d(::opendir(subdir.c_str()));
      if (!d) {
        if (stray) stray(subdir);
        continue;
      }
      while (dirent* e = ::readdir(d.get())) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        std::string path = subdir + "/" + std::string(name);
        auto digest = Digest::parse(std::string(algorithm) + ":" + std::string(name));
        struct stat st {};
        if (!digest || !name.starts_with(prefix) ||
            ::fstatat(dirfd(d.get()), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
          if (stray) stray(path);
          continue;
        }
        fn(digest.value(), static_cast<std::uint64_t>(st.st_size));
      }
    }
  }
  return ok();
}

}  // namespace pullcache::store
