#include <catch2/catch.hpp>

#include "transport/request_guard.hpp"

using namespace prestage::transport;

TEST_CASE("Host: only loopback names with the daemon's port pass") {
  const unsigned short port = 40123;
  CHECK(check_host("127.0.0.1:40123", port));
  CHECK(check_host("localhost:40123", port));
  CHECK(check_host("LOCALHOST:40123", port));
  CHECK(check_host("[::1]:40123", port));
  CHECK_FALSE(check_host(std::nullopt, port));
  CHECK_FALSE(check_host("", port));
  CHECK_FALSE(check_host("127.0.0.1", port));          // no port
  CHECK_FALSE(check_host("127.0.0.1:40124", port));    // other port
  CHECK_FALSE(check_host("evil.example:40123", port));  // DNS rebinding
  CHECK_FALSE(check_host("127.0.0.1.evil.example:40123", port));
  CHECK_FALSE(check_host("localhost:40123.evil", port));
  CHECK_FALSE(check_host("0.0.0.0:40123", port));
  CHECK_FALSE(check_host("::1:40123", port));
}

TEST_CASE("Origin: absent passes; present must be http:// + the same loopback host") {
  const unsigned short port = 40123;
  CHECK(check_origin(std::nullopt, port));
  CHECK(check_origin("http://127.0.0.1:40123", port));
  CHECK(check_origin("http://localhost:40123", port));
  CHECK(check_origin("http://[::1]:40123", port));
  CHECK_FALSE(check_origin("null", port));
  CHECK_FALSE(check_origin("", port));
  CHECK_FALSE(check_origin("https://evil.example", port));
  CHECK_FALSE(check_origin("http://evil.example:40123", port));
  CHECK_FALSE(check_origin("http://localhost:8080", port));
  CHECK_FALSE(check_origin("https://localhost:40123", port));
  CHECK_FALSE(check_origin("http://localhost:40123/path", port));
  CHECK_FALSE(check_origin("vscode-webview://localhost:40123", port));
}

TEST_CASE("Bearer: exact token only, compared in constant time") {
  const std::string token(64, 'a');
  CHECK(check_bearer("Bearer " + token, token));
  CHECK(check_bearer("bearer " + token, token));  // the scheme is case-insensitive
  CHECK_FALSE(check_bearer(std::nullopt, token));
  CHECK_FALSE(check_bearer("", token));
  CHECK_FALSE(check_bearer(token, token));                         // no scheme
  CHECK_FALSE(check_bearer("Basic " + token, token));
  CHECK_FALSE(check_bearer("Bearer " + token + "a", token));       // longer
  CHECK_FALSE(check_bearer("Bearer " + token.substr(1), token));   // shorter
  CHECK_FALSE(check_bearer("Bearer " + std::string(63, 'a') + "b", token));
  CHECK_FALSE(check_bearer("Bearer ", ""));                        // no token configured: nothing passes
  CHECK(constant_time_equals("abc", "abc"));
  CHECK_FALSE(constant_time_equals("abc", "abd"));
  CHECK_FALSE(constant_time_equals("abc", "ab"));
  CHECK_FALSE(constant_time_equals("", "a"));
  CHECK(constant_time_equals("", ""));
}
