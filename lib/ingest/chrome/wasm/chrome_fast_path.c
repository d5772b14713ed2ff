/*
 * The Chrome JSON importer's hot loop, compiled to WebAssembly (see fast_path.ts, which
 * loads it, and scripts/build_wasm.ts, which builds chrome_fast_path.wasm from this file).
 *
 * It takes a batch of framed events (NDJSON lines from framer.ts, the first of a
 * run starting with the framer's `{"__seq":N,` key, the others without it and numbered one
 * after the previous line), and for each line either
 *  - imports it: parses it, routes it to its group (the block being built for a thread's `cpu`
 *    events, or a process's `log` / `metrics` events) and appends its row to the group's
 *    columns, in the PLAIN layout of parquet_writer.ts; or
 *  - declines it, with no effect, for the JavaScript importer (batch_importer.ts: mapping.ts,
 *    then declined.ts), which handles every event exactly as DuckDB's read_ndjson did.
 * It only imports the plainest shape, whose meaning is unambiguous and identical to what
 * mapping.ts computes for it (the oracle tests check both against DuckDB):
 *  - no whitespace, ASCII strings without escapes or control bytes;
 *  - numbers canonical as DuckDB prints them (event_parser.ts's rules), or ending in fraction
 *    zeros, which are dropped as DuckDB does (`1.50` → `1.5`; write_canonical);
 *  - a known one-letter phase other than M; pid and tid (when present) integers of at most 7
 *    digits; ts present; an id, or an id2 object whose `local` / `global` member is a string
 *    or a canonical number; none of mapping.ts's skip
 *    reasons (X without a non-negative dur, async or flow events without an id, counters
 *    without args); counters whose values are all numbers, true or false;
 *  - ns values that fit in 64 bits by the conversion rules of `usTextToNs` (time.ts).
 * Everything else is declined. There is no libc: memory is managed here (power-of-two classes
 * with free lists) and grows with memory.grow.
 *
 * Units: times are ns (int64), converted from µs text; sizes are bytes.
 */
#include <stdint.h>

#define NF 18
enum { F_PH, F_NAME, F_CAT, F_TS, F_DUR, F_TTS, F_TDUR, F_PID, F_TID, F_ID, F_ID2, F_SCOPE, F_S, F_BP, F_BIND_ID, F_FLOW_IN, F_FLOW_OUT, F_ARGS };
enum { V_MISSING, V_NULL, V_STR, V_NUM, V_TRUE, V_FALSE, V_OBJ, V_ARR };

/* Raw block columns (NC, C_*, COLUMN_KIND, ROW_GROUP_ROWS): generated from lib/lake/raw_block.ts. */
#include "raw_block.h"

enum { D_CPU, D_LOG, D_METRICS };
/* Phase classes (PHASE_CLASS in mapping.ts). */
enum { PC_NONE, PC_CPU, PC_ASYNC, PC_FLOW, PC_LOG, PC_METRICS, PC_META };

#define EXPORT __attribute__((visibility("default")))
#define WASM_PAGE 65536u

extern unsigned char __heap_base;

/* ---------------------------------------------------------------- memory */

static uintptr_t heap_top;
static void* free_lists[32];

static void fail(void) { __builtin_trap(); }

static unsigned size_class(uint32_t n) {
  unsigned c = 6; /* 64 bytes at least */
  while ((1u << c) < n) c++;
  return c;
}

static void* mem_alloc(uint32_t n) {
  unsigned c = size_class(n);
  if (c >= 31) fail();
  void* p = free_lists[c];
  if (p) {
    free_lists[c] = *(void**)p;
    return p;
  }
  if (!heap_top) heap_top = ((uintptr_t)&__heap_base + 63) & ~(uintptr_t)63;
  uintptr_t size = (uintptr_t)1 << c;
  uintptr_t end = heap_top + size;
  uintptr_t have = __builtin_wasm_memory_size(0) * WASM_PAGE;
  if (end > have) {
    uintptr_t pages = (end - have + WASM_PAGE - 1) / WASM_PAGE;
    if (__builtin_wasm_memory_grow(0, pages) == (uintptr_t)-1) fail();
  }
  p = (void*)heap_top;
  heap_top = end;
  return p;
}

static void mem_free(void* p, uint32_t n) {
  if (!p) return;
  unsigned c = size_class(n);
  *(void**)p = free_lists[c];
  free_lists[c] = p;
}

/*
 * Copies n bytes. Short copies go word by word: WebAssembly's memory.copy (what memcpy becomes)
 * is a call into the engine, which costs more than copying a short value inline.
 */
static inline void copy(uint8_t* d, const uint8_t* s, uint32_t n) {
  if (n > 256) {
    __builtin_memcpy(d, s, n);
    return;
  }
  while (n >= 8) {
    uint64_t w;
    __builtin_memcpy(&w, s, 8);
    __builtin_memcpy(d, &w, 8);
    d += 8;
    s += 8;
    n -= 8;
  }
  while (n > 0) {
    *d++ = *s++;
    n--;
  }
}

/* ---------------------------------------------------------------- block builders */

typedef struct {
  uint8_t* v;
  uint32_t len, cap;
  uint8_t* defs;
} Col;

typedef struct {
  uint32_t rows, defcap;
  /* Offsets in each column's values where each row group starts: gs[g * NC + c]. */
  uint32_t* gs;
  uint32_t ngs, gscap;
  uint32_t live;
  Col cols[NC];
  int64_t min_time, max_time, max_end, min_seq, max_seq;
} Builder;

#define INIT_DEFS 1024u

static void builder_init(Builder* b) {
  b->rows = 0;
  b->defcap = INIT_DEFS;
  b->gscap = 4;
  b->ngs = 0;
  b->gs = mem_alloc(b->gscap * NC * 4);
  b->live = 0;
  for (int c = 0; c < NC; c++) {
    Col* col = &b->cols[c];
    col->cap = (COLUMN_KIND[c] == KIND_I64 || COLUMN_KIND[c] == KIND_TS) ? 8192 : 4096;
    col->v = mem_alloc(col->cap);
    col->len = 0;
    col->defs = mem_alloc(INIT_DEFS);
  }
}

