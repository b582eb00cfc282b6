#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "rpc/dispatcher.hpp"
#include "rpc/notifier.hpp"
#include "rpc/params.hpp"

using nlohmann::json;
using namespace prestage::rpc;

namespace {
struct Outcome {
  int calls = 0;
  std::optional<std::string> text;
  json parsed() const { return json::parse(text.value()); }
};

Outcome run(Dispatcher& d, std::string_view body) {
  Outcome out;
  d.handle(body, CallContext{}, [&out](std::optional<std::string> reply) {
    ++out.calls;
    out.text = std::move(reply);
  });
  return out;
}

Dispatcher make_dispatcher() {
  Dispatcher d;
  d.add("echo", [](const json& params, CallContext&, Responder reply) { reply.ok(params); });
  d.add("add", [](const json& params, CallContext&, Responder reply) {
    ParamReader p(params);
    reply.ok(p.integer("a") + p.integer("b"));
  });
  d.add("throws", [](const json&, CallContext&, Responder) { throw std::runtime_error("boom"); });
  d.add("silent", [](const json&, CallContext&, Responder) {});
  d.add("serialized", [](const json& params, CallContext&, Responder reply) { reply.ok_serialized(params.at("text").get<std::string>()); });
  d.add("twice", [](const json&, CallContext&, Responder reply) {
    reply.ok(1);
    reply.ok(2);
    reply.fail(Error{codes::internal_error, "late", nullptr});
  });
  return d;
}
}  // namespace

TEST_CASE("a valid request gets its result with the same id") {
  auto d = make_dispatcher();
  auto out = run(d, R"({"jsonrpc":"2.0","id":7,"method":"add","params":{"a":2,"b":3}})");
  REQUIRE(out.calls == 1);
  CHECK(out.parsed() == json::parse(R"({"jsonrpc":"2.0","id":7,"result":5})"));
  out = run(d, R"({"jsonrpc":"2.0","id":"abc","method":"echo"})");
  CHECK(out.parsed()["id"] == "abc");
  CHECK(out.parsed()["result"] == json::object());  // absent params reach handlers as {}
}

TEST_CASE("unparsable JSON is a -32700 parse error with a null id") {
  auto d = make_dispatcher();
  auto out = run(d, R"({"jsonrpc":"2.0","id":1,"method":"echo")");
  REQUIRE(out.calls == 1);
  CHECK(out.parsed()["error"]["code"] == codes::parse_error);
  CHECK(out.parsed()["id"].is_null());
}

TEST_CASE("each kind of invalid request is -32600") {
  auto d = make_dispatcher();
  const char* bodies[] = {
      R"(42)",                                                  // not an object
      R"("text")",                                              // not an object
      R"({"id":1,"method":"echo"})",                            // no jsonrpc
      R"({"jsonrpc":"1.0","id":1,"method":"echo"})",            // wrong version
      R"({"jsonrpc":2.0,"id":1,"method":"echo"})",              // version not a string
      R"({"jsonrpc":"2.0","id":1})",                            // no method
      R"({"jsonrpc":"2.0","id":1,"method":5})",                 // method not a string
      R"({"jsonrpc":"2.0","id":{"x":1},"method":"echo"})",      // id an object
      R"({"jsonrpc":"2.0","id":true,"method":"echo"})",         // id a bool
      R"({"jsonrpc":"2.0","id":1,"method":"echo","params":3})", // params not structured
      R"([])",                                                  // empty batch
  };
  for (const char* body : bodies) {
    INFO(body);
    auto out = run(d, body);
    REQUIRE(out.calls == 1);
    CHECK(out.parsed()["error"]["code"] == codes::invalid_request);
  }
}

