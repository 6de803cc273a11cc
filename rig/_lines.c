/* rig._lines: the byte scan under `rig parse` of a night's unified log (see rig/line_scan.py).
 *
 * Why C: a night's export is ~1 GB of which ~5 % matters. In Python the scan is four passes over
 * every byte (numpy for the newlines, a gather for the line openings, one bytes.find per needle)
 * and costs ~1 s of CPU per 760 MB, more than reading the file. Here it is one pass (~0.2 s):
 * each 16-byte vector is compared with '\n' and with each needle's two rarest bytes (at their
 * offsets in the needle); only the rare vectors where something matched are looked at lane by
 * lane (a newline ends a line, whose shape is checked; a needle match is confirmed by memcmp).
 * The vectors are GCC/clang's portable vector extensions: SSE2 on x86-64, NEON on arm64 (a
 * 32-byte AVX2 build measured no faster here).
 *
 * clean_lines() is a drop-in for rig.line_scan.clean_lines_numpy: the same answer for every
 * input (the tests compare the two). It only reads the buffer, so the caller's mmap can be
 * closed after the call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_NEEDLES 16
#define LANES 16
#define SAMPLE 4096   /* bytes whose byte frequencies pick each needle's anchors */

typedef uint8_t vec __attribute__((vector_size(LANES)));

typedef struct {
    const uint8_t *bytes;
    Py_ssize_t len;
    Py_ssize_t at[2];   /* the two offsets whose bytes the vector compare looks for */
} needle_t;

typedef struct {
    needle_t nd[MAX_NEEDLES];
    int n;
    Py_ssize_t longest;
} needles_t;

/* What one scan of a segment found: line ends, the candidate lines, the shape verdicts. */
typedef struct {
    Py_ssize_t *ends, count, cap;     /* position of each line's newline */
    Py_ssize_t *cand, ncand;          /* indices of candidate lines, ascending */
    Py_ssize_t width;                 /* length of the first line's `{"key":`, -1 if none */
    int compact;
} lines_t;

static inline vec load(const uint8_t *p) {
    vec v;
    memcpy(&v, p, LANES);
    return v;
}

static inline int any_lane(vec x) {
    uint64_t w[LANES / 8], acc = 0;
    memcpy(w, &x, LANES);
    for (int k = 0; k < LANES / 8; k++)
        acc |= w[k];
    return acc != 0;
}

/* One bit per lane of a compare result (0x00/0xFF bytes), lane 0 lowest: the portable form of
 * x86's movemask (each byte's top bit is gathered into the top byte of a 64-bit product). */
static inline uint32_t lane_bits(vec x) {
    uint64_t w[LANES / 8];
    uint32_t m = 0;
    memcpy(w, &x, LANES);
    for (int k = 0; k < LANES / 8; k++)
        m |= (uint32_t)(((w[k] & 0x8080808080808080ULL) * 0x0002040810204081ULL) >> 56) << (8 * k);
    return m;
}

static inline int needle_at(const uint8_t *p, Py_ssize_t i, Py_ssize_t to, const needles_t *ns) {
    for (int j = 0; j < ns->n; j++) {
        const needle_t *nd = &ns->nd[j];
        if (i + nd->len <= to && memcmp(p + i, nd->bytes, (size_t)nd->len) == 0)
            return 1;
    }
    return 0;
}

/* Each needle is looked for by its two rarest bytes in a sample of the text (its first and last
 * byte would do for prose, but in JSON both are often '"'): a false match costs a memcmp. */
static void choose_anchors(needles_t *ns, const uint8_t *sample, Py_ssize_t n) {
    uint32_t freq[256] = {0};
    for (Py_ssize_t i = 0; i < n; i++)
        freq[sample[i]]++;
    for (int j = 0; j < ns->n; j++) {
        needle_t *nd = &ns->nd[j];
        Py_ssize_t best = 0, second = nd->len > 1 ? 1 : 0;
        if (freq[nd->bytes[second]] < freq[nd->bytes[best]]) {
            best = second;
            second = 0;
        }
        for (Py_ssize_t i = 2; i < nd->len; i++) {
            uint32_t f = freq[nd->bytes[i]];
            if (f < freq[nd->bytes[best]]) {
                second = best;
                best = i;
            } else if (f < freq[nd->bytes[second]]) {
                second = i;
            }
        }
        nd->at[0] = best;
        nd->at[1] = second;
    }
}