static void builder_release(Builder* b) {
  mem_free(b->gs, b->gscap * NC * 4);
  for (int c = 0; c < NC; c++) {
    mem_free(b->cols[c].v, b->cols[c].cap);
    mem_free(b->cols[c].defs, b->defcap);
  }
}

static void col_grow(Col* col, uint32_t n) {
  uint32_t cap = col->cap * 2;
  while (cap < col->len + n) cap *= 2;
  uint8_t* v = mem_alloc(cap);
  copy(v, col->v, col->len);
  mem_free(col->v, col->cap);
  col->v = v;
  col->cap = cap;
}

static void begin_row(Builder* b) {
  uint32_t r = b->rows;
  if (r == b->defcap) {
    uint32_t cap = b->defcap * 2;
    for (int c = 0; c < NC; c++) {
      uint8_t* d = mem_alloc(cap);
      copy(d, b->cols[c].defs, r);
      mem_free(b->cols[c].defs, b->defcap);
      b->cols[c].defs = d;
    }
    b->defcap = cap;
  }
  if (r % ROW_GROUP_ROWS == 0) {
    if (b->ngs == b->gscap) {
      uint32_t* g = mem_alloc(b->gscap * 2 * NC * 4);
      copy((uint8_t*)g, (uint8_t*)b->gs, b->gscap * NC * 4);
      mem_free(b->gs, b->gscap * NC * 4);
      b->gs = g;
      b->gscap *= 2;
    }
    for (int c = 0; c < NC; c++) b->gs[b->ngs * NC + c] = b->cols[c].len;
    b->ngs++;
  }
  b->rows = r + 1;
}

static inline void set_null(Builder* b, int c) { b->cols[c].defs[b->rows - 1] = 0; }

static inline void set_i64(Builder* b, int c, int64_t v) {
  Col* col = &b->cols[c];
  col->defs[b->rows - 1] = 1;
  if (col->len + 8 > col->cap) col_grow(col, 8);
  __builtin_memcpy(col->v + col->len, &v, 8);
  col->len += 8;
}

static inline void set_bool(Builder* b, int c, int v) {
  Col* col = &b->cols[c];
  col->defs[b->rows - 1] = 1;
  if (col->len + 1 > col->cap) col_grow(col, 1);
  col->v[col->len++] = (uint8_t)v;
}

static inline __attribute__((always_inline)) void set_bytes(Builder* b, int c, const uint8_t* s, uint32_t n) {
  Col* col = &b->cols[c];
  col->defs[b->rows - 1] = 1;
  if (col->len + n + 4 > col->cap) col_grow(col, n + 4);
  uint8_t* p = col->v + col->len;
  p[0] = (uint8_t)n;
  p[1] = (uint8_t)(n >> 8);
  p[2] = (uint8_t)(n >> 16);
  p[3] = (uint8_t)(n >> 24);
  copy(p + 4, s, n);
  col->len += n + 4;
}

static uint32_t builder_bytes(const Builder* b) {
  uint32_t n = b->rows * NC;
  for (int c = 0; c < NC; c++) n += b->cols[c].len;
  return n;
}

static uint32_t builder_capacity(const Builder* b) {
  uint32_t n = 0;
  for (int c = 0; c < NC; c++) n += b->cols[c].cap + b->defcap;
  return n;
}

/* ---------------------------------------------------------------- groups and threads */

/* Open-addressing tables keyed by (pid, tid, dest) (pid and tid below 2^24). */
typedef struct {
  uint64_t* keys; /* key + 1; 0 = empty */
  uint32_t* vals;
  uint32_t cap, n;
} Table;

static uint32_t hash64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (uint32_t)k;
}

static void table_init(Table* t, uint32_t cap) {
  t->cap = cap;
  t->n = 0;
  t->keys = mem_alloc(cap * 8);
  t->vals = mem_alloc(cap * 4);
  for (uint32_t i = 0; i < cap; i++) t->keys[i] = 0;
}

/* Index of the key's slot (found, or empty where it goes). */
static uint32_t table_slot(const Table* t, uint64_t key) {
  uint32_t m = t->cap - 1;
  uint32_t i = hash64(key) & m;
  while (t->keys[i] != 0 && t->keys[i] != key + 1) i = (i + 1) & m;
  return i;
}

static void table_put(Table* t, uint64_t key, uint32_t val);

static void table_grow(Table* t) {
  Table old = *t;
  table_init(t, old.cap * 2);
  for (uint32_t i = 0; i < old.cap; i++)
    if (old.keys[i] != 0) table_put(t, old.keys[i] - 1, old.vals[i]);
  mem_free(old.keys, old.cap * 8);
  mem_free(old.vals, old.cap * 4);
}

static void table_put(Table* t, uint64_t key, uint32_t val) {
  if ((t->n + 1) * 2 > t->cap) table_grow(t);
  uint32_t i = table_slot(t, key);
  if (t->keys[i] == 0) t->n++;
  t->keys[i] = key + 1;
  t->vals[i] = val;
}

static Table groups_by_key, threads_seen;
static Builder** builders;
static uint32_t nbuilders, builders_cap;

/* Per batch: what JavaScript reads back after fp_import (see fast_path.ts). */
/* Declined lines: (start, end, seq, implicit) per line, as int32 x 2 + f64 + int32 + pad. */
typedef struct {
  int32_t start, end;
  double seq;
  int32_t implicit, pad;
} Declined;
static Declined* declined;
static uint32_t ndeclined, declined_cap;
/* New groups: (group index, pid, tid, dest); new threads: (pid, tid); groups that got their
   first row since they were last written: group index. */
static uint32_t* new_groups;
static uint32_t nnew_groups, new_groups_cap;
static uint32_t* new_threads;
static uint32_t nnew_threads, new_threads_cap;
static uint32_t* became_live;
static uint32_t nbecame_live, became_live_cap;
/* Imported events by phase byte and destination: counts[ph * 3 + dest]. */
static double counts[256 * 3];

