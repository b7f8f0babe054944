/* llmpulse.otlp._scan: reads an OTLP ExportTraceServiceRequest straight from its protobuf bytes.
 *
 * Why: ~80% of spans are ordinary (no LLM, credential or content attribute). Reading their
 * attribute keys through the decoded upb message turns every span and every key into a Python
 * object (~10 us a span); walking the wire bytes here costs a fraction of that and leaves
 * ordinary spans untouched. Only spans with something to do come back, by index.
 *
 * The walk is fixed, not recursive: request -> ResourceSpans (field 1) -> ScopeSpans (field 2)
 * -> Span (field 2) -> KeyValue (field 9), reading trace_id (1), span_id (2), parent_span_id (4)
 * and KeyValue.key (1). Everything else is skipped by wire type without being read. Protobuf
 * rules (https://protobuf.dev/programming-guides/encoding/): fields come in any order, the last
 * occurrence of a singular field wins, a known field number with the wrong wire type is an
 * unknown field. Groups (wire types 3/4) and wire types 6/7 are refused.
 *
 * _scan_py.py is the same walk in Python (the fallback); both must raise the same ValueError
 * messages and return the same results for every input (tests/otlp/test_scan.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifndef Py_ALWAYS_INLINE /* CPython >= 3.11 defines it */
#define Py_ALWAYS_INLINE
#endif

/* ---- METH_FASTCALL arguments ------------------------------------------------------------------
 * The helpers called several times per LLM span (read_attributes, edit_attributes, find_any,
 * plan_pairs, redaction_edits: ~590 calls per 512-span batch of the benchmark load) take their
 * arguments as a C array: as METH_VARARGS each call cost ~50 ns more (an argument tuple built, a
 * format string parsed). These check what PyArg_ParseTuple's "y*", "O!" and "p" did, with its
 * messages. */

static int
fast_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max)
{
    if (nargs >= min && nargs <= max) {
        return 0;
    }
    if (min == max) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, min, nargs);
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s() takes from %zd to %zd arguments (%zd given)", name, min, max,
                     nargs);
    }
    return -1;
}

/* "O!": argument number `pos` (from 1) is an instance of `type` */
static int
fast_type(const char *name, Py_ssize_t pos, PyObject *arg, PyTypeObject *type)
{
    if (PyObject_TypeCheck(arg, type)) {
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s() argument %zd must be %s, not %s", name, pos, type->tp_name,
                 arg == Py_None ? "None" : Py_TYPE(arg)->tp_name);
    return -1;
}

/* "y*": a C-contiguous bytes-like object, not str (PyObject_GetBuffer refuses str itself);
 * release `view` after */
static int
fast_buffer(PyObject *arg, Py_buffer *view)
{
    return PyObject_GetBuffer(arg, view, PyBUF_SIMPLE);
}

/* ---- wire format --------------------------------------------------------------------------- */

typedef struct {
    uint64_t number;        /* field number (tag >> 3) */
    int wire_type;          /* tag & 7 */
    const uint8_t *start;   /* wire type 2: the payload */
    const uint8_t *stop;
    uint64_t value;         /* wire type 0: the varint; 1 and 5: the little-endian bits */
} Field;

static int
read_varint(const uint8_t *base, const uint8_t **pp, const uint8_t *end, uint64_t *out,
            const char *message)
{
    const uint8_t *p = *pp;
    uint64_t value = 0;
    for (int i = 0;; i++) {
        if (i == 10) {
            PyErr_Format(PyExc_ValueError, "varint longer than 10 bytes at byte %zd (in %s)",
                         (Py_ssize_t)(*pp - base), message);
            return -1;
        }
        if (p >= end) {
            PyErr_Format(PyExc_ValueError, "truncated varint at byte %zd (in %s)",
                         (Py_ssize_t)(*pp - base), message);
            return -1;
        }
        uint8_t byte = *p++;
        value |= (uint64_t)(byte & 0x7f) << (7 * i); /* bits past 64 are dropped, as protobuf does */
        if (!(byte & 0x80)) {
            break;
        }
    }
    *pp = p;
    *out = value;
    return 0;
}

/* Reads one field at *pp (never past `end`, the end of the enclosing message) and moves past it.
 * Inlined into each walk: a call per field was a quarter of the scan. */
static inline Py_ALWAYS_INLINE int
next_field(const uint8_t *base, const uint8_t **pp, const uint8_t *end, const char *message,
           Field *field)
{
    const uint8_t *tag_at = *pp;
    const uint8_t *p = tag_at;
    uint64_t tag, value;
    if (p < end && *p < 0x80) { /* one-byte tag: nearly every field of a span */
        tag = *p++;
    }
    else if (read_varint(base, &p, end, &tag, message) < 0) {
        return -1;
    }
    field->number = tag >> 3;
    field->wire_type = (int)(tag & 7);
    if (field->number == 0) {
        PyErr_Format(PyExc_ValueError, "field number 0 at byte %zd (in %s)",
                     (Py_ssize_t)(tag_at - base), message);
        return -1;
    }
    switch (field->wire_type) {
    case 0:
        if (read_varint(base, &p, end, &value, message) < 0) {
            return -1;
        }
        field->value = value;
        break;
    case 1:
    case 5: {
        Py_ssize_t size = field->wire_type == 1 ? 8 : 4;
        if (end - p < size) {
            PyErr_Format(PyExc_ValueError, "truncated fixed%d field %llu at byte %zd (in %s)",
                         (int)(size * 8), (unsigned long long)field->number,
                         (Py_ssize_t)(tag_at - base), message);
            return -1;
        }
        value = 0;
        for (Py_ssize_t b = size - 1; b >= 0; b--) {
            value = (value << 8) | p[b];
        }
        field->value = value;
        p += size;
        break;
    }
    case 2:
        if (p < end && *p < 0x80) {
            value = *p++;
        }
        else if (read_varint(base, &p, end, &value, message) < 0) {
            return -1;
        }
        if (value > (uint64_t)(end - p)) {
            PyErr_Format(PyExc_ValueError,
                         "field %llu at byte %zd: length %llu runs past the end of its %s "
                         "(byte %zd)",
                         (unsigned long long)field->number, (Py_ssize_t)(tag_at - base),
                         (unsigned long long)value, message, (Py_ssize_t)(end - base));
            return -1;
        }
        field->start = p;
        field->stop = p + value;
        p += value;
        break;
    case 3:
    case 4:
        PyErr_Format(PyExc_ValueError,
                     "field %llu at byte %zd: wire type %d (group) is not supported (in %s)",
                     (unsigned long long)field->number, (Py_ssize_t)(tag_at - base),
                     field->wire_type, message);
        return -1;
    default:
        PyErr_Format(PyExc_ValueError, "field %llu at byte %zd: invalid wire type %d (in %s)",
                     (unsigned long long)field->number, (Py_ssize_t)(tag_at - base),
                     field->wire_type, message);
        return -1;
    }
    *pp = p;
    return 0;
}

/* ---- per-call key cache ---------------------------------------------------------------------
 * Each distinct attribute key is looked up in key_flags (or classified) once per call; after
 * that a span's key costs a hash of its bytes and a memcmp, with no Python object made. Keys
 * point into the caller's buffer, which stays exported (so unchanged) for the whole call.
 *
 * The hash is fast, not secret, so a sender could make keys collide. Probing therefore stops
 * after PROBE_LIMIT slots and the table stops growing at MAX_SLOTS: a key that does not fit goes
 * to `overflow`, a Python dict (SipHash with a per-process key). The cost per attribute stays
 * bounded whatever the keys, and the resolved-once rule holds either way. */

#define FIRST_SLOTS 64
#define MAX_SLOTS 4096
#define PROBE_LIMIT 16

typedef struct {
    const uint8_t *key; /* NULL: an empty slot */
    Py_ssize_t len;
    uint64_t hash;
    long long flags;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;   /* capacity - 1, capacity a power of two */
    size_t used;
    int grows;     /* 0 once growing failed or reached MAX_SLOTS */
    PyObject *overflow; /* {key bytes: flags int} for keys the table does not hold; NULL until needed */
} KeyCache;

/* 8 bytes at a time (the last 8 overlapping the previous word): most keys are 10-40 bytes, and a
 * byte-wise FNV-1a was a third of the whole scan. */
static uint64_t
hash_key(const uint8_t *key, Py_ssize_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)len;
    uint64_t word = 0;
    if (len >= 8) {
        const uint8_t *last = key + len - 8;
        for (; key < last; key += 8) {
            memcpy(&word, key, 8);
            h = (h ^ word) * 0xbf58476d1ce4e5b9ULL;
            h ^= h >> 31;
        }
        memcpy(&word, last, 8);
    }
    else {
        for (Py_ssize_t i = 0; i < len; i++) {
            word |= (uint64_t)key[i] << (8 * i);
        }
    }
    h = (h ^ word) * 0x94d049bb133111ebULL;
    /* a product's low bits see only its operands' low bits, and the table indexes by low bits:
     * fold the high half down (splitmix64's finaliser), or keys ending in "0".."9" would collide */
    h = (h ^ (h >> 32)) * 0xd6e8feb86659fd93ULL;
    return h ^ (h >> 32);
}

static int
cache_init(KeyCache *cache)
{
    cache->mask = FIRST_SLOTS - 1;
    cache->used = 0;
    cache->grows = 1;
    cache->overflow = NULL;
    cache->slots = PyMem_Calloc(FIRST_SLOTS, sizeof(Slot));
    if (cache->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
cache_free(KeyCache *cache)
{
    PyMem_Free(cache->slots);
    cache->slots = NULL;
    Py_CLEAR(cache->overflow);
}

/* The slot holding `key`, else the first empty slot on its probe path, else NULL (path full). */
static Slot *
cache_find(Slot *slots, size_t mask, const uint8_t *key, Py_ssize_t len, uint64_t hash)
{
    size_t i = (size_t)hash & mask;
    for (int probe = 0; probe < PROBE_LIMIT; probe++) {
        Slot *slot = &slots[i];
        if (slot->key == NULL ||
            (slot->hash == hash && slot->len == len && memcmp(slot->key, key, (size_t)len) == 0)) {
            return slot;
        }
        i = (i + 1) & mask;
    }
    return NULL;
}

/* Doubles the table; on any failure (memory, an entry with no room) keeps the old one as it is. */
static void
cache_grow(KeyCache *cache)
{
    size_t mask = cache->mask * 2 + 1;
    Slot *slots = PyMem_Calloc(mask + 1, sizeof(Slot));
    if (slots == NULL) {
        cache->grows = 0;
        return;
    }
    for (size_t i = 0; i <= cache->mask; i++) {
        Slot *old = &cache->slots[i];
        if (old->key != NULL) {
            Slot *slot = cache_find(slots, mask, old->key, old->len, old->hash);
            if (slot == NULL) {
                PyMem_Free(slots);
                cache->grows = 0;
                return;
            }
            *slot = *old;
        }
    }
    PyMem_Free(cache->slots);
    cache->slots = slots;
    cache->mask = mask;
    cache->grows = mask + 1 < MAX_SLOTS;
}

/* Remembers a resolved key: in the table if it has room on the key's path, else in `overflow`. */
static int
cache_put(KeyCache *cache, const uint8_t *key, Py_ssize_t len, uint64_t hash, PyObject *name,
          long long flags)
{
    if ((cache->used + 1) * 2 > cache->mask + 1 && cache->grows) { /* keep it at most half full */
        cache_grow(cache);
    }
    if ((cache->used + 1) * 2 <= cache->mask + 1) {
        Slot *slot = cache_find(cache->slots, cache->mask, key, len, hash);
        if (slot != NULL) {
            slot->key = key;
            slot->len = len;
            slot->hash = hash;
            slot->flags = flags;
            cache->used++;
            return 0;
        }
    }
    if (cache->overflow == NULL && (cache->overflow = PyDict_New()) == NULL) {
        return -1;
    }
    PyObject *value = PyLong_FromLongLong(flags);
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(cache->overflow, name, value);
    Py_DECREF(value);
    return rc;
}

/* ---- the walk ------------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *base;
    int parents_mode;
    int ranges; /* locate_spans: flagged tuples carry the span's byte range */
    /* scan_spans */
    PyObject *key_flags, *classify, *flagged, *invalid;
    KeyCache cache;
    /* parents */
    PyObject *traces, *parents;
    /* traces' ids, sorted (parents): a span of another trace is passed over without a Python
     * object made for its id; NULL when traces holds anything but bytes (asked as a set then) */
    PyObject **trace_ids;
    Py_ssize_t n_trace_ids;
    /* locate_spans with an index: each valid span's entry (below), in wire order, for
     * parents() to read instead of walking the request again */
    uint8_t *index;
    Py_ssize_t index_len, index_cap;
    int want_index;
} Walk;

/* An index entry: the span's trace_id (16 bytes: a lookup reads the index, not the body spread
 * over hundreds of KiB), then the span_id's and parent_span_id's offsets in the body and the
 * parent's length, little-endian int64s (an absent or empty parent: 0, 0). */
#define INDEX_ENTRY 40

/* Flags must be an int in 0..2**63-1 (a bit set); ValueError/TypeError name the key otherwise. */
static int
as_flags(PyObject *value, PyObject *key, const char *source, long long *out)
{
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s for key %R must be an int, not %s", source, key,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long flags = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (flags == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || flags < 0) {
        PyErr_Format(PyExc_ValueError, "%s for key %R must be in 0..2**63-1, got %R", source, key,
                     value);
        return -1;
    }
    *out = flags;
    return 0;
}

