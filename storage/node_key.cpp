#include "storage/node_key.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "messages/error.hpp"

namespace cairn::storage {

namespace {

caf::error io_error(const std::string& what, const std::string& path) {
  return make_error(ec::storage_io, what + " " + path,
                    std::string{strerror(errno)});
}

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

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
  pkey_ptr pk{
    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, k.seed_.data(), 32),
    EVP_PKEY_free};
  size_t len = 32;
  if (!pk || EVP_PKEY_get_raw_public_key(pk.get(), k.pub_.data(), &len) != 1)
    return make_error(ec::storage_io, path, "invalid Ed25519 key");
  k.id_ = cairn::peer_id::from_ed25519(k.pub_);
  return k;
}

bytes node_key::sign(byte_view msg) const {
  pkey_ptr pk{
    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed_.data(), 32),
    EVP_PKEY_free};
  bytes sig(64);
  size_t len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pk.get());
  EVP_DigestSign(ctx, sig.data(), &len, msg.data, msg.size);
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

bool node_key::verify(const std::array<uint8_t, 32>& pub, byte_view msg,
                      byte_view sig) {
  pkey_ptr pk{
    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), 32),
    EVP_PKEY_free};
  if (!pk)
    return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
    EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pk.get()) == 1 &&
    EVP_DigestVerify(ctx, sig.data, sig.size, msg.data, msg.size) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
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