static void push_u32(uint32_t** arr, uint32_t* n, uint32_t* cap, uint32_t v) {
  if (*n == *cap) {
    uint32_t nc = *cap ? *cap * 2 : 256;
    uint32_t* a = mem_alloc(nc * 4);
    if (*n) copy((uint8_t*)a, (uint8_t*)*arr, *n * 4);
    mem_free(*arr, *cap * 4);
    *arr = a;
    *cap = nc;
  }
  (*arr)[(*n)++] = v;
}

static uint32_t group_of(uint32_t pv, uint32_t tv, int dest) {
  uint64_t tkey = (uint64_t)pv * 16777216u + tv;
  uint32_t ts = table_slot(&threads_seen, tkey);
  if (threads_seen.keys[ts] == 0) {
    table_put(&threads_seen, tkey, 1);
    push_u32(&new_threads, &nnew_threads, &new_threads_cap, pv);
    push_u32(&new_threads, &nnew_threads, &new_threads_cap, tv);
  }
  uint64_t gkey = ((uint64_t)pv * 16777216u + (dest == D_CPU ? tv : 16777215u)) * 4 + (uint64_t)dest;
  uint32_t s = table_slot(&groups_by_key, gkey);
  if (groups_by_key.keys[s] != 0) return groups_by_key.vals[s];
  if (nbuilders == builders_cap) {
    uint32_t nc = builders_cap ? builders_cap * 2 : 64;
    Builder** a = mem_alloc(nc * sizeof(Builder*));
    if (nbuilders) copy((uint8_t*)a, (uint8_t*)builders, nbuilders * sizeof(Builder*));
    mem_free(builders, builders_cap * sizeof(Builder*));
    builders = a;
    builders_cap = nc;
  }
  Builder* b = mem_alloc(sizeof(Builder));
  builder_init(b);
  uint32_t g = nbuilders++;
  builders[g] = b;
  table_put(&groups_by_key, gkey, g);
  push_u32(&new_groups, &nnew_groups, &new_groups_cap, g);
  push_u32(&new_groups, &nnew_groups, &new_groups_cap, pv);
  push_u32(&new_groups, &nnew_groups, &new_groups_cap, tv);
  push_u32(&new_groups, &nnew_groups, &new_groups_cap, (uint32_t)dest);
  return g;
}

/* ---------------------------------------------------------------- parsing */

static uint8_t kinds[NF];
static int32_t starts[NF], ends[NF];
/* 1: a number ending in fraction zeros, or a nested value holding one (write_canonical). */
static uint8_t rewrite[NF];

/* Bytes that end a run of plain string bytes: quote, backslash, control bytes, non-ASCII. */
static uint8_t STR_STOP[256];
static uint8_t PHASE_CLASS[128];
static int tables_ready;

static void init_tables(void) {
  for (int b = 0; b < 256; b++) STR_STOP[b] = (b < 0x20 || b >= 0x80 || b == '"' || b == '\\');
  const char* cpu = "BEX";
  const char* async = "benSTpF";
  const char* flow = "stf";
  const char* log = "iIR";
  for (const char* p = cpu; *p; p++) PHASE_CLASS[(int)*p] = PC_CPU;
  for (const char* p = async; *p; p++) PHASE_CLASS[(int)*p] = PC_ASYNC;
  for (const char* p = flow; *p; p++) PHASE_CLASS[(int)*p] = PC_FLOW;
  for (const char* p = log; *p; p++) PHASE_CLASS[(int)*p] = PC_LOG;
  PHASE_CLASS['C'] = PC_METRICS;
  PHASE_CLASS['M'] = PC_META;
  table_init(&groups_by_key, 256);
  table_init(&threads_seen, 256);
  tables_ready = 1;
}

static inline int is_digit(uint8_t c) { return (uint8_t)(c - '0') < 10; }

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/*
 * The first offset from `j` (at most `to`) of a byte that ends a plain string: a quote, a
 * backslash, a control byte or a non-ASCII byte. Eight bytes at a time (the batch buffer has
 * 8 bytes of padding, so the loads past `to` stay inside it): the classic "has zero byte"
 * tests, whose lowest flagged byte is always exact.
 */
