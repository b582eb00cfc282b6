// The real Listener on 127.0.0.1:0 in-process, probed with real Beast clients.
#include <catch2/catch.hpp>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "rpc/dispatcher.hpp"
#include "rpc/notifier.hpp"
#include "transport/listener.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace prestage;

namespace {
const std::string kToken(64, 'f');

struct Server {
  net::io_context ioc{1};
  rpc::Dispatcher dispatcher;
  rpc::Notifier notifier;
  std::shared_ptr<transport::Listener> listener;
  std::thread thread;

  explicit Server(transport::Limits limits = {}) {
    dispatcher.add("echo", [](const json& params, rpc::CallContext&, rpc::Responder reply) { reply.ok(params); });
    dispatcher.add("whoami", [](const json&, rpc::CallContext& ctx, rpc::Responder reply) { reply.ok(ctx.peer != nullptr); });
    auto health = [this](bool authorized) {
      json body = {{"status", "ok"}, {"version", "test"}, {"uptime_s", 0}};
      if (authorized) body["clients"] = notifier.connected();
      return body;
    };
    listener = std::make_shared<transport::Listener>(ioc, transport::TransportConfig{kToken, 0, limits},
                                                     transport::Endpoints{&dispatcher, &notifier, health});
    listener->run();
    thread = std::thread([this] { ioc.run(); });
  }
  ~Server() {
    listener->stop();
    ioc.stop();
    thread.join();
  }
  unsigned short port() const { return listener->port(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port()); }
};

struct Client {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  explicit Client(unsigned short port) {
    stream.expires_after(std::chrono::seconds(30));  // failure guard only
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> request(http::request<http::string_body> req) {
    req.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res;
  }
  // True when the server closed the connection (EOF or reset) within the guard time.
  bool closed_by_server() {
    stream.expires_after(std::chrono::seconds(30));
    char byte;
    beast::error_code ec;
    stream.read_some(net::buffer(&byte, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }
};

http::request<http::string_body> post(const Server& s, std::string body, bool with_token = true) {
  http::request<http::string_body> req{http::verb::post, "/rpc", 11};
  req.set(http::field::host, s.host());
  req.set(http::field::content_type, "application/json");
  if (with_token) req.set(http::field::authorization, "Bearer " + kToken);
  req.body() = std::move(body);
  return req;
}

http::request<http::string_body> get(const Server& s, std::string target) {
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, s.host());
  return req;
}

const std::string kEcho = R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"x":1}})";
}  // namespace

TEST_CASE("GET /health needs no token; with the token it adds counts") {
  Server s;
  Client c(s.port());
  auto res = c.request(get(s, "/health"));
  CHECK(res.result() == http::status::ok);
  auto body = json::parse(res.body());
  CHECK(body["status"] == "ok");
  CHECK_FALSE(body.contains("clients"));
  auto req = get(s, "/health");
  req.set(http::field::authorization, "Bearer " + kToken);
  body = json::parse(c.request(req).body());  // same connection: keep-alive
  CHECK(body.contains("clients"));
}

TEST_CASE("POST /rpc: token required, JSON-RPC answered, notifications get 204") {
  Server s;
  Client c(s.port());
  auto res = c.request(post(s, kEcho, false));
  CHECK(res.result() == http::status::unauthorized);
  auto wrong = post(s, kEcho, false);
  wrong.set(http::field::authorization, "Bearer " + std::string(64, 'e'));
  Client c2(s.port());
  CHECK(c2.request(wrong).result() == http::status::unauthorized);

  Client c3(s.port());
  res = c3.request(post(s, kEcho));
  REQUIRE(res.result() == http::status::ok);
  CHECK(json::parse(res.body()) == json::parse(R"({"jsonrpc":"2.0","id":1,"result":{"x":1}})"));
  res = c3.request(post(s, R"({"jsonrpc":"2.0","method":"echo"})"));
  CHECK(res.result() == http::status::no_content);
  CHECK(res.body().empty());
  res = c3.request(post(s, R"([{"jsonrpc":"2.0","id":1,"method":"echo"},{"jsonrpc":"2.0","id":2,"method":"whoami"}])"));
  auto batch = json::parse(res.body());
  REQUIRE(batch.size() == 2);
  CHECK(batch[1]["result"] == false);  // HTTP calls have no peer
}

