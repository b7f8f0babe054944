/* llmpulse.normalise._fields: the dialect table read of one span (``_recognise._read_fields``).
 *
 * Why: every LLM span walks its dialect's plan (tens of fields, each a list of sources) and parses
 * what it finds; in CPython the loop itself cost more than the few values it keeps. Here the plan
 * is walked in C: a plain attribute source is one dict lookup, and the values the dialects send
 * nearly always (an int token count, a clean model name, a float of seconds, a bool) are taken
 * without calling back into Python. Everything else (strings with spaces or "-", numbers as
 * text, lists, structured attributes, sources that read other facts of the span) goes to the
 * same Python parser or reader as before, so the result is the Python loop's, value for value
 * (tests/normalise/test_fields.py holds the two to it).
 *
 * The plan: a tuple of fields ``(name, parse, code, steps)``; ``code`` says which fast path
 * ``parse`` has (0 none, 1 int, 2 str, 3 float, 4 bool, 5 list of str); each step is
 * ``(how, key, source, scale, implies_streaming, needs)`` with ``how`` 0 for a plain attribute
 * and ``needs`` the attributes without which any other source reads nothing (``None``: it reads
 * other facts of the span), so an absent source costs a dict lookup, not a call. ``how`` 3 is a
 * source that reads the span's events: skipped when ``view.events`` is empty (most spans).
 *
 * Beside it, ``untracked``: the one thing dedup needs in C (see there).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

enum { PARSE_OTHER = 0, PARSE_INT = 1, PARSE_STR = 2, PARSE_FLOAT = 3, PARSE_BOOL = 4, PARSE_STRS = 5 };

/* set once by configure(): the values of llmpulse.normalise._values */
static PyObject *missing = NULL; /* frozenset of strings meaning "not set" */
static PyObject *events_name = NULL; /* "events", the view's attribute an event source reads */
enum { HOW_ATTR = 0, HOW_EVENTS = 3 };
static long long max_tokens = 0;
static Py_ssize_t max_label_chars = 0;
static double max_float = 0.0;

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *set;
    if (!PyArg_ParseTuple(args, "O!Lnd:configure", &PyFrozenSet_Type, &set, &max_tokens,
                          &max_label_chars, &max_float)) {
        return NULL;
    }
    Py_INCREF(set);
    Py_XSETREF(missing, set);
    Py_RETURN_NONE;
}

/* as_str on an exact str: 1 kept as it is, 0 "missing" (None), -1 Python must decide (outer
 * whitespace to strip, too long, or empty) */
static int
clean_str(PyObject *raw)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    if (n == 0 || n > max_label_chars) {
        return -1;
    }
    int kind = PyUnicode_KIND(raw);
    const void *data = PyUnicode_DATA(raw);
    if (Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, 0)) ||
        Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, n - 1))) {
        return -1; /* str.strip() has work to do */
    }
    int absent = PySet_Contains(missing, raw);
    if (absent < 0) {
        PyErr_Clear();
        return -1;
    }
    return !absent;
}

/* The parsed value of ``raw`` when the fast path decides it (a new reference, or Py_None for
 * "unusable"), or NULL with no error set when ``parse`` must decide. */
