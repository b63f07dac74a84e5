#include "storage/node_key.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "messages/ed25519.hpp"
#include "messages/error.hpp"

namespace cairn::storage {

namespace {

caf::error io_error(const std::string& what, const std::string& path) {
  return make_error(ec::storage_io, what + " " + path,
                    std::string{strerror(errno)});
}

} // namespace

caf::expected<node_key> node_key::load_or_create(const std::string& path) {
  node_key k;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ssize_t n = ::read(fd, k.seed_.data(), k.seed_.size());
    char extra;
    ssize_t more = ::read(fd, &extra, 1);
    ::close(fd);
    if (n != 32 || more != 0)
      return make_error(ec::storage_io, path,
                        "node key must be exactly 32 bytes");
  } else if (errno == ENOENT) {
    if (RAND_bytes(k.seed_.data(), 32) != 1)
      return make_error(ec::storage_io, "RAND_bytes failed");
    auto tmp = path + ".tmp";
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
      return io_error("create", tmp);
    bool ok = ::write(fd, k.seed_.data(), 32) == 32 && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
      return io_error("write", path);
  } else {
    return io_error("open", path);
  }
  auto pub = ed25519_public_key(k.seed_);
  if (!pub)
    return make_error(ec::storage_io, path, "invalid Ed25519 key");
  k.pub_ = *pub;
  k.id_ = cairn::peer_id::from_ed25519(k.pub_);
  return k;
}

bytes node_key::sign(byte_view msg) const {
  return ed25519_sign(seed_, msg);
}

bool node_key::verify(const std::array<uint8_t, 32>& pub, byte_view msg,
                      byte_view sig) {
  return ed25519_verify(pub, msg, sig);
}

caf::expected<std::unique_ptr<data_dir_lock>>
data_dir_lock::acquire(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return io_error("mkdir", dir);
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode))
    return make_error(ec::storage_io, dir, "not a directory");
  auto path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error("open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return make_error(ec::storage_io, dir,
                      "data dir is in use by another cairn-node");
  }
  return std::unique_ptr<data_dir_lock>{new data_dir_lock(fd)};
}

data_dir_lock::~data_dir_lock() {
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

} // namespace cairn::storage
