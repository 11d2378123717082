/* SPDX-License-Identifier: Apache-2.0 */
/* grndpool._grndpool: the C half of the Python module. Each function is a
 * METH_FASTCALL C function that Python calls directly (no Python frame in
 * between): the public grndpool.token_bytes is this module's token_bytes.
 * Nothing is buffered here: every byte comes from grndpool_buf() at the call,
 * so the module is exactly as fork- and reseed-safe as the library. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <grndpool/grndpool.h>
#include <string.h>

/* secrets.DEFAULT_ENTROPY: the size of a token when none is asked for. */
#define DEFAULT_ENTROPY 32

/* Reads the optional nbytes argument (None or absent: DEFAULT_ENTROPY);
 * -1 with an exception set when it is not a non-negative int. */
static Py_ssize_t NBytes(PyObject *const *args, Py_ssize_t nargs, const char *fname) {
  if (nargs > 1) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", fname, nargs);
    return -1;
  }
  if (nargs == 0 || args[0] == Py_None) return DEFAULT_ENTROPY;
  Py_ssize_t n = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
  if (n == -1 && PyErr_Occurred()) return -1;
  if (n < 0) {
    PyErr_SetString(PyExc_ValueError, "negative argument not allowed");
    return -1;
  }
  return n;
}

static PyObject *TokenBytes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  (void)self;
  const Py_ssize_t n = NBytes(args, nargs, "token_bytes");
  if (n < 0) return NULL;
  PyObject *out = PyBytes_FromStringAndSize(NULL, n);
  if (out != NULL) grndpool_buf(PyBytes_AS_STRING(out), (size_t)n);
  return out;
}

static PyObject *TokenHex(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  (void)self;
  static const char kHex[] = "0123456789abcdef";
  const Py_ssize_t n = NBytes(args, nargs, "token_hex");
  if (n < 0) return NULL;
  if (n > PY_SSIZE_T_MAX / 2) return PyErr_NoMemory();
  PyObject *out = PyUnicode_New(2 * n, 127);
  if (out == NULL) return NULL;
  Py_UCS1 *hex = PyUnicode_1BYTE_DATA(out);
  unsigned char chunk[256];
  for (Py_ssize_t done = 0; done < n;) {
    const size_t take = (size_t)(n - done) < sizeof chunk ? (size_t)(n - done) : sizeof chunk;
    grndpool_buf(chunk, take);
    for (size_t i = 0; i < take; ++i) {
      hex[2 * (done + (Py_ssize_t)i)] = (Py_UCS1)kHex[chunk[i] >> 4];
      hex[2 * (done + (Py_ssize_t)i) + 1] = (Py_UCS1)kHex[chunk[i] & 15];
    }
    done += (Py_ssize_t)take;
  }
  explicit_bzero(chunk, sizeof chunk);
  return out;
}