static PyObject *
fast_parse(int code, PyObject *raw, double scale)
{
    switch (code) {
    case PARSE_INT:
        if (PyLong_CheckExact(raw)) { /* bool is a subclass: not exact */
            int overflow;
            long long value = PyLong_AsLongLongAndOverflow(raw, &overflow);
            if (value == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                return NULL;
            }
            if (overflow || value < 0 || value > max_tokens) {
                Py_RETURN_NONE;
            }
            return Py_NewRef(raw);
        }
        return NULL;
    case PARSE_STR:
        if (PyUnicode_CheckExact(raw)) {
            int clean = clean_str(raw);
            if (clean < 0) {
                return NULL;
            }
            return clean ? Py_NewRef(raw) : Py_NewRef(Py_None);
        }
        return NULL;
    case PARSE_STRS:
        /* a list of strings (semconv's finish_reasons): the clean ones, "missing" ones left out,
         * None when none is left; a single clean string without a comma or "[": a list of it */
        if (PyList_CheckExact(raw) || PyTuple_CheckExact(raw)) {
            Py_ssize_t n = PySequence_Fast_GET_SIZE(raw);
            PyObject **items = PySequence_Fast_ITEMS(raw);
            PyObject *kept = PyList_New(0);
            if (kept == NULL) {
                PyErr_Clear();
                return NULL;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                int clean = PyUnicode_CheckExact(items[i]) ? clean_str(items[i]) : -1;
                if (clean < 0 || (clean && PyList_Append(kept, items[i]) < 0)) {
                    PyErr_Clear();
                    Py_DECREF(kept);
                    return NULL;
                }
            }
            if (PyList_GET_SIZE(kept) == 0) {
                Py_DECREF(kept);
                Py_RETURN_NONE;
            }
            return kept;
        }
        if (PyUnicode_CheckExact(raw) && PyUnicode_GET_LENGTH(raw) > 0 &&
            PyUnicode_FindChar(raw, ',', 0, PY_SSIZE_T_MAX, 1) == -1 &&
            PyUnicode_READ_CHAR(raw, 0) != '[' && clean_str(raw) == 1) {
            PyObject *single = PyList_New(1);
            if (single == NULL) {
                PyErr_Clear();
                return NULL;
            }
            PyList_SET_ITEM(single, 0, Py_NewRef(raw));
            return single;
        }
        return NULL;
    case PARSE_FLOAT:
        if (PyFloat_CheckExact(raw)) {
            double number = PyFloat_AS_DOUBLE(raw) * scale;
            if (!isfinite(number) || number < 0 || number > max_float) {
                Py_RETURN_NONE;
            }
            return PyFloat_FromDouble(number);
        }
        return NULL;
    case PARSE_BOOL:
        if (PyBool_Check(raw)) {
            return Py_NewRef(raw);
        }
        return NULL;
    default:
        return NULL;
    }
}

static PyObject *
read_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "read_fields(attrs, plan, view, slow) takes 4 arguments");
        return NULL;
    }
    PyObject *attrs = args[0], *plan = args[1], *view = args[2], *slow = args[3];
    if (!PyDict_Check(attrs) || !PyTuple_Check(plan)) {
        PyErr_SetString(PyExc_TypeError, "read_fields: attrs must be a dict and plan a tuple");
        return NULL;
    }
    if (missing == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "read_fields: configure() was not called");
        return NULL;
    }
    PyObject *values = PyDict_New();
    if (values == NULL) {
        return NULL;
    }
    PyObject *structured = NULL; /* the slow reader's per-span cache, made on first use */
    int implied = 0;
    Py_ssize_t fields = PyTuple_GET_SIZE(plan);
    for (Py_ssize_t f = 0; f < fields; f++) {
        PyObject *entry = PyTuple_GET_ITEM(plan, f);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 4) {
            PyErr_SetString(PyExc_TypeError, "read_fields: a plan entry is (name, parse, code, steps)");
            goto error;
        }
        PyObject *name = PyTuple_GET_ITEM(entry, 0);
        PyObject *parse = PyTuple_GET_ITEM(entry, 1);
        int code = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
        PyObject *steps = PyTuple_GET_ITEM(entry, 3);
        if ((code == -1 && PyErr_Occurred()) || !PyTuple_Check(steps)) {
            PyErr_SetString(PyExc_TypeError, "read_fields: bad parser code or steps");
            goto error;
        }
        Py_ssize_t nsteps = PyTuple_GET_SIZE(steps);
        for (Py_ssize_t s = 0; s < nsteps; s++) {
            PyObject *step = PyTuple_GET_ITEM(steps, s);
            if (!PyTuple_Check(step) || PyTuple_GET_SIZE(step) != 6) {
                PyErr_SetString(PyExc_TypeError,
                                "read_fields: a step is (how, key, source, scale, implies, needs)");
                goto error;
            }
            PyObject *raw; /* a new reference */
            long how = PyLong_AsLong(PyTuple_GET_ITEM(step, 0));
            if (how == -1 && PyErr_Occurred()) {
                goto error;
            }
            if (how == HOW_EVENTS) {
                PyObject *events = PyObject_GetAttr(view, events_name);
                if (events == NULL) {
                    goto error;
                }
                int none = PyObject_Not(events);
                Py_DECREF(events);
                if (none < 0) {
                    goto error;
                }
                if (none) {
                    continue;
                }
            }
            if (how == HOW_ATTR) { /* a plain attribute */
                raw = PyDict_GetItemWithError(attrs, PyTuple_GET_ITEM(step, 1));
                if (raw == NULL) {
                    if (PyErr_Occurred()) {
                        goto error;
                    }
                    continue;
                }
                Py_INCREF(raw);
            }
            else {
                PyObject *needs = PyTuple_GET_ITEM(step, 5);
                if (PyTuple_Check(needs)) {
                    int present = 0;
                    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(needs) && !present; k++) {
                        present = PyDict_Contains(attrs, PyTuple_GET_ITEM(needs, k));
                        if (present < 0) {
                            goto error;
                        }
                    }
                    if (!present) {
                        continue;
                    }
                }
                if (structured == NULL && (structured = PyDict_New()) == NULL) {
                    goto error;
                }
                raw = PyObject_CallFunctionObjArgs(slow, step, view, structured, NULL);
                if (raw == NULL) {
                    goto error;
                }
            }
            if (raw == Py_None) {
                Py_DECREF(raw);
                continue;
            }
            double scale = PyFloat_AsDouble(PyTuple_GET_ITEM(step, 3));
            if (scale == -1.0 && PyErr_Occurred()) {
                Py_DECREF(raw);
                goto error;
            }
            PyObject *value = fast_parse(code, raw, scale);
            if (value == NULL) {
                value = PyObject_CallFunctionObjArgs(parse, raw, PyTuple_GET_ITEM(step, 3), NULL);
            }
            Py_DECREF(raw);
            if (value == NULL) {
                goto error;
            }
            if (value == Py_None) {
                Py_DECREF(value);
                continue;
            }
            int failed = PyDict_SetItem(values, name, value);
            Py_DECREF(value);
            if (failed < 0) {
                goto error;
            }
            int implies = PyObject_IsTrue(PyTuple_GET_ITEM(step, 4));
            if (implies < 0) {
                goto error;
            }
            implied = implied || implies;
            break;
        }
    }
    Py_XDECREF(structured);
    PyObject *result = PyTuple_Pack(2, values, implied ? Py_True : Py_False);
    Py_DECREF(values);
    return result;
