#include "util/sha256.hpp"

// The low-level SHA256_* calls (deprecated in OpenSSL 3, still exported, same assembly) rather than EVP:
// EVP's first use loads the provider machinery, about 2 MB more of libcrypto resident in the daemon.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <fstream>
#include <stdexcept>
#include <system_error>

namespace prestage::util {
Sha256::Sha256() : ctx_(new SHA256_CTX) {
  if (SHA256_Init(static_cast<SHA256_CTX*>(ctx_)) != 1) {
    delete static_cast<SHA256_CTX*>(ctx_);
    throw std::runtime_error("sha256: cannot initialise OpenSSL digest");
  }
}

Sha256::~Sha256() { delete static_cast<SHA256_CTX*>(ctx_); }

void Sha256::update(std::string_view data) { SHA256_Update(static_cast<SHA256_CTX*>(ctx_), data.data(), data.size()); }

std::string Sha256::hex_digest() {
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned int len = SHA256_DIGEST_LENGTH;
  SHA256_Final(md, static_cast<SHA256_CTX*>(ctx_));
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(digits[md[i] >> 4]);
    out.push_back(digits[md[i] & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
  Sha256 h;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    h.update(std::string_view(buf, static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) throw std::system_error(errno, std::generic_category(), "cannot read " + path.string());
  return h.hex_digest();
}
}  // namespace prestage::util