static inline int scan_plain(const uint8_t* buf, int j, int to) {
  while (j + 8 <= to) {
    uint64_t x;
    __builtin_memcpy(&x, buf + j, 8);
    uint64_t q = x ^ (ONES * '"');
    uint64_t b = x ^ (ONES * '\\');
    uint64_t m = (x | ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS;
    if (m) return j + (__builtin_ctzll(m) >> 3);
    j += 8;
  }
  while (j < to && !STR_STOP[buf[j]]) j++;
  return j;
}

/* Field index of a key (event_parser.ts fieldOf): -1 other keys, -2 `__seq`. */
static int field_of(const uint8_t* k, int n) {
  switch (n) {
    case 1:
      return k[0] == 's' ? F_S : -1;
    case 2:
      if (k[0] == 'p' && k[1] == 'h') return F_PH;
      if (k[0] == 't' && k[1] == 's') return F_TS;
      if (k[0] == 'i' && k[1] == 'd') return F_ID;
      if (k[0] == 'b' && k[1] == 'p') return F_BP;
      return -1;
    case 3:
      if (k[0] == 'c' && k[1] == 'a' && k[2] == 't') return F_CAT;
      if (k[0] == 'd' && k[1] == 'u' && k[2] == 'r') return F_DUR;
      if (k[0] == 't' && k[1] == 't' && k[2] == 's') return F_TTS;
      if (k[0] == 'p' && k[1] == 'i' && k[2] == 'd') return F_PID;
      if (k[0] == 't' && k[1] == 'i' && k[2] == 'd') return F_TID;
      if (k[0] == 'i' && k[1] == 'd' && k[2] == '2') return F_ID2;
      return -1;
    case 4:
      if (k[0] == 'a' && k[1] == 'r' && k[2] == 'g' && k[3] == 's') return F_ARGS;
      if (k[0] == 'n' && k[1] == 'a' && k[2] == 'm' && k[3] == 'e') return F_NAME;
      if (k[0] == 't' && k[1] == 'd' && k[2] == 'u' && k[3] == 'r') return F_TDUR;
      return -1;
    case 5:
      if (k[0] == 's' && k[1] == 'c' && k[2] == 'o' && k[3] == 'p' && k[4] == 'e') return F_SCOPE;
      if (k[0] == '_' && k[1] == '_' && k[2] == 's' && k[3] == 'e' && k[4] == 'q') return -2;
      return -1;
    case 7:
      if (k[0] == 'b' && k[1] == 'i' && k[2] == 'n' && k[3] == 'd' && k[4] == '_' && k[5] == 'i' && k[6] == 'd')
        return F_BIND_ID;
      if (k[0] == 'f' && k[1] == 'l' && k[2] == 'o' && k[3] == 'w' && k[4] == '_' && k[5] == 'i' && k[6] == 'n')
        return F_FLOW_IN;
      return -1;
    case 8:
      if (k[0] == 'f' && k[1] == 'l' && k[2] == 'o' && k[3] == 'w' && k[4] == '_' && k[5] == 'o' && k[6] == 'u' &&
          k[7] == 't')
        return F_FLOW_OUT;
      return -1;
    default:
      return -1;
  }
}

/*
 * A number at `i` (event_parser.ts scanNumber's rules, the canonical cases only): returns its
 * end, or -1 to decline. `*rw` is set to 1 when its canonical text drops fraction zeros
 * (`1.50`, `2.00`); every other non-canonical form is declined. The byte after the number must
 * be one of `,}]`.
 */
static int scan_number(const uint8_t* buf, int i, int to, int* rw) {
  int j = i;
  int neg = buf[j] == '-';
  if (neg) j++;
  int int_start = j;
  uint8_t c = buf[j];
  if (c == '0') j++;
  else if (c > '0' && c <= '9') {
    while (j < to && is_digit(buf[j])) j++;
  } else return -1;
  int int_digits = j - int_start;
  if (j < to && is_digit(buf[j])) return -1; /* leading zero */
  int int_zero = int_digits == 1 && buf[int_start] == '0';
  *rw = 0;
  if (j < to && buf[j] == '.') {
    j++;
    int fs = j;
    while (j < to && is_digit(buf[j])) j++;
    if (j == fs || int_digits > 15) return -1;
    int fe = j;
    while (fe > fs && buf[fe - 1] == '0') fe--;
    if (fe == fs) {
      if (int_zero && neg) return -1; /* -0.0 */
      if (j - fs != 1) *rw = 1;
    } else {
      int sig;
      if (int_zero) {
        int z = fs;
        while (buf[z] == '0') z++;
        if (z - fs > 3) return -1;
        sig = fe - z;
      } else sig = fe - fs + int_digits;
      if (sig > 15) return -1;
      if (fe != j) *rw = 1;
    }
  } else if (neg && int_zero) return -1; /* -0 */
  if (j >= to) return -1;
  c = buf[j];
  if (c != ',' && c != '}' && c != ']') return -1;
  return j;
}

/*
 * A nested object or array at `i`, minified, whose numbers are canonical or only end in
 * fraction zeros: returns its end, or -1. `*rw` is set to 1 when a number ends in fraction
 * zeros (write_canonical then drops them).
 */
static int scan_nested(const uint8_t* buf, int i, int to, int* rw) {
  *rw = 0;
  /* One bit per level: 1 object, 0 array. Deeper than 64 levels: declined. */
  uint64_t stack = 0;
  int depth = 0;
  int j = i;
  /* States: 0 after an opening bracket, 1 a value, 2 after a value, 3 a key. */
  int state = 1;
  for (;;) {
    if (j >= to) return -1;
    uint8_t b = buf[j];
    if (state == 2 || state == 0) {
      int obj = (stack >> (depth - 1)) & 1;
      if ((obj && b == '}') || (!obj && b == ']')) {
        depth--;
        j++;
        if (depth == 0) return j;
        state = 2;
        continue;
      }
      if (state == 2) {
        if (b != ',') return -1;
        j++;
        state = obj ? 3 : 1;
        continue;
      }
      state = obj ? 3 : 1;
    }
    if (state == 3) {
      if (b != '"') return -1;
      j = scan_plain(buf, j + 1, to);
      if (j >= to || buf[j] != '"') return -1;
      j++;
      if (j >= to || buf[j] != ':') return -1;
      j++;
      state = 1;
      continue;
    }
    /* A value. */
    if (b == '{' || b == '[') {
      if (depth >= 64) return -1;
      if (b == '{') stack |= (uint64_t)1 << depth;
      else stack &= ~((uint64_t)1 << depth);
      depth++;
      j++;
      state = 0;
      continue;
    }
    if (b == '"') {
      j = scan_plain(buf, j + 1, to);
      if (j >= to || buf[j] != '"') return -1;
      j++;
    } else if (b == 't') {
      if (j + 4 > to || buf[j + 1] != 'r' || buf[j + 2] != 'u' || buf[j + 3] != 'e') return -1;
      j += 4;
    } else if (b == 'f') {
      if (j + 5 > to || buf[j + 1] != 'a' || buf[j + 2] != 'l' || buf[j + 3] != 's' || buf[j + 4] != 'e') return -1;
      j += 5;
    } else if (b == 'n') {
      if (j + 4 > to || buf[j + 1] != 'u' || buf[j + 2] != 'l' || buf[j + 3] != 'l') return -1;
      j += 4;
    } else {
      int nrw;
      j = scan_number(buf, j, to, &nrw);
      if (j < 0) return -1;
      *rw |= nrw;
    }
    if (depth == 0) return j;
    state = 2;
  }
}

static double line_seq;

/*
 * Parses the object at `buf[from]` into kinds/starts/ends/rewrite, reading no further than
 * `to`. `implicit_seq` < 0: the object starts with the `__seq` key. Returns the offset after
 * the object when it is in the plain shape, else 0. (No plain value holds a line break, so a
 * plain object never runs over the end of its line.)
 */
static int parse(const uint8_t* buf, int from, int to, double implicit_seq) {
  for (int k = 0; k < NF; k++) {
    kinds[k] = V_MISSING;
    rewrite[k] = 0;
  }
  int i = from;
  if (i >= to || buf[i] != '{') return 0;
  i++;
  int first = implicit_seq < 0;
  if (!first) line_seq = implicit_seq;
  if (i < to && buf[i] == '}') return 0;
  for (;;) {
    if (i >= to || buf[i] != '"') return 0;
    int ks = i + 1;
    int ke = scan_plain(buf, ks, to);
    if (ke >= to || buf[ke] != '"') return 0;
    int f = field_of(buf + ks, ke - ks);
    i = ke + 1;
    if (i >= to || buf[i] != ':') return 0;
    i++;
    if (first) {
      if (f != -2) return 0;
      double v = 0;
      int j = i;
      while (j < to && is_digit(buf[j])) v = v * 10 + (buf[j++] - '0');
      if (j == i || j - i > 15) return 0;
      line_seq = v;
      i = j;
      first = 0;
    } else {
      if (i >= to) return 0;
      uint8_t b = buf[i];
      int kind, vs = i, ve, rw = 0;
      if (b == '"') {
        int j = scan_plain(buf, i + 1, to);
        if (j >= to || buf[j] != '"') return 0;
        kind = V_STR;
        vs = i + 1;
        ve = j;
        i = j + 1;
      } else if (b == '{' || b == '[') {
        ve = scan_nested(buf, i, to, &rw);
        if (ve < 0) return 0;
        kind = b == '{' ? V_OBJ : V_ARR;
        i = ve;
      } else if (b == 't') {
        if (i + 4 > to || buf[i + 1] != 'r' || buf[i + 2] != 'u' || buf[i + 3] != 'e') return 0;
        kind = V_TRUE;
        i += 4;
        ve = i;
      } else if (b == 'f') {
        if (i + 5 > to || buf[i + 1] != 'a' || buf[i + 2] != 'l' || buf[i + 3] != 's' || buf[i + 4] != 'e') return 0;
        kind = V_FALSE;
        i += 5;
        ve = i;
      } else if (b == 'n') {
        if (i + 4 > to || buf[i + 1] != 'u' || buf[i + 2] != 'l' || buf[i + 3] != 'l') return 0;
        kind = V_NULL;
        i += 4;
        ve = i;
      } else {
        kind = V_NUM;
        ve = scan_number(buf, i, to, &rw);
        if (ve < 0) return 0;
        i = ve;
      }
      /* Duplicate keys: the first wins, as in DuckDB. */
      if (f >= 0 && kinds[f] == V_MISSING) {
        kinds[f] = (uint8_t)kind;
        starts[f] = vs;
        ends[f] = ve;
        rewrite[f] = (uint8_t)rw;
      }
    }
    if (i >= to) return 0;
    uint8_t c = buf[i];
    if (c == ',') {
      i++;
      continue;
    }
    if (c != '}') return 0;
    return i + 1;
  }
}

/* ---------------------------------------------------------------- µs → ns */

static const double POW10[16] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* Rounds half away from zero, as DuckDB's round(DOUBLE) (roundAway in time.ts). */
static double round_away(double v) {
  double t = __builtin_trunc(v);
  double d = v - t;
  if (d >= 0.5) return t + 1;
  if (d <= -0.5) return t - 1;
  return t;
}

/*
 * `usTextToNs` (time.ts) on the canonical text of number field `f`: 1 with `*out`
 * set, 0 for a value that function would not give as a 64-bit integer here (declined).
 */
static int field_ns(const uint8_t* buf, int f, int64_t* out) {
  int s = starts[f];
  int e = ends[f];
  int neg = buf[s] == '-';
  int d0 = neg ? s + 1 : s;
  int dot = -1;
  for (int k = d0; k < e; k++)
    if (buf[k] == '.') {
      dot = k;
      break;
    }
  if (dot < 0) {
    /* At most 15 digits: the product fits in 64 bits. */
    if (e - d0 > 15) return 0;
    int64_t v = 0;
    for (int k = d0; k < e; k++) v = v * 10 + (buf[k] - '0');
    v *= 1000;
    *out = neg ? -v : v;
    return 1;
  }
  /* The canonical text: fraction zeros dropped, `.0` kept for an integral value. */
  if (rewrite[f]) {
    int fe = e;
    while (fe > dot + 1 && buf[fe - 1] == '0') fe--;
    e = fe == dot + 1 ? dot + 2 : fe;
  }
  int len = e - s;
  if (len <= 15) {
    /* At most 14 digits: exact mantissa, one correctly rounded division, as DuckDB's cast. */
    double m = 0;
    for (int k = d0; k < e; k++)
      if (k != dot) m = m * 10 + (buf[k] - '0');
    double x = m / POW10[e - dot - 1];
    double r = round_away((neg ? -x : x) * 1000);
    if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0)) return 0;
    *out = (int64_t)r;
    return 1;
  }
  /* The integer part (at most 12 digits here) × 1000 plus the first 3 fraction digits. */
  if (dot - d0 > 12) return 0;
  int64_t frac = 0;
  for (int k = 0; k < 3; k++) frac = frac * 10 + (dot + 1 + k < e ? buf[dot + 1 + k] - '0' : 0);
  int64_t v = 0;
  for (int k = d0; k < dot; k++) v = v * 10 + (buf[k] - '0');
  v = v * 1000 + frac;
  *out = neg ? -v : v;
  return 1;
}

