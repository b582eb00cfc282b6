#pragma once
// Pure checks applied to every request (docs/protocol.md "Endpoints"): Host, Origin, bearer token.
#include <optional>
#include <string_view>

namespace prestage::transport {
// Host must be 127.0.0.1:PORT, localhost:PORT or [::1]:PORT (DNS-rebinding guard).
bool check_host(std::optional<std::string_view> host, unsigned short port);
// Absent Origin passes; a present one must be http:// + an allowed host (a web page posting to localhost).
bool check_origin(std::optional<std::string_view> origin, unsigned short port);
// `Authorization: Bearer TOKEN`, compared in constant time. An empty expected token never matches.
bool check_bearer(std::optional<std::string_view> authorization, std::string_view token);
// Compares without early exit; the running time depends only on the lengths.
bool constant_time_equals(std::string_view a, std::string_view b);
}  // namespace prestage::transport