static int load_needles(PyObject *seq, needles_t *ns, const uint8_t *sample, Py_ssize_t n) {
    PyObject *fast = PySequence_Fast(seq, "needles must be a sequence of bytes");
    if (fast == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (count > MAX_NEEDLES) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "too many needles");
        return -1;
    }
    ns->longest = 1;
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *b = PySequence_Fast_GET_ITEM(fast, j);
        if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) == 0) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_TypeError, "a needle must be non-empty bytes");
            return -1;
        }
        /* the caller's sequence keeps the bytes alive for the call */
        ns->nd[j].bytes = (const uint8_t *)PyBytes_AS_STRING(b);
        ns->nd[j].len = PyBytes_GET_SIZE(b);
        if (ns->nd[j].len > ns->longest)
            ns->longest = ns->nd[j].len;
    }
    ns->n = (int)count;
    Py_DECREF(fast);
    choose_anchors(ns, sample, n);
    return 0;
}

static int push(Py_ssize_t **arr, Py_ssize_t *len, Py_ssize_t *cap, Py_ssize_t v) {
    if (*len == *cap) {
        Py_ssize_t *grown = PyMem_Realloc(*arr, (size_t)(*cap * 2) * sizeof **arr);
        if (grown == NULL)
            return -1;
        *arr = grown;
        *cap *= 2;
    }
    (*arr)[(*len)++] = v;
    return 0;
}

enum { LINE_OK = 0, NOT_CLEAN = 1, NO_MEMORY = 2 };

/* One line [s, e) ended by the newline at e: its shape, and whether it is a candidate. */
static inline int end_line(lines_t *L, const uint8_t *p, Py_ssize_t lo, Py_ssize_t s, Py_ssize_t e,
                           int hit, Py_ssize_t shortest, Py_ssize_t *cand_cap) {
    if (e - s < 2 || p[s] != '{' || p[e - 1] != '}')
        return NOT_CLEAN;
    if (L->compact) {
        Py_ssize_t w = L->width;
        uint8_t after = e - s > w ? p[s + w] : '\n';
        if (e - s <= w || memcmp(p + s, p + lo, (size_t)w) != 0
                || after == ' ' || after == '\t' || after == '\r')
            L->compact = 0;
    }
    if ((hit || e - s < shortest) && push(&L->cand, &L->ncand, cand_cap, L->count) < 0)
        return NO_MEMORY;
    if (push(&L->ends, &L->count, &L->cap, e) < 0)
        return NO_MEMORY;
    return LINE_OK;
}

/* The one pass over [lo, hi): lines and their shapes, and the lines that hold a needle. */
static int
scan(const uint8_t *p, Py_ssize_t lo, Py_ssize_t hi, const needles_t *ns, Py_ssize_t shortest,
          lines_t *L, Py_ssize_t *cand_cap) {
    vec want0[MAX_NEEDLES], want1[MAX_NEEDLES];
    for (int j = 0; j < ns->n; j++) {
        want0[j] = (vec){0} + ns->nd[j].bytes[ns->nd[j].at[0]];
        want1[j] = (vec){0} + ns->nd[j].bytes[ns->nd[j].at[1]];
    }
    const vec newline = (vec){0} + '\n';
    Py_ssize_t s = lo, i = lo;
    int hit = 0, r;
    for (; i + LANES + ns->longest - 1 <= hi; i += LANES) {
        vec nl = (vec)(load(p + i) == newline), found = (vec){0};
        for (int j = 0; j < ns->n; j++)
            found |= (vec)(load(p + i + ns->nd[j].at[0]) == want0[j])
                   & (vec)(load(p + i + ns->nd[j].at[1]) == want1[j]);
        if (!any_lane(nl | found))
            continue;
        uint32_t lines = lane_bits(nl), needles = lane_bits(found);
        while (lines | needles) {          /* the events of this vector, in byte order */
            int lane = __builtin_ctz(lines | needles);
            uint32_t bit = 1u << lane;
            if ((needles & bit) && !hit)
                hit = needle_at(p, i + lane, hi, ns);
            if (lines & bit) {
                if ((r = end_line(L, p, lo, s, i + lane, hit, shortest, cand_cap)) != LINE_OK)
                    return r;
                s = i + lane + 1;
                hit = 0;
            }
            lines &= ~bit;
            needles &= ~bit;
        }
    }
    for (; i < hi; i++) {
        if (!hit)
            hit = needle_at(p, i, hi, ns);
        if (p[i] == '\n') {
            if ((r = end_line(L, p, lo, s, i, hit, shortest, cand_cap)) != LINE_OK)
                return r;
            s = i + 1;
            hit = 0;
        }
    }
    return LINE_OK;
}

