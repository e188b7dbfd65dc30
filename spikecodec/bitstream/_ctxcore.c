/* The ctx layout of .spk v2 (formats/spk-v2.md sections 4-6) in C: the context model and the range coder
 * in one pass over a clip, for issue 9's container budget (numpy plus one coder call per lockstep step cost
 * 0.4-1.2 ms a clip; this costs a few tens of microseconds).
 *
 * It is an accelerator, not a second definition: spikecodec/bitstream/ctx.py (numpy + constriction) is the
 * reference and the fallback when this module did not build, and tests/test_bitstream_ctx.py checks that
 * both write the same words.  The decoder here only has to be right on canonical codes: ctx.py accepts
 * its output only when re-encoding it gives back the very same words, and hands anything else to
 * constriction, whose verdict (and message) is the format's.
 *
 * No numpy headers: clips travel as buffers (bool/uint8 z, native uint32 words), so the build needs only a
 * C compiler and Python's own headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SEG 64        /* L, frames per segment */
#define PREC 24       /* the coder's probability bits */
#define ONE24 (1u << PREC)

static const uint64_t CELL_PRIOR[3] = {1, 8, 2};
static const uint64_t FLAG_PRIOR[3] = {2, 14, 8};

/* k(n, n1, a) = max(1, ((8 n1 + a) 2^16) // (8 n + 16)), then the coder's frequency of a zero. */
static inline uint32_t freq0(uint64_t n, uint64_t n1, uint64_t a)
{
    uint64_t k = ((8 * n1 + a) << 16) / (8 * n + 16);
    if (k < 1) k = 1;
    return (uint32_t)(((65536 - k) * (uint64_t)(ONE24 - 2)) >> 16) + 1;
}

/* ---- range encoder (section 6: 64-bit state, 32-bit words, constriction's carry handling and seal) ---- */
typedef struct {
    uint64_t lower, range;
    uint32_t *out;
    Py_ssize_t n;
    Py_ssize_t inv_num;   /* held ("inverted") words while a carry is unresolved; 0: none */
    uint32_t inv_first;
} Enc;

static inline void flush_inverted(Enc *e, int carry)
{
    e->out[e->n++] = carry ? e->inv_first + 1 : e->inv_first;
    for (Py_ssize_t i = 1; i < e->inv_num; i++) e->out[e->n++] = carry ? 0u : 0xFFFFFFFFu;
    e->inv_num = 0;
}

static inline void enc_bit(Enc *e, int bit, uint32_t f0)
{
    uint64_t scale = e->range >> PREC;
    uint64_t cum = bit ? f0 : 0, freq = bit ? (uint64_t)(ONE24 - f0) : f0;
    uint64_t new_lower = e->lower + scale * cum;
    e->range = scale * freq;
    if (e->inv_num && new_lower + e->range > new_lower) flush_inverted(e, new_lower < e->lower);
    e->lower = new_lower;
    if (e->range < ((uint64_t)1 << 32)) {
        e->range <<= 32;
        uint32_t word = (uint32_t)(e->lower >> 32);
        e->lower <<= 32;
        if (e->inv_num) e->inv_num++;
        else if (e->lower + e->range > e->lower) e->out[e->n++] = word;
        else { e->inv_num = 1; e->inv_first = word; }
    }
}

static void enc_seal(Enc *e)
{
    if (e->range == UINT64_MAX) return;
    uint64_t point = e->lower + 0xFFFFFFFFu;
    if (e->inv_num) flush_inverted(e, point < e->lower);
    e->out[e->n++] = (uint32_t)(point >> 32);
    if (((e->lower + e->range) >> 32) == (point >> 32)) e->out[e->n++] = 0;
}

/* ---- range decoder (constriction's decode_symbol; missing words read as 0) ---- */
typedef struct {
    uint64_t lower, range, point;
    const uint32_t *in;
    Py_ssize_t pos, len;
    int bad;
} Dec;

static inline uint32_t next_word(Dec *d) { return d->pos < d->len ? d->in[d->pos++] : 0; }