TEST_CASE("an unknown method is -32601 naming the method; for a notification nothing is sent") {
  auto d = make_dispatcher();
  auto out = run(d, R"({"jsonrpc":"2.0","id":1,"method":"nope"})");
  CHECK(out.parsed()["error"]["code"] == codes::method_not_found);
  CHECK_THAT(out.parsed()["error"]["message"].get<std::string>(), Catch::Contains("nope"));
  out = run(d, R"({"jsonrpc":"2.0","method":"nope"})");
  CHECK(out.calls == 1);
  CHECK_FALSE(out.text.has_value());
}

TEST_CASE("invalid params are -32602 with a message naming the field") {
  auto d = make_dispatcher();
  auto out = run(d, R"({"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1}})");
  CHECK(out.parsed()["error"]["code"] == codes::invalid_params);
  CHECK_THAT(out.parsed()["error"]["message"].get<std::string>(), Catch::Contains("params.b"));
  out = run(d, R"({"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":"two"}})");
  CHECK(out.parsed()["error"]["code"] == codes::invalid_params);
  CHECK_THAT(out.parsed()["error"]["message"].get<std::string>(), Catch::Contains("params.b") && Catch::Contains("integer"));
  out = run(d, R"({"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]})");
  CHECK(out.parsed()["error"]["code"] == codes::invalid_params);
}

TEST_CASE("a throwing handler gets exactly one -32603 reply") {
  auto d = make_dispatcher();
  auto out = run(d, R"({"jsonrpc":"2.0","id":3,"method":"throws"})");
  REQUIRE(out.calls == 1);
  CHECK(out.parsed()["error"]["code"] == codes::internal_error);
  CHECK_THAT(out.parsed()["error"]["message"].get<std::string>(), Catch::Contains("boom"));
  CHECK(out.parsed()["id"] == 3);
}

TEST_CASE("exactly one reply: first reply wins, a dropped responder answers -32603") {
  auto d = make_dispatcher();
  auto out = run(d, R"({"jsonrpc":"2.0","id":1,"method":"twice"})");
  REQUIRE(out.calls == 1);
  CHECK(out.parsed()["result"] == 1);

  out = run(d, R"({"jsonrpc":"2.0","id":2,"method":"silent"})");
  REQUIRE(out.calls == 1);
  CHECK(out.parsed()["error"]["code"] == codes::internal_error);
  CHECK_THAT(out.parsed()["error"]["message"].get<std::string>(), Catch::Contains("did not reply"));
}

TEST_CASE("a handler may reply later, and the reply arrives once") {
  Dispatcher d;
  std::optional<Responder> parked;
  d.add("later", [&parked](const json&, CallContext&, Responder reply) { parked = reply; });
  auto out = run(d, R"({"jsonrpc":"2.0","id":9,"method":"later"})");
  CHECK(out.calls == 0);
  REQUIRE(parked.has_value());
  CHECK_FALSE(parked->replied());
  parked->ok("done");
  CHECK(parked->replied());
  parked.reset();  // dropping the last copy after a reply must not send a second one
  REQUIRE(out.calls == 1);
  CHECK(out.parsed()["result"] == "done");
}

TEST_CASE("batches answer an array with one reply per request, skipping notifications") {
  auto d = make_dispatcher();
  auto out = run(d, R"([
    {"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":1}},
    {"jsonrpc":"2.0","method":"echo","params":{}},
    {"jsonrpc":"2.0","id":2,"method":"nope"},
    7,
    {"jsonrpc":"2.0","id":3,"method":"throws"}
  ])");
  REQUIRE(out.calls == 1);
  auto replies = out.parsed();
  REQUIRE(replies.is_array());
  REQUIRE(replies.size() == 4);
  CHECK(replies[0]["result"] == 2);
  CHECK(replies[1]["error"]["code"] == codes::method_not_found);
  CHECK(replies[2]["error"]["code"] == codes::invalid_request);
  CHECK(replies[3]["error"]["code"] == codes::internal_error);

  out = run(d, R"([{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"silent"}])");
  CHECK(out.calls == 1);
  CHECK_FALSE(out.text.has_value());
}