/* clean_lines(block, lo, hi, compact_needles, needles, short)
 *
 * The lines of block[lo:hi] (hi is just after a newline). None unless every line is `{...}`
 * (at least two bytes). Else (count, compact, hits): `compact` when every line opens with the
 * first line's `{"key":` followed by no blank (what `log` writes); hits = (index, start, end) of
 * each line, in order, that contains one of `compact_needles` (when compact) or `needles` (when
 * not), or is shorter than `short` bytes.
 */
static PyObject *clean_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t lo, hi, shortest;
    PyObject *compact_seq, *bare_seq;
    if (!PyArg_ParseTuple(args, "y*nnOOn", &view, &lo, &hi, &compact_seq, &bare_seq, &shortest))
        return NULL;
    PyObject *result = NULL, *hits = NULL;
    const uint8_t *p = (const uint8_t *)view.buf;
    Py_ssize_t cand_cap = 64;
    lines_t L = {.cap = (hi - lo) / 256 + 16, .width = -1};
    needles_t ns;
    if (lo < 0 || hi > view.len || lo >= hi || p[hi - 1] != '\n') {
        PyErr_SetString(PyExc_ValueError, "block[lo:hi] must be whole lines");
        goto done;
    }
    L.ends = PyMem_Malloc((size_t)L.cap * sizeof *L.ends);
    L.cand = PyMem_Malloc((size_t)cand_cap * sizeof *L.cand);
    if (L.ends == NULL || L.cand == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (hi - lo > 2 && p[lo + 1] == '"') {
        Py_ssize_t limit = lo + 64 < hi ? lo + 64 : hi;
        for (Py_ssize_t i = lo; i + 1 < limit; i++)
            if (p[i] == '"' && p[i + 1] == ':') {
                L.width = i + 2 - lo;   /* {"key": */
                L.compact = 1;
                break;
            }
    }
    Py_ssize_t sample = hi - lo < SAMPLE ? hi - lo : SAMPLE;
    /* one pass assuming the segment is compact (what `log` writes); a segment that turns out
     * not to be is searched again for the bare needles */
    if (load_needles(compact_seq, &ns, p + lo, sample) < 0)
        goto done;
    int r = scan(p, lo, hi, &ns, shortest, &L, &cand_cap);
    if (r == LINE_OK && !L.compact) {
        if (load_needles(bare_seq, &ns, p + lo, sample) < 0)
            goto done;
        L.count = L.ncand = 0;
        r = scan(p, lo, hi, &ns, shortest, &L, &cand_cap);
    }
    if (r == NOT_CLEAN) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (r == NO_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    hits = PyList_New(L.ncand);
    if (hits == NULL)
        goto done;
    for (Py_ssize_t c = 0; c < L.ncand; c++) {
        Py_ssize_t k = L.cand[c];
        PyObject *t = Py_BuildValue("(nnn)", k, k ? L.ends[k - 1] + 1 : lo, L.ends[k]);
        if (t == NULL)
            goto done;
        PyList_SET_ITEM(hits, c, t);
    }
    result = Py_BuildValue("(nOO)", L.count, L.compact ? Py_True : Py_False, hits);

done:
    Py_XDECREF(hits);
    PyMem_Free(L.ends);
    PyMem_Free(L.cand);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"clean_lines", clean_lines, METH_VARARGS,
     "clean_lines(block, lo, hi, compact_needles, needles, short) -> None | (count, compact, hits)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rig._lines", "The byte scan under rig parse (see rig/line_scan.py).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__lines(void) {
    return PyModule_Create(&module);
}
