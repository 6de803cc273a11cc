/* rig._lines: the byte scan under `rig parse` of a night's unified log (see rig/unified_log.py).
 *
 * Why C: a night's export is ~1 GB of which ~5 % matters. In Python the scan is four passes over
 * every byte (numpy for the newlines, a gather for the line openings, one bytes.find per needle)
 * and costs ~1 s of CPU per 760 MB, twice what reading the file costs. Here it is two passes over
 * a segment that stays in the CPU's cache: the lines (memchr, and the shape checks per line),
 * then all needles at once (a 16-byte vector compares each needle's first and last byte, the
 * rare positions where both match are confirmed with memcmp): ~0.2 s per 760 MB.
 *
 * The function is a drop-in for the numpy path of rig.unified_log (same answer for every input;
 * the tests compare the two), and it only reads the buffer: the caller's mmap can be closed
 * after the call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_NEEDLES 16
#define LANES 16

typedef uint8_t v16 __attribute__((vector_size(LANES)));

typedef struct {
    const uint8_t *bytes;
    Py_ssize_t len;
    Py_ssize_t at[2];   /* the two offsets whose bytes the vector compare looks for */
} needle_t;

static inline v16 load16(const uint8_t *p) {
    v16 v;
    memcpy(&v, p, LANES);
    return v;
}

static inline int any_lane(v16 x) {
    uint64_t a, b;
    memcpy(&a, &x, 8);
    memcpy(&b, (const uint8_t *)&x + 8, 8);
    return (a | b) != 0;
}

static inline int needle_at(const uint8_t *p, Py_ssize_t i, Py_ssize_t to, const needle_t *nd) {
    return i + nd->len <= to && memcmp(p + i, nd->bytes, (size_t)nd->len) == 0;
}

/* Each needle is looked for by its two rarest bytes in a sample of the text (its first and last
 * byte would do for prose, but in JSON both are often '"'): a false match costs a memcmp. */
