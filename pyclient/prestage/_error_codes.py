"""JSON-RPC error codes of prestaged.

GENERATED from schemas/error-codes.json by schemas/gen_error_codes.py: do not edit; rerun
`python3 schemas/gen_error_codes.py` after changing the table."""

# parse error: the body is not valid JSON
PARSE_ERROR = -32700
# invalid request (not an object, bad `jsonrpc`, nesting too deep, empty batch)
INVALID_REQUEST = -32600
# method not found
METHOD_NOT_FOUND = -32601
# invalid params; the message names the field
INVALID_PARAMS = -32602
# internal error (a handler threw)
INTERNAL_ERROR = -32603
# build failed: `data` is `{project, generation, diagnostics, log_tail}`
BUILD_FAILED = -32001
# a wait for a build timed out: `data` is `{project, progress?}` (spec/resolve) or `{projects}` (sync)
BUILD_TIMEOUT = -32002
# no generation yet (the first build has not finished)
NOT_BUILT = -32003

# name -> code, in the table's order
CODES = {
    'parse_error': -32700,
    'invalid_request': -32600,
    'method_not_found': -32601,
    'invalid_params': -32602,
    'internal_error': -32603,
    'build_failed': -32001,
    'build_timeout': -32002,
    'not_built': -32003,
}
