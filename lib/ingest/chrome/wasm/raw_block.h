/* Generated from lib/lake/raw_block.ts by scripts/build_wasm.ts: do not edit. */
#ifndef TRACELAKE_RAW_BLOCK_H
#define TRACELAKE_RAW_BLOCK_H

#define RAW_BLOCK_SCHEMA_VERSION 1
#define NC 18
#define ROW_GROUP_ROWS 122880

/* Column indexes, in file order. */
enum { C_SEQ, C_PH, C_TIME, C_DUR, C_THREAD_TIME, C_THREAD_DUR, C_TID, C_NAME, C_CAT, C_ID, C_ID_SCOPE, C_SCOPE, C_S, C_BP, C_BIND_ID, C_FLOW_IN, C_FLOW_OUT, C_ARGS };

/* Column kinds. */
enum { KIND_I64 = 0, KIND_TS = 1, KIND_STR = 2, KIND_BOOL = 3, KIND_JSON = 4 };
static const unsigned char COLUMN_KIND[NC] = { KIND_I64, KIND_STR, KIND_TS, KIND_I64, KIND_I64, KIND_I64, KIND_STR, KIND_STR, KIND_STR, KIND_STR, KIND_STR, KIND_STR, KIND_STR, KIND_STR, KIND_STR, KIND_BOOL, KIND_BOOL, KIND_JSON };

#endif
