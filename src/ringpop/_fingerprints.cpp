// Batch FarmHash Fingerprint32: the hash of many keys in one call.
//
// A binding of the farmhash library (Debian's libfarmhash-dev); no hash code here.
// ringpop.hashing uses it when it was built and falls back to one Python-level
// call per key otherwise: both give the same values (tests/test_hashing.py).
// Results are native-endian unsigned 32-bit integers, ready for array('I').frombytes.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <farmhash.h>

#include <cstdint>
#include <cstring>

namespace {

// fingerprint32_strs(keys: list[str]) -> bytes
PyObject* fingerprint32_strs(PyObject*, PyObject* keys) {
    if (!PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "fingerprint32_strs expects a list of str");
        return nullptr;
    }
    Py_ssize_t count = PyList_GET_SIZE(keys);
    PyObject* out = PyBytes_FromStringAndSize(nullptr, count * 4);
    if (out == nullptr) {
        return nullptr;
    }
    char* into = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject* key = PyList_GET_ITEM(keys, i);
        if (!PyUnicode_Check(key)) {
            Py_DECREF(out);
            PyErr_Format(PyExc_TypeError, "key %zd is %.80s, not str", i, Py_TYPE(key)->tp_name);
            return nullptr;
        }
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(key, &size);  // ASCII: no copy
        if (text == nullptr) {  // lone surrogates: UnicodeEncodeError, as the scalar hash
            Py_DECREF(out);
            return nullptr;
        }
        uint32_t hash = util::Fingerprint32(text, static_cast<size_t>(size));
        std::memcpy(into + 4 * i, &hash, 4);
    }
    return out;
}

// fingerprint32_blob(blob, ends) -> bytes: key i is blob[ends[i - 1]:ends[i]]
// (ends: native unsigned 32-bit integers, ends[-1] taken as 0).
PyObject* fingerprint32_blob(PyObject*, PyObject* args) {
    Py_buffer blob, ends;
    if (!PyArg_ParseTuple(args, "y*y*", &blob, &ends)) {
        return nullptr;
    }
    PyObject* out = nullptr;
    if (ends.len % 4 != 0) {
        PyErr_SetString(PyExc_ValueError, "ends is not a whole number of 32-bit integers");
    } else {
        Py_ssize_t count = ends.len / 4;
        out = PyBytes_FromStringAndSize(nullptr, count * 4);
        if (out != nullptr) {
            const char* data = static_cast<const char*>(blob.buf);
            const char* raw = static_cast<const char*>(ends.buf);
            char* into = PyBytes_AS_STRING(out);
            uint64_t start = 0;
            for (Py_ssize_t i = 0; i < count; i++) {
                uint32_t end;
                std::memcpy(&end, raw + 4 * i, 4);
                if (end < start || end > static_cast<uint64_t>(blob.len)) {
                    Py_CLEAR(out);
                    PyErr_Format(PyExc_ValueError,
                                 "key %zd ends at %u: outside [%llu, %zd]", i, end,
                                 static_cast<unsigned long long>(start), blob.len);
                    break;
                }
                uint32_t hash = util::Fingerprint32(data + start, end - start);
                std::memcpy(into + 4 * i, &hash, 4);
                start = end;
            }
        }
    }
    PyBuffer_Release(&blob);
    PyBuffer_Release(&ends);
    return out;
}

PyMethodDef methods[] = {
    {"fingerprint32_strs", fingerprint32_strs, METH_O,
     "Fingerprint32 of each str of a list (UTF-8), as native unsigned 32-bit integers."},
    {"fingerprint32_blob", fingerprint32_blob, METH_VARARGS,
     "Fingerprint32 of each key of a blob cut at the given end offsets."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ringpop._fingerprints",
    "Batch FarmHash Fingerprint32 (a binding of libfarmhash).", -1, methods,
};

}  // namespace

PyMODINIT_FUNC PyInit__fingerprints(void) { return PyModule_Create(&module); }