static inline int dec_bit(Dec *d, uint32_t f0)
{
    uint64_t scale = d->range >> PREC;
    uint64_t q = (d->point - d->lower) / scale;
    int bit;
    if (q >= ONE24) { d->bad = 1; q = 0; }
    bit = q >= f0;
    d->lower += scale * (bit ? f0 : 0);
    d->range = scale * (bit ? (uint64_t)(ONE24 - f0) : f0);
    if (d->range < ((uint64_t)1 << 32)) {
        d->lower <<= 32;
        d->range <<= 32;
        d->point = (d->point << 32) | next_word(d);
    }
    return bit;
}

/* ---- the model (section 5), shared by both directions: code(bit, f0) either writes or reads the bit ---- */
typedef struct {
    Enc *enc;
    Dec *dec;
} Coder;

static inline int code(Coder *c, int bit, uint32_t f0)
{
    if (c->enc) { enc_bit(c->enc, bit, f0); return bit; }
    return dec_bit(c->dec, f0);
}

/* z: N x T uint8 (read when encoding, written when decoding; zeroed by the caller for a decode).
 * Returns 0, or -1 when out of memory. */
static int run_model(Coder *c, uint8_t *z, Py_ssize_t N, Py_ssize_t T)
{
    Py_ssize_t S = (T + SEG - 1) / SEG;
    uint8_t *act = calloc((size_t)(S * N) + 1, 1);
    uint64_t *cnt = calloc((size_t)(12 * N) + 1, sizeof(uint64_t));  /* n, n1, dn, dn1 per (unit, context) */
    uint32_t *f0c = malloc((size_t)(3 * N) * sizeof(uint32_t) + 4);   /* each context's frequency this step */
    if (!act || !cnt || !f0c) { free(act); free(cnt); free(f0c); return -1; }
    uint64_t *n = cnt, *n1 = cnt + 3 * N, *dn = cnt + 6 * N, *dn1 = cnt + 9 * N;
    /* the counts change only between steps, so each context's division is done once per change, not per cell */
    for (Py_ssize_t i = 0; i < 3 * N; i++) f0c[i] = freq0(0, 0, CELL_PRIOR[i % 3]);

    if (c->enc)
        for (Py_ssize_t u = 0; u < N; u++)
            for (Py_ssize_t s = 0; s < S; s++) {
                Py_ssize_t t0 = s * SEG, t1 = t0 + SEG < T ? t0 + SEG : T;
                const uint8_t *row = z + u * T;
                for (Py_ssize_t t = t0; t < t1; t++)
                    if (row[t]) { act[s * N + u] = 1; break; }
            }

    /* stage 1: activity flags, counts shared by all units, updated per segment */
    uint64_t m[3] = {0, 0, 0}, m1[3] = {0, 0, 0};
    for (Py_ssize_t s = 0; s < S; s++) {
        uint32_t f0s[3];
        for (int f = 0; f < 3; f++) f0s[f] = freq0(m[f], m1[f], FLAG_PRIOR[f]);
        uint8_t *a = act + s * N;
        const uint8_t *prev = s ? act + (s - 1) * N : NULL;
        for (Py_ssize_t u = 0; u < N; u++) {
            int f = prev ? prev[u] : 2;
            a[u] = (uint8_t)code(c, a[u], f0s[f]);
        }
        for (Py_ssize_t u = 0; u < N; u++) {
            int f = prev ? prev[u] : 2;
            m[f]++;
            m1[f] += a[u];
        }
    }

    /* stage 2: cells of active segments, step j major; per (unit, context) counts updated per step */
    for (Py_ssize_t j = 0; j < SEG; j++) {
        int any = 0;
        for (Py_ssize_t s = 0; s < S; s++) {
            Py_ssize_t t = s * SEG + j;
            if (t >= T) break;
            const uint8_t *a = act + s * N;
            for (Py_ssize_t u = 0; u < N; u++) {
                if (!a[u]) continue;
                uint8_t *cell = z + u * T + t;
                int ctx = j ? cell[-1] : (s && act[(s - 1) * N + u] ? 2 : 0);
                Py_ssize_t i = 3 * u + ctx;
                int b = code(c, *cell, f0c[i]);
                *cell = (uint8_t)b;
                dn[i]++;
                dn1[i] += (uint64_t)b;
                any = 1;
            }
        }
        if (any)
            for (Py_ssize_t i = 0; i < 3 * N; i++)
                if (dn[i]) {
                    n[i] += dn[i];
                    n1[i] += dn1[i];
                    dn[i] = dn1[i] = 0;
                    f0c[i] = freq0(n[i], n1[i], CELL_PRIOR[i % 3]);
                }
    }
    free(act);
    free(cnt);
    free(f0c);
    return 0;
}

