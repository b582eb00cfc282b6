#include "transport/request_guard.hpp"

#include <cctype>
#include <string>

namespace prestage::transport {
namespace {
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool is_loopback_authority(std::string_view authority, unsigned short port) {
  const std::string suffix = ":" + std::to_string(port);
  for (std::string_view host : {"127.0.0.1", "localhost", "[::1]"}) {
    if (iequals(authority, std::string(host) + suffix)) return true;
  }
  return false;
}
}  // namespace

bool check_host(std::optional<std::string_view> host, unsigned short port) {
  return host && is_loopback_authority(*host, port);
}

bool check_origin(std::optional<std::string_view> origin, unsigned short port) {
  if (!origin) return true;
  constexpr std::string_view scheme = "http://";
  if (origin->size() <= scheme.size() || !iequals(origin->substr(0, scheme.size()), scheme)) return false;
  return is_loopback_authority(origin->substr(scheme.size()), port);
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool check_bearer(std::optional<std::string_view> authorization, std::string_view token) {
  if (!authorization || token.empty()) return false;
  constexpr std::string_view scheme = "Bearer ";
  if (authorization->size() < scheme.size() || !iequals(authorization->substr(0, scheme.size()), scheme)) return false;
  return constant_time_equals(authorization->substr(scheme.size()), token);
}
}  // namespace prestage::transport