error:
    Py_XDECREF(structured);
    Py_DECREF(values);
    return NULL;
}

/* untracked(value): dedup remembers ~3 tuples of atoms per call (its entries, the keys of the
 * spans it covers) for its window (a minute by default). Each is born tracked by the cyclic collector, whose next young
 * collection walks it only to find it holds no container and untrack it (_PyTuple_MaybeUntrack):
 * with 30 000 of them young at a time that was 3 % of the server's CPU, in 6-21 ms pauses. */
static int
atoms_only(PyObject *tuple)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (PyObject_IS_GC(item) && !(PyTuple_CheckExact(item) && !PyObject_GC_IsTracked(item))) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
untracked(PyObject *module, PyObject *value)
{
    if (PyTuple_CheckExact(value) && PyObject_GC_IsTracked(value) && atoms_only(value)) {
        PyObject_GC_UnTrack(value);
    }
    return Py_NewRef(value);
}

static PyMethodDef methods[] = {
    {"untracked", untracked, METH_O,
     "untracked(value, /) -> value\n--\n\n"
     "value, and when it is a tuple of which no item can be part of a reference cycle (str, bytes,\n"
     "int, float, bool, None, or untracked tuples), no longer tracked by the cyclic garbage\n"
     "collector: what its next young collection would do, without walking it first."},
    {"configure", configure, METH_VARARGS,
     "configure(missing, max_tokens, max_label_chars, max_float): the parsers' limits."},
    {"read_fields", (PyCFunction)(void (*)(void))read_fields, METH_FASTCALL,
     "read_fields(attrs, plan, view, slow) -> (values, implied_streaming)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "llmpulse.normalise._fields",
    .m_doc = "The dialect table read of one span, in C (see _recognise._read_fields).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__fields(void)
{
    if (events_name == NULL && (events_name = PyUnicode_InternFromString("events")) == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