/* base64url without padding, as secrets.token_urlsafe. */
static PyObject *TokenUrlsafe(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  (void)self;
  static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const Py_ssize_t n = NBytes(args, nargs, "token_urlsafe");
  if (n < 0) return NULL;
  if (n > PY_SSIZE_T_MAX / 2) return PyErr_NoMemory();
  const Py_ssize_t chars = (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
  PyObject *out = PyUnicode_New(chars, 127);
  if (out == NULL) return NULL;
  Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
  unsigned char chunk[255]; /* a multiple of 3: groups never straddle chunks */
  Py_ssize_t at = 0;
  for (Py_ssize_t done = 0; done < n;) {
    const size_t take = (size_t)(n - done) < sizeof chunk ? (size_t)(n - done) : sizeof chunk;
    grndpool_buf(chunk, take);
    for (size_t i = 0; i < take; i += 3) {
      const size_t left = take - i;
      const unsigned v = (unsigned)chunk[i] << 16 | (left > 1 ? (unsigned)chunk[i + 1] << 8 : 0) |
                         (left > 2 ? chunk[i + 2] : 0);
      o[at++] = (Py_UCS1)kB64[v >> 18];
      o[at++] = (Py_UCS1)kB64[(v >> 12) & 63];
      if (left > 1) o[at++] = (Py_UCS1)kB64[(v >> 6) & 63];
      if (left > 2) o[at++] = (Py_UCS1)kB64[v & 63];
    }
    done += (Py_ssize_t)take;
  }
  explicit_bzero(chunk, sizeof chunk);
  return out;
}

/* A non-negative int of k random bits (random.getrandbits semantics). */
static PyObject *RandBitsK(Py_ssize_t k) {
  if (k <= 64) {
    uint64_t v = k == 0 ? 0 : grndpool_u64() >> (64 - k);
    return PyLong_FromUnsignedLongLong(v);
  }
  const size_t n = ((size_t)k + 7) / 8;
  unsigned char *buf = PyMem_Malloc(n);
  if (buf == NULL) return PyErr_NoMemory();
  grndpool_buf(buf, n);
  if (k % 8 != 0) buf[n - 1] &= (unsigned char)((1u << (k % 8)) - 1); /* little-endian: top byte */
  PyObject *out = _PyLong_FromByteArray(buf, n, 1, 0);
  explicit_bzero(buf, n);
  PyMem_Free(buf);
  return out;
}

static PyObject *RandBits(PyObject *self, PyObject *arg) {
  (void)self;
  const Py_ssize_t k = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
  if (k == -1 && PyErr_Occurred()) return NULL;
  if (k < 0) {
    PyErr_SetString(PyExc_ValueError, "number of bits must be non-negative");
    return NULL;
  }
  return RandBitsK(k);
}

/* Uniform in [0, bound), unbiased: grndpool_uniform below 2**32, otherwise
 * rejection sampling on bound.bit_length() bits (what random.Random does). */
static PyObject *RandBelow(PyObject *self, PyObject *arg) {
  (void)self;
  if (!PyLong_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "randbelow() wants an int, not %.100s", Py_TYPE(arg)->tp_name);
    return NULL;
  }
  int overflow = 0;
  const long long small = PyLong_AsLongLongAndOverflow(arg, &overflow);
  if (small == -1 && PyErr_Occurred()) return NULL;
  if (overflow < 0 || (overflow == 0 && small <= 0)) {
    PyErr_SetString(PyExc_ValueError, "Upper bound must be positive.");
    return NULL;
  }
  if (overflow == 0 && small <= (long long)UINT32_MAX)
    return PyLong_FromUnsignedLong(grndpool_uniform((uint32_t)small));
  const size_t bits = _PyLong_NumBits(arg);
  if (bits == (size_t)-1 && PyErr_Occurred()) return NULL;
  for (;;) {
    PyObject *r = RandBitsK((Py_ssize_t)bits);
    if (r == NULL) return NULL;
    const int below = PyObject_RichCompareBool(r, arg, Py_LT);
    if (below == 1) return r;
    Py_DECREF(r);
    if (below < 0) return NULL;
  }
}

/* A float in [0, 1) with 53 random bits, as random.SystemRandom.random. */
static PyObject *Random(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  return PyFloat_FromDouble((double)(grndpool_u64() >> 11) * 0x1.0p-53);
}

static PyObject *Describe(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  return PyUnicode_FromString(grndpool_describe());
}

static PyObject *Stats(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  struct grndpool_stats s;
  memset(&s, 0, sizeof s);
  s.size = sizeof s;
  grndpool_get_stats(&s);
  PyObject *d = PyDict_New();
  if (d == NULL) return NULL;
#define GRNDPOOL_PY_FIELD(name, help)                          \
  {                                                            \
    PyObject *v = PyLong_FromUnsignedLongLong(s.name);         \
    if (v == NULL || PyDict_SetItemString(d, #name, v) != 0) { \
      Py_XDECREF(v);                                           \
      Py_DECREF(d);                                            \
      return NULL;                                             \
    }                                                          \
    Py_DECREF(v);                                              \
  }
  GRNDPOOL_COUNTERS(GRNDPOOL_PY_FIELD)
#undef GRNDPOOL_PY_FIELD
  return d;
}

static PyMethodDef kMethods[] = {
    {"token_bytes", (PyCFunction)(void (*)(void))TokenBytes, METH_FASTCALL,
     "token_bytes(nbytes=None) -> bytes: nbytes random bytes (32 when None)."},
    {"token_hex", (PyCFunction)(void (*)(void))TokenHex, METH_FASTCALL,
     "token_hex(nbytes=None) -> str: nbytes random bytes in hex (32 when None)."},
    {"token_urlsafe", (PyCFunction)(void (*)(void))TokenUrlsafe, METH_FASTCALL,
     "token_urlsafe(nbytes=None) -> str: nbytes random bytes, base64url, no padding."},
    {"randbits", RandBits, METH_O, "randbits(k) -> int with k random bits."},
    {"randbelow", RandBelow, METH_O, "randbelow(n) -> int uniform in [0, n), n > 0."},
    {"random", Random, METH_NOARGS, "random() -> float uniform in [0.0, 1.0), 53 bits."},
    {"describe", Describe, METH_NOARGS, "describe() -> str: grndpool_describe()."},
    {"stats", Stats, METH_NOARGS, "stats() -> dict: grndpool_stats() counters."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT,
    "grndpool._grndpool",
    "grndpool's draws for Python: the functions behind the grndpool package.",
    -1,
    kMethods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__grndpool(void) {
  return PyModule_Create(&kModule);
}