static int dims(Py_ssize_t N, Py_ssize_t T)
{
    if (N < 1 || T < 1 || N > (1 << 20) || T > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "ctx core: N and T out of range");
        return -1;
    }
    return 0;
}

/* encode(z, N, T) -> bytes of native uint32 words.  z: a buffer of N*T bytes, 0 or 1. */
static PyObject *ctx_encode(PyObject *self, PyObject *args)
{
    Py_buffer zb;
    Py_ssize_t N, T;
    if (!PyArg_ParseTuple(args, "y*nn", &zb, &N, &T)) return NULL;
    if (dims(N, T) || zb.len != N * T) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "ctx core: z is not N*T bytes");
        PyBuffer_Release(&zb);
        return NULL;
    }
    uint8_t *z = malloc((size_t)(N * T));
    Py_ssize_t S = (T + SEG - 1) / SEG, cap = S * N + N * T + 4;  /* at most one word per bit, plus the seal */
    uint32_t *out = malloc((size_t)cap * sizeof(uint32_t));
    if (!z || !out) { free(z); free(out); PyBuffer_Release(&zb); return PyErr_NoMemory(); }
    const uint8_t *src = zb.buf;
    for (Py_ssize_t i = 0; i < N * T; i++) z[i] = src[i] != 0;
    PyBuffer_Release(&zb);
    Enc e = {0, UINT64_MAX, out, 0, 0, 0};
    Coder c = {&e, NULL};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = run_model(&c, z, N, T);
    if (!rc) enc_seal(&e);
    Py_END_ALLOW_THREADS
    free(z);
    if (rc) { free(out); return PyErr_NoMemory(); }
    PyObject *res = PyBytes_FromStringAndSize((const char *)out, e.n * (Py_ssize_t)sizeof(uint32_t));
    free(out);
    return res;
}

/* decode(words, N, T) -> bytes of N*T (0 or 1), or None when the coder met data no encoder writes.
 * Exactly the model's bits are read, so it never loops on hostile input; the caller checks canonicity. */
static PyObject *ctx_decode(PyObject *self, PyObject *args)
{
    Py_buffer wb;
    Py_ssize_t N, T;
    if (!PyArg_ParseTuple(args, "y*nn", &wb, &N, &T)) return NULL;
    if (dims(N, T) || wb.len % 4) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "ctx core: words are not whole uint32s");
        PyBuffer_Release(&wb);
        return NULL;
    }
    PyObject *res = PyBytes_FromStringAndSize(NULL, N * T);
    if (!res) { PyBuffer_Release(&wb); return NULL; }
    uint8_t *z = (uint8_t *)PyBytes_AS_STRING(res);
    memset(z, 0, (size_t)(N * T));
    Dec d = {0, UINT64_MAX, 0, wb.buf, 0, wb.len / 4, 0};
    d.point = (uint64_t)next_word(&d) << 32;
    d.point |= next_word(&d);
    Coder c = {NULL, &d};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = run_model(&c, z, N, T);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&wb);
    if (rc) { Py_DECREF(res); return PyErr_NoMemory(); }
    if (d.bad) { Py_DECREF(res); Py_RETURN_NONE; }
    return res;
}

static PyMethodDef methods[] = {
    {"encode", ctx_encode, METH_VARARGS, "encode(z, N, T) -> bytes: the ctx words (native uint32) of clip z."},
    {"decode", ctx_decode, METH_VARARGS, "decode(words, N, T) -> bytes of z, or None on data no encoder writes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ctxcore", "The ctx layout's model and coder in C.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__ctxcore(void) { return PyModule_Create(&module); }