/* A field's value as ns: 1 set, 0 null (missing or JSON null), -1 declined. */
static int time_field(const uint8_t* buf, int f, int64_t* out) {
  int k = kinds[f];
  if (k == V_MISSING || k == V_NULL) return 0;
  if (k != V_NUM) return -1;
  return field_ns(buf, f, out) ? 1 : -1;
}

/* The value of a canonical integer of at most 7 digits, else -1. */
static int32_t small_uint(const uint8_t* buf, int f) {
  if (kinds[f] != V_NUM || rewrite[f]) return -1;
  int s = starts[f];
  int e = ends[f];
  if (e - s > 7) return -1;
  int32_t v = 0;
  for (int k = s; k < e; k++) {
    uint8_t d = buf[k] - '0';
    if (d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/*
 * Writes the canonical text of `src[0, n)`, a number or nested value that scan_number /
 * scan_nested accepted with its rewrite flag: every number's fraction zeros dropped, `.0`
 * kept for an integral value (`1.50` → `1.5`, `2.00` → `2.0`), as DuckDB and yyjson print
 * them (event_parser.ts writeCanonicalNumber). Strings are copied as they are (plain: no
 * escapes), so a digit outside a string is always part of a number. Returns the length written
 * (at most n).
 */
static uint32_t write_canonical(uint8_t* dst, const uint8_t* src, uint32_t n) {
  uint32_t o = 0;
  uint32_t i = 0;
  while (i < n) {
    uint8_t c = src[i];
    if (c == '"') {
      uint32_t j = i + 1;
      while (src[j] != '"') j++;
      copy(dst + o, src + i, j + 1 - i);
      o += j + 1 - i;
      i = j + 1;
    } else if (c == '-' || is_digit(c)) {
      uint32_t j = i;
      if (c == '-') j++;
      while (j < n && is_digit(src[j])) j++;
      if (j < n && src[j] == '.') {
        uint32_t dot = j;
        j++;
        while (j < n && is_digit(src[j])) j++;
        uint32_t fe = j;
        while (fe > dot + 1 && src[fe - 1] == '0') fe--;
        if (fe == dot + 1) fe = dot + 2;
        copy(dst + o, src + i, fe - i);
        o += fe - i;
      } else {
        copy(dst + o, src + i, j - i);
        o += j - i;
      }
      i = j;
    } else {
      dst[o++] = c;
      i++;
    }
  }
  return o;
}

static const uint8_t TRUE_TEXT[] = {'t', 'r', 'u', 'e'};
static const uint8_t FALSE_TEXT[] = {'f', 'a', 'l', 's', 'e'};
static const uint8_t GLOBAL_TEXT[] = {'g', 'l', 'o', 'b', 'a', 'l'};
static const uint8_t LOCAL_TEXT[] = {'l', 'o', 'c', 'a', 'l'};

/* A VARCHAR/JSON column set to the canonical text of a field flagged in `rewrite`. */
static void set_canonical(Builder* b, int c, const uint8_t* buf, int f) {
  Col* col = &b->cols[c];
  uint32_t n = (uint32_t)(ends[f] - starts[f]);
  col->defs[b->rows - 1] = 1;
  if (col->len + n + 4 > col->cap) col_grow(col, n + 4);
  uint8_t* p = col->v + col->len;
  uint32_t w = write_canonical(p + 4, buf + starts[f], n);
  p[0] = (uint8_t)w;
  p[1] = (uint8_t)(w >> 8);
  p[2] = (uint8_t)(w >> 16);
  p[3] = (uint8_t)(w >> 24);
  col->len += w + 4;
}

/* A VARCHAR/JSON column from a field, as batch_importer.ts setText (the plain cases). */
static inline __attribute__((always_inline)) void write_text(Builder* b, int c, const uint8_t* buf, int f) {
  if (rewrite[f]) {
    set_canonical(b, c, buf, f);
    return;
  }
  switch (kinds[f]) {
    case V_MISSING:
    case V_NULL:
      set_null(b, c);
      break;
    case V_TRUE:
      set_bytes(b, c, TRUE_TEXT, 4);
      break;
    case V_FALSE:
      set_bytes(b, c, FALSE_TEXT, 5);
      break;
    default:
      set_bytes(b, c, buf + starts[f], (uint32_t)(ends[f] - starts[f]));
  }
}

/* ---------------------------------------------------------------- routing */

/*
 * `$.<want>` of id2 (batch_importer.ts id2Member: json_extract_string, the first member of that
 * name): 0 absent, 1 found (its text at [*ms, *me): a string's contents or a number, both
 * canonical since scan_nested checked them), -1 declined (a nested or literal member before it
 * or as it). id2 must be a minified object (scan_nested checked it).
 */
static int id2_member(const uint8_t* buf, const char* want, int wlen, int* ms, int* me) {
  int k = kinds[F_ID2];
  if (k == V_MISSING || k == V_NULL) return 0;
  if (k != V_OBJ) return -1;
  int i = starts[F_ID2] + 1;
  if (buf[i] == '}') return 0;
  for (;;) {
    int ks = i + 1;
    int ke = ks;
    while (buf[ke] != '"') ke++;
    i = ke + 2;
    uint8_t b = buf[i];
    int found, s = 0, e = 0;
    if (b == '"') {
      int ve = i + 1;
      while (buf[ve] != '"') ve++;
      found = 1;
      s = i + 1;
      e = ve;
      i = ve + 1;
    } else if (b == '-' || is_digit(b)) {
      int ve = i;
      while (buf[ve] != ',' && buf[ve] != '}') ve++;
      found = 1;
      s = i;
      e = ve;
      i = ve;
    } else found = -1;
    int same = ke - ks == wlen;
    for (int x = 0; same && x < wlen; x++)
      if (buf[ks + x] != (uint8_t)want[x]) same = 0;
    if (same) {
      *ms = s;
      *me = e;
      return found;
    }
    if (found < 0) return -1;
    if (buf[i] == ',') {
      i++;
      continue;
    }
    return 0;
  }
}

/* Whether every member of the object buf[s, e) (minified, strings without escapes) has a number,
 * true or false value; a counter with any other value is declined, for declined.ts to count the
 * values the measures view will not read (lib/views/counter_value.ts). */
static int numeric_members(const uint8_t* buf, int s, int e) {
  int depth = 0, at_value = 0;
  for (int i = s; i < e; i++) {
    uint8_t c = buf[i];
    if (c == '"') {
      if (depth == 1 && at_value) return 0;
      i++;
      while (buf[i] != '"') i++;
    } else if (c == '{' || c == '[') {
      if (depth == 1 && at_value) return 0;
      depth++;
    } else if (c == '}' || c == ']') depth--;
    else if (c == ':' && depth == 1) at_value = 1;
    else if (c == 'n' && depth == 1 && at_value) return 0;
    else at_value = 0;
  }
  return 1;
}

/* Imports the parsed line if it is on the plain path: 1 imported, 0 declined (no effect). */
static int route(const uint8_t* buf) {
  if (kinds[F_PH] != V_STR || ends[F_PH] - starts[F_PH] != 1) return 0;
  uint8_t ph = buf[starts[F_PH]];
  int cls = ph < 128 ? PHASE_CLASS[ph] : PC_NONE;
  if (cls == PC_NONE || cls == PC_META) return 0;
  int32_t pv = small_uint(buf, F_PID);
  if (pv < 0) return 0;
  int tk = kinds[F_TID];
  int32_t tv = tk == V_MISSING || tk == V_NULL ? pv : small_uint(buf, F_TID);
  if (tv < 0) return 0;
  int64_t ts, dur = 0, tts = 0, tdur = 0;
  if (time_field(buf, F_TS, &ts) != 1) return 0;
  int has_dur = time_field(buf, F_DUR, &dur);
  int has_tts = time_field(buf, F_TTS, &tts);
  int has_tdur = time_field(buf, F_TDUR, &tdur);
  if (has_dur < 0 || has_tts < 0 || has_tdur < 0) return 0;
  int ik = kinds[F_ID];
  int has_id = ik != V_MISSING && ik != V_NULL;
  if (has_id && !(ik == V_STR || ik == V_NUM)) return 0;
  /* Async id: id, else id2.local, else id2.global. member: 0 none, 1 local, 2 global. */
  int member = 0, ms = 0, me = 0;
  if (!has_id) {
    if (rewrite[F_ID2]) return 0;
    int l = id2_member(buf, "local", 5, &ms, &me);
    if (l < 0) return 0;
    if (l == 1) member = 1;
    else {
      int gl = id2_member(buf, "global", 6, &ms, &me);
      if (gl < 0) return 0;
      if (gl == 1) member = 2;
    }
  }
  /* Skip reasons (batch_importer.ts skipReason): left to JavaScript, which counts them. */
  if (ph == 'X' && (!has_dur || dur < 0)) return 0;
  if (cls == PC_ASYNC && !has_id && !member) return 0;
  if (cls == PC_FLOW && !has_id && !member && (kinds[F_BIND_ID] == V_MISSING || kinds[F_BIND_ID] == V_NULL)) return 0;
  if (cls == PC_METRICS && (kinds[F_ARGS] != V_OBJ || ends[F_ARGS] - starts[F_ARGS] == 2)) return 0;
  if (cls == PC_METRICS && !numeric_members(buf, starts[F_ARGS], ends[F_ARGS])) return 0;
  if (kinds[F_FLOW_IN] == V_STR || kinds[F_FLOW_OUT] == V_STR) return 0;
  int64_t end;
  if (__builtin_add_overflow(ts, dur > 0 ? dur : 0, &end)) return 0;

  int dest = cls == PC_LOG ? D_LOG : cls == PC_METRICS ? D_METRICS : D_CPU;
  uint32_t g = group_of((uint32_t)pv, (uint32_t)tv, dest);
  Builder* b = builders[g];
  if (!b->live) {
    b->live = 1;
    push_u32(&became_live, &nbecame_live, &became_live_cap, g);
  }
  counts[ph * 3 + dest] += 1;
  int64_t seq = (int64_t)line_seq;
  if (b->rows == 0) {
    b->min_time = b->max_time = ts;
    b->max_end = end;
    b->min_seq = b->max_seq = seq;
  } else {
    if (ts < b->min_time) b->min_time = ts;
    if (ts > b->max_time) b->max_time = ts;
    if (end > b->max_end) b->max_end = end;
    if (seq < b->min_seq) b->min_seq = seq;
    if (seq > b->max_seq) b->max_seq = seq;
  }
  begin_row(b);
  set_i64(b, C_SEQ, seq);
  set_bytes(b, C_PH, &ph, 1);
  set_i64(b, C_TIME, ts);
  if (has_dur) set_i64(b, C_DUR, dur);
  else set_null(b, C_DUR);
  if (has_tts) set_i64(b, C_THREAD_TIME, tts);
  else set_null(b, C_THREAD_TIME);
  if (has_tdur) set_i64(b, C_THREAD_DUR, tdur);
  else set_null(b, C_THREAD_DUR);
  write_text(b, C_TID, buf, tk == V_MISSING || tk == V_NULL ? F_PID : F_TID);
  write_text(b, C_NAME, buf, F_NAME);
  write_text(b, C_CAT, buf, F_CAT);
  if (has_id) {
    write_text(b, C_ID, buf, F_ID);
    set_bytes(b, C_ID_SCOPE, GLOBAL_TEXT, 6);
  } else if (member) {
    set_bytes(b, C_ID, buf + ms, (uint32_t)(me - ms));
    if (member == 1) set_bytes(b, C_ID_SCOPE, LOCAL_TEXT, 5);
    else set_bytes(b, C_ID_SCOPE, GLOBAL_TEXT, 6);
  } else {
    set_null(b, C_ID);
    set_null(b, C_ID_SCOPE);
  }
  write_text(b, C_SCOPE, buf, F_SCOPE);
  write_text(b, C_S, buf, F_S);
  write_text(b, C_BP, buf, F_BP);
  write_text(b, C_BIND_ID, buf, F_BIND_ID);
  for (int k = 0; k < 2; k++) {
    int f = k == 0 ? F_FLOW_IN : F_FLOW_OUT;
    int c = k == 0 ? C_FLOW_IN : C_FLOW_OUT;
    int fk = kinds[f];
    if (fk == V_MISSING || fk == V_NULL) set_null(b, c);
    else set_bool(b, c, fk == V_TRUE);
  }
  /* args: a string keeps its quotes (JSON text); other values as written (canonical). */
  if (kinds[F_ARGS] == V_STR) set_bytes(b, C_ARGS, buf + starts[F_ARGS] - 1, (uint32_t)(ends[F_ARGS] - starts[F_ARGS] + 2));
  else write_text(b, C_ARGS, buf, F_ARGS);
  return 1;
}

/* ---------------------------------------------------------------- exports */

static uint8_t* batch;
static uint32_t batch_cap;

/** A buffer of at least `n` bytes (plus 8 of padding, see scan_plain) for the next batch (its address). */
EXPORT uint8_t* fp_batch_buffer(uint32_t n) {
  if (!tables_ready) init_tables();
  if (n + 8 > batch_cap) {
    mem_free(batch, batch_cap);
    batch_cap = 1u << size_class(n + 8);
    batch = mem_alloc(batch_cap);
  }
  return batch;
}

/* Results of the last fp_import, read by JavaScript: addresses and counts (int32 each). */
static int32_t result[12];

static void decline(int s, int to, double seq, int implicit) {
  if (ndeclined == declined_cap) {
    uint32_t nc = declined_cap ? declined_cap * 2 : 256;
    Declined* a = mem_alloc(nc * sizeof(Declined));
    if (ndeclined) copy((uint8_t*)a, (uint8_t*)declined, ndeclined * sizeof(Declined));
    mem_free(declined, declined_cap * sizeof(Declined));
    declined = a;
    declined_cap = nc;
  }
  Declined* d = &declined[ndeclined++];
  d->start = s;
  d->end = to;
  d->seq = seq;
  d->implicit = implicit;
  d->pad = 0;
}

/*
 * Imports the batch of `n` bytes in the batch buffer (whole lines, each ending in `\n`, the
 * last one possibly without). Returns the address of `result`: [lines, declined count,
 * declined address, new groups count, new groups address, new threads count, new threads
 * address, became-live count, became-live address, counts address]. Counts are of lines and
 * entries; entries are described at their arrays. A line without `__seq` after no line with
 * it is declined with seq -1 (JavaScript reports that error).
 */
EXPORT int32_t* fp_import(uint32_t n) {
  ndeclined = nnew_groups = nnew_threads = nbecame_live = 0;
  const uint8_t* buf = batch;
  int lines = 0;
  double prev = -1;
  uint32_t s = 0;
  while (s < n) {
    lines++;
    /* The framer's prefix, `{"__seq":` then digits, or none (the seq follows the previous). */
    int explicit_seq = n - s > 9 && buf[s] == '{' && buf[s + 1] == '"' && buf[s + 2] == '_' && buf[s + 3] == '_' &&
                       buf[s + 4] == 's' && buf[s + 5] == 'e' && buf[s + 6] == 'q' && buf[s + 7] == '"' &&
                       buf[s + 8] == ':' && is_digit(buf[s + 9]);
    double seq = -1;
    if (explicit_seq) {
      seq = 0;
      for (uint32_t k = s + 9; k < n && is_digit(buf[k]); k++) seq = seq * 10 + (buf[k] - '0');
    } else if (prev >= 0)
      seq = prev + 1;
    /* The line ends right after a plain object: `}` then `\n`, `,\n` or the batch's end. */
    int end = seq < 0 ? 0 : parse(buf, (int)s, (int)n, explicit_seq ? -1 : seq);
    uint32_t e = (uint32_t)end;
    if (end > 0) {
      if (e < n && buf[e] == ',') e++;
      if (e < n && buf[e] != '\n') end = 0;
    }
    if (end > 0 && route(buf)) {
      prev = seq;
      s = e + 1;
      continue;
    }
    e = s;
    while (e < n && buf[e] != '\n') e++;
    int to = (e > s && buf[e - 1] == ',') ? (int)e - 1 : (int)e;
    decline((int)s, to, seq, !explicit_seq);
    if (seq >= 0) prev = seq;
    s = e + 1;
  }
  result[0] = lines;
  result[1] = (int32_t)ndeclined;
  result[2] = (int32_t)(uintptr_t)declined;
  result[3] = (int32_t)(nnew_groups / 4);
  result[4] = (int32_t)(uintptr_t)new_groups;
  result[5] = (int32_t)(nnew_threads / 2);
  result[6] = (int32_t)(uintptr_t)new_threads;
  result[7] = (int32_t)nbecame_live;
  result[8] = (int32_t)(uintptr_t)became_live;
  result[9] = (int32_t)(uintptr_t)counts;
  return result;
}

/* A group's block, for JavaScript to encode (see chrome_fast_path.ts readBlock). */
static int32_t info[8 + NC * 3];
static int64_t stats[5];

/**
 * Describes group `g`'s columns: returns the address of int32 words [rows, row groups,
 * row-group starts address, stats address, bytes, capacity, 0, 0, then per column: values
 * address, values length, definition levels address]. The stats are int64 [min time,
 * max time, max end, min seq, max seq] (ns; seq numbers).
 */
EXPORT int32_t* fp_block(uint32_t g) {
  Builder* b = builders[g];
  info[0] = (int32_t)b->rows;
  info[1] = (int32_t)b->ngs;
  info[2] = (int32_t)(uintptr_t)b->gs;
  info[3] = (int32_t)(uintptr_t)stats;
  info[4] = (int32_t)builder_bytes(b);
  info[5] = (int32_t)builder_capacity(b);
  info[6] = info[7] = 0;
  for (int c = 0; c < NC; c++) {
    info[8 + c * 3] = (int32_t)(uintptr_t)b->cols[c].v;
    info[8 + c * 3 + 1] = (int32_t)b->cols[c].len;
    info[8 + c * 3 + 2] = (int32_t)(uintptr_t)b->cols[c].defs;
  }
  stats[0] = b->min_time;
  stats[1] = b->max_time;
  stats[2] = b->max_end;
  stats[3] = b->min_seq;
  stats[4] = b->max_seq;
  return info;
}

/** Bytes of column data group `g` holds (values and levels). */
EXPORT uint32_t fp_block_bytes(uint32_t g) { return builder_bytes(builders[g]); }

/**
 * Empties group `g` after its rows were written out. Its buffers go back to the free lists and
 * it starts again with small ones: a group keeping the buffers of its largest write-out held
 * ~2x the rows in memory (groups peak at different times); freed, they serve the groups growing
 * now. Peak RSS of a 1 GiB ingest: 448 -> 407 MB, for ~6% more parse time (buffers regrown).
 */
EXPORT void fp_reset(uint32_t g) {
  Builder* b = builders[g];
  if (b->rows == 0) return; /* (its buffers are the small ones it started with) */
  builder_release(b);
  builder_init(b);
}