TEST_CASE("nesting depth 64 is accepted, 65 refused before parsing") {
  auto d = make_dispatcher();
  auto nested = [](int depth) {
    // params object is depth 2 inside the request object, then arrays.
    return std::string(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"x":)") + std::string(depth - 2, '[') +
           std::string(depth - 2, ']') + "}}";
  };
  auto ok = run(d, nested(64));
  CHECK(ok.parsed().contains("result"));
  auto too_deep = run(d, nested(65));
  CHECK(too_deep.parsed()["error"]["code"] == codes::invalid_request);
  CHECK_THAT(too_deep.parsed()["error"]["message"].get<std::string>(), Catch::Contains("64"));
}

TEST_CASE("a million nested brackets are refused without recursing") {
  auto d = make_dispatcher();
  auto out = run(d, std::string(1'000'000, '['));
  REQUIRE(out.calls == 1);
  CHECK(out.parsed()["error"]["code"] == codes::invalid_request);
}

namespace {
struct RecordingPeer : Peer {
  std::vector<std::string> sent;
  void send_text(std::string text) override { sent.push_back(std::move(text)); }
};
}  // namespace

TEST_CASE("the notifier reaches live peers only") {
  Notifier notifier;
  auto a = std::make_shared<RecordingPeer>();
  auto b = std::make_shared<RecordingPeer>();
  notifier.add(a);
  notifier.add(b);
  CHECK(notifier.connected() == 2);
  b.reset();
  CHECK(notifier.connected() == 1);
  notifier.broadcast("projects/changed", json::object());
  REQUIRE(a->sent.size() == 1);
  CHECK(json::parse(a->sent[0]) == json::parse(R"({"jsonrpc":"2.0","method":"projects/changed","params":{}})"));
}

TEST_CASE("a result given as JSON text gives the same reply text as the same result given as JSON") {
  auto d = make_dispatcher();
  const json result = {{"project", "p"}, {"generation", 3}, {"artifacts", json::array({{{"module", "m"}, {"path", "/x/\"y\""}}})}};
  for (const char* id : {"7", "\"abc\"", "null"}) {
    auto as_text = run(d, std::string(R"({"jsonrpc":"2.0","id":)") + id + R"(,"method":"serialized","params":{"text":)" +
                              json(result.dump()).dump() + "}}");
    auto as_json = run(d, std::string(R"({"jsonrpc":"2.0","id":)") + id + R"(,"method":"echo","params":)" + result.dump() + "}");
    REQUIRE(as_text.calls == 1);
    CHECK(as_text.text == as_json.text);
    CHECK(*as_text.text == Dispatcher::result_reply(json::parse(id), result).dump());
  }
  auto batch = run(d, R"([{"jsonrpc":"2.0","id":1,"method":"serialized","params":{"text":"null"}},
                          {"jsonrpc":"2.0","method":"serialized","params":{"text":"1"}},
                          {"jsonrpc":"2.0","id":2,"method":"add","params":{"a":1,"b":2}}])");
  REQUIRE(batch.calls == 1);
  CHECK(*batch.text == R"([{"id":1,"jsonrpc":"2.0","result":null},{"id":2,"jsonrpc":"2.0","result":3}])");
}

TEST_CASE("a result that cannot be serialized still gets exactly one reply, a -32603 naming the problem") {
  Dispatcher d;
  d.add("bad_utf8", [](const json&, CallContext&, Responder reply) { reply.ok(std::string("\xff\xfe")); });
  auto out = run(d, R"({"jsonrpc":"2.0","id":4,"method":"bad_utf8"})");
  REQUIRE(out.calls == 1);
  CHECK(out.parsed()["id"] == 4);
  CHECK(out.parsed()["error"]["code"] == codes::internal_error);
  CHECK_THAT(out.parsed()["error"]["message"].get<std::string>(), Catch::Contains("UTF-8"));
}