static void choose_anchors(needle_t *nds, int nn, const uint8_t *sample, Py_ssize_t n) {
    uint32_t freq[256] = {0};
    for (Py_ssize_t i = 0; i < n; i++)
        freq[sample[i]]++;
    for (int j = 0; j < nn; j++) {
        needle_t *nd = &nds[j];
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

/* The first position in [from, to) where any needle starts and fits before `to`; -1 if none. */
static Py_ssize_t find_any(const uint8_t *p, Py_ssize_t from, Py_ssize_t to,
                           const needle_t *nds, int nn, Py_ssize_t longest) {
    v16 want0[MAX_NEEDLES], want1[MAX_NEEDLES];
    for (int j = 0; j < nn; j++) {
        want0[j] = (v16){0} + nds[j].bytes[nds[j].at[0]];
        want1[j] = (v16){0} + nds[j].bytes[nds[j].at[1]];
    }
    Py_ssize_t i = from;
    for (; i + LANES + longest - 1 <= to; i += LANES) {
        v16 hit = (v16){0};
        for (int j = 0; j < nn; j++)
            hit |= (v16)(load16(p + i + nds[j].at[0]) == want0[j])
                 & (v16)(load16(p + i + nds[j].at[1]) == want1[j]);
        if (!any_lane(hit))
            continue;
        for (int lane = 0; lane < LANES; lane++) {
            if (!hit[lane])
                continue;
            for (int j = 0; j < nn; j++)
                if (needle_at(p, i + lane, to, &nds[j]))
                    return i + lane;
        }
    }
    for (; i < to; i++)
        for (int j = 0; j < nn; j++)
            if (needle_at(p, i, to, &nds[j]))
                return i;
    return -1;
}

static int load_needles(PyObject *seq, needle_t *nds, int *nn, Py_ssize_t *longest) {
    PyObject *fast = PySequence_Fast(seq, "needles must be a sequence of bytes");
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > MAX_NEEDLES) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "too many needles");
        return -1;
    }
    *longest = 1;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *b = PySequence_Fast_GET_ITEM(fast, j);
        if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) == 0) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_TypeError, "a needle must be non-empty bytes");
            return -1;
        }
        /* the tuple keeps the bytes alive for the call (the caller holds the tuple) */
        nds[j].bytes = (const uint8_t *)PyBytes_AS_STRING(b);
        nds[j].len = PyBytes_GET_SIZE(b);
        if (nds[j].len > *longest)
            *longest = nds[j].len;
    }
    *nn = (int)n;
    Py_DECREF(fast);
    return 0;
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
    Py_ssize_t *ends = NULL;
    const uint8_t *p = (const uint8_t *)view.buf;
    if (lo < 0 || hi > view.len || lo >= hi || p[hi - 1] != '\n') {
        PyErr_SetString(PyExc_ValueError, "block[lo:hi] must be whole lines");
        goto done;
    }

    /* pass 1: the lines, their shape, and the opening every compact line shares */
    Py_ssize_t cap = (hi - lo) / 256 + 16, count = 0;
    ends = PyMem_Malloc((size_t)cap * sizeof *ends);
    if (ends == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t width = -1;
    int compact = 0;
    if (hi - lo > 2 && p[lo + 1] == '"') {
        Py_ssize_t limit = lo + 64 < hi ? lo + 64 : hi;
        for (Py_ssize_t i = lo; i + 1 < limit; i++)
            if (p[i] == '"' && p[i + 1] == ':') {
                width = i + 2 - lo;   /* {"key": */
                compact = 1;
                break;
            }
    }
    for (Py_ssize_t s = lo; s < hi;) {
        const uint8_t *nl = memchr(p + s, '\n', (size_t)(hi - s));
        Py_ssize_t e = nl - p;
        if (e - s < 2 || p[s] != '{' || p[e - 1] != '}') {
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
        if (compact) {
            uint8_t after = e - s > width ? p[s + width] : '\n';
            if (e - s <= width || memcmp(p + s, p + lo, (size_t)width) != 0
                    || after == ' ' || after == '\t' || after == '\r')
                compact = 0;
        }
        if (count == cap) {
            Py_ssize_t *grown = PyMem_Realloc(ends, (size_t)(cap *= 2) * sizeof *ends);
            if (grown == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            ends = grown;
        }
        ends[count++] = e;
        s = e + 1;
    }

    /* pass 2: the lines a needle hits, merged in order with the short lines */
    needle_t nds[MAX_NEEDLES];
    int nn;
    Py_ssize_t longest;
    if (load_needles(compact ? compact_seq : bare_seq, nds, &nn, &longest) < 0)
        goto done;
    choose_anchors(nds, nn, p + lo, hi - lo < 16384 ? hi - lo : 16384);
    hits = PyList_New(0);
    if (hits == NULL)
        goto done;
    Py_ssize_t next = nn ? find_any(p, lo, hi, nds, nn, longest) : -1;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t s = k ? ends[k - 1] + 1 : lo, e = ends[k];
        int hit = e - s < shortest;
        if (next >= 0 && next < e) {
            hit = 1;
            next = find_any(p, e + 1, hi, nds, nn, longest);
        }
        if (!hit)
            continue;
        PyObject *t = Py_BuildValue("(nnn)", k, s, e);
        if (t == NULL || PyList_Append(hits, t) < 0) {
            Py_XDECREF(t);
            goto done;
        }
        Py_DECREF(t);
    }
    result = Py_BuildValue("(nOO)", count, compact ? Py_True : Py_False, hits);

done:
    Py_XDECREF(hits);
    PyMem_Free(ends);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"clean_lines", clean_lines, METH_VARARGS,
     "clean_lines(block, lo, hi, compact_needles, needles, short) -> None | (count, compact, hits)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rig._lines", "The byte scan under rig parse (see rig/unified_log.py).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__lines(void) {
    return PyModule_Create(&module);
}
