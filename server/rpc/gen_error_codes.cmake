# Writes rpc/error_codes.hpp from schemas/error-codes.json (the one table of JSON-RPC error codes).
# Run at build time: cmake -DIN=<error-codes.json> -DOUT=<error_codes.hpp> -P gen_error_codes.cmake
file(READ "${IN}" table)
string(JSON count LENGTH "${table}")
if(count EQUAL 0)
  message(FATAL_ERROR "${IN}: the error-code table is empty")
endif()
math(EXPR last "${count} - 1")
set(constants "")
set(entries "")
foreach(i RANGE ${last})
  string(JSON name GET "${table}" ${i} name)
  string(JSON code GET "${table}" ${i} code)
  string(JSON description GET "${table}" ${i} description)
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$" OR NOT code MATCHES "^-?[0-9]+$")
    message(FATAL_ERROR "${IN}: entry ${i} needs a snake_case name and an integer code (got '${name}', '${code}')")
  endif()
  string(APPEND constants "// ${description}\ninline constexpr int ${name} = ${code};\n")
  string(APPEND entries "    Entry{\"${name}\", ${code}},\n")
endforeach()
set(text "// Generated from schemas/error-codes.json by server/rpc/gen_error_codes.cmake at build time: do not edit.
#pragma once
#include <array>
#include <string_view>

namespace prestage::rpc::codes {
${constants}
struct Entry {
  std::string_view name;
  int code;
};
// Every code of the table, in its order.
inline constexpr std::array<Entry, ${count}> all{{
${entries}}};
}  // namespace prestage::rpc::codes
")
file(WRITE "${OUT}" "${text}")