TEST_CASE("Host and Origin outside loopback get 403, checked before the token") {
  Server s;
  auto rebinding = post(s, kEcho);
  rebinding.set(http::field::host, "evil.example:" + std::to_string(s.port()));
  CHECK(Client(s.port()).request(rebinding).result() == http::status::forbidden);

  auto page = post(s, kEcho, false);
  page.set(http::field::origin, "https://evil.example");
  CHECK(Client(s.port()).request(page).result() == http::status::forbidden);

  auto health_from_page = get(s, "/health");
  health_from_page.set(http::field::origin, "http://evil.example");
  CHECK(Client(s.port()).request(health_from_page).result() == http::status::forbidden);

  auto same_origin = post(s, kEcho);
  same_origin.set(http::field::origin, "http://localhost:" + std::to_string(s.port()));
  same_origin.set(http::field::host, "localhost:" + std::to_string(s.port()));
  CHECK(Client(s.port()).request(same_origin).result() == http::status::ok);
}

TEST_CASE("unknown paths get 404 and wrong methods 405") {
  Server s;
  Client c(s.port());
  CHECK(c.request(get(s, "/nope")).result() == http::status::not_found);
  auto res = c.request(get(s, "/rpc"));
  CHECK(res.result() == http::status::method_not_allowed);
  auto put = post(s, "{}");
  put.method(http::verb::put);
  put.target("/health");
  CHECK(c.request(put).result() == http::status::method_not_allowed);
}

TEST_CASE("a body over 8 MiB gets 413 and headers over 16 KiB get 431") {
  Server s;
  Client c(s.port());
  auto big = post(s, std::string(8 * 1024 * 1024 + 1, ' '));
  auto res = c.request(big);
  CHECK(res.result() == http::status::payload_too_large);

  Client c2(s.port());
  auto fat = get(s, "/health");
  fat.set("X-Padding", std::string(17 * 1024, 'x'));
  CHECK(c2.request(fat).result() == http::status::request_header_fields_too_large);

  Client c3(s.port());
  CHECK(c3.request(post(s, std::string(100000, '['))).result() == http::status::ok);  // depth: a JSON-RPC error, not a crash
}

TEST_CASE("slow requests and idle connections are closed by timeouts") {
  transport::Limits limits;
  limits.request_timeout = std::chrono::seconds(1);
  limits.idle_timeout = std::chrono::seconds(1);
  Server s(limits);
  Client slow(s.port());
  net::write(slow.stream.socket(), net::buffer(std::string("POST /rpc HTTP/1.1\r\nHost: ") + s.host() + "\r\n"));
  CHECK(slow.closed_by_server());
  Client idle(s.port());
  CHECK(idle.closed_by_server());
}

TEST_CASE("connections past the cap get 503") {
  transport::Limits limits;
  limits.max_connections = 2;
  Server s(limits);
  Client a(s.port()), b(s.port());
  CHECK(a.request(get(s, "/health")).result() == http::status::ok);
  CHECK(b.request(get(s, "/health")).result() == http::status::ok);
  Client third(s.port());
  CHECK(third.request(get(s, "/health")).result() == http::status::service_unavailable);
}

namespace {
struct WsClient {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  void connect(const Server& s, std::optional<std::string> token) {
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.port()));
    ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      if (token) req.set(http::field::authorization, "Bearer " + *token);
    }));
    ws.handshake(s.host(), "/rpc");
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
  }
  json read() {
    buffer.consume(buffer.size());
    ws.read(buffer);
    return json::parse(beast::buffers_to_string(buffer.data()));
  }
};
}  // namespace

TEST_CASE("WebSocket on /rpc: token required, JSON-RPC both ways, notifications pushed") {
  Server s;
  WsClient anonymous;
  CHECK_THROWS(anonymous.connect(s, std::nullopt));

  WsClient client;
  client.connect(s, kToken);
  client.ws.write(net::buffer(kEcho));
  CHECK(client.read() == json::parse(R"({"jsonrpc":"2.0","id":1,"result":{"x":1}})"));
  client.ws.write(net::buffer(std::string(R"({"jsonrpc":"2.0","id":2,"method":"whoami"})")));
  CHECK(client.read()["result"] == true);

  REQUIRE(s.notifier.connected() == 1);
  for (int i = 0; i < 50; ++i) s.notifier.broadcast("projects/changed", {{"n", i}});  // queued, one write at a time
  for (int i = 0; i < 50; ++i) {
    auto note = client.read();
    CHECK(note["method"] == "projects/changed");
    CHECK(note["params"]["n"] == i);
  }
}
