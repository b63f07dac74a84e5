// The control link's TLS: `cairn-sim cert` makes a cluster's keys, agents
// and coordinators load them into CAF's OpenSSL module.

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "messages/bytes.hpp"
#include "tools/cairn-sim/sim.hpp"

namespace cairn::sim {

namespace {

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

std::string openssl_reason() {
  auto code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  auto* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext)
    return false;
  auto ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` named `cn`, valid for ten years, signed by
// `issuer_key` (self-signed when `issuer` is null). A CA may only sign
// certificates; a leaf may act as TLS client and server, since agents
// accept and coordinators connect with the same files.
x509_ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer,
                   EVP_PKEY* issuer_key) {
  x509_ptr cert{X509_new(), X509_free};
  bool ca = issuer == nullptr;
  unsigned char serial[16];
  if (!cert || RAND_bytes(serial, sizeof(serial)) != 1)
    return {nullptr, X509_free};
  serial[0] &= 0x7f;
  auto* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  auto ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  auto* name = X509_get_subject_name(cert.get());
  ok = ok && X509_set_version(cert.get(), 2) == 1 &&
       X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) &&
       X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 86400) &&
       X509_set_pubkey(cert.get(), key) == 1 &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>(cn),
                                  -1, -1, 0) == 1 &&
       X509_set_issuer_name(cert.get(),
                            ca ? name : X509_get_subject_name(issuer)) == 1;
  auto* signer = ca ? cert.get() : issuer;
  ok = ok &&
       add_ext(cert.get(), signer, NID_basic_constraints,
               ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
       add_ext(cert.get(), signer, NID_key_usage,
               ca ? "critical,keyCertSign,cRLSign"
                  : "critical,digitalSignature") &&
       add_ext(cert.get(), signer, NID_subject_key_identifier, "hash") &&
       (ca || (add_ext(cert.get(), signer, NID_authority_key_identifier,
                       "keyid:always") &&
               add_ext(cert.get(), signer, NID_ext_key_usage,
                       "serverAuth,clientAuth"))) &&
       X509_sign(cert.get(), ca ? key : issuer_key, EVP_sha256()) > 0;
  if (!ok)
    return {nullptr, X509_free};
  return cert;
}

// Writes `text` to a new file `path` with `mode` (before the umask).
bool write_new(const std::string& path, const std::string& text, mode_t mode,
               std::string& why) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    why = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  auto n = ::write(fd, text.data(), text.size());
  auto closed = ::close(fd) == 0;
  if (n != static_cast<ssize_t>(text.size()) || !closed) {
    why = "cannot write " + path;
    return false;
  }
  return true;
}

template <class Write>
std::string pem(Write write) {
  auto* bio = BIO_new(BIO_s_mem());
  if (!bio)
    return {};
  std::string out;
  if (write(bio) == 1) {
    char* data = nullptr;
    auto len = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  return out;
}

} // namespace

tls_files tls_files::in(const std::string& dir) {
  return {dir + "/ca.pem", dir + "/cert.pem", dir + "/key.pem",
          dir + "/secret"};
}

bool make_cluster_keys(const std::string& dir, std::string& why) {
  auto f = tls_files::in(dir);
  std::error_code err;
  std::filesystem::create_directories(dir, err);
  if (err) {
    why = "cannot create " + dir + ": " + err.message();
    return false;
  }
  for (auto* p : {&f.ca, &f.cert, &f.key, &f.secret})
    if (std::filesystem::exists(*p, err)) {
      why = *p + " exists: " + dir + " already holds a cluster's keys";
      return false;
    }
  pkey_ptr ca_key{EVP_EC_gen("P-256"), EVP_PKEY_free};
  pkey_ptr key{EVP_EC_gen("P-256"), EVP_PKEY_free};
  if (!ca_key || !key) {
    why = "cannot make a key: " + openssl_reason();
    return false;
  }
  auto ca = make_cert(ca_key.get(), "cairn-sim cluster CA", nullptr, nullptr);
  auto cert = ca ? make_cert(key.get(), "cairn-sim", ca.get(), ca_key.get())
                 : x509_ptr{nullptr, X509_free};
  if (!cert) {
    why = "cannot make a certificate: " + openssl_reason();
    return false;
  }
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    why = "cannot make a secret: " + openssl_reason();
    return false;
  }
  auto ca_pem = pem([&](BIO* b) { return PEM_write_bio_X509(b, ca.get()); });
  auto cert_pem =
    pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
  auto key_pem = pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr,
                                    nullptr);
  });
  if (ca_pem.empty() || cert_pem.empty() || key_pem.empty()) {
    why = "cannot encode the keys: " + openssl_reason();
    return false;
  }
  // The CA key is not written: nothing can sign another member, so the
  // cluster is exactly the holders of key.pem.
  return write_new(f.key, key_pem, 0600, why) &&
         write_new(f.secret, to_hex(byte_view{raw, sizeof(raw)}) + "\n", 0600,
                   why) &&
         write_new(f.cert, cert_pem, 0644, why) &&
         write_new(f.ca, ca_pem, 0644, why);
}

bool check_tls_files(const tls_files& f, std::string& why) {
  ctx_ptr ctx{SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx) {
    why = "cannot create a TLS context: " + openssl_reason();
    return false;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), f.cert.c_str()) != 1) {
    why = "cannot load the certificate " + f.cert + ": " + openssl_reason();
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), f.key.c_str(), SSL_FILETYPE_PEM) !=
      1) {
    why = "cannot load the private key " + f.key + ": " + openssl_reason();
    return false;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    why = f.key + " is not the key of " + f.cert;
    ERR_clear_error();
    return false;
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), f.ca.c_str(), nullptr) != 1) {
    why = "cannot load the CA certificate " + f.ca + ": " + openssl_reason();
    return false;
  }
  return true;
}

void use_control_tls(caf::actor_system_config& cfg, const tls_files& f) {
  cfg.load<caf::openssl::manager>();
  // Any of these set turns CAF's peer verification on (SSL_VERIFY_PEER and
  // SSL_VERIFY_FAIL_IF_NO_PEER_CERT on both ends); none set would give
  // anonymous, unauthenticated key exchange.
  cfg.openssl_certificate = f.cert;
  cfg.openssl_key = f.key;
  cfg.openssl_cafile = f.ca;
}

std::optional<std::string> make_temp_dir(const std::string& prefix,
                                         std::string& why) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
    std::string{tmp && *tmp ? tmp : "/tmp"} + "/" + prefix + "-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    why =
      "cannot create a directory like " + pattern + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return pattern;
}

} // namespace cairn::sim

// CAF 0.17.6's OpenSSL session asks SSL_get_error why a call returned <= 0
// without emptying the thread's error queue first, and never drains it
// after a failure (the reason only goes to a disabled log). A peer that
// disappears leaves OpenSSL 3's "unexpected eof" in the multiplexer
// thread's queue; the next connection that thread serves then reads as
// failed on its first "would block", and the middleman drops it: losing
// one agent cut the coordinator off the others. SSL_get_error(3) requires
// an empty queue before each I/O call; these definitions, which the
// dynamic linker prefers over libssl's, see to that for every caller in
// this program.
namespace {

template <class F>
F real_ssl_fn(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = real_ssl_fn<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = real_ssl_fn<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static auto real = real_ssl_fn<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

int SSL_accept(SSL* ssl) {
  static auto real = real_ssl_fn<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"