static int
resolve_key(Walk *w, const uint8_t *key, Py_ssize_t len, long long *out)
{
    KeyCache *cache = &w->cache;
    uint64_t hash = hash_key(key, len);
    Slot *slot = cache_find(cache->slots, cache->mask, key, len, hash);
    if (slot != NULL && slot->key != NULL) {
        *out = slot->flags;
        return 0;
    }
    long long flags;
    PyObject *name = PyBytes_FromStringAndSize((const char *)key, len);
    if (name == NULL) {
        return -1;
    }
    PyObject *value;
    if (cache->overflow != NULL) {
        value = PyDict_GetItemWithError(cache->overflow, name); /* borrowed; an int we made */
        if (value != NULL) {
            *out = PyLong_AsLongLong(value);
            Py_DECREF(name);
            return 0;
        }
        if (PyErr_Occurred()) {
            Py_DECREF(name);
            return -1;
        }
    }
    value = PyDict_GetItemWithError(w->key_flags, name); /* borrowed */
    if (value != NULL) {
        Py_INCREF(value);
        if (as_flags(value, name, "key_flags value", &flags) < 0) {
            goto error;
        }
    }
    else if (PyErr_Occurred()) {
        Py_DECREF(name);
        return -1;
    }
    else {
        value = PyObject_CallOneArg(w->classify, name);
        if (value == NULL) {
            Py_DECREF(name);
            return -1;
        }
        if (as_flags(value, name, "classify() result", &flags) < 0 ||
            PyDict_SetItem(w->key_flags, name, value) < 0) {
            goto error;
        }
    }
    Py_DECREF(value);
    /* classify() ran Python code but cannot reach this cache: put it where it fits now */
    if (cache_put(cache, key, len, hash, name, flags) < 0) {
        Py_DECREF(name);
        return -1;
    }
    Py_DECREF(name);
    *out = flags;
    return 0;
error:
    Py_DECREF(value);
    Py_DECREF(name);
    return -1;
}

static int
walk_key_value(Walk *w, const uint8_t *p, const uint8_t *end, long long *flags)
{
    const uint8_t *key = p;
    Py_ssize_t key_len = 0; /* an absent key is the empty string */
    Field f;
    while (p < end) {
        if (next_field(w->base, &p, end, "KeyValue", &f) < 0) {
            return -1;
        }
        if (f.number == 1 && f.wire_type == 2) {
            key = f.start;
            key_len = f.stop - f.start;
        }
    }
    return resolve_key(w, key, key_len, flags);
}

