/*
 * v8ser_test.c - V8's serialization format (Node's 'advanced' channel):
 * libherd's reader and writer against the real node, both ways.
 *
 *  - tests/node/v8-cases.js makes every case with Node itself; its bytes
 *    (v8.serialize, and the payload of Node's own channel writer) are
 *    read here, checked against the JSON rendering below, and written
 *    back: the same bytes, where Node writes the value canonically.
 *  - The same JSON texts, read here and written, go to node, which reads
 *    them (v8.deserialize, and the channel's reader) and compares them
 *    with its own cases; and a real fork(..., {serialization:'advanced'})
 *    sends every case through a C helper that echoes it.
 *  - Malformed input: every prefix of every case, oversized lengths,
 *    depth, tags, versions, references: each a clear error, nothing
 *    leaked (SANITIZE=1 checks that).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jtest.h"
#include "test.h"

#define NONCANON 1 /* Node writes what it holds, not the value: compared
                      as values, not bytes (see the cases' nc_ prefix) */

struct v8case {
  const char *name;
  int flags;
  const char *json; /* the JSON rendering (docs/v8.md) */
};

/* The cases of tests/node/v8-cases.js, by name, as libherd renders them. */
static const struct v8case cases[] = {
    {"undef", 0,
     "{\"$v8\":\"undefined\"}"},
    {"null", 0,
     "null"},
    {"true", 0,
     "true"},
    {"false", 0,
     "false"},
    {"int1", 0,
     "1"},
    {"int300", 0,
     "300"},
    {"intneg1", 0,
     "-1"},
    {"intmin", 0,
     "-2147483648"},
    {"intmax", 0,
     "2147483647"},
    {"two31", 0,
     "2147483648"},
    {"u32max", 0,
     "4294967295"},
    {"dbl", 0,
     "1.5"},
    {"dbl_tenth", 0,
     "0.1"},
    {"dbl_pi", 0,
     "3.141592653589793"},
    {"dbl_tiny", 0,
     "5e-324"},
    {"dbl_1e21", 0,
     "1e+21"},
    {"dbl_big_int", 0,
     "9007199254740994"},
    {"dbl_neg_small", 0,
     "-1.25e-7"},
    {"negzero", 0,
     "{\"$v8\":\"Number\",\"value\":\"-0\"}"},
    {"nan", 0,
     "{\"$v8\":\"Number\",\"value\":\"NaN\"}"},
    {"inf", 0,
     "{\"$v8\":\"Number\",\"value\":\"Infinity\"}"},
    {"ninf", 0,
     "{\"$v8\":\"Number\",\"value\":\"-Infinity\"}"},
    {"big0", 0,
     "{\"$v8\":\"BigInt\",\"value\":\"0\"}"},
    {"big_neg5", 0,
     "{\"$v8\":\"BigInt\",\"value\":\"-5\"}"},
    {"big_2p70", 0,
     "{\"$v8\":\"BigInt\",\"value\":\"1180591620717411303424\"}"},
    {"big_neg2p64", 0,
     "{\"$v8\":\"BigInt\",\"value\":\"-18446744073709551616\"}"},
    {"big_2p300m1", 0,
     "{\"$v8\":\"BigInt\",\"value\":\"203703597633448608626844568840937816"
     "1051468393665936250636140449354381299763336706183397375\"}"},
    {"big_dec", 0,
     "{\"$v8\":\"BigInt\",\"value\":\"123456789012345678901234567890\"}"},
    {"str_empty", 0,
     "\"\""},
    {"str_hi", 0,
     "\"hi\""},
    {"str_latin1", 0,
     "\"\303\251\""},
    {"str_all_latin1", 0,
     "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n"
     "\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u001"
     "5\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u0"
     "01f !\\\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\"
     "\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\177\302\200\302\201\302\202\302"
     "\203\302\204\302\205\302\206\302\207\302\210\302\211\302\212\302\213"
     "\302\214\302\215\302\216\302\217\302\220\302\221\302\222\302\223\302"
     "\224\302\225\302\226\302\227\302\230\302\231\302\232\302\233\302\234"
     "\302\235\302\236\302\237\302\240\302\241\302\242\302\243\302\244\302"
     "\245\302\246\302\247\302\250\302\251\302\252\302\253\302\254\302\255"
     "\302\256\302\257\302\260\302\261\302\262\302\263\302\264\302\265\302"
     "\266\302\267\302\270\302\271\302\272\302\273\302\274\302\275\302\276"
     "\302\277\303\200\303\201\303\202\303\203\303\204\303\205\303\206\303"
     "\207\303\210\303\211\303\212\303\213\303\214\303\215\303\216\303\217"
     "\303\220\303\221\303\222\303\223\303\224\303\225\303\226\303\227\303"
     "\230\303\231\303\232\303\233\303\234\303\235\303\236\303\237\303\240"
     "\303\241\303\242\303\243\303\244\303\245\303\246\303\247\303\250\303"
     "\251\303\252\303\253\303\254\303\255\303\256\303\257\303\260\303\261"
     "\303\262\303\263\303\264\303\265\303\266\303\267\303\270\303\271\303"
     "\272\303\273\303\274\303\275\303\276\303\277\""},
    {"str_nul", 0,
     "\"a\\u0000b\""},
    {"str_euro", 0,
     "\"\342\202\254\""},
    {"str_astral", 0,
     "\"ab\360\237\230\200\""},
    {"str_lone_high", 0,
     "\"\\ud800\""},
    {"str_lone_low", 0,
     "\"x\\udc00y\""},
    {"str_reversed_pair", 0,
     "\"\\udc00\\ud800\""},
    {"str_ctrl", 0,
     "\"\\n\\t\\\"\\\\\\u0001\177\""},
    {"str_fffd", 0,
     "\"\357\277\275\""},
    {"str_pad", 0,
     "[\"a\",\"\342\202\254\"]"},
    {"str_pad_key", 0,
     "{\"\342\202\254\":1}"},
    {"str_long_2byte", 0,
     "\"\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
     "\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342"
     "\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254"
     "\""},
    {"date", 0,
     "{\"$v8\":\"Date\",\"ms\":1700000000000}"},
    {"date_neg", 0,
     "{\"$v8\":\"Date\",\"ms\":-1}"},
    {"date_invalid", 0,
     "{\"$v8\":\"Date\",\"ms\":null}"},
    {"re", 0,
     "{\"$v8\":\"RegExp\",\"source\":\"ab+c\",\"flags\":\"gi\"}"},
    {"re_all", 0,
     "{\"$v8\":\"RegExp\",\"source\":\"a\",\"flags\":\"dgimsuy\"}"},
    {"re_v", 0,
     "{\"$v8\":\"RegExp\",\"source\":\"[\\\\p{L}--[a-z]]\",\"flags\":\"v\""
     "}"},
    {"re_newline", 0,
     "{\"$v8\":\"RegExp\",\"source\":\"a\\\\/b\\\\n\342\202\254\",\"flags"
     "\":\"\"}"},
    {"arr_empty", 0,
     "[]"},
    {"arr_dense", 0,
     "[1,2,3]"},
    {"arr_mixed", 0,
     "[1,\"two\",null,{\"$v8\":\"undefined\"},true,2.5]"},
    {"arr_holes", 0,
     "{\"$v8\":\"Array\",\"length\":3,\"props\":{\"0\":1,\"2\":3}}"},
    {"arr_trailing_hole", 0,
     "{\"$v8\":\"Array\",\"length\":3,\"props\":{\"0\":1,\"1\":2}}"},
    {"arr_sparse", 0,
     "{\"$v8\":\"Array\",\"length\":6,\"props\":{\"5\":\"x\"}}"},
    {"arr_extra", 0,
     "{\"$v8\":\"Array\",\"length\":3,\"props\":{\"0\":1,\"1\":2,\"2\":3,"
     "\"extra\":true}}"},
    {"arr_sparse_extra", 0,
     "{\"$v8\":\"Array\",\"length\":3,\"props\":{\"1\":\"b\",\"k\":\"v\"}}"},
    {"arr_nested", 0,
     "[[1,[2]],{\"a\":[]}]"},
    {"arr_max_len", 0,
     "{\"$v8\":\"Array\",\"length\":4294967295,\"props\":{}}"},
    {"arr_last_index", 0,
     "{\"$v8\":\"Array\",\"length\":4294967295,\"props\":{\"4294967294\":"
     "\"z\"}}"},
    {"obj_empty", 0,
     "{}"},
    {"obj_nested", 0,
     "{\"a\":{\"b\":\"c\"}}"},
    {"obj_int_keys", 0,
     "{\"1\":3,\"b\":1,\"a\":2,\"-1\":4,\"01\":5}"},
    {"obj_big_keys", 0,
     "{\"2147483647\":3,\"2147483648\":4,\"4294967294\":2,\"4294967295\":1"
     "}"},
    {"obj_v8_key", 0,
     "{\"$v8\":\"Object\",\"props\":{\"$v8\":\"x\",\"y\":{\"$v8\":\"Object"
     "\",\"props\":{\"$v8\":1}}}}"},
    {"obj_proto_key", 0,
     "{\"__proto__\":{\"x\":1}}"},
    {"obj_class", 0,
     "{\"x\":1}"},
    {"msg_hello", 0,
     "{\"hello\":\"world\",\"n\":1}"},
    {"map", 0,
     "{\"$v8\":\"Map\",\"entries\":[[1,\"a\"],[\"k\",{\"x\":1}],[{},[]]]}"},
    {"map_empty", 0,
     "{\"$v8\":\"Map\",\"entries\":[]}"},
    {"set", 0,
     "{\"$v8\":\"Set\",\"values\":[1,\"a\",{},0]}"},
    {"set_empty", 0,
     "{\"$v8\":\"Set\",\"values\":[]}"},
    {"ab", 0,
     "{\"$v8\":\"ArrayBuffer\",\"base64\":\"AQI=\"}"},
    {"ab_empty", 0,
     "{\"$v8\":\"ArrayBuffer\",\"base64\":\"\"}"},
    {"ab_resizable", 0,
     "{\"$v8\":\"ArrayBuffer\",\"base64\":\"AAA=\",\"maxByteLength\":8}"},
    {"v_int8", 0,
     "{\"$v8\":\"Int8Array\",\"base64\":\"/wJ/\"}"},
    {"v_uint8", 0,
     "{\"$v8\":\"Uint8Array\",\"base64\":\"AP8=\"}"},
    {"v_clamped", 0,
     "{\"$v8\":\"Uint8ClampedArray\",\"base64\":\"Bw==\"}"},
    {"v_int16", 0,
     "{\"$v8\":\"Int16Array\",\"base64\":\"/v/oAw==\"}"},
    {"v_uint16", 0,
     "{\"$v8\":\"Uint16Array\",\"base64\":\"//8=\"}"},
    {"v_int32", 0,
     "{\"$v8\":\"Int32Array\",\"base64\":\"+////wAAAEA=\"}"},
    {"v_uint32", 0,
     "{\"$v8\":\"Uint32Array\",\"base64\":\"/////w==\"}"},
    {"v_float32", 0,
     "{\"$v8\":\"Float32Array\",\"base64\":\"AADAPwAAwH8=\"}"},
    {"v_float64", 0,
     "{\"$v8\":\"Float64Array\",\"base64\":\"AAAAAAAAAIBpVxSLCr8FQA==\"}"},
    {"v_dataview", 0,
     "{\"$v8\":\"DataView\",\"base64\":\"CQgH\"}"},
    {"v_buffer", 0,
     "{\"$v8\":\"Buffer\",\"base64\":\"AAH+/w==\"}"},
    {"v_bigint64", 0,
     "{\"$v8\":\"BigInt64Array\",\"base64\":\"//////////8=\"}"},
    {"v_biguint64", 0,
     "{\"$v8\":\"BigUint64Array\",\"base64\":\"//////////8=\"}"},
    {"v_empty", 0,
     "{\"$v8\":\"Uint8Array\",\"base64\":\"\"}"},
    {"v_window", 0,
     "{\"$v8\":\"Buffer\",\"base64\":\"AgM=\"}"},
    {"err_plain", 0,
     "{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"boom\",\"stack\""
     ":\"Error: boom\\n    at x\"}"},
    {"err_type", 0,
     "{\"$v8\":\"Error\",\"name\":\"TypeError\",\"message\":\"bad\"}"},
    {"err_range_cause", 0,
     "{\"$v8\":\"Error\",\"name\":\"RangeError\",\"message\":\"r\",\"cause"
     "\":7}"},
    {"err_no_message", 0,
     "{\"$v8\":\"Error\",\"name\":\"Error\"}"},
    {"err_all_kinds", 0,
     "[{\"$v8\":\"Error\",\"name\":\"EvalError\",\"message\":\"e\"},{\"$v8"
     "\":\"Error\",\"name\":\"ReferenceError\",\"message\":\"f\"},{\"$v8\""
     ":\"Error\",\"name\":\"SyntaxError\",\"message\":\"s\"},{\"$v8\":\"Er"
     "ror\",\"name\":\"URIError\",\"message\":\"u\"}]"},
    {"err_cause_obj", 0,
     "{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"outer\",\"cause"
     "\":{\"code\":\"E1\",\"list\":[1]},\"stack\":\"S\"}"},
    {"err_cause_undefined", 0,
     "{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"u\",\"cause\":{"
     "\"$v8\":\"undefined\"}}"},
    {"err_cause_error", 0,
     "{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"top\",\"cause\":"
     "{\"$v8\":\"Error\",\"name\":\"TypeError\",\"message\":\"inner\"}}"},
    {"err_custom", 0,
     "{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"mine\"}"},
    {"box_true", 0,
     "{\"$v8\":\"Boxed\",\"value\":true}"},
    {"box_false", 0,
     "{\"$v8\":\"Boxed\",\"value\":false}"},
    {"box_num", 0,
     "{\"$v8\":\"Boxed\",\"value\":2}"},
    {"box_nan", 0,
     "{\"$v8\":\"Boxed\",\"value\":{\"$v8\":\"Number\",\"value\":\"NaN\"}}"},
    {"box_str", 0,
     "{\"$v8\":\"Boxed\",\"value\":\"s\342\202\254\"}"},
    {"box_bigint", 0,
     "{\"$v8\":\"Boxed\",\"value\":{\"$v8\":\"BigInt\",\"value\":\"3\"}}"},
    {"ref_shared", 0,
     "{\"x\":{\"k\":1},\"y\":{\"$v8\":\"Ref\",\"id\":1}}"},
    {"ref_cycle", 0,
     "{\"self\":{\"$v8\":\"Ref\",\"id\":0}}"},
    {"ref_array_cycle", 0,
     "[{\"$v8\":\"Ref\",\"id\":0},1,{\"$v8\":\"Ref\",\"id\":0}]"},
    {"ref_map_cycle", 0,
     "{\"$v8\":\"Map\",\"entries\":[[{\"$v8\":\"Ref\",\"id\":0},{\"$v8\":"
     "\"Ref\",\"id\":0}]]}"},
    {"ref_set_cycle", 0,
     "{\"$v8\":\"Set\",\"values\":[{\"$v8\":\"Ref\",\"id\":0}]}"},
    {"ref_error", 0,
     "{\"e\":{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"x\",\"sta"
     "ck\":\"s\"},\"a\":[{\"$v8\":\"Ref\",\"id\":1}]}"},
    {"ref_buffer", 0,
     "[{\"$v8\":\"Buffer\",\"base64\":\"AQ==\"},{\"$v8\":\"Ref\",\"id\":1}"
     "]"},
    {"ref_many", 0,
     "[{\"$v8\":\"Date\",\"ms\":0},{\"$v8\":\"RegExp\",\"source\":\"x\",\""
     "flags\":\"\"},{\"$v8\":\"Map\",\"entries\":[]},{\"$v8\":\"Set\",\"va"
     "lues\":[]},{\"$v8\":\"ArrayBuffer\",\"base64\":\"AA==\"},{\"$v8\":\""
     "Boxed\",\"value\":1},{\"$v8\":\"Error\",\"name\":\"Error\",\"message"
     "\":\"m\"},\"x\",\"x\",{\"$v8\":\"Ref\",\"id\":1},{\"$v8\":\"Ref\",\""
     "id\":2},{\"$v8\":\"Ref\",\"id\":3},{\"$v8\":\"Ref\",\"id\":4},{\"$v8"
     "\":\"Ref\",\"id\":5},{\"$v8\":\"Ref\",\"id\":6},{\"$v8\":\"Ref\",\"i"
     "d\":7}]"},
    {"ref_in_cause", 0,
     "[{\"k\":1},{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"c\","
     "\"cause\":{\"$v8\":\"Ref\",\"id\":1}}]"},
    {"ref_key_order", 0,
     "{\"1\":{\"k\":2},\"b\":{\"$v8\":\"Ref\",\"id\":1}}"},
    {"kitchen_sink", 0,
     "{\"id\":42,\"name\":\"job \342\202\254\",\"when\":{\"$v8\":\"Date\","
     "\"ms\":86400000},\"tags\":{\"$v8\":\"Set\",\"values\":[\"a\",\"b\"]}"
     ",\"meta\":{\"$v8\":\"Map\",\"entries\":[[\"big\",{\"$v8\":\"BigInt\""
     ",\"value\":\"36893488147419103232\"}]]},\"data\":{\"$v8\":\"Buffer\""
     ",\"base64\":\"aGVsbG8=\"},\"nested\":[{\"ok\":true,\"ratio\":0.25},n"
     "ull,[{\"$v8\":\"undefined\"}]],\"err\":{\"$v8\":\"Error\",\"name\":"
     "\"TypeError\",\"message\":\"nope\"}}"},
    {"nc_packed_double", NONCANON,
     "[1.5,2]"},
    {"nc_filled_holes", NONCANON,
     "[1,2,3]"},
    {"nc_two_byte_latin1", NONCANON,
     "\"\303\251\303\251\303\251\303\251\303\251\""},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* ---- helpers ---------------------------------------------------------- */

static const herd_v8_opts_t ser_opts = {.host = HERD_V8_HOST_SERIALIZE};
static const herd_v8_opts_t chan_opts = {.host = HERD_V8_HOST_CHANNEL};

/* node --expose-internals v8-cases.js MODE [ARG], input on its stdin:
 * its stdout (malloc'd). */
static char *run_cases(const char *mode, const char *arg, const char *input) {
  const char *node = node_path();
  char script[PATH_MAX];
  node_script(script, sizeof script, "v8-cases.js");
  char *argv[] = {"node", "--expose-internals", script, (char *)mode,
                  (char *)arg, NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.input = input;
  o.input_len = input ? strlen(input) : 0;
  o.max_buffer = 64u << 20;
  o.timeout_ms = 50000;
  herd_exec_result_t res;
  CHECK_OK(herd_exec_file(node, argv, &o, &res));
  CHECK_MSG(res.reason == HERD_EXEC_EXITED && res.exit_code == 0,
            "node v8-cases.js %s: reason %d, exit %d, signal %d: %.600s%.600s",
            mode, res.reason, res.exit_code, res.term_signal, res.err, res.out);
  char *out = res.out;
  res.out = NULL;
  herd_exec_result_free(&res);
  return out;
}

static const struct v8case *find_case(const char *name) {
  for (size_t i = 0; i < NCASES; i++)
    if (strcmp(cases[i].name, name) == 0)
      return &cases[i];
  return NULL;
}

/* Hex text to bytes (malloc'd); spaces are skipped. */
static uint8_t *unhex(const char *h, size_t n, size_t *len) {
  uint8_t *b = malloc(n / 2 + 1);
  size_t k = 0;
  CHECK(b);
  for (size_t i = 0; i < n; i++) {
    unsigned x;
    if (h[i] == ' ')
      continue;
    CHECK_MSG(i + 1 < n && sscanf(h + i, "%2x", &x) == 1, "bad hex %s", h);
    b[k++] = (uint8_t)x;
    i++;
  }
  *len = k;
  return b;
}

/* Bytes to hex, appended to a growing string. */
static void hex_append(char **s, size_t *len, size_t *cap, const uint8_t *b,
                       size_t n) {
  if (*len + 2 * n + 1 > *cap) {
    *cap = (*len + 2 * n + 1) * 2;
    *s = realloc(*s, *cap);
    CHECK(*s);
  }
  for (size_t i = 0; i < n; i++)
    sprintf(*s + *len + 2 * i, "%02x", b[i]);
  *len += 2 * n;
}

static void str_append(char **s, size_t *len, size_t *cap, const char *t) {
  size_t n = strlen(t);
  if (*len + n + 1 > *cap) {
    *cap = (*len + n + 1) * 2;
    *s = realloc(*s, *cap);
    CHECK(*s);
  }
  memcpy(*s + *len, t, n + 1);
  *len += n;
}

static char *to_json(const herd_val_t *v) {
  char *j;
  size_t n;
  CHECK_OK(herd_v8_to_json(v, NULL, &j, &n));
  CHECK_EQ(strlen(j), n);
  return j;
}

static herd_val_t *from_json(const char *j) {
  herd_val_t *v;
  size_t used;
  int rc = herd_v8_from_json(j, strlen(j), NULL, &v, &used);
  CHECK_MSG(rc == 0, "from_json(%.200s): %s at %zu", j, herd_strerror(rc), used);
  return v;
}

static herd_val_t *decode(const void *b, size_t n, const herd_v8_opts_t *o) {
  herd_val_t *v;
  size_t used;
  int rc = herd_v8_decode(b, n, o, &v, &used);
  CHECK_MSG(rc == 0, "decode: %s at %zu", herd_strerror(rc), used);
  CHECK_EQ(used, n);
  return v;
}

static uint8_t *encode(const herd_val_t *v, const herd_v8_opts_t *o, size_t *n) {
  uint8_t *b;
  CHECK_OK(herd_v8_encode_alloc(v, o, 0, &b, n));
  return b;
}

/* The result of decoding hex h (which must fail). */
static int decode_err(const char *h, const herd_v8_opts_t *o) {
  size_t n, used;
  uint8_t *b = unhex(h, strlen(h), &n);
  herd_val_t *v = (herd_val_t *)1;
  int rc = herd_v8_decode(b, n, o, &v, &used);
  free(b);
  CHECK_MSG(rc < 0, "decode(%s) succeeded", h);
  CHECK(v == NULL && used <= n);
  return rc;
}

/* Decode hex h (which must succeed, reading all of it) to JSON. */
static char *decode_json(const char *h, const herd_v8_opts_t *o) {
  size_t n;
  uint8_t *b = unhex(h, strlen(h), &n);
  herd_val_t *v = decode(b, n, o);
  char *j = to_json(v);
  herd_val_free(v);
  free(b);
  return j;
}

#define CHECK_DECODES(hex, json)                                             \
  do {                                                                       \
    char *j_ = decode_json(hex, &ser_opts);                                  \
    CHECK_STR(j_, json);                                                     \
    free(j_);                                                                \
  } while (0)

static char *encode_hex(const herd_val_t *v, const herd_v8_opts_t *o) {
  size_t n, len = 0, cap = 0;
  char *s = NULL;
  uint8_t *b = encode(v, o, &n);
  hex_append(&s, &len, &cap, b, n);
  free(b);
  if (!s)
    s = strdup("");
  return s;
}

/* ---- node -> C -------------------------------------------------------- */

/* Node serializes every case (v8.serialize, and its channel's writer);
 * we read both, render the expected JSON, and write the same bytes back
 * (where Node writes the value canonically). The expected JSON read back
 * is the same tree. */
TEST_T(v8_node_to_c_every_case, 120) {
  char *out = run_cases("gen", NULL, NULL);
  size_t seen = 0;
  char *save;
  for (char *line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    CHECK(t1 && t2);
    *t1 = *t2 = '\0';
    const struct v8case *c = find_case(line);
    CHECK_MSG(c, "node case %s is not in the table", line);
    seen++;
    for (int k = 0; k < 2; k++) {
      const char *h = k ? t2 + 1 : t1 + 1;
      const herd_v8_opts_t *o = k ? &chan_opts : &ser_opts;
      size_t n, m;
      uint8_t *b = unhex(h, strlen(h), &n);
      herd_val_t *v = decode(b, n, o);
      char *j = to_json(v);
      CHECK_MSG(strcmp(j, c->json) == 0, "%s (%s): got %s", c->name,
                k ? "channel" : "v8.serialize", j);
      herd_val_t *w = from_json(c->json);
      CHECK_MSG(herd_val_equal(v, w) == 1, "%s: JSON read back differs", c->name);
      uint8_t *e = encode(w, o, &m);
      if (!(c->flags & NONCANON)) {
        char *eh = encode_hex(w, o);
        CHECK_MSG(m == n && memcmp(e, b, n) == 0, "%s (%s): wrote %s, node %s",
                  c->name, k ? "channel" : "v8.serialize", eh, h);
        free(eh);
      }
      herd_val_t *x = decode(e, m, o);
      CHECK_MSG(herd_val_equal(v, x) == 1, "%s: our bytes read back differ", c->name);
      herd_val_free(x);
      free(e);
      herd_val_free(w);
      free(j);
      herd_val_free(v);
      free(b);
    }
  }
  CHECK_EQ(seen, NCASES);
  free(out);
}

/* ---- C -> node -------------------------------------------------------- */

/* Every case's JSON, read and written by us both ways (v8.serialize's
 * host objects and the channel's), read by node (v8.deserialize, and
 * its channel's reader on a frame) and compared with the value Node
 * makes itself. */
TEST_T(v8_c_to_node_every_case, 120) {
  char *in = NULL;
  size_t len = 0, cap = 0;
  for (size_t i = 0; i < NCASES; i++) {
    herd_val_t *v = from_json(cases[i].json);
    uint8_t *b;
    size_t n;
    str_append(&in, &len, &cap, cases[i].name);
    str_append(&in, &len, &cap, "\t");
    b = encode(v, &ser_opts, &n);
    hex_append(&in, &len, &cap, b, n);
    free(b);
    str_append(&in, &len, &cap, "\t");
    b = encode(v, &chan_opts, &n);
    hex_append(&in, &len, &cap, b, n);
    free(b);
    str_append(&in, &len, &cap, "\n");
    herd_val_free(v);
  }
  char *out = run_cases("check", NULL, in);
  char want[64];
  snprintf(want, sizeof want, "checked %zu\n", NCASES);
  CHECK_MSG(strcmp(out, want) == 0, "node says: %.1500s", out);
  free(out);
  free(in);
}

/* A real channel: node forks our helper with serialization 'advanced'
 * and sends every case; the helper reads each frame, renders it as JSON,
 * reads that back and writes the frame (helpers.c, v8-echo); node
 * compares each echo with what it sent. */
TEST_T(v8_node_fork_advanced_channel_echo, 120) {
  char *out = run_cases("parent", test_self(), NULL);
  char want[64];
  /* all but undefined and bigints, which process.send refuses */
  static const char undef[] = "{\"$v8\":\"undefined\"", big[] = "{\"$v8\":\"BigInt\"";
  size_t n = 0;
  for (size_t i = 0; i < NCASES; i++)
    n += strncmp(cases[i].json, undef, strlen(undef)) != 0 &&
         strncmp(cases[i].json, big, strlen(big)) != 0;
  snprintf(want, sizeof want, "checked %zu\n", n);
  CHECK_MSG(strcmp(out, want) == 0, "node says: %.1500s", out);
  free(out);
}

/* Numbers render as JS's String(x) (so JSON.stringify) writes them. */
TEST_T(v8_numbers_render_as_js, 60) {
  char *out = run_cases("numbers", NULL, NULL);
  size_t n = 0;
  char *save;
  for (char *line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save), n++) {
    char *tab = strchr(line, '\t');
    CHECK(tab);
    *tab = '\0';
    uint64_t bits = strtoull(line, NULL, 16);
    double x;
    memcpy(&x, &bits, sizeof x);
    herd_val_t *v = herd_val_number(x);
    char *j = to_json(v);
    if (isfinite(x) && !(x == 0 && signbit(x)))
      CHECK_MSG(strcmp(j, tab + 1) == 0, "%s: we write %s, JS %s", line, j, tab + 1);
    herd_val_t *w = from_json(j);
    CHECK_MSG(herd_val_equal(v, w) == 1, "%s does not read back", j);
    herd_val_free(w);
    herd_val_free(v);
    free(j);
  }
  CHECK(n > 1000);
  free(out);
}

/* ---- malformed input --------------------------------------------------- */

/* Every prefix of every case Node writes is refused, as cut short:
 * nothing read past the end, nothing leaked. */
TEST_T(v8_truncated_at_every_byte, 120) {
  char *out = run_cases("gen", NULL, NULL);
  size_t prefixes = 0;
  char *save;
  for (char *line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    CHECK(t1 && t2);
    *t1 = *t2 = '\0';
    for (int k = 0; k < 2; k++) {
      const char *h = k ? t2 + 1 : t1 + 1;
      size_t n;
      uint8_t *b = unhex(h, strlen(h), &n);
      for (size_t cut = 0; cut < n; cut++, prefixes++) {
        /* an exact-size copy: ASan sees any read past the end */
        uint8_t *p = malloc(cut ? cut : 1);
        CHECK(p);
        memcpy(p, b, cut);
        herd_val_t *v = (herd_val_t *)1;
        size_t used = SIZE_MAX;
        int rc = herd_v8_decode(p, cut, k ? &chan_opts : &ser_opts, &v, &used);
        CHECK_MSG(rc == (cut < 2 ? HERD_EV8VERSION : HERD_EV8DATA),
                  "%s cut at %zu: %d", line, cut, rc);
        CHECK(v == NULL && used <= cut);
        free(p);
      }
      free(b);
    }
  }
  CHECK(prefixes > 5000);
  free(out);
}

TEST(v8_refuses_bad_versions) {
  static const char *const bad[] = {
      "", "ff", "0f4902", "4902", "00ff0f4902", "ff0c4902", "ff104902",
      "ff00", "ff808080808001", "ff8f8f8f8f7f4902"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_MSG(decode_err(bad[i], NULL) == HERD_EV8VERSION, "%s", bad[i]);
  /* Node 20 reads 13 to 15; 13 has no flags after a view */
  CHECK_DECODES("ff0d4902", "1");
  CHECK_DECODES("ff0e4902", "1");
  CHECK_DECODES("ff0d4202010256420002", "{\"$v8\":\"Uint8Array\",\"base64\":\"AQI=\"}");
  CHECK_DECODES("ff0e420201025642000200", "{\"$v8\":\"Uint8Array\",\"base64\":\"AQI=\"}");
}

/* What libherd does not carry is refused as such, at any depth; a tag
 * out of its place is malformed. */
TEST(v8_refuses_unsupported_and_unknown_tags) {
  static const char *const unsupported[] = {
      "ff0f7400",             /* ArrayBuffer transfer */
      "ff0f7500",             /* SharedArrayBuffer */
      "ff0f7000",             /* shared object (v15) */
      "ff0f7700",             /* Wasm module transfer */
      "ff0f6d00",             /* Wasm memory */
      "ff0f4d", "ff0f62", "ff0f69", "ff0f66", "ff0f65", "ff0f64", "ff0f6c",
      "ff0f4c", "ff0f23", "ff0f67", "ff0f47", "ff0f48", "ff0f4b", "ff0f6b",
      "ff0f01", "ff0f7c", "ff0f80", "ff0ffe", /* tags V8 does not have */
      "ff0f6f22016175007b01",                 /* inside an object */
      "ff0f41017500240001",                   /* inside an array */
      "ff0f726375002e",                       /* as a cause */
      "ff0f5c000d0100",                       /* host view type 13 */
      "ff0f420201025668000200",               /* Float16Array view */
      "ff0f7e020201025642000003",             /* length-tracking view */
  };
  for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
    const char *h = unsupported[i];
    CHECK_MSG(decode_err(h, &chan_opts) == HERD_EV8UNSUPPORTED, "%s", h);
  }
  static const char *const misplaced[] = {
      "ff0f2d", "ff0f7b00", "ff0f240000", "ff0f400000", "ff0f3a00",
      "ff0f2c00", "ff0f5642000100", "ff0fff0f4902", "ff0f6f2201612d7b01"};
  for (size_t i = 0; i < sizeof misplaced / sizeof misplaced[0]; i++)
    CHECK_MSG(decode_err(misplaced[i], NULL) == HERD_EV8DATA, "%s", misplaced[i]);
}

/* A length is checked against the bytes left before anything is
 * allocated; a resizable buffer's maxByteLength and a sparse array's
 * length are never allocated (ASan would refuse a 4 GiB malloc). */
TEST(v8_refuses_oversized_lengths) {
  static const char *const bad[] = {
      "ff0f22ffffffff0f61",     /* one-byte string of 4 GiB */
      "ff0f63feffffff0f6100",   /* two-byte */
      "ff0f530a61",             /* UTF-8 */
      "ff0f42ffffffff0f00",     /* ArrayBuffer */
      "ff0f7e020800",           /* resizable: 2 bytes, 1 there */
      "ff0f7e08010000000000000000", /* byteLength > maxByteLength */
      "ff0f41ffffffff0f",       /* dense array longer than the input */
      "ff0f410549022400 05",    /* (5 elements, 1 there) */
      "ff0f5c000affffffff0f00", /* host view */
      "ff0f5afeffffff0f00",     /* BigInt of 2^30 - 1 bytes */
      "ff0f2280808080800000",   /* a varint of 6 bytes */
      "ff0f22808080801000",     /* a varint past 32 bits */
      "ff0f5effffffff0f",       /* reference id 2^32 - 1 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_MSG(decode_err(bad[i], &chan_opts) == HERD_EV8DATA, "%s", bad[i]);
  CHECK_DECODES("ff0f7e00ffffffff0f",
                "{\"$v8\":\"ArrayBuffer\",\"base64\":\"\",\"maxByteLength\":4294967295}");
}

/* An array of length 2^32 - 1 with nothing in it is a few bytes, and
 * stays so: read, rendered, written back byte for byte. */
TEST(v8_huge_sparse_array_costs_nothing) {
  static const char h[] = "ff0f61ffffffff0f4000ffffffff0f";
  size_t n;
  uint8_t *b = unhex(h, strlen(h), &n);
  herd_val_t *v = decode(b, n, NULL);
  CHECK_EQ(v->type, HERD_VAL_ARRAY);
  CHECK_EQ(v->obj.length, 4294967295u);
  CHECK_EQ(v->obj.n, 0);
  CHECK(herd_val_obj_get_index(v, 4294967294u) == NULL);
  char *j = to_json(v);
  CHECK_STR(j, "{\"$v8\":\"Array\",\"length\":4294967295,\"props\":{}}");
  char *e = encode_hex(v, NULL);
  CHECK_STR(e, h);
  /* an index past the length it declares makes it longer, as in JS */
  CHECK_DECODES("ff0f6102490a2201784001 02",
                "{\"$v8\":\"Array\",\"length\":6,\"props\":{\"5\":\"x\"}}");
  free(e);
  free(j);
  herd_val_free(v);
  free(b);
}

/* n containers, each holding the next: n opens, inner, n closes. */
static uint8_t *nested(unsigned n, const char *open, const char *inner,
                       const char *close, size_t *len) {
  size_t no, ni, nc, k = 0;
  uint8_t *o = unhex(open, strlen(open), &no), *in = unhex(inner, strlen(inner), &ni),
          *c = unhex(close, strlen(close), &nc);
  uint8_t *b = malloc(2 + n * (no + nc) + ni);
  CHECK(b);
  b[k++] = 0xff;
  b[k++] = 0x0f;
  for (unsigned i = 0; i < n; i++, k += no)
    memcpy(b + k, o, no);
  memcpy(b + k, in, ni);
  k += ni;
  for (unsigned i = 0; i < n; i++, k += nc)
    memcpy(b + k, c, nc);
  free(o);
  free(in);
  free(c);
  *len = k;
  return b;
}

/* Nesting is bounded (512 unless set, at most 1024) for every kind of
 * container, reading, writing and in JSON; what counts is values: the
 * innermost container is one. */
TEST(v8_depth_limit) {
  static const struct {
    const char *open, *inner, *close;
  } kinds[] = {
      {"4101", "4100240000", "240001"}, /* [[...[]]] */
      {"6f220161", "6f7b00", "7b01"},   /* {a:{a:...{}}} */
      {"3b4902", "3b3a00", "3a02"},     /* Map {1 => Map ...} */
      {"7263", "722e", "2e"},           /* Error cause chain */
      {"5c01", "6f7b00", ""},           /* the channel's host objects: each
                                           counts, the tree is one {} */
  };
  herd_v8_opts_t d511 = {.max_depth = 511}, big = {.max_depth = HERD_V8_MAX_DEPTH_LIMIT};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    size_t n;
    herd_val_t *v, *w;
    char *j;
    int tree = k != 4;
    uint8_t *b = nested(511, kinds[k].open, kinds[k].inner, kinds[k].close, &n);
    int rc = herd_v8_decode(b, n, &chan_opts, &v, NULL);
    CHECK_MSG(rc == 0, "kind %zu: %s", k, herd_strerror(rc));
    if (tree) {
      /* writing and JSON have the same bound */
      uint8_t *e;
      size_t m;
      CHECK_OK(herd_v8_encode_alloc(v, NULL, 0, &e, &m));
      CHECK(m == n && memcmp(e, b, n) == 0);
      free(e);
      CHECK_OK(herd_v8_to_json(v, NULL, &j, NULL));
      CHECK_OK(herd_v8_from_json(j, strlen(j), NULL, &w, NULL));
      CHECK(herd_val_equal(v, w) == 1);
      herd_val_free(w);
      free(j);
      CHECK_EQ(herd_v8_encode(v, &d511, NULL, 0), HERD_EV8DEPTH);
      CHECK_EQ(herd_v8_to_json(v, &d511, &j, NULL), HERD_EV8DEPTH);
    }
    herd_val_free(v);
    free(b);
    /* one more: refused everywhere, unless allowed */
    b = nested(512, kinds[k].open, kinds[k].inner, kinds[k].close, &n);
    CHECK_EQ(herd_v8_decode(b, n, &chan_opts, &v, NULL), HERD_EV8DEPTH);
    CHECK_OK(herd_v8_decode(b, n, &big, &v, NULL));
    if (tree) {
      CHECK_EQ(herd_v8_encode(v, NULL, NULL, 0), HERD_EV8DEPTH);
      CHECK_EQ(herd_v8_to_json(v, NULL, &j, NULL), HERD_EV8DEPTH);
      CHECK_OK(herd_v8_to_json(v, &big, &j, NULL));
      CHECK_EQ(herd_v8_from_json(j, strlen(j), NULL, &w, NULL), HERD_EV8DEPTH);
      CHECK_OK(herd_v8_from_json(j, strlen(j), &big, &w, NULL));
      herd_val_free(w);
      free(j);
    }
    herd_val_free(v);
    free(b);
  }
  /* past the hard limit; options past it */
  size_t n;
  herd_val_t *v;
  uint8_t *b = nested(HERD_V8_MAX_DEPTH_LIMIT, "4101", "4100240000", "240001", &n);
  CHECK_EQ(herd_v8_decode(b, n, &big, &v, NULL), HERD_EV8DEPTH);
  free(b);
  herd_v8_opts_t over = {.max_depth = HERD_V8_MAX_DEPTH_LIMIT + 1}, host = {.host = 7};
  CHECK_EQ(herd_v8_decode("\xff\x0f\x30", 3, &over, &v, NULL), -EINVAL);
  CHECK_EQ(herd_v8_decode("\xff\x0f\x30", 3, &host, &v, NULL), -EINVAL);
  /* VerifyObjectCount and padding nest nothing: 100,000 of them */
  b = nested(100000, "3f00", "4902", "", &n);
  v = decode(b, n, NULL);
  CHECK(v->type == HERD_VAL_NUMBER && v->number == 1);
  herd_val_free(v);
  free(b);
  /* a Set's count that disagrees, deep inside: nothing leaks */
  b = nested(100, "274902", "272c00", "2c01", &n);
  CHECK_EQ(herd_v8_decode(b, n, NULL, &v, NULL), HERD_EV8DATA);
  free(b);
}

/* A reference names an object already registered: not one out of range,
 * nor an Error from inside itself (Node 20 registers an Error at its
 * end), nor a buffer a view took. */
TEST(v8_references_checked) {
  CHECK_EQ(decode_err("ff0f5e00", NULL), HERD_EV8DATA);
  CHECK_EQ(decode_err("ff0f6f22016b5e017b01", NULL), HERD_EV8DATA);
  CHECK_EQ(decode_err("ff0f41025e005e0a240002", NULL), HERD_EV8DATA);
  CHECK_EQ(decode_err("ff0f726d220173635e002e", NULL), HERD_EV8DATA);
  CHECK_EQ(decode_err("ff0f41024202010256420002005e01240002", NULL), HERD_EV8UNSUPPORTED);
  /* a reference is never a key */
  CHECK_EQ(decode_err("ff0f6f6f7b005e0149027b01", NULL), HERD_EV8DATA);
  CHECK_DECODES("ff0f6f22016b5e007b01", "{\"k\":{\"$v8\":\"Ref\",\"id\":0}}");
  /* an Error may be referred to once it is complete */
  CHECK_DECODES("ff0f4102722e5e01240002",
                "[{\"$v8\":\"Error\",\"name\":\"Error\"},{\"$v8\":\"Ref\",\"id\":1}]");
  /* the view, and a buffer referred to before a view of it, are fine */
  CHECK_DECODES("ff0f41024202010256420002005e02240002",
                "[{\"$v8\":\"Uint8Array\",\"base64\":\"AQI=\"},{\"$v8\":\"Ref\",\"id\":1}]");
  CHECK_DECODES("ff0f410242020102 5e0156420101 00 240002",
                "[{\"$v8\":\"ArrayBuffer\",\"base64\":\"AQI=\"},"
                "{\"$v8\":\"Uint8Array\",\"base64\":\"Ag==\"}]");
  /* the channel's host object 1: its id and its value's name one object */
  char *j = decode_json("ff0f41035c016f7b005e015e02240003", &chan_opts);
  CHECK_STR(j, "[{},{\"$v8\":\"Ref\",\"id\":1},{\"$v8\":\"Ref\",\"id\":1}]");
  free(j);
  CHECK_EQ(decode_err("ff0f5c01 6f 22016b 5e00 7b01", &chan_opts), HERD_EV8DATA);
  CHECK_EQ(decode_err("ff0f5c014902", &chan_opts), HERD_EV8DATA);
  CHECK_EQ(decode_err("ff0f5c02", &chan_opts), HERD_EV8DATA);
}

/* Structures whose parts disagree, and values V8 refuses. */
TEST(v8_refuses_malformed_structures) {
  static const char *const bad[] = {
      "ff0f6f7b01",                        /* numProperties 1, none read */
      "ff0f410149022400 02",               /* dense: trailing length */
      "ff0f410149022401 01",               /* dense: numProperties */
      "ff0f6102400003",                    /* sparse: trailing length */
      "ff0f6f2201614902220161 4904 7b02",  /* duplicate key */
      "ff0f6f220131 4902 4902 4904 7b02",  /* "1" and 1 are one key */
      "ff0f610022066c656e677468 4902 400100", /* an array's "length" */
      "ff0f4100 22066c656e677468 4902 240100",
      "ff0f6f5f49027b01",                  /* key undefined */
      "ff0f6f7322016149027b01",            /* key a String object */
      "ff0f6f5a0049027b01",                /* key a BigInt */
      "ff0f5a01",                          /* -0n */
      "ff0f630161",                        /* two-byte string, odd length */
      "ff0f522201788004",                  /* RegExp flag bit 0x200 */
      "ff0f5222017840",                    /* RegExp 'l' */
      "ff0f522201789002",                  /* RegExp u with v */
      "ff0f52490200",                      /* RegExp source not a string */
      "ff0f734902",                        /* String object of a number */
      "ff0f3b49023a01",                    /* Map with a key alone */
      "ff0f3b490249043a04",                /* Map count */
      "ff0f2749022c02",                    /* Set count */
      "ff0f5c000403010203",                /* Uint16Array of 3 bytes */
      "ff0f72782e",                        /* Error sub-tag 'x' */
      "ff0f726d2201616d2201622e",          /* Error message twice */
      "ff0f7254522e",                      /* two prototypes */
      "ff0f726349026349042e",              /* cause twice */
      "ff0f726d220161",                    /* Error without its end */
      "ff0f726d49022e",                    /* Error message a number */
      "ff0f72ed002201612e",                /* a sub-tag of two bytes */
      "ff0f4204000000005677010200",        /* Int16Array at offset 1 */
      "ff0f420201025642010200",            /* view past its buffer */
      "ff0f420201025642000204",            /* view flags: unknown bit */
      "ff0f420201025642000202",            /* resizable-backed, but not */
      "ff0f7e0208010256420002 00",         /* resizable, not said so */
      "ff0f44000000",                      /* Date cut short */
      "ff0f56420000 00",                   /* a view of nothing */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_MSG(decode_err(bad[i], &chan_opts) == HERD_EV8DATA, "%s", bad[i]);
}

/* What Node reads, though it never writes it, is read as Node does. */
TEST(v8_reads_what_node_reads) {
  CHECK_DECODES("ff0f00004902", "1");                 /* padding */
  CHECK_DECODES("ff0f6f00220161004902007b01", "{\"a\":1}");
  CHECK_DECODES("ff0f3f054902", "1");                 /* VerifyObjectCount */
  CHECK_DECODES("ff0f6f3f0022016149027b01", "{\"a\":1}");
  CHECK_DECODES("ff0f5505", "5");                     /* Uint32 */
  CHECK_DECODES("ff0f55ffffffff0f", "4294967295");
  CHECK_DECODES("ff0f5304f09f9880", "\"\360\237\230\200\"");   /* UTF-8 */
  /* faults in UTF-8 are U+FFFD each (surrogates are faults) */
  CHECK_DECODES("ff0f530461ffeda0", "\"a\357\277\275\357\277\275\357\277\275\"");
  CHECK_DECODES("ff0f5303eda080", "\"\357\277\275\357\277\275\357\277\275\"");
  /* keys: numbers are indices, or strings as JS writes the number */
  CHECK_DECODES("ff0f6f4e000000000000f03f49024e000000000000f83f4904"
                "4e00000000000000804906490149085505490a"
                "4e0000e0ffffffef41490c4e000000000000f87f490e7b07",
                "{\"0\":3,\"1\":1,\"5\":5,\"1.5\":2,\"-1\":4,\"4294967295\":6,\"NaN\":7}");
  /* an index property after a dense part; a hole filled by a property */
  CHECK_DECODES("ff0f41014902490a4906240101",
                "{\"$v8\":\"Array\",\"length\":6,\"props\":{\"0\":1,\"5\":3}}");
  CHECK_DECODES("ff0f41012d49004904240101", "[2]");
  /* Error sub-tags in any order; a Date's time clipped as new Date does;
   * any NaN is NaN; BigInt digits of any length, -0n with digits is 0n */
  CHECK_DECODES("ff0f726349026d2201732e",
                "{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"s\",\"cause\":1}");
  CHECK_DECODES("ff0f44000000000000f83f", "{\"$v8\":\"Date\",\"ms\":1}");
  CHECK_DECODES("ff0f44000000000000b043", "{\"$v8\":\"Date\",\"ms\":null}");
  CHECK_DECODES("ff0f4e0100000000f0ff7f", "{\"$v8\":\"Number\",\"value\":\"NaN\"}");
  CHECK_DECODES("ff0f5a06010203", "{\"$v8\":\"BigInt\",\"value\":\"197121\"}");
  CHECK_DECODES("ff0f5a110000000000000000", "{\"$v8\":\"BigInt\",\"value\":\"0\"}");
  CHECK_DECODES("ff0f5a8080808008", "{\"$v8\":\"BigInt\",\"value\":\"0\"}");
  /* a view over a resizable buffer it says backs it */
  CHECK_DECODES("ff0f7e020801025642000202", "{\"$v8\":\"Uint8Array\",\"base64\":\"AQI=\"}");
  /* bytes after the value are not read, as Node ignores them */
  size_t used;
  herd_val_t *v;
  CHECK_OK(herd_v8_decode("\xff\x0f\x49\x02\xff\xff", 6, NULL, &v, &used));
  CHECK_EQ(used, 4);
  herd_val_free(v);
  CHECK_OK(herd_v8_decode("\xff\x0f\x49\x02\x00\x00", 6, NULL, &v, &used));
  CHECK_EQ(used, 4);
  herd_val_free(v);
  /* a view after a value inside the channel's host object 1 */
  char *j = decode_json("ff0f5c01420201025642000200", &chan_opts);
  CHECK_STR(j, "{\"$v8\":\"Uint8Array\",\"base64\":\"AQI=\"}");
  free(j);
}

/* ---- the C API --------------------------------------------------------- */

/* A message built with the constructors is the bytes Node sends for it
 * (docs/v8-serialization notes, strace of a real channel). */
TEST(v8_build_message_as_node_writes_it) {
  herd_val_t *m = herd_val_object();
  CHECK(m);
  CHECK_OK(herd_val_obj_set(m, "hello", herd_val_str("world")));
  CHECK_OK(herd_val_obj_set(m, "n", herd_val_number(1)));
  char *h = encode_hex(m, NULL);
  CHECK_STR(h, "ff0f6f220568656c6c6f2205776f726c642201"
               "6e49027b02");
  free(h);
  /* into a buffer with room for the channel's prefix */
  uint8_t *b;
  size_t n;
  CHECK_OK(herd_v8_encode_alloc(m, NULL, HERD_V8_FRAME_HEADER, &b, &n));
  CHECK_EQ(n, 28);
  CHECK(memcmp(b + 4, "\xff\x0f\x6f\x22\x05hello", 9) == 0);
  free(b);
  /* into a caller's buffer: too small says how much is needed */
  uint8_t small[8];
  CHECK_EQ(herd_v8_encode(m, NULL, small, sizeof small), 24);
  CHECK(memcmp(small, "\xff\x0f\x6f\x22\x05hel", 8) == 0);
  CHECK_EQ(herd_v8_encode(m, NULL, NULL, 0), 24);
  CHECK_EQ(herd_v8_encode(m, NULL, NULL, 1), -EINVAL);
  CHECK_EQ(herd_v8_encode(NULL, NULL, small, 8), -EINVAL);
  herd_val_free(m);

  /* every kind, built by hand, equals the same thing read from JSON */
  herd_val_t *a = herd_val_array();
  CHECK_OK(herd_val_arr_push(a, herd_val_undefined()));
  CHECK_OK(herd_val_arr_push(a, herd_val_null()));
  CHECK_OK(herd_val_arr_push(a, herd_val_bool(1)));
  CHECK_OK(herd_val_arr_push(a, herd_val_number(-0.0)));
  CHECK_OK(herd_val_arr_push(a, herd_val_bigint_i64(INT64_MIN)));
  CHECK_OK(herd_val_arr_push(a, herd_val_date(1.9)));
  CHECK_OK(herd_val_arr_push(a, herd_val_regexp("a+", "gv")));
  herd_val_t *map = herd_val_map(), *set = herd_val_set();
  CHECK_OK(herd_val_map_set(map, herd_val_str("k"), herd_val_number(1)));
  CHECK_OK(herd_val_set_add(set, herd_val_str("v")));
  CHECK_OK(herd_val_arr_push(a, map));
  CHECK_OK(herd_val_arr_push(a, set));
  CHECK_OK(herd_val_arr_push(a, herd_val_arraybuffer("\x01\x02", 2)));
  CHECK_OK(herd_val_arr_push(a, herd_val_arraybuffer_resizable(NULL, 1, 4)));
  CHECK_OK(herd_val_arr_push(a, herd_val_view(HERD_VIEW_UINT16, "\x01\x02", 2)));
  herd_val_t *e = herd_val_error(HERD_ERROR_TYPE, "bad");
  CHECK_OK(herd_val_error_set_stack(e, "TypeError: bad"));
  CHECK_OK(herd_val_error_set_cause(e, herd_val_ref(map)));
  CHECK_OK(herd_val_arr_push(a, e));
  CHECK_OK(herd_val_arr_push(a, herd_val_boxed(herd_val_str("s"))));
  CHECK_OK(herd_val_arr_set_length(a, 20));
  herd_val_t *w = from_json(
      "{\"$v8\":\"Array\",\"length\":20,\"props\":{\"0\":{\"$v8\":\"undefined\"},"
      "\"1\":null,\"2\":true,\"3\":{\"$v8\":\"Number\",\"value\":\"-0\"},"
      "\"4\":{\"$v8\":\"BigInt\",\"value\":\"-9223372036854775808\"},"
      "\"5\":{\"$v8\":\"Date\",\"ms\":1},"
      "\"6\":{\"$v8\":\"RegExp\",\"source\":\"a+\",\"flags\":\"gv\"},"
      "\"7\":{\"$v8\":\"Map\",\"entries\":[[\"k\",1]]},"
      "\"8\":{\"$v8\":\"Set\",\"values\":[\"v\"]},"
      "\"9\":{\"$v8\":\"ArrayBuffer\",\"base64\":\"AQI=\"},"
      "\"10\":{\"$v8\":\"ArrayBuffer\",\"base64\":\"AA==\",\"maxByteLength\":4},"
      "\"11\":{\"$v8\":\"Uint16Array\",\"base64\":\"AQI=\"},"
      "\"12\":{\"$v8\":\"Error\",\"name\":\"TypeError\",\"message\":\"bad\","
      "\"cause\":{\"$v8\":\"Ref\",\"id\":3},\"stack\":\"TypeError: bad\"},"
      "\"13\":{\"$v8\":\"Boxed\",\"value\":\"s\"}}}");
  CHECK_EQ(herd_val_equal(a, w), 1);
  char *j = to_json(a);
  herd_val_t *x = from_json(j);
  CHECK_EQ(herd_val_equal(x, w), 1);
  int64_t i;
  CHECK_OK(herd_val_bigint_to_i64(herd_val_obj_get_index(a, 4), &i));
  CHECK(i == INT64_MIN);
  herd_val_free(x);
  free(j);
  herd_val_free(w);
  herd_val_free(a);
}

/* Keys as JS has them: "7" is the index 7, "07" a string; a key set
 * twice, an array's "length", a node given a second parent are refused
 * and nothing is lost or freed twice. */
TEST(v8_object_keys_and_ownership) {
  herd_val_t *o = herd_val_object(), *v = herd_val_number(1);
  CHECK_OK(herd_val_obj_set(o, "b", herd_val_number(1)));
  CHECK_OK(herd_val_obj_set(o, "7", herd_val_number(2)));
  CHECK_OK(herd_val_obj_set(o, "07", herd_val_number(3)));
  CHECK_OK(herd_val_obj_set_index(o, 3, herd_val_number(4)));
  CHECK_OK(herd_val_obj_setn(o, "n\0ul", 4, herd_val_number(5)));
  CHECK_OK(herd_val_obj_set(o, "4294967295", herd_val_number(6)));
  CHECK_EQ(herd_val_obj_set(o, "b", herd_val_number(9)), -EEXIST);
  CHECK_EQ(herd_val_obj_set_index(o, 7, herd_val_number(9)), -EEXIST);
  CHECK_EQ(herd_val_obj_set(o, "3", herd_val_number(9)), -EEXIST);
  CHECK_EQ(herd_val_obj_set_index(o, 4294967295u, herd_val_number(9)), -EINVAL);
  CHECK_EQ(herd_val_obj_set(o, "x", NULL), -ENOMEM);
  CHECK_EQ(herd_val_obj_set(o, "self", o), -EINVAL);
  CHECK_OK(herd_val_obj_set(o, "v", v));
  CHECK_EQ(herd_val_obj_set(o, "again", v), -EINVAL); /* v is o's */
  CHECK_EQ(o->obj.n, 7);
  CHECK_EQ(o->obj.nindex, 2);
  CHECK(herd_val_obj_get(o, "7")->number == 2);
  CHECK(herd_val_obj_get(o, "07")->number == 3);
  CHECK(herd_val_obj_get_index(o, 3)->number == 4);
  CHECK(herd_val_obj_getn(o, "n\0ul", 4)->number == 5);
  CHECK(herd_val_obj_get(o, "nope") == NULL);
  char *j = to_json(o);
  CHECK_STR(j, "{\"3\":4,\"7\":2,\"b\":1,\"07\":3,\"n\\u0000ul\":5,\"4294967295\":6,\"v\":1}");
  free(j);
  char *h = encode_hex(o, NULL);
  CHECK_STR(h, "ff0f6f49064908490e4904220162490222023037490622046e00756c490a"
               "220a34323934393637323935490c22017649027b07");
  free(h);
  herd_val_free(o);

  herd_val_t *a = herd_val_array();
  CHECK_EQ(herd_val_obj_set(a, "length", herd_val_number(1)), -EINVAL);
  CHECK_OK(herd_val_obj_set(a, "5", herd_val_str("x")));
  CHECK_EQ(a->obj.length, 6);
  CHECK_EQ(herd_val_arr_set_length(a, 5), -EINVAL);
  CHECK_OK(herd_val_arr_set_length(a, 4294967295u));
  CHECK_EQ(herd_val_arr_push(a, herd_val_null()), -ERANGE);
  CHECK(herd_val_obj_get_index(a, 4) == NULL);
  herd_val_free(a);
  CHECK_EQ(herd_val_map_set(NULL, herd_val_null(), herd_val_null()), -EINVAL);
  herd_val_t *notset = herd_val_object();
  CHECK_EQ(herd_val_set_add(notset, NULL), -ENOMEM);
  CHECK_EQ(herd_val_set_add(notset, herd_val_null()), -EINVAL);
  CHECK_EQ(herd_val_map_set(notset, herd_val_null(), NULL), -ENOMEM);
  herd_val_free(notset);
  herd_val_free(NULL);
}

/* A REF is the same object again: whichever of it and its target comes
 * first in the order the tree is written is written in full, the other
 * as a reference - as V8 does with one JS object met twice. */
TEST(v8_references_by_document_order) {
  herd_val_t *o = herd_val_object(), *shared = herd_val_object();
  CHECK_OK(herd_val_obj_set(shared, "k", herd_val_number(1)));
  /* the owner under "b"; the REF under "1", which JS orders first */
  CHECK_OK(herd_val_obj_set(o, "b", shared));
  CHECK_OK(herd_val_obj_set(o, "1", herd_val_ref(shared)));
  char *h = encode_hex(o, NULL);
  CHECK_STR(h, "ff0f6f49026f22016b49027b012201625e017b02");
  free(h);
  char *j = to_json(o);
  CHECK_STR(j, "{\"1\":{\"k\":1},\"b\":{\"$v8\":\"Ref\",\"id\":1}}");
  herd_val_t *w = from_json(j);
  CHECK_EQ(herd_val_equal(o, w), 1);
  CHECK_EQ(herd_val_equal(w, o), 1);
  free(j);
  herd_val_free(w);
  /* a cycle */
  CHECK_OK(herd_val_obj_set(shared, "up", herd_val_ref(o)));
  h = encode_hex(o, NULL);
  CHECK_STR(h, "ff0f6f49026f22016b4902220275705e007b022201625e017b02");
  free(h);
  herd_val_free(o);
  CHECK(herd_val_ref(NULL) == NULL);
  herd_val_t *n = herd_val_number(1);
  CHECK(herd_val_ref(n) == NULL); /* a number has no identity */
  herd_val_free(n);
  /* an Error referred to from inside its own cause: Node 20 cannot read
   * that back (it registers an Error at its end), so it is not written */
  herd_val_t *e = herd_val_error(HERD_ERROR_ERROR, "loop");
  CHECK_OK(herd_val_error_set_cause(e, herd_val_ref(e)));
  CHECK_EQ(herd_v8_encode(e, NULL, NULL, 0), HERD_EV8UNSUPPORTED);
  CHECK_EQ(herd_v8_to_json(e, NULL, &j, NULL), HERD_EV8UNSUPPORTED);
  herd_val_free(e);
}

/* Strings: any bytes in, WTF-8 kept (faults U+FFFD, surrogate halves
 * written apart joined); written Latin-1 when every unit fits a byte,
 * else UTF-16 with Node's padding. */
TEST(v8_strings_in_and_out) {
  herd_val_t *s = herd_val_strn("a\xff" "b\xed\xa0\x80" "c\xed\xa0\xbd\xed\xb8\x80", 13);
  CHECK_EQ(s->str.len, 13);
  CHECK(memcmp(s->str.s, "a\xef\xbf\xbd" "b\xed\xa0\x80" "c\xf0\x9f\x98\x80", 13) == 0);
  char *h = encode_hex(s, NULL);
  CHECK_STR(h, "ff0f630e6100fdff620000d863003dd800de");
  free(h);
  herd_val_free(s);
  static const uint16_t u[] = {0xdc00, 0x41, 0xd800};
  s = herd_val_str_utf16(u, 3);
  CHECK_EQ(s->str.len, 7);
  char *j = to_json(s);
  CHECK_STR(j, "\"\\udc00A\\ud800\"");
  free(j);
  herd_val_free(s);
  s = herd_val_str("caf\xc3\xa9\x01");
  h = encode_hex(s, NULL);
  CHECK_STR(h, "ff0f2205636166e901");
  free(h);
  herd_val_free(s);
  CHECK(herd_val_regexp("a", "gg") == NULL);
  CHECK(herd_val_regexp("a", "uv") == NULL);
  CHECK(herd_val_regexp("a", "l") == NULL);
  CHECK(herd_val_regexp("a", "x") == NULL);
  CHECK(herd_val_view(HERD_VIEW_FLOAT64, NULL, 4) == NULL);
  CHECK(herd_val_view(13, NULL, 0) == NULL);
  CHECK(herd_val_arraybuffer_resizable(NULL, 5, 4) == NULL);
  CHECK(herd_val_error(7, NULL) == NULL);
  CHECK(herd_val_boxed(herd_val_object()) == NULL);
  CHECK_STR(herd_val_type_name(HERD_VAL_MAP), "Map");
  CHECK_STR(herd_view_type_name(HERD_VIEW_BUFFER), "Buffer");
  CHECK_STR(herd_error_type_name(HERD_ERROR_URI), "URIError");
  CHECK_STR(herd_val_type_name(99), "?");
}

/* A tree of any depth is freed (no recursion); writing it says it is
 * too deep. */
TEST(v8_deep_tree_freed_and_refused) {
  herd_val_t *root = herd_val_array(), *cur = root;
  for (int i = 0; i < 1000000; i++) {
    herd_val_t *next = herd_val_array();
    CHECK_OK(herd_val_arr_push(cur, next));
    cur = next;
  }
  CHECK_EQ(herd_v8_encode(root, NULL, NULL, 0), HERD_EV8DEPTH);
  char *j;
  CHECK_EQ(herd_v8_to_json(root, NULL, &j, NULL), HERD_EV8DEPTH);
  CHECK_EQ(herd_val_equal(root, root), HERD_EV8DEPTH);
  herd_val_free(root);
}

/* Equality is of values and of the pattern of sharing. */
TEST(v8_equality) {
  static const struct {
    const char *a, *b;
    int eq;
  } pairs[] = {
      {"{\"$v8\":\"Number\",\"value\":\"NaN\"}", "{\"$v8\":\"Number\",\"value\":\"NaN\"}", 1},
      {"{\"$v8\":\"Number\",\"value\":\"-0\"}", "0", 0},
      {"[1,2]", "{\"$v8\":\"Array\",\"length\":2,\"props\":{\"0\":1,\"1\":2}}", 1},
      {"[1,2]", "{\"$v8\":\"Array\",\"length\":3,\"props\":{\"0\":1,\"1\":2}}", 0},
      {"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}", 0},
      {"[{},{}]", "[{},{\"$v8\":\"Ref\",\"id\":1}]", 0},
      {"[{},{\"$v8\":\"Ref\",\"id\":1}]", "[{},{\"$v8\":\"Ref\",\"id\":1}]", 1},
      {"{\"$v8\":\"Error\",\"message\":\"m\"}", "{\"$v8\":\"Error\",\"name\":\"Error\",\"message\":\"m\"}", 1},
      {"{\"$v8\":\"Error\"}", "{\"$v8\":\"Error\",\"message\":\"\"}", 0},
      {"{\"$v8\":\"Buffer\",\"base64\":\"AA==\"}", "{\"$v8\":\"Uint8Array\",\"base64\":\"AA==\"}", 0},
      {"{\"$v8\":\"BigInt\",\"value\":\"-0x10\"}", "{\"$v8\":\"BigInt\",\"value\":\"-16\"}", 1},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    herd_val_t *a = from_json(pairs[i].a), *b = from_json(pairs[i].b);
    CHECK_MSG(herd_val_equal(a, b) == pairs[i].eq, "%s vs %s", pairs[i].a, pairs[i].b);
    herd_val_free(a);
    herd_val_free(b);
  }
}

/* JSON that is not JSON, or not of the mapping, is refused where it
 * goes wrong. */
TEST(v8_json_refused) {
  static const char *const bad[] = {
      "", " ", "[", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "nul",
      "\"\\x\"", "\"\x01\"", "\"\\ud80\"",
      "1 2", "{\"a\" 1}", "{a:1}", "[1 2]", "\"abc",
      "{\"a\":1,\"a\":2}", "{\"1\":1,\"1\":2}",
      "{\"$v8\":\"Nope\"}", "{\"$v8\":1}", "{\"a\":1,\"$v8\":\"Date\",\"ms\":0}",
      "{\"$v8\":\"Date\"}", "{\"$v8\":\"Date\",\"ms\":0,\"x\":1}",
      "{\"$v8\":\"Date\",\"ms\":0,\"ms\":1}", "{\"$v8\":\"Date\",\"ms\":\"0\"}",
      "{\"$v8\":\"Number\",\"value\":\"5\"}", "{\"$v8\":\"Number\"}",
      "{\"$v8\":\"BigInt\",\"value\":\"12a\"}", "{\"$v8\":\"BigInt\",\"value\":\"\"}",
      "{\"$v8\":\"BigInt\",\"value\":\"-\"}", "{\"$v8\":\"BigInt\",\"value\":\"0x\"}",
      "{\"$v8\":\"BigInt\",\"value\":5}",
      "{\"$v8\":\"Ref\",\"id\":0}", "[{\"$v8\":\"Ref\",\"id\":1}]",
      "[{\"$v8\":\"Ref\",\"id\":-1}]", "[{\"$v8\":\"Ref\",\"id\":0.5}]",
      "{\"$v8\":\"Error\",\"cause\":{\"$v8\":\"Ref\",\"id\":0}}",
      "{\"$v8\":\"RegExp\",\"source\":\"a\",\"flags\":\"gg\"}",
      "{\"$v8\":\"RegExp\",\"source\":\"a\",\"flags\":\"x\"}",
      "{\"$v8\":\"RegExp\",\"source\":\"a\",\"flags\":\"uv\"}",
      "{\"$v8\":\"RegExp\",\"flags\":\"g\"}",
      "{\"$v8\":\"Uint16Array\",\"base64\":\"AAAA\"}",
      "{\"$v8\":\"Uint8Array\",\"base64\":\"A\"}", "{\"$v8\":\"Uint8Array\",\"base64\":\"AB=C\"}",
      "{\"$v8\":\"Uint8Array\",\"base64\":\"A===\"}", "{\"$v8\":\"Uint8Array\",\"base64\":\"AA*=\"}",
      "{\"$v8\":\"ArrayBuffer\",\"base64\":\"AA==\",\"maxByteLength\":0}",
      "{\"$v8\":\"ArrayBuffer\",\"base64\":\"\",\"maxByteLength\":4294967296}",
      "{\"$v8\":\"Array\",\"length\":1,\"props\":{\"5\":1}}",
      "{\"$v8\":\"Array\",\"length\":-1}", "{\"$v8\":\"Array\",\"length\":1.5}",
      "{\"$v8\":\"Array\",\"length\":1,\"props\":{\"length\":1}}",
      "{\"$v8\":\"Array\",\"length\":1,\"props\":[]}",
      "{\"$v8\":\"Boxed\",\"value\":null}", "{\"$v8\":\"Boxed\",\"value\":{}}",
      "{\"$v8\":\"Boxed\"}", "{\"$v8\":\"Map\",\"entries\":[[1]]}",
      "{\"$v8\":\"Map\",\"entries\":[1,2]}", "{\"$v8\":\"Set\",\"values\":{}}",
      "{\"$v8\":\"Error\",\"name\":\"MyErr\"}", "{\"$v8\":\"Error\",\"message\":1}",
      "{\"$v8\":\"Object\",\"props\":[]}", "{\"$v8\":\"Object\"}",
      "{\"$v8\":\"undefined\",\"x\":1}", "{\"a\":{\"$v8\":\"Object\",\"props\":{\"$v8\":1},\"x\":2}}",
      "{\"b\":{\"$v8\":2}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    herd_val_t *v = (herd_val_t *)1;
    size_t used = SIZE_MAX;
    int rc = herd_v8_from_json(bad[i], strlen(bad[i]), NULL, &v, &used);
    CHECK_MSG(rc == HERD_EV8JSON, "%s: %d", bad[i], rc);
    CHECK(v == NULL && used <= strlen(bad[i]));
  }
  herd_val_t *v;
  size_t used;
  CHECK_EQ(herd_v8_from_json("[1, 2, tru]", 11, NULL, &v, &used), HERD_EV8JSON);
  CHECK_EQ(used, 7);
  CHECK_EQ(herd_v8_from_json("{\"a\":{\"$v8\":\"Date\",\"ms\":\"x\"}}", 29, NULL, &v, &used),
           HERD_EV8JSON);
  CHECK_EQ(used, 5);
  /* as JSON.parse reads them */
  v = from_json(" [ 1e400 , -0, \"\\u00e9\\ud83d\\ude00\" ] ");
  char *j = to_json(v);
  CHECK_STR(j, "[{\"$v8\":\"Number\",\"value\":\"Infinity\"},{\"$v8\":\"Number\",\"value\":\"-0\"},"
               "\"\303\251\360\237\230\200\"]");
  free(j);
  herd_val_free(v);
}

/* Found by fuzz/v8ser.c: a JSON string holding a UTF-8 sequence cut
 * short before its end ("\xf1\xa9\x9c": 3 bytes of a 4-byte one, a
 * fault as long as U+FFFD's encoding) was taken for U+FFFD and its bytes
 * kept, making a string that is not WTF-8. Now the text is read as
 * JSON.parse reads it (libherd's one UTF-8 policy, herd_json(3)): each
 * maximal ill-formed subsequence is one U+FFFD, and the tree's strings
 * are WTF-8 whatever the bytes. */
TEST(v8_json_cut_utf8_sequence_is_replacement_characters) {
  static const struct {
    const char *text;
    size_t nfffd; /* the string: this many U+FFFD, after 'a' if there */
  } cuts[] = {{"\"\xf1\xa9\x9c\"", 1}, {"\"\xf0\x9f\x98\"", 1},
               {"\"\xe2\x82\"", 1}, {"\"\xc3\"", 1}, {"\"a\xf4\x8f\xbf\"", 1},
               {"\"\xff\"", 1}, {"\"\xed\xa0\x80\"", 3}};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    herd_val_t *v = from_json(cuts[i].text);
    size_t a = cuts[i].text[1] == 'a';
    CHECK(v->type == HERD_VAL_STRING && v->str.len == a + 3 * cuts[i].nfffd);
    for (size_t k = 0; k < cuts[i].nfffd; k++)
      CHECK(memcmp(v->str.s + a + 3 * k, "\xef\xbf\xbd", 3) == 0);
    herd_val_free(v);
  }
  herd_val_t *v = from_json("\"\xef\xbf\xbd\xf4\x8f\xbf\xbf\"");
  CHECK_EQ(v->str.len, 7);
  herd_val_free(v);
  /* and a constructor given such bytes makes one U+FFFD of them */
  v = herd_val_strn("\xf1\xa9\x9c", 3);
  CHECK(v->str.len == 3 && memcmp(v->str.s, "\xef\xbf\xbd", 3) == 0);
  herd_val_free(v);
}

/* An array with a key of its own named "$v8" (a = [1]; a.$v8 = 2) was
 * written to JSON by herd_v8_to_json and refused by herd_v8_from_json:
 * the round trip holds for it too. */
TEST(v8_json_array_with_a_v8_key_round_trips) {
  herd_val_t *a = herd_val_array();
  CHECK(a != NULL);
  CHECK_OK(herd_val_arr_push(a, herd_val_number(1)));
  CHECK_OK(herd_val_obj_set(a, "$v8", herd_val_number(2)));
  char *json;
  size_t len;
  CHECK_OK(herd_v8_to_json(a, NULL, &json, &len));
  herd_val_t *b;
  size_t used;
  int r = herd_v8_from_json(json, len, NULL, &b, &used);
  CHECK_MSG(r == 0, "%s: %s at %zu", json, herd_strerror(r), used);
  CHECK_EQ(herd_val_equal(a, b), 1);
  free(json);
  herd_val_free(a);
  herd_val_free(b);
}

/* A BigInt too big for decimal text in reasonable time is hex. */
TEST(v8_bigint_text) {
  static uint8_t mag[9000];
  for (size_t i = 0; i < sizeof mag; i++)
    mag[i] = (uint8_t)(i * 7 + 1);
  for (size_t n = 8191; n <= 8193; n++) {
    herd_val_t *v = herd_val_bigint(1, mag, n);
    char *j = to_json(v);
    static const char hex[] = "{\"$v8\":\"BigInt\",\"value\":\"-0x";
    CHECK_EQ(strncmp(j, hex, strlen(hex)) == 0, n > 8192);
    herd_val_t *w = from_json(j);
    CHECK_EQ(herd_val_equal(v, w), 1);
    herd_val_free(w);
    free(j);
    herd_val_free(v);
  }
  herd_val_t *v = from_json("{\"$v8\":\"BigInt\",\"value\":\"-0x00FF\"}");
  int64_t i;
  CHECK_OK(herd_val_bigint_to_i64(v, &i));
  CHECK_EQ(i, -255);
  herd_val_free(v);
  v = herd_val_bigint(0, mag, 9);
  CHECK_EQ(herd_val_bigint_to_i64(v, &i), -ERANGE);
  herd_val_free(v);
  v = herd_val_bigint_i64(INT64_MAX);
  CHECK_OK(herd_val_bigint_to_i64(v, &i));
  CHECK(i == INT64_MAX);
  herd_val_free(v);
  v = herd_val_str("1");
  CHECK_EQ(herd_val_bigint_to_i64(v, &i), -EINVAL);
  herd_val_free(v);
}

TEST(v8_error_codes_named) {
  CHECK(strstr(herd_strerror(HERD_EV8DATA), "malformed"));
  CHECK(strstr(herd_strerror(HERD_EV8VERSION), "version"));
  CHECK(strstr(herd_strerror(HERD_EV8UNSUPPORTED), "not carry"));
  CHECK(strstr(herd_strerror(HERD_EV8DEPTH), "deep"));
  CHECK(strstr(herd_strerror(HERD_EV8JSON), "JSON"));
}
