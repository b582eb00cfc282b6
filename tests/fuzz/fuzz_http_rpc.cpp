// Fuzzes HTTP request parsing the way HttpSession does it: Beast's request parser with the daemon's
// header/body limits, then the RequestGuard checks (Host, Origin, bearer token), then the body
// through the JSON-RPC dispatcher. Bytes go through parser.put() in two chunks, as a socket would.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "fuzz_support.hpp"
#include "transport/request_guard.hpp"
#include "transport/server_shared.hpp"

namespace http = boost::beast::http;
namespace net = boost::asio;

namespace {
constexpr unsigned short kPort = 4242;
constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef";

std::optional<std::string_view> field(const http::request<http::string_body>& req, http::field name) {
  auto it = req.find(name);
  if (it == req.end()) return std::nullopt;
  return std::string_view(it->value().data(), it->value().size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static prestage::fuzz::RpcStack stack;
  static const prestage::transport::Limits limits;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.header_max));
  parser.body_limit(limits.body_max);
  parser.eager(true);
  boost::beast::error_code ec;
  // Feed in two reads, as a socket would: Beast consumes what it can and keeps the rest buffered.
  const std::size_t split = size ? std::min<std::size_t>(size, data[0] + 1) : 0;
  std::string pending;
  for (std::string_view chunk : {input.substr(0, split), input.substr(split)}) {
    pending.append(chunk);
    while (!pending.empty() && !parser.is_done()) {
      const std::size_t used = parser.put(net::buffer(pending.data(), pending.size()), ec);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return 0;  // the daemon answers 400/413/431 and closes
      pending.erase(0, used);
      if (used == 0) break;
    }
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  const auto& req = parser.get();
  const bool host_ok = prestage::transport::check_host(field(req, http::field::host), kPort);
  const bool origin_ok = prestage::transport::check_origin(field(req, http::field::origin), kPort);
  const bool token_ok = prestage::transport::check_bearer(field(req, http::field::authorization), kToken);
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  if (host_ok && origin_ok && token_ok && target == "/rpc" && req.method() == http::verb::post) {
    stack.dispatch(req.body());
    stack.reset_if_large();
  }
  return 0;
}