static int
append_tuple(PyObject *list, PyObject *item)
{
    if (item == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* qsort's order of 16-byte ids (bytes objects) */
static int
compare_ids(const void *a, const void *b)
{
    return memcmp(PyBytes_AS_STRING(*(PyObject *const *)a), PyBytes_AS_STRING(*(PyObject *const *)b), 16);
}

static int
record_parent(Walk *w, const uint8_t *trace, const uint8_t *span, const uint8_t *parent,
              Py_ssize_t parent_len)
{
    int rc = -1;
    PyObject *trace_id = NULL, *span_id = NULL, *key = NULL, *parent_id = NULL;
    if (w->trace_ids != NULL) {
        Py_ssize_t lo = 0, hi = w->n_trace_ids;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            int cmp = memcmp(PyBytes_AS_STRING(w->trace_ids[mid]), trace, 16);
            if (cmp == 0) {
                lo = mid;
                break;
            }
            if (cmp < 0) {
                lo = mid + 1;
            }
            else {
                hi = mid;
            }
        }
        if (lo >= w->n_trace_ids || memcmp(PyBytes_AS_STRING(w->trace_ids[lo]), trace, 16) != 0) {
            return 0;
        }
        trace_id = Py_NewRef(w->trace_ids[lo]); /* the caller's own id object, in every key */
    }
    else {
        trace_id = PyBytes_FromStringAndSize((const char *)trace, 16);
        if (trace_id == NULL) {
            goto done;
        }
        int found = PySet_Contains(w->traces, trace_id);
        if (found <= 0) {
            rc = found;
            goto done;
        }
    }
    span_id = PyBytes_FromStringAndSize((const char *)span, 8);
    parent_id = PyBytes_FromStringAndSize((const char *)parent, parent_len);
    if (span_id == NULL || parent_id == NULL) {
        goto done;
    }
    key = PyTuple_Pack(2, trace_id, span_id);
    if (key == NULL) {
        goto done;
    }
    rc = PyDict_SetItem(w->parents, key, parent_id);
done:
    Py_XDECREF(trace_id);
    Py_XDECREF(span_id);
    Py_XDECREF(parent_id);
    Py_XDECREF(key);
    return rc;
}

static int
walk_span(Walk *w, const uint8_t *p, const uint8_t *end, Py_ssize_t i, Py_ssize_t j, Py_ssize_t k)
{
    const uint8_t *first = p;
    const uint8_t *trace = p, *span = p, *parent = p;
    Py_ssize_t trace_len = 0, span_len = 0, parent_len = 0;
    long long flags = 0;
    Field f;
    while (p < end) {
        if (next_field(w->base, &p, end, "Span", &f) < 0) {
            return -1;
        }
        if (f.wire_type != 2) {
            continue;
        }
        switch (f.number) {
        case 1:
            trace = f.start;
            trace_len = f.stop - f.start;
            break;
        case 2:
            span = f.start;
            span_len = f.stop - f.start;
            break;
        case 4:
            parent = f.start;
            parent_len = f.stop - f.start;
            break;
        case 9:
            if (!w->parents_mode) {
                long long key_flags;
                if (walk_key_value(w, f.start, f.stop, &key_flags) < 0) {
                    return -1;
                }
                flags |= key_flags;
            }
            break;
        default:
            break;
        }
    }
    if (trace_len != 16 || span_len != 8) {
        return w->parents_mode ? 0 : append_tuple(w->invalid, Py_BuildValue("(nnn)", i, j, k));
    }
    if (w->parents_mode) {
        return record_parent(w, trace, span, parent, parent_len);
    }
    if (w->want_index) {
        if (w->index_len + INDEX_ENTRY > w->index_cap) {
            Py_ssize_t cap = w->index_cap ? w->index_cap * 2 : 512 * INDEX_ENTRY;
            uint8_t *grown = PyMem_Realloc(w->index, (size_t)cap);
            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            w->index = grown;
            w->index_cap = cap;
        }
        uint8_t *entry = w->index + w->index_len;
        uint64_t at[3] = {(uint64_t)(span - w->base), parent_len > 0 ? (uint64_t)(parent - w->base) : 0,
                          (uint64_t)parent_len};
        memcpy(entry, trace, 16);
        for (int v = 0; v < 3; v++) {
            for (int b = 0; b < 8; b++) {
                entry[16 + 8 * v + b] = (uint8_t)(at[v] >> (8 * b));
            }
        }
        w->index_len += INDEX_ENTRY;
    }
    if (flags != 0 && w->ranges) {
        return append_tuple(w->flagged, Py_BuildValue("(nnnLnn)", i, j, k, flags,
                                                      (Py_ssize_t)(first - w->base),
                                                      (Py_ssize_t)(end - w->base)));
    }
    if (flags != 0) {
        return append_tuple(w->flagged, Py_BuildValue("(nnnL)", i, j, k, flags));
    }
    return 0;
}

static int
walk_scope_spans(Walk *w, const uint8_t *p, const uint8_t *end, Py_ssize_t i, Py_ssize_t j)
{
    Py_ssize_t k = 0;
    Field f;
    while (p < end) {
        if (next_field(w->base, &p, end, "ScopeSpans", &f) < 0) {
            return -1;
        }
        if (f.number == 2 && f.wire_type == 2) {
            if (walk_span(w, f.start, f.stop, i, j, k++) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int
walk_resource_spans(Walk *w, const uint8_t *p, const uint8_t *end, Py_ssize_t i)
{
    Py_ssize_t j = 0;
    Field f;
    while (p < end) {
        if (next_field(w->base, &p, end, "ResourceSpans", &f) < 0) {
            return -1;
        }
        if (f.number == 2 && f.wire_type == 2) {
            if (walk_scope_spans(w, f.start, f.stop, i, j++) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int
walk_request(Walk *w, Py_ssize_t len)
{
    const uint8_t *p = w->base, *end;
    Py_ssize_t i = 0;
    Field f;
    if (len == 0) {
        return 0; /* an empty request; base may be any pointer, so no arithmetic on it */
    }
    end = p + len;
    while (p < end) {
        if (next_field(w->base, &p, end, "ExportTraceServiceRequest", &f) < 0) {
            return -1;
        }
        if (f.number == 1 && f.wire_type == 2) {
            if (walk_resource_spans(w, f.start, f.stop, i++) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* ---- module functions ---------------------------------------------------------------------- */

PyDoc_STRVAR(scan_spans_doc,
"scan_spans(body, key_flags, classify, /) -> (flagged, invalid)\n--\n\n"
"Walks the spans of an encoded ExportTraceServiceRequest. flagged: [(i, j, k, flags)] for\n"
"spans with valid ids whose attribute keys OR to non-zero flags (key_flags[key], or\n"
"classify(key) stored into key_flags for a key not there yet); invalid: [(i, j, k)] for\n"
"spans whose trace_id is not 16 bytes or span_id not 8. i, j, k index resource_spans,\n"
"scope_spans and spans. Each distinct key (of every span, invalid ones too) is resolved once\n"
"per call; flags are ints in 0..2**63-1. Malformed bytes raise ValueError naming the problem\n"
"and its offset.");

static int
store_index(PyObject *target, const uint8_t *entries, Py_ssize_t n)
{
    if (PyByteArray_Resize(target, n) < 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(PyByteArray_AS_STRING(target), entries, (size_t)n);
    }
    return 0;
}

static PyObject *
scan_common(PyObject *args, int ranges, const char *format)
{
    Py_buffer body;
    PyObject *key_flags, *classify, *index = Py_None, *result = NULL;
    if (!PyArg_ParseTuple(args, format, &body, &PyDict_Type, &key_flags, &classify, &index)) {
        return NULL;
    }
    Walk w = {(const uint8_t *)body.buf, 0, ranges, key_flags, classify, NULL, NULL,
              {NULL, 0, 0, 0, NULL}, NULL, NULL, NULL, 0, NULL, 0, 0, index != Py_None};
    if (!PyCallable_Check(classify)) {
        PyErr_Format(PyExc_TypeError, "classify must be callable, not %s", Py_TYPE(classify)->tp_name);
        goto done;
    }
    if (w.want_index && !PyByteArray_CheckExact(index)) {
        PyErr_Format(PyExc_TypeError, "index must be a bytearray or None, not %s", Py_TYPE(index)->tp_name);
        goto done;
    }
    if (cache_init(&w.cache) < 0) {
        goto done;
    }
    w.flagged = PyList_New(0);
    w.invalid = PyList_New(0);
    if (w.flagged == NULL || w.invalid == NULL || walk_request(&w, body.len) < 0) {
        goto done;
    }
    /* classify may have run Python code, which could have resized a bytearray body: the index
     * is written last, and the buffer stays exported (so unchanged) until the release below */
    if (w.want_index && store_index(index, w.index, w.index_len) < 0) {
        goto done;
    }
    result = PyTuple_Pack(2, w.flagged, w.invalid);
done:
    Py_XDECREF(w.flagged);
    Py_XDECREF(w.invalid);
    PyMem_Free(w.index);
    cache_free(&w.cache);
    PyBuffer_Release(&body);
    return result;
}

static PyObject *
scan_spans(PyObject *Py_UNUSED(module), PyObject *args)
{
    return scan_common(args, 0, "y*O!O:scan_spans");
}

PyDoc_STRVAR(locate_spans_doc,
"locate_spans(body, key_flags, classify, index=None, /) -> (flagged, invalid)\n--\n\n"
"scan_spans, with each flagged span's place in body: flagged is [(i, j, k, flags, start,\n"
"stop)], body[start:stop] being the span's encoding (without its tag and length). `index`, a\n"
"bytearray, is set to where each span with valid ids has its trace_id, span_id and\n"
"parent_span_id in body, for parents(body, traces, index) to read instead of walking body.");

static PyObject *
locate_spans(PyObject *Py_UNUSED(module), PyObject *args)
{
    return scan_common(args, 1, "y*O!O|O:locate_spans");
}

PyDoc_STRVAR(parents_doc,
"parents(body, traces, index=None, /) -> {(trace_id, span_id): parent_span_id}\n--\n\n"
"For every span with valid ids whose trace_id is in the set `traces`, its parent_span_id\n"
"(b\"\" if absent). Attributes are not read. Malformed bytes raise ValueError. With the\n"
"`index` locate_spans made of body, the spans are read from it, not from a walk of body\n"
"(ValueError for an index that does not fit body).");

static PyObject *
parents(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer body, index = {NULL, NULL};
    PyObject *traces, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*O|z*:parents", &body, &traces, &index)) {
        return NULL;
    }
    Walk w = {(const uint8_t *)body.buf, 1, 0, NULL, NULL, NULL, NULL, {NULL, 0, 0, 0, NULL}, traces,
              NULL, NULL, 0};
    PyObject *iterator = NULL, *item;
    if (!PyAnySet_Check(traces)) {
        PyErr_Format(PyExc_TypeError, "traces must be a set or frozenset, not %s",
                     Py_TYPE(traces)->tp_name);
        goto done;
    }
    /* The ids as a sorted array, when they are all bytes: only 16-byte ones can match (borrowed:
     * the set is not changed while no Python code runs, and the walk runs none). */
    w.trace_ids = PyMem_New(PyObject *, PySet_GET_SIZE(traces) + 1);
    if (w.trace_ids == NULL || (iterator = PyObject_GetIter(traces)) == NULL) {
        if (w.trace_ids == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    while ((item = PyIter_Next(iterator)) != NULL) {
        int exact = PyBytes_CheckExact(item);
        if (exact && PyBytes_GET_SIZE(item) == 16) {
            w.trace_ids[w.n_trace_ids++] = item;
        }
        Py_DECREF(item); /* the set holds it */
        if (!exact) {    /* e.g. a bytes subclass: equal to a 16-byte id by its own rules */
            PyMem_Free(w.trace_ids);
            w.trace_ids = NULL;
            break;
        }
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    if (w.trace_ids != NULL) {
        qsort(w.trace_ids, (size_t)w.n_trace_ids, sizeof(PyObject *), compare_ids);
    }
    w.parents = PyDict_New();
    if (w.parents == NULL) {
        goto done;
    }
    if (index.buf == NULL) {
        if (walk_request(&w, body.len) < 0) {
            goto done;
        }
    }
    else {
        const uint8_t *entry = index.buf;
        if (index.len % INDEX_ENTRY != 0) {
            PyErr_Format(PyExc_ValueError, "parents: an index is %d-byte entries, not %zd bytes",
                         INDEX_ENTRY, index.len);
            goto done;
        }
        for (Py_ssize_t x = 0; x < index.len; x += INDEX_ENTRY, entry += INDEX_ENTRY) {
            uint64_t at[3];
            for (int v = 0; v < 3; v++) {
                at[v] = 0;
                for (int b = 7; b >= 0; b--) {
                    at[v] = (at[v] << 8) | entry[16 + 8 * v + b];
                }
            }
            uint64_t size = (uint64_t)body.len;
            if (at[0] > size || size - at[0] < 8 || at[1] > size || at[2] > size - at[1]) {
                PyErr_Format(PyExc_ValueError, "parents: index entry %zd is not in the body",
                             x / INDEX_ENTRY);
                goto done;
            }
            if (record_parent(&w, entry, w.base + at[0], w.base + at[1], (Py_ssize_t)at[2]) < 0) {
                goto done;
            }
        }
    }
    result = Py_NewRef(w.parents);
done:
    Py_XDECREF(iterator);
    PyMem_Free(w.trace_ids);
    Py_XDECREF(w.parents);
    if (index.buf != NULL) {
        PyBuffer_Release(&index);
    }
    PyBuffer_Release(&body);
    return result;
}

/* ---- a trace request checked and laid out without decoding it --------------------------------
 * upb's decode of a whole request (every span and attribute made into arena messages, and
 * wrappers for the ones Python touches) was 7% of the server's CPU, for a message the pipeline
 * mostly reads from the bytes anyway. check_traces reads the bytes once against the schema of
 * the installed protobuf classes (the `schema` table, built from their descriptors) and accepts
 * only what upb would accept: every known field with its declared wire type, every string valid
 * UTF-8, messages nested at most CHECK_DEPTH deep, no group. Anything else raises ValueError and
 * the caller decodes with upb, whose verdict (and message) then stands: so a wrong "no" here
 * costs speed, never correctness, and a "yes" must mean upb would decode it.
 *
 * The schema is one row of SCHEMA_FIELDS bytes per message type (row 0 the request), one byte
 * per field number: 0 not a field, 1 varint, 2 fixed64, 3 fixed32, 4 string, 5 bytes,
 * SCHEMA_MESSAGE + n a message of the type of row n. */

#define SCHEMA_FIELDS 32
#define SCHEMA_MESSAGE 8
#define CHECK_DEPTH 64

/* Whether [p, end) is UTF-8 as upb takes it (no overlong form, surrogate or code point past
 * U+10FFFF). ASCII, nearly all of OTLP's text, goes eight bytes at a time. */
static int
utf8_valid(const uint8_t *p, const uint8_t *end)
{
    /* all ASCII, most strings: OR the words together (the last one overlapping), one test */
    Py_ssize_t len = end - p;
    uint64_t bits = 0, word;
    if (len >= 8) {
        for (const uint8_t *q = p; q < end - 8; q += 8) {
            memcpy(&word, q, 8);
            bits |= word;
        }
        memcpy(&word, end - 8, 8);
        bits |= word;
    }
    else {
        for (const uint8_t *q = p; q < end; q++) {
            bits |= *q;
        }
    }
    if (!(bits & 0x8080808080808080ULL)) {
        return 1;
    }
    while (p < end) {
        if (end - p >= 8) {
            uint64_t word;
            memcpy(&word, p, 8);
            if (!(word & 0x8080808080808080ULL)) {
                p += 8;
                continue;
            }
        }
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        Py_ssize_t left = end - p;
        if (c >= 0xC2 && c <= 0xDF) {
            if (left < 2 || (p[1] & 0xC0) != 0x80) {
                return 0;
            }
            p += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (left < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) {
                return 0;
            }
            p += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (left < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) {
                return 0;
            }
            p += 4;
        }
        else {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    const uint8_t *base;
    const uint8_t *schema;
    Py_ssize_t types;
} Check;

/* The wire type a field of each schema kind must have, by kind (a message, kind >= SCHEMA_MESSAGE,
 * reads entry 0: length-delimited), and the refusal when it has another. */
typedef struct {
    int wire_type;
    const char *refusal;
} KindWire;

static const KindWire KIND_WIRE[] = {
    {2, "not length-delimited"}, /* a message */
    {0, "not a varint"},
    {1, "not fixed64"},
    {5, "not fixed32"},
    {2, "not length-delimited"}, /* a string */
    {2, "not length-delimited"}, /* bytes */
};

static int
check_refused(const Check *c, const Field *f, const uint8_t *at, const char *why)
{
    PyErr_Format(PyExc_ValueError, "field %llu before byte %zd: %s", (unsigned long long)f->number,
                 (Py_ssize_t)(at - c->base), why);
    return -1;
}

static int
check_message(const Check *c, const uint8_t *p, const uint8_t *end, Py_ssize_t type, int depth)
{
    const uint8_t *row = c->schema + type * SCHEMA_FIELDS;
    Field f = {0};
    while (p < end) {
        /* upb refuses some tags and lengths of more than 4 bytes (past 32 bits, or 6 bytes
         * long): vouch for at most 4 each. Both are nearly always 1 byte. */
        const uint8_t *at = p;
        Py_ssize_t tag_len = 1;
        while (tag_len <= 4 && at + tag_len <= end && (at[tag_len - 1] & 0x80)) {
            tag_len++;
        }
        if (tag_len > 4) {
            PyErr_Format(PyExc_ValueError, "a tag of more than 4 bytes at byte %zd", (Py_ssize_t)(at - c->base));
            return -1;
        }
        if (next_field(c->base, &p, end, "message", &f) < 0) {
            return -1;
        }
        if (f.wire_type == 2 && f.start - (at + tag_len) > 4) {
            return check_refused(c, &f, p, "a length of more than 4 bytes");
        }
        int kind = f.number < SCHEMA_FIELDS ? row[f.number] : 0;
        if (kind == 0) { /* unknown to the schema: upb keeps it as it is */
            continue;
        }
        const KindWire *wire = &KIND_WIRE[kind < SCHEMA_MESSAGE ? kind : 0];
        if (f.wire_type != wire->wire_type) {
            return check_refused(c, &f, p, wire->refusal);
        }
        if (kind == 4 && !utf8_valid(f.start, f.stop)) {
            return check_refused(c, &f, p, "string is not valid UTF-8");
        }
        if (kind >= SCHEMA_MESSAGE) {
            if (depth >= CHECK_DEPTH) {
                return check_refused(c, &f, p, "messages nested too deep");
            }
            if (check_message(c, f.start, f.stop, kind - SCHEMA_MESSAGE, depth + 1) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* ---- the layout: what the pipeline reads of the request's upper levels ---- */

static int
layout_refused(const uint8_t *base, const uint8_t *at, const char *what)
{
    PyErr_Format(PyExc_ValueError, "%s given more than once before byte %zd (merged by upb)", what,
                 (Py_ssize_t)(at - base));
    return -1;
}

/* (name, spans, start, stop) of a ScopeSpans at [p, end): the scope's name, how many spans,
 * and where the ScopeSpans is in the body */
static PyObject *
layout_scope(const uint8_t *base, const uint8_t *p, const uint8_t *end)
{
    const uint8_t *first = p, *scope = NULL, *scope_end = NULL;
    const uint8_t *name = p, *name_end = p;
    Py_ssize_t spans = 0;
    Field f = {0};
    while (p < end) {
        if (next_field(base, &p, end, "ScopeSpans", &f) < 0) {
            return NULL;
        }
        if (f.wire_type != 2) {
            continue;
        }
        if (f.number == 1) {
            if (scope != NULL) {
                layout_refused(base, p, "ScopeSpans.scope");
                return NULL;
            }
            scope = f.start;
            scope_end = f.stop;
        }
        else if (f.number == 2) {
            spans++;
        }
    }
    for (const uint8_t *q = scope; q != NULL && q < scope_end;) {
        if (next_field(base, &q, scope_end, "InstrumentationScope", &f) < 0) {
            return NULL;
        }
        if (f.number == 1 && f.wire_type == 2) { /* the last one wins */
            name = f.start;
            name_end = f.stop;
        }
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)name, name_end - name, "strict");
    if (text == NULL) {
        return NULL;
    }
    return Py_BuildValue("(Nnnn)", text, spans, (Py_ssize_t)(first - base), (Py_ssize_t)(end - base));
}

/* (resource start, resource stop, (scope, ...)) of a ResourceSpans: start -1 without a resource */
static PyObject *
layout_resource(const uint8_t *base, const uint8_t *p, const uint8_t *end)
{
    Py_ssize_t start = -1, stop = -1;
    PyObject *scopes = PyList_New(0);
    Field f;
    if (scopes == NULL) {
        return NULL;
    }
    while (p < end) {
        if (next_field(base, &p, end, "ResourceSpans", &f) < 0) {
            goto error;
        }
        if (f.wire_type != 2) {
            continue;
        }
        if (f.number == 1) {
            if (start >= 0) {
                layout_refused(base, p, "ResourceSpans.resource");
                goto error;
            }
            start = f.start - base;
            stop = f.stop - base;
        }
        else if (f.number == 2 && append_tuple(scopes, layout_scope(base, f.start, f.stop)) < 0) {
            goto error;
        }
    }
    return Py_BuildValue("(nnN)", start, stop, scopes);
error:
    Py_DECREF(scopes);
    return NULL;
}

PyDoc_STRVAR(check_traces_doc,
"check_traces(body, schema, /) -> [(resource_start, resource_stop, [(scope_name, spans, start, stop), ...]), ...]\n--\n\n"
"Checks that upb would decode body as an ExportTraceServiceRequest of `schema` (a row of 32\n"
"bytes per message type, row 0 the request: 0 no field, 1 varint, 2 fixed64, 3 fixed32,\n"
"4 string, 5 bytes, 8 + n a message of row n), and returns what the pipeline reads of its upper\n"
"levels: per ResourceSpans where its resource is in body (-1, -1 without one) and per\n"
"ScopeSpans its scope's name, its number of spans and where it is. ValueError for anything it\n"
"does not accept (malformed bytes, a field of another wire type than declared, a string that is\n"
"not UTF-8, nesting deeper than 64, a group, a resource or scope given twice): decode with upb\n"
"then, which accepts some of it.");

static PyObject *
check_traces(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer body, schema;
    PyObject *layout = NULL;
    if (!PyArg_ParseTuple(args, "y*y*:check_traces", &body, &schema)) {
        return NULL;
    }
    Check c = {(const uint8_t *)body.buf, (const uint8_t *)schema.buf, schema.len / SCHEMA_FIELDS};
    if (schema.len == 0 || schema.len % SCHEMA_FIELDS != 0) {
        PyErr_Format(PyExc_ValueError, "schema must be rows of %d bytes, not %zd bytes", SCHEMA_FIELDS,
                     schema.len);
        goto done;
    }
    for (Py_ssize_t i = 0; i < schema.len; i++) {
        uint8_t kind = c.schema[i];
        if ((kind > 5 && kind < SCHEMA_MESSAGE) || (kind >= SCHEMA_MESSAGE && kind - SCHEMA_MESSAGE >= c.types)) {
            PyErr_Format(PyExc_ValueError, "schema byte %zd: %d is no field kind", i, kind);
            goto done;
        }
    }
    if (body.len > 0 && check_message(&c, c.base, c.base + body.len, 0, 0) < 0) {
        goto done;
    }
    layout = PyList_New(0);
    const uint8_t *p = c.base, *end = c.base + body.len;
    Field f;
    while (layout != NULL && body.len > 0 && p < end) {
        if (next_field(c.base, &p, end, "ExportTraceServiceRequest", &f) < 0) {
            Py_CLEAR(layout);
        }
        else if (f.number == 1 && f.wire_type == 2 &&
                 append_tuple(layout, layout_resource(c.base, f.start, f.stop)) < 0) {
            Py_CLEAR(layout);
        }
    }
done:
    PyBuffer_Release(&schema);
    PyBuffer_Release(&body);
    return layout;
}

/* ---- attributes of one span ----------------------------------------------------------------
 * The recogniser reads an LLM span's attributes as a dict (attrs_to_dict in Python: a Python
 * call per attribute and per nested value). Here it is one pass over the span's bytes, with the
 * key flags of each attribute, in order, for redaction by position. */

#define MAX_VALUE_DEPTH 64

static PyObject *any_value(const uint8_t *base, const uint8_t *p, const uint8_t *end, int depth);

/* A message field given twice is merged by protobuf (and a oneof keeps its last member): upb's
 * own encoding never does that, so this reader refuses it rather than reimplementing merging. */
static int
merged(const char *what)
{
    PyErr_Format(PyExc_ValueError, "%s given more than once (merge it with upb first)", what);
    return -1;
}

static PyObject *
utf8(const uint8_t *start, const uint8_t *stop)
{
    return PyUnicode_DecodeUTF8((const char *)start, stop - start, "strict");
}

/* Where a KeyValue's key (empty when absent) and value (*value_start NULL when absent) are. */
/* Appends item to *list, made at the first item (most spans have no events, most edits no
 * appends). Steals item, which may be NULL (a failed build): then -1, as for any failure. */
static int
append_made(PyObject **list, PyObject *item)
{
    if (item == NULL) {
        return -1;
    }
    if (*list == NULL && (*list = PyList_New(0)) == NULL) {
        Py_DECREF(item);
        return -1;
    }
    int rc = PyList_Append(*list, item);
    Py_DECREF(item);
    return rc;
}

static int
key_value_slices(const uint8_t *base, const uint8_t *p, const uint8_t *end, const uint8_t **key_start,
                 const uint8_t **key_stop, const uint8_t **value_start, const uint8_t **value_stop)
{
    Field f;
    *key_start = *key_stop = p;
    *value_start = *value_stop = NULL;
    while (p < end) {
        if (next_field(base, &p, end, "KeyValue", &f) < 0) {
            return -1;
        }
        if (f.wire_type != 2) {
            continue;
        }
        if (f.number == 1) {
            *key_start = f.start;
            *key_stop = f.stop;
        }
        else if (f.number == 2) {
            if (*value_start != NULL) {
                return merged("KeyValue.value");
            }
            *value_start = f.start;
            *value_stop = f.stop;
        }
    }
    return 0;
}

/* A KeyValue: *key (new reference, "" when absent) and *value (new reference, None when absent). */
static int
key_value(const uint8_t *base, const uint8_t *p, const uint8_t *end, int depth, PyObject **key,
          PyObject **value)
{
    const uint8_t *key_start, *key_stop, *value_start, *value_stop;
    *key = *value = NULL; /* both stay NULL on every error */
    if (key_value_slices(base, p, end, &key_start, &key_stop, &value_start, &value_stop) < 0) {
        return -1;
    }
    *key = utf8(key_start, key_stop);
    if (*key == NULL) {
        return -1;
    }
    *value = value_start == NULL ? Py_NewRef(Py_None) : any_value(base, value_start, value_stop, depth);
    if (*value == NULL) {
        Py_CLEAR(*key);
        return -1;
    }
    return 0;
}

static PyObject *
any_value(const uint8_t *base, const uint8_t *p, const uint8_t *end, int depth)
{
    const uint8_t *start = NULL, *stop = NULL;
    uint64_t bits = 0;
    int kind = 0; /* the AnyValue oneof field number last seen, 0 = none */
    Field f = {0};
    if (depth > MAX_VALUE_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "AnyValue nests more than 64 levels deep");
        return NULL;
    }
    while (p < end) {
        if (next_field(base, &p, end, "AnyValue", &f) < 0) {
            return NULL;
        }
        int wanted = (f.number == 2 || f.number == 3) ? 0 : f.number == 4 ? 1 : 2;
        if (f.number < 1 || f.number > 7 || f.wire_type != wanted) {
            continue;
        }
        if (kind != 0) {
            merged("AnyValue");
            return NULL;
        }
        kind = (int)f.number;
        start = f.start;
        stop = f.stop;
        bits = f.value;
    }
    switch (kind) {
    case 1:
        return utf8(start, stop);
    case 2:
        return PyBool_FromLong(bits != 0);
    case 3:
        return PyLong_FromLongLong((long long)bits);
    case 4: {
        double d;
        memcpy(&d, &bits, sizeof d);
        return PyFloat_FromDouble(d);
    }
    case 5: { /* ArrayValue { repeated AnyValue values = 1; } */
        PyObject *list = PyList_New(0);
        const uint8_t *q = start;
        while (list != NULL && q < stop) {
            if (next_field(base, &q, stop, "ArrayValue", &f) < 0) {
                Py_CLEAR(list);
                break;
            }
            if (f.number == 1 && f.wire_type == 2) {
                PyObject *item = any_value(base, f.start, f.stop, depth + 1);
                if (item == NULL || PyList_Append(list, item) < 0) {
                    Py_XDECREF(item);
                    Py_CLEAR(list);
                    break;
                }
                Py_DECREF(item);
            }
        }
        return list;
    }
    case 6: { /* KeyValueList { repeated KeyValue values = 1; } */
        PyObject *dict = PyDict_New();
        const uint8_t *q = start;
        while (dict != NULL && q < stop) {
            if (next_field(base, &q, stop, "KeyValueList", &f) < 0) {
                Py_CLEAR(dict);
                break;
            }
            if (f.number == 1 && f.wire_type == 2) {
                PyObject *key, *item;
                if (key_value(base, f.start, f.stop, depth + 1, &key, &item) < 0 ||
                    PyDict_SetItem(dict, key, item) < 0) {
                    Py_XDECREF(key); /* NULL when key_value failed */
                    Py_XDECREF(item);
                    Py_CLEAR(dict);
                    break;
                }
                Py_DECREF(key);
                Py_DECREF(item);
            }
        }
        return dict;
    }
    case 7:
        return PyBytes_FromStringAndSize((const char *)start, stop - start);
    default:
        Py_RETURN_NONE;
    }
}

/* ---- attribute keys, decoded once ------------------------------------------------------------
 * An LLM span has ~30 attribute keys and the same few hundred keys come back in every span, so
 * decoding each into a new str per span (and touching a new object for every dict lookup after)
 * was a third of reading a span. The module keeps the str of each key it has seen, found by its
 * UTF-8 bytes (open addressing, emptied when half full), per interpreter in the module state. */

#define KEY_SLOTS 4096        /* a power of two */
#define KEY_MAX_BYTES 256     /* longer keys are decoded each time, not kept */

typedef struct {
    PyObject *str; /* strong reference; NULL: an empty slot */
    uint64_t hash;
} KeySlot;

typedef struct {
    KeySlot *keys; /* KEY_SLOTS slots, allocated on first use */
    Py_ssize_t used;
} ModuleState;

static void
keys_clear(ModuleState *st)
{
    if (st->keys != NULL) {
        for (Py_ssize_t x = 0; x < KEY_SLOTS; x++) {
            Py_CLEAR(st->keys[x].str);
        }
    }
    st->used = 0;
}

/* The str of a key's UTF-8 bytes (a new reference), from the module's keys when it is there. */
static PyObject *
key_str(ModuleState *st, const uint8_t *start, const uint8_t *stop)
{
    Py_ssize_t n = stop - start;
    if (n > KEY_MAX_BYTES) {
        return utf8(start, stop);
    }
    if (st->keys == NULL && (st->keys = PyMem_Calloc(KEY_SLOTS, sizeof(KeySlot))) == NULL) {
        return PyErr_NoMemory();
    }
    uint64_t hash = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (Py_ssize_t x = 0; x < n; x++) {
        hash = (hash ^ start[x]) * 0x100000001b3ULL;
    }
    size_t slot = (size_t)hash & (KEY_SLOTS - 1);
    for (; st->keys[slot].str != NULL; slot = (slot + 1) & (KEY_SLOTS - 1)) {
        KeySlot *k = &st->keys[slot];
        Py_ssize_t len;
        const char *text;
        if (k->hash == hash && (text = PyUnicode_AsUTF8AndSize(k->str, &len)) != NULL && len == n &&
            memcmp(text, start, (size_t)n) == 0) {
            return Py_NewRef(k->str);
        }
    }
    PyObject *str = utf8(start, stop);
    if (str == NULL) {
        return NULL;
    }
    if (PyUnicode_AsUTF8AndSize(str, NULL) == NULL) { /* its UTF-8 is what slots compare */
        Py_DECREF(str);
        return NULL;
    }
    if (st->used >= KEY_SLOTS / 2) { /* half full: start over (a flood of distinct keys) */
        keys_clear(st);
        slot = (size_t)hash & (KEY_SLOTS - 1);
    }
    st->keys[slot].str = Py_NewRef(str);
    st->keys[slot].hash = hash;
    st->used++;
    return str;
}

/* ---- a span's own fields, read in the same walk as its attributes (read_span) ---------------
 * The pipeline reads these of every LLM span; through upb each is a getattr that makes a new
 * object (a sub-message a new wrapper). Strings and ids are slices of the buffer until the end,
 * and a field given twice keeps its last value, as protobuf does; a Status given twice is merged
 * (its fields are scalars: the later value of each wins). A head field of an unexpected wire
 * type is refused (upb would keep it as an unknown field): the caller reads the span through
 * upb instead. */

static const uint8_t EMPTY[1] = {0};

typedef struct {
    const uint8_t *start, *stop;
} Slice;

typedef struct {
    Slice trace, span, parent, name, message;
    uint64_t start, end;
    int32_t code;
    PyObject *events; /* list of (name, time_unix_nano), made at the first event */
    long event_flags; /* the flags of every event attribute's key, ORed */
    PyObject *texts;  /* list of (event index, key, text) of exception.* attributes, or NULL */
    ModuleState *st;  /* what an event attribute's key is resolved with, as a span attribute's */
    PyObject *key_flags, *classify;
} Head;

static int
head_wire_type(const uint8_t *base, const Field *f, int expected, const char *what)
{
    if (f->wire_type == expected) {
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "%s field %llu has wire type %d, not %d", what,
                 (unsigned long long)f->number, f->wire_type, expected);
    return -1;
}

/* The flags of a str key: key_flags[key], or classify(key) for a key not there (an int in
 * 0..255, else ValueError). *key is a new reference to the key on success. */
static int
str_key_flags(ModuleState *st, PyObject *key_flags, PyObject *classify, const uint8_t *start,
              const uint8_t *stop, PyObject **key, long *bits)
{
    PyObject *found;
    if ((*key = key_str(st, start, stop)) == NULL) {
        return -1;
    }
    found = PyDict_GetItemWithError(key_flags, *key); /* borrowed */
    if (found != NULL) {
        Py_INCREF(found);
    }
    else if (!PyErr_Occurred()) {
        found = PyObject_CallOneArg(classify, *key);
    }
    if (found == NULL) {
        Py_CLEAR(*key);
        return -1;
    }
    *bits = PyLong_Check(found) ? PyLong_AsLong(found) : -1;
    if (*bits < 0 || *bits > 255) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "flags for key %R must be an int in 0..255, got %R", *key, found);
        }
        Py_DECREF(found);
        Py_CLEAR(*key);
        return -1;
    }
    Py_DECREF(found);
    return 0;
}

/* The string an AnyValue holds, as upb's string_value reads it: the last of its oneof's fields
 * decides, and anything but a string (or no value) is "" (*found = 0). */
static int
any_string(const uint8_t *base, const uint8_t *p, const uint8_t *end, Slice *text, int *found)
{
    Field f = {0, 0, NULL, NULL, 0};
    *found = 0;
    while (p < end) {
        if (next_field(base, &p, end, "AnyValue", &f) < 0) {
            return -1;
        }
        if (f.number == 1) {
            if (head_wire_type(base, &f, 2, "AnyValue") < 0) {
                return -1;
            }
            *text = (Slice){f.start, f.stop};
            *found = 1;
        }
        else if (f.number >= 2 && f.number <= 7) {
            *found = 0;
        }
    }
    return 0;
}

static const char EXCEPTION_TYPE[] = "exception.type", EXCEPTION_MESSAGE[] = "exception.message";

static int
key_is(const uint8_t *start, const uint8_t *stop, const char *text, size_t len)
{
    return (size_t)(stop - start) == len && memcmp(start, text, len) == 0;
}

/* An event attribute keyed exception.type or exception.message with a non-empty string value:
 * (event index, key, text) into h->texts, so that error evidence reads it from the head rather
 * than from upb's decode of the span (the event's name is in h->events at that index). */
static int
head_exception_text(const uint8_t *base, Head *h, PyObject *key, const uint8_t *key_start,
                    const uint8_t *key_stop, const uint8_t *value_start, const uint8_t *value_stop)
{
    Slice text = {EMPTY, EMPTY};
    int found = 0;
    if (!key_is(key_start, key_stop, EXCEPTION_TYPE, sizeof EXCEPTION_TYPE - 1) &&
        !key_is(key_start, key_stop, EXCEPTION_MESSAGE, sizeof EXCEPTION_MESSAGE - 1)) {
        return 0;
    }
    if (value_start == NULL) {
        return 0;
    }
    if (any_string(base, value_start, value_stop, &text, &found) < 0) {
        return -1;
    }
    if (!found || text.stop == text.start) {
        return 0;
    }
    PyObject *value = utf8(text.start, text.stop);
    if (value == NULL) {
        return -1;
    }
    Py_ssize_t index = h->events == NULL ? 0 : PyList_GET_SIZE(h->events);
    return append_made(&h->texts, Py_BuildValue("(nON)", index, key, value));
}

static int
head_event(const uint8_t *base, const uint8_t *p, const uint8_t *end, Head *h)
{
    Slice name = {EMPTY, EMPTY};
    uint64_t time = 0;
    Field f = {0, 0, NULL, NULL, 0};
    while (p < end) {
        if (next_field(base, &p, end, "Span.Event", &f) < 0) {
            return -1;
        }
        if (f.number == 1) {
            if (head_wire_type(base, &f, 1, "Span.Event") < 0) {
                return -1;
            }
            time = f.value;
        }
        else if (f.number == 2) {
            if (head_wire_type(base, &f, 2, "Span.Event") < 0) {
                return -1;
            }
            name = (Slice){f.start, f.stop};
        }
        else if (f.number == 3 && f.wire_type == 2) { /* an attribute: its key's flags */
            const uint8_t *key_start, *key_stop, *value_start, *value_stop;
            PyObject *key;
            long bits;
            if (key_value_slices(base, f.start, f.stop, &key_start, &key_stop, &value_start, &value_stop) < 0 ||
                str_key_flags(h->st, h->key_flags, h->classify, key_start, key_stop, &key, &bits) < 0) {
                return -1;
            }
            h->event_flags |= bits;
            int rc = head_exception_text(base, h, key, key_start, key_stop, value_start, value_stop);
            Py_DECREF(key);
            if (rc < 0) {
                return -1;
            }
        }
    }
    PyObject *text = utf8(name.start, name.stop);
    if (text == NULL) {
        return -1;
    }
    return append_made(&h->events, Py_BuildValue("(NK)", text, (unsigned long long)time));
}

static int
head_status(const uint8_t *base, const uint8_t *p, const uint8_t *end, Head *h)
{
    Field f = {0, 0, NULL, NULL, 0};
    while (p < end) {
        if (next_field(base, &p, end, "Status", &f) < 0) {
            return -1;
        }
        if (f.number == 2) {
            if (head_wire_type(base, &f, 2, "Status") < 0) {
                return -1;
            }
            h->message = (Slice){f.start, f.stop};
        }
        else if (f.number == 3) {
            if (head_wire_type(base, &f, 0, "Status") < 0) {
                return -1;
            }
            h->code = (int32_t)(uint32_t)f.value; /* an int32 enum: the low 32 bits, as upb */
        }
    }
    return 0;
}

/* One field of a Span other than its attributes. */
static int
head_field(const uint8_t *base, const Field *f, Head *h)
{
    Slice *text;
    switch (f->number) {
    case 1:
        text = &h->trace;
        break;
    case 2:
        text = &h->span;
        break;
    case 4:
        text = &h->parent;
        break;
    case 5:
        text = &h->name;
        break;
    case 7:
    case 8:
        if (head_wire_type(base, f, 1, "Span") < 0) {
            return -1;
        }
        *(f->number == 7 ? &h->start : &h->end) = f->value;
        return 0;
    case 11:
    case 15:
        if (head_wire_type(base, f, 2, "Span") < 0) {
            return -1;
        }
        return f->number == 11 ? head_event(base, f->start, f->stop, h)
                               : head_status(base, f->start, f->stop, h);
    default:
        return 0;
    }
    if (head_wire_type(base, f, 2, "Span") < 0) {
        return -1;
    }
    *text = (Slice){f->start, f->stop};
    return 0;
}

static PyObject *
head_tuple(Head *h)
{
    PyObject *name = utf8(h->name.start, h->name.stop), *message = NULL, *events = NULL, *texts = NULL;
    if (name == NULL || (message = utf8(h->message.start, h->message.stop)) == NULL) {
        Py_XDECREF(name);
        return NULL;
    }
    events = h->events != NULL ? PyList_AsTuple(h->events) : PyTuple_New(0);
    texts = h->texts != NULL ? PyList_AsTuple(h->texts) : PyTuple_New(0);
    if (events == NULL || texts == NULL) {
        Py_DECREF(name);
        Py_DECREF(message);
        Py_XDECREF(events);
        Py_XDECREF(texts);
        return NULL;
    }
    return Py_BuildValue("(y#y#y#NKKiNNlN)", (const char *)h->trace.start,
                         (Py_ssize_t)(h->trace.stop - h->trace.start), (const char *)h->span.start,
                         (Py_ssize_t)(h->span.stop - h->span.start), (const char *)h->parent.start,
                         (Py_ssize_t)(h->parent.stop - h->parent.start), name,
                         (unsigned long long)h->start, (unsigned long long)h->end, (int)h->code,
                         message, events, h->event_flags, texts);
}

PyDoc_STRVAR(read_attributes_doc,
"read_attributes(span, key_flags, classify, unread=0, /) -> (attributes, flags)\n--\n\n"
"The attributes of an encoded Span as a dict (as attrs_to_dict: the last of a repeated key\n"
"wins) and, for each KeyValue in order, its key's flags as one byte: key_flags[key] (a dict\n"
"of str), or classify(key) for a key not there (classify may store it). Flags must be in\n"
"0..255. A key whose flags share a bit with `unread` gets None: its value is not decoded\n"
"(redaction drops prompts and completions unread). Malformed bytes or text that is not UTF-8\n"
"raise ValueError.");

PyDoc_STRVAR(read_span_doc,
"read_span(span, key_flags, classify, unread=0, /) -> (attributes, flags, head)\n--\n\n"
"read_attributes, and from the same walk the span's own fields: head is (trace_id, span_id,\n"
"parent_span_id, name, start_time_unix_nano, end_time_unix_nano, status code, status message,\n"
"events, event flags, exception texts), events being ((name, time_unix_nano), ...) in order, event\n"
"flags the flags of every event attribute's key ORed (resolved as an attribute's) and exception\n"
"texts ((event index, key, text), ...) for each event attribute keyed exception.type or\n"
"exception.message whose value is a non-empty string, in order. A field given twice keeps its\n"
"last value (a Status given twice is merged). A head field of an unexpected wire type is a\n"
"ValueError, like malformed bytes: read such a span through upb.");

static PyObject *
read_attrs(PyObject *module, PyObject *const *args, Py_ssize_t nargs, const char *fname, int want_head)
{
    ModuleState *st = PyModule_GetState(module);
    Py_buffer span;
    PyObject *key_flags, *classify, *attrs = NULL, *flags = NULL, *head = NULL, *result = NULL;
    int unread = 0;
    Head h = {{EMPTY, EMPTY}, {EMPTY, EMPTY}, {EMPTY, EMPTY}, {EMPTY, EMPTY}, {EMPTY, EMPTY}, 0, 0, 0, NULL, 0,
              NULL, st, NULL, NULL};
    if (fast_nargs(fname, nargs, 3, 4) < 0 || fast_type(fname, 2, args[1], &PyDict_Type) < 0) {
        return NULL;
    }
    key_flags = h.key_flags = args[1];
    classify = h.classify = args[2];
    if (nargs == 4) {
        long value = PyLong_AsLong(args[3]);
        if (value == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (value < INT_MIN || value > INT_MAX) {
            PyErr_Format(PyExc_OverflowError, "%s() unread is out of range for a C int", fname);
            return NULL;
        }
        unread = (int)value;
    }
    if (fast_buffer(args[0], &span) < 0) {
        return NULL;
    }
    const uint8_t *base = span.buf, *p = span.buf, *end = p + span.len;
    Py_ssize_t count = 0, size = 32;
    Field f = {0, 0, NULL, NULL, 0};
    attrs = PyDict_New();
    flags = PyBytes_FromStringAndSize(NULL, size);
    if (attrs == NULL || flags == NULL) {
        goto done;
    }
    while (span.len > 0 && p < end) {
        if (next_field(base, &p, end, "Span", &f) < 0) {
            goto done;
        }
        if (f.number != 9 || f.wire_type != 2) {
            if (want_head && head_field(base, &f, &h) < 0) {
                goto done;
            }
            continue;
        }
        PyObject *key, *value;
        const uint8_t *key_start, *key_stop, *value_start, *value_stop;
        long bits;
        if (key_value_slices(base, f.start, f.stop, &key_start, &key_stop, &value_start, &value_stop) < 0 ||
            str_key_flags(st, key_flags, classify, key_start, key_stop, &key, &bits) < 0) {
            goto done;
        }
        if ((bits & unread) || value_start == NULL) {
            value = Py_NewRef(Py_None);
        }
        else if ((value = any_value(base, value_start, value_stop, 0)) == NULL) {
            Py_DECREF(key);
            goto done;
        }
        int rc = PyDict_SetItem(attrs, key, value);
        Py_DECREF(value);
        Py_DECREF(key);
        if (rc < 0) {
            goto done;
        }
        if (count == size) {
            size *= 2;
            if (_PyBytes_Resize(&flags, size) < 0) {
                goto done;
            }
        }
        PyBytes_AS_STRING(flags)[count++] = (char)bits;
    }
    if (_PyBytes_Resize(&flags, count) < 0) {
        goto done;
    }
    if (!want_head) {
        result = PyTuple_Pack(2, attrs, flags);
    }
    else if ((head = head_tuple(&h)) != NULL) {
        result = PyTuple_Pack(3, attrs, flags, head);
    }
done:
    Py_XDECREF(attrs);
    Py_XDECREF(flags);
    Py_XDECREF(head);
    Py_XDECREF(h.events);
    Py_XDECREF(h.texts);
    PyBuffer_Release(&span);
    return result;
}

static PyObject *
read_attributes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return read_attrs(module, args, nargs, "read_attributes", 0);
}

static PyObject *
read_span(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return read_attrs(module, args, nargs, "read_span", 1);
}

/* ---- splice: the request with some spans and resources replaced ------------------------------
 * The pipeline changes only the spans it looks at (write-back, redaction) and sometimes a
 * resource (Kubernetes metadata). Re-encoding the whole request for the exporters cost more than
 * the rest of the forwarding; here the changed messages' new encodings replace the old ones in the
 * received bytes, and only the enclosing ResourceSpans/ScopeSpans get new lengths. Everything
 * else, unknown fields included, is copied as it came. */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
    /* when set, data is this bytes object's buffer: the result is built where it is returned,
       without a last copy (buf_bytes) */
    PyObject *obj;
} Buf;

static int
buf_reserve(Buf *b, Py_ssize_t extra)
{
    if (extra <= b->cap - b->len) {
        return 0;
    }
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    if (b->obj != NULL) {
        if (_PyBytes_Resize(&b->obj, cap) < 0) { /* frees the object on failure */
            b->data = NULL;
            return -1;
        }
        b->data = PyBytes_AS_STRING(b->obj);
        b->cap = cap;
        return 0;
    }
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* A buffer of `cap` bytes that buf_bytes hands over as a bytes object without copying it. */
static int
buf_init_bytes(Buf *b, Py_ssize_t cap)
{
    b->obj = PyBytes_FromStringAndSize(NULL, cap);
    if (b->obj == NULL) {
        return -1;
    }
    b->data = PyBytes_AS_STRING(b->obj);
    b->len = 0;
    b->cap = cap;
    return 0;
}

/* What was written, as a new reference to a bytes object; the buffer is released either way. */
static PyObject *
buf_bytes(Buf *b)
{
    PyObject *result;
    if (b->obj != NULL) {
        result = b->obj;
        b->obj = NULL;
        b->data = NULL;
        if (_PyBytes_Resize(&result, b->len) < 0) {
            return NULL;
        }
        return result;
    }
    result = PyBytes_FromStringAndSize(b->data ? b->data : "", b->len);
    PyMem_Free(b->data);
    b->data = NULL;
    return result;
}

static void
buf_release(Buf *b)
{
    if (b->obj != NULL) {
        Py_CLEAR(b->obj);
    }
    else {
        PyMem_Free(b->data);
    }
    b->data = NULL;
}

static int
buf_put(Buf *b, const void *src, Py_ssize_t n)
{
    if (buf_reserve(b, n) < 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->data + b->len, src, (size_t)n);
        b->len += n;
    }
    return 0;
}

static int
varint_size(uint64_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Starts a length-delimited field (one-byte tag) whose length is known only once its content is
 * written: `guess` bytes are left for the length (the old length's size: edits seldom change it).
 * Returns where the content starts, for buf_close_field. */
static Py_ssize_t
buf_open_field(Buf *b, uint8_t tag, int guess)
{
    if (buf_reserve(b, 1 + guess) < 0) {
        return -1;
    }
    b->data[b->len++] = (char)tag;
    b->len += guess;
    return b->len;
}

/* Writes the length of the field opened at `start`, moving its content when the length takes
 * other than `guess` bytes. */
static int
buf_close_field(Buf *b, Py_ssize_t start, int guess)
{
    uint64_t n = (uint64_t)(b->len - start);
    int h = varint_size(n);
    if (h > guess && buf_reserve(b, h - guess) < 0) {
        return -1;
    }
    if (h != guess) {
        memmove(b->data + start + (h - guess), b->data + start, (size_t)n);
        b->len += h - guess;
    }
    uint8_t *q = (uint8_t *)b->data + start - guess;
    while (n >= 0x80) {
        *q++ = (uint8_t)(n | 0x80);
        n >>= 7;
    }
    *q = (uint8_t)n;
    return 0;
}

/* a length-delimited field with a one-byte tag (fields 1 and 2 here) */
static int
buf_field(Buf *b, uint8_t tag, const void *src, Py_ssize_t n)
{
    uint8_t head[11];
    int h = 0;
    uint64_t v = (uint64_t)n;
    head[h++] = tag;
    while (v >= 0x80) {
        head[h++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    head[h++] = (uint8_t)v;
    if (buf_put(b, head, h) < 0) {
        return -1;
    }
    return buf_put(b, src, n);
}

typedef struct {
    Py_ssize_t i, j, k;  /* k is unused for resources */
    const char *data;    /* NULL: drop the span */
    Py_ssize_t len;
} Edit;

typedef struct {
    const uint8_t *base;
    Edit *spans, *resources;
    Py_ssize_t n_spans, n_resources, next_span, next_resource;
} Splice;

static int
splice_scope(Splice *s, const uint8_t *p, const uint8_t *end, Py_ssize_t i, Py_ssize_t j, Buf *out)
{
    Py_ssize_t k = 0;
    Field f;
    while (p < end) {
        const uint8_t *tag_at = p;
        if (next_field(s->base, &p, end, "ScopeSpans", &f) < 0) {
            return -1;
        }
        if (f.number == 2 && f.wire_type == 2) {
            Edit *e = s->next_span < s->n_spans ? &s->spans[s->next_span] : NULL;
            if (e != NULL && e->i == i && e->j == j && e->k == k) {
                s->next_span++;
                if (e->data != NULL && buf_field(out, 0x12, e->data, e->len) < 0) {
                    return -1;
                }
                k++;
                continue;
            }
            k++;
        }
        if (buf_put(out, tag_at, p - tag_at) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
splice_resource_spans(Splice *s, const uint8_t *p, const uint8_t *end, Py_ssize_t i, Buf *out)
{
    Py_ssize_t j = 0;
    Edit *resource = NULL;
    int resource_written = 0;
    Field f;
    if (s->next_resource < s->n_resources && s->resources[s->next_resource].i == i) {
        resource = &s->resources[s->next_resource++];
    }
    while (p < end) {
        const uint8_t *tag_at = p;
        if (next_field(s->base, &p, end, "ResourceSpans", &f) < 0) {
            return -1;
        }
        if (f.number == 1 && f.wire_type == 2 && resource != NULL) {
            /* a resource given twice is merged by protobuf: the new one replaces both */
            if (!resource_written && buf_field(out, 0x0a, resource->data, resource->len) < 0) {
                return -1;
            }
            resource_written = 1;
            continue;
        }
        if (f.number == 2 && f.wire_type == 2) {
            Edit *e = s->next_span < s->n_spans ? &s->spans[s->next_span] : NULL;
            if (e != NULL && e->i == i && e->j == j) {
                int guess = varint_size((uint64_t)(f.stop - f.start));
                Py_ssize_t start = buf_open_field(out, 0x12, guess);
                if (start < 0 || splice_scope(s, f.start, f.stop, i, j, out) < 0 ||
                    buf_close_field(out, start, guess) < 0) {
                    return -1;
                }
                j++;
                continue;
            }
            j++;
        }
        if (buf_put(out, tag_at, p - tag_at) < 0) {
            return -1;
        }
    }
    if (resource != NULL && !resource_written) { /* the resource was absent (empty) */
        return buf_field(out, 0x0a, resource->data, resource->len);
    }
    return 0;
}

/* Edits from [(i, j, k, bytes | None)] (spans) or [(i, bytes)] (resources), strictly ascending. */
static Py_ssize_t
read_edits(PyObject *list, int spans, Edit **out)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    const char *what = spans ? "spans" : "resources";
    *out = NULL;
    if (n == 0) {
        return 0;
    }
    Edit *edits = PyMem_Calloc((size_t)n, sizeof(Edit));
    if (edits == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t x = 0; x < n; x++) {
        PyObject *item = PyList_GET_ITEM(list, x), *data;
        Edit *e = &edits[x];
        if (spans) {
            if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "nnnO", &e->i, &e->j, &e->k, &data)) {
                PyErr_Format(PyExc_TypeError, "splice %s[%zd] must be (i, j, k, bytes | None)", what, x);
                goto error;
            }
        }
        else if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "nO", &e->i, &data)) {
            PyErr_Format(PyExc_TypeError, "splice %s[%zd] must be (i, bytes)", what, x);
            goto error;
        }
        if (PyBytes_Check(data)) {
            e->data = PyBytes_AS_STRING(data);
            e->len = PyBytes_GET_SIZE(data);
        }
        else if (!(spans && data == Py_None)) {
            PyErr_Format(PyExc_TypeError, "splice %s[%zd]: the new encoding must be bytes%s, not %s",
                         what, x, spans ? " or None" : "", Py_TYPE(data)->tp_name);
            goto error;
        }
        if (e->i < 0 || e->j < 0 || e->k < 0) {
            PyErr_Format(PyExc_ValueError, "splice %s[%zd]: negative index", what, x);
            goto error;
        }
        if (x > 0) {
            Edit *prev = &edits[x - 1];
            int ascending = prev->i < e->i ||
                            (spans && prev->i == e->i &&
                             (prev->j < e->j || (prev->j == e->j && prev->k < e->k)));
            if (!ascending) {
                PyErr_Format(PyExc_ValueError, "splice %s must be strictly ascending (at %zd)", what, x);
                goto error;
            }
        }
    }
    *out = edits;
    return n;
error:
    PyMem_Free(edits);
    return -1;
}

PyDoc_STRVAR(splice_doc,
"splice(body, spans, resources, /) -> bytes\n--\n\n"
"The encoded ExportTraceServiceRequest `body` with spans[(i, j, k)] replaced by the given\n"
"encoding (None drops the span) and the resource of resource_spans[i] by resources' encoding;\n"
"i, j, k index resource_spans, scope_spans and spans as scan_spans does. Both lists are sorted\n"
"ascending. Every other byte is kept. ValueError for malformed bytes or an edit whose span or\n"
"resource_spans is not in body.");

static PyObject *
splice(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer body;
    PyObject *span_list, *resource_list, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*O!O!:splice", &body, &PyList_Type, &span_list, &PyList_Type,
                          &resource_list)) {
        return NULL;
    }
    Splice s = {(const uint8_t *)body.buf, NULL, NULL, 0, 0, 0, 0};
    Buf out = {NULL, 0, 0, NULL};
    /* no Python code runs below, so the bytes the edits point into stay alive and unchanged */
    if ((s.n_spans = read_edits(span_list, 1, &s.spans)) < 0 ||
        (s.n_resources = read_edits(resource_list, 0, &s.resources)) < 0) {
        goto done;
    }
    /* The result is written once, into the bytes object returned, sized so that it never grows:
     * each new encoding adds at most its length and a header of 11 bytes, and each enclosing
     * ResourceSpans/ScopeSpans (two per edit at most) at most 10 bytes more of length. */
    Py_ssize_t bound = body.len + 64;
    for (Py_ssize_t x = 0; x < s.n_spans; x++) {
        bound += s.spans[x].len + 31;
    }
    for (Py_ssize_t x = 0; x < s.n_resources; x++) {
        bound += s.resources[x].len + 31;
    }
    if (buf_init_bytes(&out, bound) < 0) {
        goto done;
    }
    if (body.len > 0) {
        const uint8_t *p = s.base, *end = s.base + body.len;
        Py_ssize_t i = 0;
        Field f;
        while (p < end) {
            const uint8_t *tag_at = p;
            if (next_field(s.base, &p, end, "ExportTraceServiceRequest", &f) < 0) {
                goto done;
            }
            if (f.number == 1 && f.wire_type == 2) {
                int edited = (s.next_span < s.n_spans && s.spans[s.next_span].i == i) ||
                             (s.next_resource < s.n_resources && s.resources[s.next_resource].i == i);
                if (edited) {
                    int guess = varint_size((uint64_t)(f.stop - f.start));
                    Py_ssize_t start = buf_open_field(&out, 0x0a, guess);
                    if (start < 0 || splice_resource_spans(&s, f.start, f.stop, i, &out) < 0 ||
                        buf_close_field(&out, start, guess) < 0) {
                        goto done;
                    }
                    i++;
                    continue;
                }
                i++;
            }
            if (buf_put(&out, tag_at, p - tag_at) < 0) {
                goto done;
            }
        }
    }
    if (s.next_span < s.n_spans) {
        Edit *e = &s.spans[s.next_span];
        PyErr_Format(PyExc_ValueError, "splice: span (%zd, %zd, %zd) is not in the request", e->i,
                     e->j, e->k);
        goto done;
    }
    if (s.next_resource < s.n_resources) {
        PyErr_Format(PyExc_ValueError, "splice: resource_spans %zd is not in the request",
                     s.resources[s.next_resource].i);
        goto done;
    }
    result = buf_bytes(&out);
done:
    buf_release(&out);
    PyMem_Free(s.spans);
    PyMem_Free(s.resources);
    PyBuffer_Release(&body);
    return result;
}

/* ---- edit_attributes: a span's attributes changed without decoding the span -------------------
 * Write-back and redaction change a few attributes of an LLM span (replace a value, drop a
 * content attribute, append semconv names). Doing that on the upb message and encoding the span
 * again cost more than deciding what to change; here the new encoding is the old one with only
 * those KeyValues rewritten. Appended attributes go right after the last attribute (when there is
 * none, before the first field upb encodes after them: a known one numbered above 9 or an unknown
 * one), which is where upb would encode them, so a span encoded by upb comes out as upb would
 * encode the edited message. */

static int
buf_varint(Buf *b, uint64_t v)
{
    uint8_t head[10];
    int h = 0;
    while (v >= 0x80) {
        head[h++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    head[h++] = (uint8_t)v;
    return buf_put(b, head, h);
}

static int encode_any_value(Buf *b, PyObject *value, int depth);

/* `tag` and the length of `payload`, then `payload` */
static int
buf_nested(Buf *b, uint8_t tag, const Buf *payload)
{
    return buf_field(b, tag, payload->data, payload->len);
}

/* KeyValue{key = 1 (absent when empty, as upb encodes it), value = 2} */
static int
encode_key_value(Buf *b, const char *key, Py_ssize_t key_len, PyObject *value, int depth)
{
    Buf inner = {NULL, 0, 0, NULL};
    int rc = 0;
    if (key_len > 0) {
        rc = buf_field(b, 0x0a, key, key_len);
    }
    if (rc == 0) {
        rc = encode_any_value(&inner, value, depth);
    }
    if (rc == 0) {
        rc = buf_nested(b, 0x12, &inner);
    }
    PyMem_Free(inner.data);
    return rc;
}

/* The AnyValue payload for a Python value, as llmpulse.otlp.assign stores it: str, bool, int,
 * float, bytes, list/tuple (array), dict (kvlist, keys as str), anything else as its str(). */
static int
encode_any_value(Buf *b, PyObject *value, int depth)
{
    if (depth > MAX_VALUE_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "value nests more than 64 levels deep");
        return -1;
    }
    if (PyUnicode_Check(value)) {
        Py_ssize_t n;
        const char *text = PyUnicode_AsUTF8AndSize(value, &n);
        return text == NULL ? -1 : buf_field(b, 0x0a, text, n);
    }
    if (PyBool_Check(value)) {
        uint8_t field[2] = {0x10, value == Py_True};
        return buf_put(b, field, 2);
    }
    if (PyLong_Check(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (overflow) {
            PyErr_Format(PyExc_ValueError, "int value %R is out of the int64 range", value);
            return -1;
        }
        uint8_t tag = 0x18;
        return buf_put(b, &tag, 1) < 0 ? -1 : buf_varint(b, (uint64_t)v);
    }
    if (PyFloat_Check(value)) {
        double d = PyFloat_AS_DOUBLE(value);
        uint64_t bits;
        uint8_t field[9] = {0x21};
        memcpy(&bits, &d, sizeof bits);
        for (int x = 0; x < 8; x++) {
            field[1 + x] = (uint8_t)(bits >> (8 * x));
        }
        return buf_put(b, field, 9);
    }
    if (PyBytes_Check(value)) {
        return buf_field(b, 0x3a, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
    }
    if (PyList_Check(value) || PyTuple_Check(value)) { /* ArrayValue{values = 1} */
        Buf array = {NULL, 0, 0, NULL};
        PyObject *items = PySequence_Fast(value, "");
        int rc = items == NULL ? -1 : 0;
        for (Py_ssize_t x = 0; rc == 0 && x < PySequence_Fast_GET_SIZE(items); x++) {
            Buf item = {NULL, 0, 0, NULL};
            PyObject *entry = Py_NewRef(PySequence_Fast_GET_ITEM(items, x)); /* str() may drop it */
            rc = encode_any_value(&item, entry, depth + 1);
            Py_DECREF(entry);
            if (rc == 0) {
                rc = buf_nested(&array, 0x0a, &item);
            }
            PyMem_Free(item.data);
        }
        Py_XDECREF(items);
        if (rc == 0) {
            rc = buf_nested(b, 0x2a, &array);
        }
        PyMem_Free(array.data);
        return rc;
    }
    if (PyDict_Check(value)) { /* KeyValueList{values = 1} */
        Buf list = {NULL, 0, 0, NULL};
        PyObject *k, *v;
        Py_ssize_t at = 0;
        int rc = 0;
        Py_INCREF(value); /* str(key) may run Python code */
        while (rc == 0 && PyDict_Next(value, &at, &k, &v)) {
            Buf kv = {NULL, 0, 0, NULL};
            Py_INCREF(k);
            Py_INCREF(v);
            PyObject *key = PyObject_Str(k);
            Py_ssize_t n = 0;
            const char *text = key == NULL ? NULL : PyUnicode_AsUTF8AndSize(key, &n);
            rc = text == NULL ? -1 : encode_key_value(&kv, text, n, v, depth + 1);
            if (rc == 0) {
                rc = buf_nested(&list, 0x0a, &kv);
            }
            Py_XDECREF(key);
            Py_DECREF(k);
            Py_DECREF(v);
            PyMem_Free(kv.data);
        }
        Py_DECREF(value);
        if (rc == 0) {
            rc = buf_nested(b, 0x32, &list);
        }
        PyMem_Free(list.data);
        return rc;
    }
    PyObject *text = PyObject_Str(value);
    if (text == NULL) {
        return -1;
    }
    int rc = encode_any_value(b, text, depth);
    Py_DECREF(text);
    return rc;
}

typedef struct {
    const uint8_t *tag_at, *stop;           /* the whole field: tag, length, KeyValue */
    const uint8_t *kv_start;                /* the KeyValue */
    const uint8_t *key_start, *key_stop;    /* the last key given ("" when none) */
    const uint8_t *value_start, *value_stop; /* the value's AnyValue, NULL when absent */
    PyObject *edit;                         /* borrowed: NULL unchanged, Py_None drop, else the new value */
} Attr;

typedef struct {
    Attr *attrs;
    Py_ssize_t n, cap;
} Attrs;

/* a Span field upb knows: numbers 1..16 with their wire types (others it keeps as unknown) */
static int
span_field_known(const Field *f)
{
    static const int8_t wire[17] = {-1, 2, 2, 2, 2, 2, 0, 1, 1, 2, 0, 2, 0, 2, 0, 2, 5};
    return f->number <= 16 && wire[f->number] == f->wire_type;
}

static int
attrs_read(const uint8_t *base, Py_ssize_t len, Attrs *out, const uint8_t **insert_at)
{
    const uint8_t *p = base, *end = base + len;
    Field f;
    *insert_at = NULL;
    while (p < end) {
        const uint8_t *tag_at = p;
        if (next_field(base, &p, end, "Span", &f) < 0) {
            return -1;
        }
        if (out->n == 0 && *insert_at == NULL && (f.number > 9 || !span_field_known(&f))) {
            *insert_at = tag_at; /* upb encodes attributes before these (unknown fields last) */
        }
        if (f.number != 9 || f.wire_type != 2) {
            continue;
        }
        if (out->n == out->cap) {
            Py_ssize_t cap = out->cap ? out->cap * 2 : 32;
            Attr *grown = PyMem_Realloc(out->attrs, (size_t)cap * sizeof(Attr));
            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            out->attrs = grown;
            out->cap = cap;
        }
        Attr *a = &out->attrs[out->n++];
        *a = (Attr){tag_at, p, f.start, f.start, f.start, NULL, NULL, NULL};
        const uint8_t *q = f.start;
        Field g;
        while (q < f.stop) {
            if (next_field(base, &q, f.stop, "KeyValue", &g) < 0) {
                return -1;
            }
            if (g.wire_type != 2) {
                continue;
            }
            if (g.number == 1) {
                a->key_start = g.start;
                a->key_stop = g.stop;
            }
            else if (g.number == 2) {
                if (a->value_start != NULL) {
                    return merged("KeyValue.value");
                }
                a->value_start = g.start;
                a->value_stop = g.stop;
            }
        }
        *insert_at = p;
    }
    if (*insert_at == NULL) {
        *insert_at = end;
    }
    return 0;
}

/* the last attribute whose key is `key`, or NULL */
static Attr *
attrs_find(Attrs *attrs, PyObject *key)
{
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(key, &n);
    if (text == NULL) {
        return NULL;
    }
    for (Py_ssize_t x = attrs->n - 1; x >= 0; x--) {
        Attr *a = &attrs->attrs[x];
        if (a->key_stop - a->key_start == n && memcmp(a->key_start, text, (size_t)n) == 0) {
            return a;
        }
    }
    return NULL;
}

/* an attribute as it was, with a new value: unknown KeyValue fields are kept, after the value */
static int
encode_edited(Buf *b, const uint8_t *base, Attr *a)
{
    Buf kv = {NULL, 0, 0, NULL};
    const uint8_t *q = a->kv_start, *stop = a->stop;
    Field g;
    int rc = encode_key_value(&kv, (const char *)a->key_start, a->key_stop - a->key_start, a->edit, 0);
    while (rc == 0 && q < stop) {
        const uint8_t *tag_at = q;
        rc = next_field(base, &q, stop, "KeyValue", &g);
        if (rc == 0 && !(g.wire_type == 2 && (g.number == 1 || g.number == 2))) {
            rc = buf_put(&kv, tag_at, q - tag_at);
        }
    }
    if (rc == 0) {
        rc = buf_nested(b, 0x4a, &kv);
    }
    PyMem_Free(kv.data);
    return rc;
}

static int
encode_appended(Buf *b, PyObject *key, PyObject *value, const uint8_t *raw_start, const uint8_t *raw_stop)
{
    Buf kv = {NULL, 0, 0, NULL};
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(key, &n);
    int rc = text == NULL ? -1 : 0;
    if (rc == 0 && raw_start != NULL) { /* a copy of another attribute's value, as it was */
        rc = n > 0 ? buf_field(&kv, 0x0a, text, n) : 0;
        if (rc == 0) {
            rc = buf_field(&kv, 0x12, raw_start, raw_stop - raw_start);
        }
    }
    else if (rc == 0) {
        rc = encode_key_value(&kv, text, n, value, 0);
    }
    if (rc == 0) {
        rc = buf_nested(b, 0x4a, &kv);
    }
    PyMem_Free(kv.data);
    return rc;
}

PyDoc_STRVAR(edit_attributes_doc,
"edit_attributes(span, edits, appends, /) -> bytes\n--\n\n"
"The encoded Span `span` with its attributes edited. `edits` maps an attribute's position\n"
"(among the span's KeyValues, as read_attributes' flags) or a key (the last attribute with\n"
"it) to its new value, or to None to drop it; a key no attribute has is appended (after\n"
"`appends`), unless its value is None. `appends` are (key, value) attributes to add in order,\n"
"or (key, None, source_key): key with the value of the last attribute named source_key, as it\n"
"was. Values are stored as llmpulse.otlp.assign stores them (dicts only as maps). Every other\n"
"byte is kept. ValueError for malformed bytes, an attribute edited twice, a position out of\n"
"range or a source key the span lacks.");

static PyObject *
edit_attributes(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer span;
    PyObject *edits, *appends, *result = NULL, *pending = NULL;
    if (fast_nargs("edit_attributes", nargs, 3, 3) < 0 ||
        fast_type("edit_attributes", 2, args[1], &PyDict_Type) < 0 ||
        fast_type("edit_attributes", 3, args[2], &PyList_Type) < 0 || fast_buffer(args[0], &span) < 0) {
        return NULL;
    }
    edits = args[1];
    appends = args[2];
    const uint8_t *base = span.buf, *insert_at;
    Attrs attrs = {NULL, 0, 0};
    Buf out = {NULL, 0, 0, NULL};
    PyObject *where, *value;
    Py_ssize_t at = 0;
    /* str() of an odd value runs Python code, which could change `edits` or `appends`: the
     * values are held here (a->edit, `pending`) and the appends read from a tuple copy */
    appends = PySequence_Tuple(appends);
    if (appends == NULL) {
        PyBuffer_Release(&span);
        return NULL;
    }
    if (attrs_read(base, span.len, &attrs, &insert_at) < 0) {
        goto done;
    }
    while (PyDict_Next(edits, &at, &where, &value)) {
        Attr *a = NULL;
        if (PyLong_CheckExact(where)) {
            Py_ssize_t pos = PyLong_AsSsize_t(where);
            if (pos == -1 && PyErr_Occurred()) {
                PyErr_Clear(); /* too large for an index: out of range like any other */
            }
            if (pos < 0 || pos >= attrs.n) {
                PyErr_Format(PyExc_ValueError, "edit_attributes: position %R is out of range (%zd attributes)",
                             where, attrs.n);
                goto done;
            }
            a = &attrs.attrs[pos];
        }
        else if (PyUnicode_CheckExact(where)) {
            a = attrs_find(&attrs, where);
            if (a == NULL && PyErr_Occurred()) {
                goto done;
            }
            if (a == NULL) {
                if (value != Py_None) {
                    if (append_made(&pending, PyTuple_Pack(2, where, value)) < 0) {
                        goto done;
                    }
                }
                continue;
            }
        }
        else {
            PyErr_Format(PyExc_TypeError, "edit_attributes: an edit is keyed by int or str, not %s",
                         Py_TYPE(where)->tp_name);
            goto done;
        }
        if (a->edit != NULL) {
            PyErr_Format(PyExc_ValueError, "edit_attributes: attribute %zd is edited twice",
                         (Py_ssize_t)(a - attrs.attrs));
            goto done;
        }
        a->edit = Py_NewRef(value);
    }
    if (buf_init_bytes(&out, span.len + 256) < 0) {
        goto done;
    }
    const uint8_t *cursor = base;
    for (Py_ssize_t x = 0; x <= attrs.n; x++) {
        Attr *a = x < attrs.n ? &attrs.attrs[x] : NULL;
        const uint8_t *upto = a != NULL ? a->tag_at : insert_at;
        if (buf_put(&out, cursor, upto - cursor) < 0) {
            goto done;
        }
        cursor = upto;
        if (a == NULL) {
            break;
        }
        if (a->edit == NULL) {
            if (buf_put(&out, a->tag_at, a->stop - a->tag_at) < 0) {
                goto done;
            }
        }
        else if (a->edit != Py_None && encode_edited(&out, base, a) < 0) {
            goto done;
        }
        cursor = a->stop;
    }
    /* cursor == insert_at: the appended attributes, then the span's remaining fields */
    for (Py_ssize_t x = 0; x < PyTuple_GET_SIZE(appends); x++) {
        PyObject *item = PyTuple_GET_ITEM(appends, x), *key, *source = NULL;
        Py_ssize_t size = PyTuple_Check(item) ? PyTuple_GET_SIZE(item) : 0;
        if ((size != 2 && size != 3) || !PyUnicode_Check(PyTuple_GET_ITEM(item, 0)) ||
            (size == 3 && (PyTuple_GET_ITEM(item, 1) != Py_None ||
                           !PyUnicode_Check(PyTuple_GET_ITEM(item, 2))))) {
            PyErr_Format(PyExc_TypeError,
                         "edit_attributes appends[%zd] must be (key, value) or (key, None, source_key)", x);
            goto done;
        }
        key = PyTuple_GET_ITEM(item, 0);
        value = PyTuple_GET_ITEM(item, 1);
        if (size == 3) {
            source = PyTuple_GET_ITEM(item, 2);
            Attr *a = attrs_find(&attrs, source);
            if (a == NULL) {
                if (!PyErr_Occurred()) {
                    PyErr_Format(PyExc_ValueError, "edit_attributes appends[%zd]: no attribute %R to copy",
                                 x, source);
                }
                goto done;
            }
            const uint8_t *start = a->value_start ? a->value_start : a->kv_start; /* absent: empty */
            const uint8_t *stop = a->value_start ? a->value_stop : a->kv_start;
            if (encode_appended(&out, key, NULL, start, stop) < 0) {
                goto done;
            }
        }
        else if (encode_appended(&out, key, value, NULL, NULL) < 0) {
            goto done;
        }
    }
    for (Py_ssize_t x = 0; pending != NULL && x < PyList_GET_SIZE(pending); x++) {
        PyObject *pair = PyList_GET_ITEM(pending, x);
        if (encode_appended(&out, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1), NULL, NULL) < 0) {
            goto done;
        }
    }
    if (buf_put(&out, cursor, base + span.len - cursor) < 0) {
        goto done;
    }
    result = buf_bytes(&out);
done:
    buf_release(&out);
    for (Py_ssize_t x = 0; x < attrs.n; x++) {
        Py_XDECREF(attrs.attrs[x].edit);
    }
    PyMem_Free(attrs.attrs);
    Py_XDECREF(pending);
    Py_DECREF(appends);
    PyBuffer_Release(&span);
    return result;
}

/* ---- find_any: is one of a few byte strings in a buffer ---------------------------------------
 * Redaction asks of every LLM span whether it might hold a credential ("Bearer", "sk-") or the
 * redacted flag already; bytes.__contains__ took ~5 us on a 3 KB span. */

static const uint8_t *
find_bytes(const uint8_t *hay, Py_ssize_t hay_len, const uint8_t *needle, Py_ssize_t needle_len)
{
    if (needle_len == 0) {
        return hay;
    }
    if (needle_len > hay_len) {
        return NULL;
    }
    if (needle_len <= 8) {
        /* glibc's memmem walks a 3 KB span at ~2 GB/s for a short needle ("sk-": 1.2 us); memchr
         * runs at memory speed. Anchor on the needle's first byte that is not a lowercase letter,
         * digit or space (rarer in text: "B" of "Bearer", "-" of "sk-") and compare around it. */
        Py_ssize_t anchor = 0;
        for (Py_ssize_t x = 0; x < needle_len; x++) {
            uint8_t c = needle[x];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ')) {
                anchor = x;
                break;
            }
        }
        const uint8_t *p = hay + anchor, *last = hay + (hay_len - needle_len) + anchor;
        while (p <= last) {
            p = memchr(p, needle[anchor], (size_t)(last - p + 1));
            if (p == NULL) {
                return NULL;
            }
            if (memcmp(p - anchor, needle, (size_t)needle_len) == 0) {
                return p - anchor;
            }
            p++;
        }
        return NULL;
    }
#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__)
    return memmem(hay, (size_t)hay_len, needle, (size_t)needle_len);
#else
    const uint8_t *p = hay, *end = hay + hay_len;
    while (end - p >= needle_len) {
        p = memchr(p, needle[0], (size_t)(end - p - needle_len + 1));
        if (p == NULL) {
            return NULL;
        }
        if (memcmp(p, needle, (size_t)needle_len) == 0) {
            return p;
        }
        p++;
    }
    return NULL;
#endif
}

PyDoc_STRVAR(find_any_doc,
"find_any(data, needles, /) -> bool\n--\n\n"
"Whether any of the bytes objects in the tuple `needles` occurs in `data`.");

static PyObject *
find_any(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *needles, *result = NULL;
    if (fast_nargs("find_any", nargs, 2, 2) < 0 || fast_type("find_any", 2, args[1], &PyTuple_Type) < 0 ||
        fast_buffer(args[0], &data) < 0) {
        return NULL;
    }
    needles = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(needles);
    for (Py_ssize_t x = 0; x < n; x++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(needles, x))) {
            PyErr_Format(PyExc_TypeError, "find_any needles must be bytes, not %s",
                         Py_TYPE(PyTuple_GET_ITEM(needles, x))->tp_name);
            goto done;
        }
    }
    result = Py_False;
    for (Py_ssize_t x = 0; x < n; x++) {
        PyObject *needle = PyTuple_GET_ITEM(needles, x);
        if (find_bytes((const uint8_t *)data.buf, data.len, (const uint8_t *)PyBytes_AS_STRING(needle),
                       PyBytes_GET_SIZE(needle)) != NULL) {
            result = Py_True;
            break;
        }
    }
    Py_INCREF(result);
done:
    PyBuffer_Release(&data);
    return result;
}

/* ---- plan_pairs: write-back's decisions as edits ----------------------------------------------- */

PyDoc_STRVAR(plan_pairs_doc,
"plan_pairs(keys, values, current, edits, appends, keep_original, write_over, /)\n\n"
"``_anyvalue.plan_attributes`` over parallel tuples of keys and values, ``None`` values left out:\n"
"a key ``current`` lacks is appended; an equal value of the same exact type (str, int, bool,\n"
"bytes, a non-zero float, a non-empty list of str) is left alone; anything else is decided by\n"
"``write_over(old, value, keep_original)`` (0 skip, 1 write, 2 back up the original, then write).");

static int
same_without_call(PyObject *old, PyObject *value)
{
    PyTypeObject *kind = Py_TYPE(value);
    if (Py_TYPE(old) != kind) {
        return 0;
    }
    if (kind == &PyFloat_Type) { /* by value: NaN is never equal, even to itself */
        double a = PyFloat_AS_DOUBLE(old);
        return a == PyFloat_AS_DOUBLE(value) && a != 0.0;
    }
    if (kind == &PyList_Type) {
        Py_ssize_t n = PyList_GET_SIZE(value);
        if (PyList_GET_SIZE(old) == 0) {
            return 0;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!PyUnicode_CheckExact(PyList_GET_ITEM(value, i))) {
                return 0;
            }
        }
    }
    else if (kind != &PyUnicode_Type && kind != &PyLong_Type && kind != &PyBool_Type &&
             kind != &PyBytes_Type) {
        return 0;
    }
    return PyObject_RichCompareBool(old, value, Py_EQ);
}

static PyObject *
plan_pairs(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *keys, *values, *current, *edits, *appends, *write_over;
    int keep_original;
    if (fast_nargs("plan_pairs", nargs, 7, 7) < 0 || fast_type("plan_pairs", 1, args[0], &PyTuple_Type) < 0 ||
        fast_type("plan_pairs", 2, args[1], &PyTuple_Type) < 0 ||
        fast_type("plan_pairs", 3, args[2], &PyDict_Type) < 0 ||
        fast_type("plan_pairs", 4, args[3], &PyDict_Type) < 0 ||
        fast_type("plan_pairs", 5, args[4], &PyList_Type) < 0 ||
        (keep_original = PyObject_IsTrue(args[5])) < 0) {
        return NULL;
    }
    keys = args[0];
    values = args[1];
    current = args[2];
    edits = args[3];
    appends = args[4];
    write_over = args[6];
    Py_ssize_t n = PyTuple_GET_SIZE(keys);
    if (PyTuple_GET_SIZE(values) != n) {
        PyErr_Format(PyExc_ValueError, "plan_pairs: %zd keys but %zd values", n, PyTuple_GET_SIZE(values));
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PyTuple_GET_ITEM(keys, i), *value = PyTuple_GET_ITEM(values, i);
        if (value == Py_None) {
            continue;
        }
        PyObject *old = PyDict_GetItemWithError(current, key); /* borrowed */
        if (old == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            PyObject *item = PyTuple_Pack(2, key, value);
            if (item == NULL || PyList_Append(appends, item) < 0) {
                Py_XDECREF(item);
                return NULL;
            }
            Py_DECREF(item);
            continue;
        }
        Py_INCREF(old); /* a comparison or write_over may run Python code */
        int same = same_without_call(old, value);
        long action = 0;
        if (same == 0) {
            PyObject *decided = PyObject_CallFunction(write_over, "OOO", old, value,
                                                      keep_original ? Py_True : Py_False);
            if (decided == NULL) {
                Py_DECREF(old);
                return NULL;
            }
            action = PyLong_AsLong(decided);
            Py_DECREF(decided);
            if (action == -1 && PyErr_Occurred()) {
                Py_DECREF(old);
                return NULL;
            }
        }
        Py_DECREF(old);
        if (same < 0) {
            return NULL;
        }
        if (action == 0) {
            continue;
        }
        if (action == 2) {
            if (!PyUnicode_Check(key)) {
                PyErr_Format(PyExc_TypeError, "can only concatenate str (not \"%s\") to str",
                             Py_TYPE(key)->tp_name);
                return NULL;
            }
            PyObject *name = PyUnicode_FromFormat("llmpulse.original.%U", key);
            PyObject *item = name == NULL ? NULL : PyTuple_Pack(3, name, Py_None, key);
            Py_XDECREF(name);
            if (item == NULL || PyList_Append(appends, item) < 0) {
                Py_XDECREF(item);
                return NULL;
            }
            Py_DECREF(item);
        }
        if (PyDict_SetItem(edits, key, value) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* ---- redaction_edits: which attributes redaction drops or masks --------------------------------- */

PyDoc_STRVAR(redaction_edits_doc,
"redaction_edits(flags, table, edits, masked, /) -> int\n\n"
"For each attribute i of a span (``flags[i]``, its key's flags from ``read_attributes``),\n"
"``table[flags[i]]`` says what redaction does: 0 nothing, 1 mask (``edits[i] = masked``),\n"
"2 drop (``edits[i] = None``). Returns how many attributes it set.");

static PyObject *
redaction_edits(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer flags, table;
    PyObject *edits, *masked, *result = NULL;
    if (fast_nargs("redaction_edits", nargs, 4, 4) < 0 ||
        fast_type("redaction_edits", 3, args[2], &PyDict_Type) < 0 || fast_buffer(args[0], &flags) < 0) {
        return NULL;
    }
    if (fast_buffer(args[1], &table) < 0) {
        PyBuffer_Release(&flags);
        return NULL;
    }
    edits = args[2];
    masked = args[3];
    Py_ssize_t changed = 0;
    if (table.len != 256) {
        PyErr_Format(PyExc_ValueError, "redaction_edits: the table must have 256 entries, not %zd", table.len);
        goto done;
    }
    const uint8_t *f = (const uint8_t *)flags.buf, *t = (const uint8_t *)table.buf;
    for (Py_ssize_t i = 0; i < flags.len; i++) {
        uint8_t action = t[f[i]];
        if (action == 0) {
            continue;
        }
        PyObject *index = PyLong_FromSsize_t(i);
        if (index == NULL) {
            goto done;
        }
        int failed = PyDict_SetItem(edits, index, action == 2 ? Py_None : masked);
        Py_DECREF(index);
        if (failed < 0) {
            goto done;
        }
        changed++;
    }
    result = PyLong_FromSsize_t(changed);
done:
    PyBuffer_Release(&flags);
    PyBuffer_Release(&table);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_spans", scan_spans, METH_VARARGS, scan_spans_doc},
    {"locate_spans", locate_spans, METH_VARARGS, locate_spans_doc},
    {"splice", splice, METH_VARARGS, splice_doc},
    {"find_any", (PyCFunction)(void (*)(void))find_any, METH_FASTCALL, find_any_doc},
    {"parents", parents, METH_VARARGS, parents_doc},
    {"check_traces", check_traces, METH_VARARGS, check_traces_doc},
    {"read_attributes", (PyCFunction)(void (*)(void))read_attributes, METH_FASTCALL, read_attributes_doc},
    {"read_span", (PyCFunction)(void (*)(void))read_span, METH_FASTCALL, read_span_doc},
    {"edit_attributes", (PyCFunction)(void (*)(void))edit_attributes, METH_FASTCALL, edit_attributes_doc},
    {"plan_pairs", (PyCFunction)(void (*)(void))plan_pairs, METH_FASTCALL, plan_pairs_doc},
    {"redaction_edits", (PyCFunction)(void (*)(void))redaction_edits, METH_FASTCALL, redaction_edits_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static int
module_clear(PyObject *module)
{
    keys_clear(PyModule_GetState(module));
    return 0;
}

static void
module_free(void *module)
{
    ModuleState *st = PyModule_GetState((PyObject *)module);
    if (st != NULL) {
        keys_clear(st);
        PyMem_Free(st->keys);
        st->keys = NULL;
    }
}

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "llmpulse.otlp._scan",
    .m_doc = "Native scanner of encoded OTLP trace requests (see llmpulse.otlp.scan).",
    .m_size = sizeof(ModuleState),
    .m_methods = methods,
    .m_slots = slots,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModuleDef_Init(&module_def);
}
